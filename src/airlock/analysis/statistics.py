"""Honest numbers: success rates, pass@k and paired differences with clustered standard errors and intervals.

Instances made from the same challenge template (one family, variant and tier of a generator) are alike:
a model that solves one tends to solve the others. Treating them as independent would make every interval
too narrow. So every figure here is computed over *clusters* (templates). The unit of evidence inside a
cluster is the *instance*: an instance's epochs (repeated attempts) are averaged into its own rate first,
and never count as more instances, because a model sampled at temperature 0 repeats itself and its three
epochs are then one observation, not three. The formulas, named so the report can cite them:

* **Success rate**: the mean over instances of each instance's share of successful attempts. Its standard
  error is the cluster-robust (CR1, Liang-Zeger) one: ``SE² = G/(G-1) · Σ_g (Σ_{i∈g} (y_i - p))² / n²`` over
  ``G`` clusters and ``n`` instances, floored at the binomial ``p(1-p)/n`` (clustering never counts as more
  information than independent instances). Its interval is Wilson's score interval on the *effective*
  sample size ``n / deff`` (design effect ``deff = SE² / (p(1-p)/n)``, at least 1), with Student's t on
  ``G - 1`` degrees of freedom as the critical value (few clusters, wider interval). This is the
  Korn-Graubard effective-sample-size approach (the one the US National Center for Health Statistics
  uses for survey proportions) with Wilson's interval and the instance as its unit. At 0% or 100% the data
  hold no estimate of the clustering; the effective size is then the number of instances, as Korn and
  Graubard set it, and since that is the largest it can be anywhere, the bounds never move the wrong way
  as successes are added (17 of 18 never has a higher lower bound than 18 of 18). The standard error is
  then *not estimable* (there is no variation to estimate it from) and is reported as such, never as 0.
  A single template gives no estimate of how templates differ: its interval is [0, 1].
* **pass@k**: per instance with ``n`` attempts and ``c`` successes, the unbiased estimator
  ``1 - C(n-c, k) / C(n, k)`` (Chen et al., 2021), averaged over instances, with the same clustered standard
  error and interval over the per-instance values. Instances attempted fewer than ``k`` times are left out
  by the caller (a one-epoch screening run next to a three-epoch full run).
* **Paired difference** (subject minus reference, on exactly the same instances): the mean of the
  per-instance differences of success rates, and its CR1 standard error floored at the standard error of
  independent instances (not estimable where the differences do not vary: a standard error below 1e-9 is
  rounding, not a measurement). Its interval is Newcombe's hybrid score interval for paired data (Newcombe
  1998, method 10), built from the two subjects' own clustered Wilson intervals above and the correlation φ
  of their per-instance values: ``[Δ - √(d₁² - 2φd₁e₂ + e₂²), Δ + √(e₁² - 2φe₁d₂ + d₂²)]``, where ``d`` and
  ``e`` are each subject's distances from its rate down to its lower bound and up to its upper bound. It is
  never of zero width (the Wilson intervals never are), keeps both tails at their nominal rate where a t
  interval on skewed differences did not (a model near 80% against a tool near 0 missed low 5% of the
  time), and needs no special case where the differences do not vary. It always lies within the two
  subjects' outer bound ``[low₁ - high₂, high₁ - low₂]``, which is taken as it is with only two templates
  (any two points correlate perfectly: φ would be ±1 whatever the truth). With a single template both
  subjects' intervals are [0, 1], and so is the difference's: [-1, 1].

Every interval is two one-sided bounds with stated error rates (:class:`Tails`): 2.5% each for the 95%
intervals of the report's tables; a threshold decision may take a smaller rate on one side, to adjust for
the other thresholds of its level (see :mod:`.framework`).

The computations work on arrays of replicates (one row per simulated review), so that the power analysis
(:mod:`.power`) simulates exactly the estimators the report uses; the functions over :class:`Outcome`
lists are the same computations on one row.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

CONFIDENCE = 0.95
TAIL = (1 - CONFIDENCE) / 2
"""The error rate of each bound of a 95% interval."""
EDGE = 1e-12
"""A mean within this of 0 or 1 is at the edge: no variation to estimate a standard error from."""
NO_VARIATION = 1e-9
"""A standard error below this is rounding, not a measurement: treated as no variation at all."""

Array = npt.NDArray[np.float64]
Codes = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Tails:
    """The one-sided error rates of an interval's lower and upper bound (2.5% each: a 95% interval)."""

    lower: float = TAIL
    upper: float = TAIL

    @property
    def confidence(self) -> float:
        return 1 - self.lower - self.upper

    def halved(self) -> Tails:
        return Tails(self.lower / 2, self.upper / 2)

    def describe(self) -> str:
        """``95% interval``, or the confidence of each bound where they differ."""
        if math.isclose(self.lower, self.upper):
            return f"{confidence_label(self.confidence)} interval"
        return f"lower bound at {confidence_label(1 - self.lower)}, upper bound at {confidence_label(1 - self.upper)}"


NINETY_FIVE = Tails()


def confidence_label(value: float) -> str:
    """A confidence as a person writes it: ``95%``, ``97.5%``, ``98.75%``, ``99.17%``."""
    return f"{value * 100:.2f}".rstrip("0").rstrip(".") + "%"


@dataclass(frozen=True)
class Outcome:
    """One judged attempt: which instance, in which cluster (template), and whether it succeeded."""

    instance: str
    cluster: str
    success: bool


@dataclass(frozen=True)
class Estimate:
    """A proportion-like figure with its uncertainty.

    ``standard_error`` is NaN where it cannot be estimated (no variation: 0% or 100%, every difference
    alike, or a single template); the interval then says how uncertain the figure is.
    """

    value: float
    standard_error: float
    low: float
    high: float
    attempts: int
    """Judged attempts (an instance's epochs each count)."""
    instances: int
    """Distinct instances: the unit of evidence."""
    clusters: int
    """Distinct templates."""
    method: str
    tails: Tails = NINETY_FIVE

    def as_json(self) -> dict[str, object]:
        return {
            "value": self.value,
            "standard_error": self.standard_error,
            "low": self.low,
            "high": self.high,
            "attempts": self.attempts,
            "instances": self.instances,
            "clusters": self.clusters,
            "method": self.method,
            "confidence": self.tails.confidence,
        }


@dataclass(frozen=True)
class Bounds:
    """An estimate for each replicate (row): its value, standard error (NaN: not estimable) and bounds."""

    value: Array
    standard_error: Array
    low: Array
    high: Array


# The computations, over replicates ------------------------------------------------------------------------


def critical_value(clusters: int, tail: float = TAIL) -> float:
    """Student's t quantile ``1 - tail`` on ``clusters - 1`` degrees of freedom (at least one)."""
    return _t_quantile(max(1, clusters - 1), tail)


@functools.lru_cache(maxsize=1024)
def _t_quantile(degrees: int, tail: float) -> float:
    return float(stats.t.ppf(1 - tail, degrees))


def wilson_bounds(proportion: Array, size: Array, lower_critical: float, upper_critical: float) -> tuple[Array, Array]:
    """Wilson's score bounds for ``proportion`` observed on ``size`` (possibly effective) trials, each bound
    with its own critical value (one-sided)."""

    def bound(critical: float, sign: float) -> Array:
        z2 = critical * critical
        centre = (proportion + z2 / (2 * size)) / (1 + z2 / size)
        half = critical * np.sqrt(proportion * (1 - proportion) / size + z2 / (4 * size * size)) / (1 + z2 / size)
        result: Array = centre + sign * half
        return result

    return np.clip(bound(lower_critical, -1.0), 0.0, 1.0), np.clip(bound(upper_critical, 1.0), 0.0, 1.0)


def wilson_interval(proportion: float, size: float, critical: float) -> tuple[float, float]:
    """Wilson's score interval for ``proportion`` observed on ``size`` (possibly effective) trials."""
    if size <= 0:
        return 0.0, 1.0
    low, high = wilson_bounds(np.array([proportion]), np.array([float(size)]), critical, critical)
    return float(low[0]), float(high[0])


def membership(codes: Codes) -> Array:
    """The instances-by-clusters 0/1 matrix of cluster codes ``0 .. G-1``."""
    count = int(codes.max()) + 1 if codes.size else 0
    matrix: Array = np.zeros((codes.size, count))
    matrix[np.arange(codes.size), codes] = 1.0
    return matrix


def cr1_variance(values: Array, codes: Codes, mean: Array) -> Array:
    """The CR1 (Liang-Zeger) variance of each row's mean of ``values``, clustered by ``codes`` (0 with fewer
    than two clusters)."""
    count = values.shape[1]
    clusters = int(codes.max()) + 1 if codes.size else 0
    if clusters < 2 or count == 0:
        return np.zeros(values.shape[0])
    sums = (values - mean[:, None]) @ membership(codes)
    variance: Array = clusters / (clusters - 1) * np.sum(sums * sums, axis=1) / (count * count)
    return variance


def proportion_bounds(values: Array, codes: Codes, tails: Tails = NINETY_FIVE) -> Bounds:
    """The mean of per-instance values in [0, 1] (one row per replicate) with its clustered standard error and
    Wilson bounds on the effective number of instances."""
    replicates, count = values.shape
    clusters = int(codes.max()) + 1 if codes.size else 0
    mean: Array = values.mean(axis=1) if count else np.full(replicates, math.nan)
    if clusters < 2:
        # One template says nothing about how templates differ: no interval narrower than everything.
        return Bounds(mean, np.full(replicates, math.nan), np.zeros(replicates), np.ones(replicates))
    edge = (mean <= EDGE) | (mean >= 1 - EDGE)
    proportion = np.where(edge, np.round(mean), np.clip(mean, 0.0, 1.0))
    binomial = proportion * (1 - proportion) / count
    variance = np.maximum(cr1_variance(values, codes, mean), binomial)  # a design effect of at least 1
    safe = np.where(edge, 1.0, variance)
    effective = np.where(edge, float(count), count * binomial / safe)
    low, high = wilson_bounds(
        proportion, effective, critical_value(clusters, tails.lower), critical_value(clusters, tails.upper)
    )
    return Bounds(mean, np.where(edge, math.nan, np.sqrt(variance)), low, high)


def difference_bounds(mine: Array, theirs: Array, codes: Codes, tails: Tails = NINETY_FIVE) -> Bounds:
    """The mean per-instance difference ``mine - theirs`` (rows are replicates) with its clustered standard error
    and Newcombe's hybrid score bounds for paired data, built from the two subjects' own clustered Wilson bounds
    and the correlation of their per-instance values."""
    replicates, count = mine.shape
    clusters = int(codes.max()) + 1 if codes.size else 0
    differences = mine - theirs
    mean: Array = differences.mean(axis=1)
    own = proportion_bounds(mine, codes, tails)
    other = proportion_bounds(theirs, codes, tails)
    if clusters < 2:  # both subjects' intervals are [0, 1]: so is what lies between them
        return Bounds(mean, np.full(replicates, math.nan), np.full(replicates, -1.0), np.ones(replicates))
    independent = differences.var(axis=1, ddof=1) / count if count > 1 else np.zeros(replicates)
    error = np.sqrt(np.maximum(cr1_variance(differences, codes, mean), independent))
    error = np.where(error < NO_VARIATION, math.nan, error)
    if clusters < 3:
        # Two templates: their correlation is ±1 whatever the truth; no credit for pairing, the outer bound.
        return Bounds(mean, error, np.maximum(-1.0, own.low - other.high), np.minimum(1.0, own.high - other.low))
    # Newcombe (1998), method 10: L = Δ - √(d₁² - 2φ d₁ e₂ + e₂²), U = Δ + √(e₁² - 2φ e₁ d₂ + d₂²), with d and e
    # the distances from each subject's rate down to its lower and up to its upper bound, and φ the correlation
    # of the two subjects' per-instance values (0 where either does not vary).
    centred_mine = mine - own.value[:, None]
    centred_theirs = theirs - other.value[:, None]
    spread = np.sqrt(np.sum(centred_mine**2, axis=1) * np.sum(centred_theirs**2, axis=1))
    phi = np.where(spread > 0, np.sum(centred_mine * centred_theirs, axis=1) / np.where(spread > 0, spread, 1.0), 0.0)
    down_mine, up_mine = own.value - own.low, own.high - own.value
    down_theirs, up_theirs = other.value - other.low, other.high - other.value
    below = np.sqrt(np.maximum(down_mine**2 - 2 * phi * down_mine * up_theirs + up_theirs**2, 0.0))
    above = np.sqrt(np.maximum(up_mine**2 - 2 * phi * up_mine * down_theirs + down_theirs**2, 0.0))
    return Bounds(mean, error, np.maximum(-1.0, mean - below), np.minimum(1.0, mean + above))


def pass_at_k_values(attempts: npt.ArrayLike, successes: npt.ArrayLike, k: int) -> Array:
    """The unbiased pass@k ``1 - C(n-c, k)/C(n, k)`` of instances with ``n`` attempts and ``c`` successes
    (each ``n`` at least ``k``), as the product ``Π_{j<k} (n-c-j)/(n-j)`` of the failure-only chance."""
    tried = np.asarray(attempts, dtype=float)
    failures = tried - np.asarray(successes, dtype=float)
    all_fail = np.ones(np.broadcast(tried, failures).shape)
    for j in range(k):
        all_fail = all_fail * np.clip(failures - j, 0.0, None) / (tried - j)
    result: Array = 1.0 - all_fail
    return result


# The figures, over judged outcomes ------------------------------------------------------------------------

SUCCESS_METHOD = (
    "success rate over instances (an instance's epochs averaged first); CR1 clustered SE over templates, "
    "at least the binomial SE of independent instances; Wilson interval on n/deff instances (n at 0% or 100%), "
    "Student's t critical value on G-1 df"
)
AT_K_METHOD = "pass@{k}, unbiased estimator per instance; clustered SE and Wilson interval as for success rates"
DIFFERENCE_METHOD = (
    "paired difference of per-instance success rates; CR1 clustered SE, at least that of independent instances; "
    "Newcombe's hybrid score interval for paired data from the two subjects' clustered Wilson intervals"
)
ONE_TEMPLATE = "; a single template: the interval is [0, 1]"


def _per_instance(rows: Iterable[Outcome]) -> tuple[list[str], dict[str, list[bool]], dict[str, str]]:
    tallies: dict[str, list[bool]] = defaultdict(list)
    cluster_of: dict[str, str] = {}
    for row in rows:
        tallies[row.instance].append(row.success)
        cluster_of[row.instance] = row.cluster
    return sorted(tallies), tallies, cluster_of


def _codes(labels: Sequence[str]) -> Codes:
    index: dict[str, int] = {}
    return np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.intp)


def _estimate(bounds: Bounds, attempts: int, instances: int, clusters: int, method: str, tails: Tails) -> Estimate:
    return Estimate(
        float(bounds.value[0]),
        float(bounds.standard_error[0]),
        float(bounds.low[0]),
        float(bounds.high[0]),
        attempts,
        instances,
        clusters,
        method + (ONE_TEMPLATE if clusters == 1 else ""),
        tails,
    )


def no_estimate(method: str, tails: Tails = NINETY_FIVE, *, low: float = 0.0) -> Estimate:
    """The estimate of nothing: no value, an interval of everything."""
    return Estimate(math.nan, math.nan, low, 1.0, 0, 0, 0, method, tails)


def success_rate(outcomes: Iterable[Outcome], tails: Tails = NINETY_FIVE) -> Estimate:
    """The success rate of ``outcomes`` with its clustered standard error and effective-size Wilson interval."""
    instances, tallies, cluster_of = _per_instance(outcomes)
    if not instances:
        return no_estimate(SUCCESS_METHOD, tails)
    values = np.array([[sum(tallies[i]) / len(tallies[i]) for i in instances]])
    codes = _codes([cluster_of[i] for i in instances])
    bounds = proportion_bounds(values, codes, tails)
    attempts = sum(len(t) for t in tallies.values())
    return _estimate(bounds, attempts, len(instances), int(codes.max()) + 1, SUCCESS_METHOD, tails)


def pass_at_k_single(attempts: int, successes: int, k: int) -> float:
    """The unbiased pass@k of one instance: ``1 - C(n-c, k)/C(n, k)`` (needs ``k <= n``)."""
    if not 0 < k <= attempts:
        raise ValueError(f"pass@{k} needs between 1 and {attempts} attempts per instance")
    return float(pass_at_k_values(attempts, successes, k))


def pass_at_k(outcomes: Iterable[Outcome], k: int, tails: Tails = NINETY_FIVE) -> Estimate:
    """pass@k over instances (each needs at least ``k`` attempts), clustered like the success rate."""
    instances, tallies, cluster_of = _per_instance(outcomes)
    method = AT_K_METHOD.format(k=k)
    if not instances:
        return no_estimate(method, tails)
    short = [instance for instance in instances if len(tallies[instance]) < k]
    if short:
        raise ValueError(f"pass@{k} needs at least {k} attempts per instance; {short[0]} has {len(tallies[short[0]])}")
    values = pass_at_k_values([len(tallies[i]) for i in instances], [sum(tallies[i]) for i in instances], k)
    codes = _codes([cluster_of[i] for i in instances])
    bounds = proportion_bounds(values[None, :], codes, tails)
    attempts = sum(len(t) for t in tallies.values())
    return _estimate(bounds, attempts, len(instances), int(codes.max()) + 1, method, tails)


def paired_difference(subject: Iterable[Outcome], reference: Iterable[Outcome], tails: Tails = NINETY_FIVE) -> Estimate:
    """Mean per-instance difference of success rates, ``subject`` minus ``reference``, on shared instances."""
    subject_rows = list(subject)
    mine_instances, mine, clusters = _per_instance(subject_rows)
    _, theirs, _ = _per_instance(reference)
    shared = [instance for instance in mine_instances if instance in theirs]
    if not shared:
        return no_estimate(DIFFERENCE_METHOD, tails, low=-1.0)
    codes = _codes([clusters[i] for i in shared])
    bounds = difference_bounds(
        np.array([[sum(mine[i]) / len(mine[i]) for i in shared]]),
        np.array([[sum(theirs[i]) / len(theirs[i]) for i in shared]]),
        codes,
        tails,
    )
    attempts = sum(len(mine[i]) for i in shared)
    return _estimate(bounds, attempts, len(shared), int(codes.max()) + 1, DIFFERENCE_METHOD, tails)


def clustered_standard_error(values: Sequence[float], clusters: Sequence[str], mean: float) -> float:
    """CR1 standard error of the mean of ``values`` grouped by ``clusters`` (0 with fewer than two clusters)."""
    variance = cr1_variance(np.array([values], dtype=float), _codes(clusters), np.array([mean]))
    return math.sqrt(float(variance[0]))
