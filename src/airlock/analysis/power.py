"""Power analysis: which levels of a capability framework a suite can decide, before anything runs.

A suite decides a level only if the level's decisions can come out either way on the evidence the suite
makes. For every level this module asks two questions of a suite's *design* (its instances per template,
family, tier and mode, its epochs and its baselines), under the framework's ``power`` assumptions:

* **Can it cross?** A model at each threshold plus ``margin`` (in the threshold's own units: a success rate of
  50% + 35 points, pass@k of 85%, a difference of 20 + 35 points over a classical tool) crosses the level
  with probability at least ``target`` (80%). For ``require: all`` the model is that far above every
  threshold and must cross all of them; for ``require: any`` it is above just one (the least favourable
  one) and must cross that one.
* **Can it not cross?** A null model (it solves nothing) is "not crossed" with probability at least
  ``target``.

Each probability is estimated by simulating the suite's evidence :data:`REPLICATES` times, with a fixed
seed, and deciding each simulated review with exactly the estimators and adjusted bounds the report uses
(:mod:`.statistics`, :func:`.framework.decision_tails`). The simulated model has a rate per template drawn
from a beta distribution around its mean (intra-template correlation ``template_correlation``), a rate per
instance drawn around its template's (correlation of two attempts at one instance: ``epoch_correlation``),
and binomial successes over the epochs. A classical tool runs once per instance, independently of the
model, at the rate where a difference varies most (the least favourable one); for the null model, at 0
(every difference 0: the bounded interval decides). Structural gaps are reported without simulating:
no instances where a threshold reads, fewer epochs than a pass@k needs, a baseline the suite does not
run, a single template (which no number of instances can generalise from).

:func:`decidability` is pure and cheap (a few milliseconds a level): ``airlock eval run`` prints it before
a run, so that a suite that cannot decide a level says so before it costs anything.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from airlock.analysis.framework import Framework, Level, Power, Threshold, decision_tails, template
from airlock.analysis.statistics import (
    Array,
    Codes,
    Tails,
    difference_bounds,
    pass_at_k_values,
    proportion_bounds,
)

REPLICATES = 2000
SEED = 20261201


@dataclass(frozen=True)
class Planned:
    """Instances a suite makes from one template in one mode."""

    family: str
    variant: str
    tier: int
    mode: str
    objective: str
    instances: int


@dataclass(frozen=True)
class Design:
    """What a suite will make, as the analysis sees it (the evaluation layer builds it from a suite)."""

    name: str
    epochs: int
    planned: tuple[Planned, ...]
    baselines: tuple[str, ...]

    def cell(self, threshold: Threshold) -> dict[str, int]:
        """Template -> instances, of the instances ``threshold`` reads (modes of one template pool)."""
        templates: dict[str, int] = {}
        for planned in self.planned:
            if threshold.reads(planned.family, planned.tier, planned.mode, planned.objective):
                key = template(planned.family, planned.variant, planned.tier, planned.objective)
                templates[key] = templates.get(key, 0) + planned.instances
        return templates


@dataclass(frozen=True)
class ThresholdPower:
    threshold: Threshold
    templates: int
    instances: int
    crossed_above: float
    """The chance that a model at the threshold plus the margin crosses it."""
    not_crossed_null: float
    """The chance that a null model is not crossed."""
    problem: str | None
    """Why no number of repetitions lets this threshold decide, if so."""

    def as_json(self) -> dict[str, object]:
        return {
            "threshold": self.threshold.describe(),
            "templates": self.templates,
            "instances": self.instances,
            "crossed_above": round(self.crossed_above, 3),
            "not_crossed_null": round(self.not_crossed_null, 3),
            "problem": self.problem,
        }


@dataclass(frozen=True)
class LevelPower:
    level: Level
    decidable: bool
    crossed_above: float
    not_crossed_null: float
    reasons: list[str]
    """Why it cannot decide the level (empty when it can)."""
    thresholds: list[ThresholdPower]

    def as_json(self) -> dict[str, object]:
        return {
            "level": self.level.id,
            "decidable": self.decidable,
            "crossed_above": round(self.crossed_above, 3),
            "not_crossed_null": round(self.not_crossed_null, 3),
            "reasons": self.reasons,
            "thresholds": [t.as_json() for t in self.thresholds],
        }


def decidability(design: Design, framework: Framework) -> list[LevelPower]:
    """For every level of ``framework``: whether ``design`` can decide it, the two probabilities, and why not."""
    generator = np.random.default_rng(SEED)
    return [_level(design, framework.power, level, generator) for level in framework.levels]


def summary(design: Design, powers: Sequence[LevelPower], power: Power) -> list[str]:
    """What a person reads before a run: one line per level."""
    lines = []
    for level in powers:
        if level.decidable:
            lines.append(
                f"{level.level.id}: decidable: a model {power.margin * 100:.0f} points above its thresholds crosses "
                f"it in {level.crossed_above:.0%} of runs, a null model is not crossed in {level.not_crossed_null:.0%}."
            )
        else:
            lines.append(f"{level.level.id}: the {design.name} suite cannot decide it: {'; '.join(level.reasons)}.")
    return lines


def expected_pass_at_k(rate: float, k: int, power: Power) -> float:
    """A simulated model's expected pass@k when its mean success rate per attempt is ``rate``."""
    if rate <= 0 or rate >= 1 or power.epoch_correlation >= 1:
        return min(1.0, max(0.0, rate))  # attempts at one instance all alike: pass@k is the success rate
    coefficients = _all_fail_polynomial(k, 1 / power.epoch_correlation - 1)
    template = 1 / power.template_correlation - 1
    a, b = (1 - rate) * template, rate * template  # x = 1 - p_g ~ Beta(a, b): E[x^r] = Π_{i<r} (a+i)/(a+b+i)
    moments = np.cumprod([1.0] + [(a + i) / (a + b + i) for i in range(k)])
    return float(1 - np.dot(coefficients, moments))


@functools.lru_cache(maxsize=64)
def _all_fail_polynomial(k: int, concentration: float) -> Array:
    """Coefficients (of x^0 .. x^k) of E[(1-q)^k | p_g] = Π_{j<k} (x·c + j)/(c + j), x = 1 - p_g, for an
    instance rate q ~ Beta(p_g·c, (1-p_g)·c)."""
    polynomial = np.poly1d([1.0])
    for j in range(k):
        polynomial = polynomial * np.poly1d([concentration, float(j)]) / (concentration + j)
    coefficients: Array = np.zeros(k + 1)
    coefficients[: polynomial.order + 1] = polynomial.coeffs[::-1]
    return coefficients


def rate_for_pass_at_k(target: float, k: int, power: Power) -> float:
    """The mean success rate per attempt at which a simulated model's pass@k is ``target`` (bisection)."""
    low, high = 0.0, 1.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if expected_pass_at_k(middle, k, power) < target else (low, middle)
    return (low + high) / 2


# Simulation --------------------------------------------------------------------------------------------------


def simulated_rates(
    generator: np.random.Generator, mean: float, sizes: Sequence[int], correlation: float, replicates: int
) -> Array:
    """Rates per instance (``replicates`` rows): each template's rate drawn from a beta distribution around
    ``mean`` (intra-template ``correlation``), repeated over its ``sizes`` instances."""
    if mean <= 0 or mean >= 1:
        return np.full((replicates, sum(sizes)), min(1.0, max(0.0, mean)))
    concentration = 1 / correlation - 1
    templates = generator.beta(mean * concentration, (1 - mean) * concentration, size=(replicates, len(sizes)))
    repeated: Array = np.repeat(templates, sizes, axis=1)
    return repeated


def simulated_successes(
    generator: np.random.Generator, mean: float, sizes: Sequence[int], epochs: int, power: Power, replicates: int
) -> Array:
    """Successes per instance over ``epochs`` attempts (``replicates`` rows), under ``power``'s assumptions."""
    templates = simulated_rates(generator, mean, sizes, power.template_correlation, replicates)
    if power.epoch_correlation >= 1 or mean <= 0 or mean >= 1:
        instances = (generator.random(templates.shape) < templates).astype(float)
    else:
        concentration = 1 / power.epoch_correlation - 1
        instances = generator.beta(
            np.maximum(templates * concentration, 1e-9), np.maximum((1 - templates) * concentration, 1e-9)
        )
    successes: Array = generator.binomial(epochs, instances).astype(float)
    return successes


def _codes(sizes: Sequence[int]) -> Codes:
    """Cluster codes for templates of ``sizes`` instances each, in order."""
    return np.repeat(np.arange(len(sizes)), sizes).astype(np.intp)


def threshold_outcomes(
    generator: np.random.Generator,
    threshold: Threshold,
    sizes: Sequence[int],
    epochs: int,
    power: Power,
    tails: Tails,
    value: float,
    replicates: int = REPLICATES,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Simulated reviews of a model whose true figure (success rate, pass@k or difference over the tool, as
    ``threshold`` reads) is ``value``: whether each review crossed the threshold, and whether it did not cross
    it (boolean arrays, one entry per review). ``sizes`` are the instances of each template."""
    codes = _codes(sizes)
    if threshold.metric == "difference":
        # The tool's rate where the difference model - tool varies most, (1 - value)/2; with nothing to beat
        # (a null model), a tool that solves nothing: every difference is then 0 and the bounded interval decides.
        tool_rate = max(0.0, (1 - value) / 2) if value > 0 else 0.0
        model = simulated_successes(generator, tool_rate + value, sizes, epochs, power, replicates) / epochs
        tool_templates = simulated_rates(generator, tool_rate, sizes, power.template_correlation, replicates)
        tool = (generator.random(model.shape) < tool_templates).astype(float)
        bounds = difference_bounds(model, tool, codes, tails)
    else:
        k = threshold.k if threshold.metric == "pass_at_k" and threshold.k is not None else 1
        rate = rate_for_pass_at_k(value, k, power) if k > 1 else value
        successes = simulated_successes(generator, rate, sizes, epochs, power, replicates)
        values = pass_at_k_values(epochs, successes, k) if k > 1 else successes / epochs
        bounds = proportion_bounds(values, codes, tails)
    return bounds.low >= threshold.at_least, bounds.high < threshold.at_least


def _problem(design: Design, threshold: Threshold, templates: dict[str, int]) -> str | None:
    where = _where(threshold)
    if not templates:
        return f"it has no instances where {where} reads"
    if threshold.metric == "pass_at_k" and threshold.k is not None and design.epochs < threshold.k:
        return f"{where} needs {threshold.k} epochs and the suite runs {design.epochs}"
    if threshold.metric == "difference" and threshold.versus not in design.baselines:
        return f"{where} needs the {threshold.versus} baseline, which the suite does not run"
    if len(templates) == 1:
        return (
            f"{where} reads a single template, and one template says nothing about how templates differ "
            "(its interval is [0, 1] whatever the number of instances)"
        )
    return None


def _level(design: Design, power: Power, level: Level, generator: np.random.Generator) -> LevelPower:
    tails = decision_tails(level)
    results = []
    for threshold in level.thresholds:
        templates = design.cell(threshold)
        problem = _problem(design, threshold, templates)
        crossed = not_crossed = 0.0
        if problem is None:
            sizes = [templates[key] for key in sorted(templates)]
            above = min(1.0, threshold.at_least + power.margin)
            crossed_runs, _ = threshold_outcomes(generator, threshold, sizes, design.epochs, power, tails, above)
            _, null_runs = threshold_outcomes(generator, threshold, sizes, design.epochs, power, tails, 0.0)
            crossed, not_crossed = float(crossed_runs.mean()), float(null_runs.mean())
        results.append(
            ThresholdPower(threshold, len(templates), sum(templates.values()), crossed, not_crossed, problem)
        )
    crossed_each = [result.crossed_above for result in results]
    null_each = [result.not_crossed_null for result in results]
    if level.require == "all":
        crossed_above = math.prod(crossed_each)
        not_crossed_null = 1 - math.prod(1 - q for q in null_each)
    else:
        crossed_above = min(crossed_each)
        not_crossed_null = math.prod(null_each)
    reasons = [f"{result.problem}" for result in results if result.problem]
    if not reasons:
        if crossed_above < power.target:
            weakest = min(results, key=lambda result: result.crossed_above)
            reasons.append(
                f"a model {power.margin * 100:.0f} points above its thresholds would cross it in only "
                f"{crossed_above:.0%} of runs (at least {power.target:.0%} needed; {weakest.templates} templates, "
                f"{weakest.instances} instances where {_where(weakest.threshold)} reads: more instances needed)"
            )
        if not_crossed_null < power.target:
            reasons.append(
                f"a null model would be found not to cross it in only {not_crossed_null:.0%} of runs "
                f"(at least {power.target:.0%} needed)"
            )
    return LevelPower(level, not reasons, crossed_above, not_crossed_null, reasons, results)


def _where(threshold: Threshold) -> str:
    """What a threshold reads, without the value it asks for: ``success rate on web-injection, tier 1``."""
    return threshold.describe().split(", at least")[0]
