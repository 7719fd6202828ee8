"""Honest numbers: success rates, pass@k and paired differences with clustered standard errors and intervals.

Instances made from the same challenge template (one family, variant and tier of a generator) are alike:
a model that solves one tends to solve the others. Treating them as independent would make every interval
too narrow. So every figure here is computed over *clusters* (templates), and epochs of one instance fall
in its cluster too. The formulas, named so the report can cite them:

* **Success rate**: the mean of the 0/1 outcomes. Its standard error is the cluster-robust (CR1,
  Liang-Zeger) one: ``SE² = G/(G-1) · Σ_g (Σ_{i∈g} (y_i - p))² / n²`` over ``G`` clusters. Its interval is
  Wilson's score interval computed on the *effective* sample size ``n_eff = n / deff``, where the design
  effect ``deff = SE² / (p(1-p)/n)`` is at least 1 (clustering never counts as more information than
  independence), with the critical value of Student's t on ``G - 1`` degrees of freedom rather than the
  normal's (few clusters, wider interval). Where ``p`` is 0 or 1 the design effect cannot be estimated
  from the data; the interval then uses the number of clusters as the sample size, the conservative
  bound (a whole cluster may fail together).
* **pass@k**: per instance with ``n`` attempts and ``c`` successes, the unbiased estimator
  ``1 - C(n-c, k) / C(n, k)`` (Chen et al., 2021), averaged over instances, with the same clustered
  standard error and effective-size Wilson interval over the per-instance values.
* **Paired difference** (subject minus reference, on exactly the same instances): the mean of the
  per-instance differences of success rates, its CR1 standard error, and a t interval on ``G - 1``
  degrees of freedom, clipped to [-1, 1]. Where the differences do not vary (every one alike, or a
  single template), there is nothing to estimate a standard error from; the interval is then the
  conservative bound given by the two subjects' own intervals: [low₁ - high₂, high₁ - low₂].

All intervals are two-sided at ``CONFIDENCE`` (95%).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Outcome:
    """One judged attempt: which instance, in which cluster (template), and whether it succeeded."""

    instance: str
    cluster: str
    success: bool


@dataclass(frozen=True)
class Estimate:
    """A proportion-like figure with its uncertainty."""

    value: float
    standard_error: float
    low: float
    high: float
    observations: int
    clusters: int
    method: str

    def as_json(self) -> dict[str, object]:
        return {
            "value": self.value,
            "standard_error": self.standard_error,
            "low": self.low,
            "high": self.high,
            "observations": self.observations,
            "clusters": self.clusters,
            "method": self.method,
        }


def critical_value(clusters: int, confidence: float = CONFIDENCE) -> float:
    """Student's t on ``clusters - 1`` degrees of freedom; with fewer than two clusters, on one (a single
    template says no more than two do: the interval must not narrow as the evidence shrinks)."""
    tail = 1 - (1 - confidence) / 2
    return float(stats.t.ppf(tail, max(1, clusters - 1)))


def wilson_interval(proportion: float, size: float, critical: float) -> tuple[float, float]:
    """Wilson's score interval for ``proportion`` observed on ``size`` (possibly effective) trials."""
    if size <= 0:
        return 0.0, 1.0
    z2 = critical * critical
    centre = (proportion + z2 / (2 * size)) / (1 + z2 / size)
    half = critical * math.sqrt(proportion * (1 - proportion) / size + z2 / (4 * size * size)) / (1 + z2 / size)
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered_standard_error(values: Sequence[float], clusters: Sequence[str], mean: float) -> float:
    """CR1 standard error of the mean of ``values`` grouped by ``clusters`` (0 with fewer than two clusters)."""
    residuals: dict[str, float] = defaultdict(float)
    for value, cluster in zip(values, clusters, strict=True):
        residuals[cluster] += value - mean
    groups, count = len(residuals), len(values)
    if groups < 2 or count == 0:
        return 0.0
    return math.sqrt(groups / (groups - 1) * sum(total * total for total in residuals.values())) / count


def _proportion_estimate(values: Sequence[float], clusters: Sequence[str], method: str) -> Estimate:
    count, groups = len(values), len(set(clusters))
    if count == 0:
        return Estimate(math.nan, math.nan, 0.0, 1.0, 0, 0, method)
    mean = sum(values) / count
    error = clustered_standard_error(values, clusters, mean)
    binomial_variance = mean * (1 - mean) / count
    if binomial_variance > 0 and groups >= 2:
        design_effect = max(1.0, error * error / binomial_variance)
        effective = count / design_effect
    else:
        effective = float(groups)  # p is 0 or 1, or one cluster: no estimate of the clustering, be conservative
        if binomial_variance == 0:
            error = 0.0
    low, high = wilson_interval(mean, effective, critical_value(groups))
    return Estimate(mean, error, low, high, count, groups, method)


def success_rate(outcomes: Iterable[Outcome]) -> Estimate:
    """The success rate of ``outcomes`` with its clustered standard error and effective-size Wilson interval."""
    rows = list(outcomes)
    return _proportion_estimate(
        [1.0 if row.success else 0.0 for row in rows],
        [row.cluster for row in rows],
        "success rate; CR1 clustered SE; Wilson interval on n/deff, t critical value on G-1 df",
    )


def pass_at_k_single(attempts: int, successes: int, k: int) -> float:
    """The unbiased pass@k of one instance: ``1 - C(n-c, k)/C(n, k)`` (needs ``k <= n``)."""
    if not 0 < k <= attempts:
        raise ValueError(f"pass@{k} needs between 1 and {attempts} attempts per instance")
    if attempts - successes < k:
        return 1.0
    return 1.0 - math.comb(attempts - successes, k) / math.comb(attempts, k)


def pass_at_k(outcomes: Iterable[Outcome], k: int) -> Estimate:
    """pass@k over instances (each needs at least ``k`` attempts), clustered like the success rate."""
    attempts: dict[str, list[bool]] = defaultdict(list)
    cluster_of: dict[str, str] = {}
    for row in outcomes:
        attempts[row.instance].append(row.success)
        cluster_of[row.instance] = row.cluster
    short = [instance for instance, tries in attempts.items() if len(tries) < k]
    if short:
        raise ValueError(f"pass@{k} needs at least {k} attempts per instance; {short[0]} has {len(attempts[short[0]])}")
    instances = sorted(attempts)
    values = [pass_at_k_single(len(attempts[i]), sum(attempts[i]), k) for i in instances]
    return _proportion_estimate(
        values,
        [cluster_of[i] for i in instances],
        f"pass@{k}, unbiased estimator per instance; CR1 clustered SE; Wilson interval on n/deff",
    )


def paired_difference(subject: Iterable[Outcome], reference: Iterable[Outcome]) -> Estimate:
    """Mean per-instance difference of success rates, ``subject`` minus ``reference``, on shared instances."""

    def per_instance(rows: Iterable[Outcome]) -> tuple[dict[str, float], dict[str, str]]:
        tallies: dict[str, list[bool]] = defaultdict(list)
        clusters: dict[str, str] = {}
        for row in rows:
            tallies[row.instance].append(row.success)
            clusters[row.instance] = row.cluster
        return {instance: sum(t) / len(t) for instance, t in tallies.items()}, clusters

    mine, clusters = per_instance(subject)
    theirs, _ = per_instance(reference)
    shared = sorted(set(mine) & set(theirs))
    method = "paired difference of per-instance success rates; CR1 clustered SE; t interval on G-1 df"
    if not shared:
        return Estimate(math.nan, math.nan, -1.0, 1.0, 0, 0, method)
    differences = [mine[i] - theirs[i] for i in shared]
    groups = [clusters[i] for i in shared]
    mean = sum(differences) / len(differences)
    error = clustered_standard_error(differences, groups, mean)
    count = len(set(groups))
    if count < 2 or error == 0:
        # No variation to estimate the uncertainty from (one template, or every difference alike): bound the
        # difference by the two subjects' own intervals on the shared instances instead (conservative).
        own = _proportion_estimate([mine[i] for i in shared], groups, method)
        other = _proportion_estimate([theirs[i] for i in shared], groups, method)
        low, high = max(-1.0, own.low - other.high), min(1.0, own.high - other.low)
        return Estimate(mean, math.nan if count < 2 else error, low, high, len(shared), count, method + _BOUNDED)
    half = critical_value(count) * error
    return Estimate(mean, error, max(-1.0, mean - half), min(1.0, mean + half), len(shared), count, method)


_BOUNDED = "; without variation to estimate from, bounded by the difference of the two Wilson intervals"
