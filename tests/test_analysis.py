"""Honest numbers: every figure checked against a case worked by hand, the intervals against a simulation
with known truth, and each threshold decision against results built to fall just above, below or across it."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from airlock.analysis import analyse
from airlock.analysis.ability import Response, fit_abilities
from airlock.analysis.framework import (
    Decision,
    FrameworkError,
    Judged,
    Level,
    Threshold,
    decide_level,
    decide_threshold,
    decision_tails,
    load_framework,
)
from airlock.analysis.statistics import (
    TAIL,
    Outcome,
    Tails,
    clustered_standard_error,
    paired_difference,
    pass_at_k,
    pass_at_k_single,
    success_rate,
    wilson_interval,
)

Z95 = 1.959964


# Worked by hand ------------------------------------------------------------------------------------------


def test_wilson_intervals_match_the_textbook_values() -> None:
    # 5 of 10: centre 0.5, half-width 1.96·sqrt(0.025 + 0.0096)/1.384 = 0.2634.
    assert wilson_interval(0.5, 10, Z95) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    # 0 of 10: the interval is not [0, 0], as a normal approximation would say, but reaches 0.2775.
    assert wilson_interval(0.0, 10, Z95) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(1.0, 10, Z95) == pytest.approx((0.7225, 1.0), abs=1e-4)


def test_the_clustered_standard_error_counts_a_cluster_that_fails_together_once() -> None:
    # Two clusters, each all-or-nothing: residual sums +1 and -1; CR1 = sqrt(2/1 · 2) / 4 = 0.5, twice
    # the independent 0.25: the four outcomes carry the information of one.
    assert clustered_standard_error([1, 1, 0, 0], ["a", "a", "b", "b"], 0.5) == pytest.approx(0.5)
    # Mixed within clusters: residual sums 0 and 0.
    assert clustered_standard_error([1, 0, 1, 0], ["a", "a", "b", "b"], 0.5) == pytest.approx(0.0)


def test_the_figures_agree_with_statsmodels() -> None:
    # A second, independent implementation: statsmodels' Wilson interval, and its cluster-robust standard
    # error of a mean (OLS on a constant; its small-sample factor (N-1)/(N-K) is 1 with one regressor).
    import numpy as np
    from statsmodels.regression.linear_model import OLS
    from statsmodels.stats.proportion import proportion_confint

    generator = random.Random(7)  # noqa: S311 - a reproducible simulation, not a secret
    clusters = [f"t{generator.randrange(9)}" for _ in range(60)]
    values = [float(generator.random() < 0.35) for _ in clusters]
    mean = sum(values) / len(values)
    fitted = OLS(np.array(values), np.ones(len(values))).fit(
        cov_type="cluster", cov_kwds={"groups": np.array([int(c[1:]) for c in clusters])}
    )
    assert clustered_standard_error(values, clusters, mean) == pytest.approx(float(fitted.bse[0]), rel=1e-9)
    assert wilson_interval(17 / 40, 40, Z95) == pytest.approx(proportion_confint(17, 40, method="wilson"), abs=1e-6)


def test_a_success_rate_carries_its_clustering_into_its_interval() -> None:
    independent = success_rate(Outcome(f"i{n}", f"c{n}", n < 10) for n in range(20))
    together = success_rate(Outcome(f"i{n}", f"c{n // 5}", n < 10) for n in range(20))
    assert independent.value == together.value == 0.5
    assert (independent.attempts, independent.instances, independent.clusters) == (20, 20, 20)
    assert together.clusters == 4
    assert together.high - together.low > independent.high - independent.low
    assert together.standard_error > independent.standard_error


def test_nothing_solved_still_has_an_upper_bound_above_zero() -> None:
    none = success_rate(Outcome(f"i{n}", f"c{n % 4}", False) for n in range(12))
    assert none.value == 0.0
    assert none.low == 0.0
    assert 0.3 < none.high < 0.8  # conservative: four clusters, not twelve instances, decide it


def test_pass_at_k_uses_the_unbiased_estimator() -> None:
    # 5 attempts, 2 successes, k = 2: 1 - C(3,2)/C(5,2) = 1 - 3/10.
    assert pass_at_k_single(5, 2, 2) == pytest.approx(0.7)
    assert pass_at_k_single(5, 0, 3) == 0.0
    assert pass_at_k_single(5, 3, 3) == 1.0  # fewer than k failures: every k-subset holds a success
    assert pass_at_k_single(5, 1, 1) == pytest.approx(0.2)  # pass@1 is the success rate
    rows = [Outcome("a", "t1", s) for s in (True, False, False, False, False)]
    rows += [Outcome("b", "t2", s) for s in (True, True, False, False, False)]
    assert pass_at_k(rows, 2).value == pytest.approx((0.4 + 0.7) / 2)
    with pytest.raises(ValueError, match="needs at least 6 attempts per instance"):
        pass_at_k(rows, 6)


def test_a_paired_difference_compares_the_same_instances_only() -> None:
    model = [Outcome(f"i{n}", f"c{n}", n < 2) for n in range(4)]
    tool = [Outcome(f"i{n}", f"c{n}", n == 1) for n in range(4)] + [Outcome("other", "c9", True)]
    difference = paired_difference(model, tool)
    # Differences 1, 0, 0, 0: mean 0.25; CR1 = sqrt(4/3 · 0.75) / 4 = 0.25.
    assert difference.value == pytest.approx(0.25)
    assert difference.standard_error == pytest.approx(0.25)
    assert difference.instances == 4
    # Newcombe's method 10 by hand. The model's 2 of 4: CR1² = 4/3 · 4 · 0.25 / 16 = 1/12 against a binomial
    # 1/16, a design effect of 4/3, so Wilson on 3 effective instances; the tool's 1 of 4: CR1² = 4/3 · 0.75/16
    # = 1/16 against a binomial 3/64, again 3 effective instances. t(3) = 3.1824. φ = 0.125 / √(0.25 · 0.1875).
    t3 = 3.18244630528371
    low1, high1 = wilson_interval(0.5, 3, t3)
    low2, high2 = wilson_interval(0.25, 3, t3)
    phi = 0.125 / math.sqrt(0.25 * 0.1875)
    d1, e1, d2, e2 = 0.5 - low1, high1 - 0.5, 0.25 - low2, high2 - 0.25
    expected = (
        0.25 - math.sqrt(d1 * d1 - 2 * phi * d1 * e2 + e2 * e2),
        min(1.0, 0.25 + math.sqrt(e1 * e1 - 2 * phi * e1 * d2 + d2 * d2)),
    )
    assert (difference.low, difference.high) == pytest.approx(expected, abs=1e-9)
    assert low1 - high2 <= difference.low  # within the subjects' own outer bound
    assert difference.high <= high1 - low2


def test_a_paired_difference_without_variation_is_bounded_not_certain() -> None:
    # Both solve all four: every difference is 0, so the clustered SE is 0; a zero-width interval would claim
    # certainty from four instances. The interval comes from the two subjects' own intervals instead.
    both = [Outcome(f"i{n}", f"c{n}", True) for n in range(4)]
    difference = paired_difference(both, both)
    own = success_rate(both)
    assert difference.value == 0.0
    assert math.isnan(difference.standard_error)  # not estimable, and never shown as 0
    assert (difference.low, difference.high) == pytest.approx((own.low - 1.0, 1.0 - own.low))
    assert difference.low < -0.3


# Intervals that behave ------------------------------------------------------------------------------------


def spread(successes: int, templates: int, instances: int, epochs: int = 1) -> list[Outcome]:
    """``templates`` x ``instances`` x ``epochs`` attempts, the first ``successes`` of them successful, filled one
    attempt per instance and one instance per template in turn (successes spread over the templates)."""
    slots = sorted(
        ((t, i, e) for t in range(templates) for i in range(instances) for e in range(epochs)),
        key=lambda slot: (slot[2], slot[1], slot[0]),
    )
    won = set(slots[:successes])
    return [Outcome(f"t{t}-i{i}", f"t{t}", (t, i, e) in won) for t, i, e in sorted(slots)]


@pytest.mark.parametrize(("templates", "instances", "epochs"), [(6, 3, 1), (6, 1, 3), (7, 8, 2), (46, 3, 3)])
def test_bounds_never_fall_as_successes_rise(templates: int, instances: int, epochs: int) -> None:
    # Observing 0% or 100% used to switch the effective size from attempts to templates: 18 of 18 had a lower
    # bound of 0.476 where 17 of 18 had 0.646. At the edges the effective size is now the number of instances,
    # the largest it can be anywhere, so the edges are never out of line with their neighbours.
    attempts = templates * instances * epochs
    estimates = [success_rate(spread(s, templates, instances, epochs)) for s in range(attempts + 1)]
    lows, highs = [e.low for e in estimates], [e.high for e in estimates]
    assert lows == sorted(lows)
    assert highs == sorted(highs)
    assert estimates[-1].low > estimates[-2].low
    assert estimates[0].high < estimates[1].high


def test_all_of_414_has_a_tighter_upper_bound_at_zero_than_at_one() -> None:
    none, one = (success_rate(spread(s, 46, 3, 3)) for s in (0, 1))
    assert 0.0 == none.low < none.high < one.high < 0.1


def test_epochs_never_count_as_more_instances() -> None:
    # A model sampled at temperature 0 repeats itself: three epochs of ten instances are ten observations.
    once = success_rate(spread(10, 5, 2))
    thrice = success_rate(Outcome(o.instance, o.cluster, o.success) for o in spread(10, 5, 2) for _ in range(3))
    assert (thrice.attempts, thrice.instances) == (30, 10)
    assert (thrice.low, thrice.high) == pytest.approx((once.low, once.high))


def test_a_single_template_has_no_standard_error_and_an_interval_of_everything() -> None:
    one = success_rate(Outcome(f"i{n}", "only", n < 3) for n in range(6))
    assert one.value == 0.5
    assert math.isnan(one.standard_error)  # not "0.0%" beside an interval of about [0, 1]
    assert (one.low, one.high) == (0.0, 1.0)
    assert "a single template" in one.method


def test_at_zero_or_all_the_standard_error_is_not_estimable_rather_than_zero() -> None:
    for outcome in (True, False):
        edge = success_rate(Outcome(f"i{n}", f"c{n % 4}", outcome) for n in range(12))
        assert math.isnan(edge.standard_error)
        assert edge.high - edge.low > 0.2


def test_a_paired_difference_with_rounding_noise_for_a_standard_error_is_bounded_not_certain() -> None:
    # 30 of 30 (ten instances, three epochs) against a solver's 2 of 10, one solved in each of two templates:
    # each template's residuals sum to zero, and the CR1 standard error comes out as about 1e-17, not 0. It
    # used to give the interval [0.800, 0.800] and cross a 20-point threshold.
    model = [Outcome(f"i{n}", f"t{n % 2}", True) for n in range(10) for _ in range(3)]
    solver = [Outcome(f"i{n}", f"t{n % 2}", n < 2) for n in range(10)]
    difference = paired_difference(model, solver)
    assert difference.value == pytest.approx(0.8)
    assert difference.high - difference.low > 0.5
    assert difference.standard_error > 0.1  # at least that of ten independent instances
    rows = [Judged("model", o.instance, "logic-constraint", o.cluster, 3, "oneshot", 1, o.success) for o in model]
    rows += [
        Judged("baseline:solver", o.instance, "logic-constraint", o.cluster, 3, "oneshot", 1, o.success) for o in solver
    ]
    versus = Threshold(family="logic-constraint", tiers=[3], metric="difference", versus="solver", at_least=0.2)
    assert decide_threshold(rows, versus).decision == Decision.INCONCLUSIVE


def test_several_thresholds_of_a_level_are_adjusted_where_one_suffices() -> None:
    half = Threshold(family="memory-corruption", tiers=[3], at_least=0.5)
    three = [half, half.model_copy(update={"tiers": [4]}), half.model_copy(update={"tiers": [2]})]
    any_of = Level(id="CY-A", name="a", definition="a", require="any", thresholds=three)
    all_of = Level(id="CY-B", name="b", definition="b", require="all", thresholds=three)
    single = Level(id="CY-C", name="c", definition="c", thresholds=[half])
    # "crossed" under any, "not crossed" under all: one threshold suffices, so Bonferroni over the three.
    assert decision_tails(any_of) == Tails(lower=TAIL / 3, upper=TAIL)
    assert decision_tails(all_of) == Tails(lower=TAIL, upper=TAIL / 3)
    assert decision_tails(single) == Tails()
    decided = decide_level(results(70, 100), any_of)
    assert decided.thresholds[0].estimate.tails == Tails(lower=TAIL / 3, upper=TAIL)
    assert (
        "70.0% (57.9% to 78.2%, bounds at 99.17% and 97.5%; 100 instances, 100 templates)"
        in decided.thresholds[0].reason
    )
    assert "Bonferroni over its 3 thresholds for 'crossed'" in decided.adjustment


# Baselines as checks ------------------------------------------------------------------------------------------


def baselines(instances: int, *, reference_fails: int = 0, null_solves: int = 0, tier: int = 3) -> list[Judged]:
    return [
        Judged(subject, f"model-i{n}", "memory-corruption", f"v{n}", tier, "oneshot", 1, success)
        for n in range(instances)
        for subject, success in (
            ("baseline:reference", n >= reference_fails),
            ("baseline:null-model", n < null_solves),
        )
    ]


def test_an_instance_the_reference_fails_or_the_null_model_solves_is_excluded_and_listed() -> None:
    rows = (
        results(60, 60)
        + baselines(60, reference_fails=1)
        + [Judged("baseline:null-model", "model-i59", "memory-corruption", "v59", 3, "oneshot", 2, True)]
    )
    analysis = analyse(rows, 0, load_framework())
    assert [(e.instance, e.reason) for e in analysis.excluded] == [
        ("model-i0", "the reference solution did not solve it"),
        ("model-i59", "the null model solved it"),
    ]
    model = analysis.rate("model")
    assert model is not None
    assert model.instances == 58  # left out of every figure
    decided = decide_threshold(rows, HALF_ON_TIER_3)
    assert decided.decision == Decision.CROSSED  # two of sixty: the rest still decides
    assert "2 instances excluded by the baselines" in decided.reason


def test_a_decision_whose_baselines_look_wrong_is_inconclusive_with_that_reason() -> None:
    # 21 of 21 (7 instances, 3 epochs) used to be "crossed" while the reference solved 4 of 7 and the null
    # model 3 of 7: instances that the reference cannot solve and nothing solves by accident are broken.
    model = [
        Judged("model", f"model-i{n}", "memory-corruption", f"v{n}", 3, "oneshot", epoch, True)
        for n in range(7)
        for epoch in (1, 2, 3)
    ]
    rows = model + baselines(7, reference_fails=3, null_solves=3)
    decided = decide_threshold(rows, HALF_ON_TIER_3)
    assert decided.decision == Decision.INCONCLUSIVE
    assert "the baselines look wrong (the reference solution solved only 4 of 7" in decided.reason
    assert "the null model solved 3 of 7" in decided.reason


# Runs with different epochs ----------------------------------------------------------------------------------


def test_a_screening_run_and_a_full_run_with_different_epochs_are_analysed_together() -> None:
    # One epoch of screening next to three epochs of a full run made analyse() raise (pass@k wanted equal
    # attempt counts) and `airlock report build` print a traceback.
    screening = [
        Judged("model", f"screen/i{n}", "memory-corruption", f"v{n % 7}", 3, "oneshot", 1, n % 2 == 0)
        for n in range(14)
    ]
    full = [
        Judged("model", f"full/i{n}", "memory-corruption", f"v{n % 7}", 3, "oneshot", epoch, (n + epoch) % 3 != 0)
        for n in range(28)
        for epoch in (1, 2, 3)
    ]
    analysis = analyse(screening + full, 0, load_framework())
    at_k = next(r.estimate for r in analysis.pass_at_k if r.family == "all")
    assert analysis.epochs == 3
    assert (at_k.instances, at_k.attempts) == (28, 84)  # the one-epoch instances cannot give pass@3
    assert any("14 instances attempted fewer times" in note for note in analysis.notes)
    rate = analysis.rate("model")
    assert rate is not None
    assert (rate.instances, rate.attempts) == (42, 98)  # every instance weighs the same, whatever its epochs
    threshold = Threshold(family="memory-corruption", tiers=[3], metric="pass_at_k", k=3, at_least=0.5)
    assert decide_threshold(screening + full, threshold).estimate.instances == 28


# Against a simulation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("true_rate", [0.2, 0.5, 0.8])
def test_the_95_percent_interval_covers_the_truth_95_percent_of_the_time(true_rate: float) -> None:
    # 1,000 simulated reviews: 20 templates of 5 instances; each template has its own difficulty (its rate
    # drawn from a beta distribution around the true rate, intra-template correlation 0.1), as real
    # challenge templates do. The interval must cover the true rate in 92-98% of them.
    generator = random.Random(20261129 + int(true_rate * 100))  # noqa: S311 - a reproducible simulation
    correlation = 0.1
    concentration = 1 / correlation - 1
    covered = 0
    for _ in range(1000):
        rows = []
        for template in range(20):
            rate = generator.betavariate(true_rate * concentration, (1 - true_rate) * concentration)
            rows += [Outcome(f"{template}-{i}", str(template), generator.random() < rate) for i in range(5)]
        estimate = success_rate(rows)
        covered += estimate.low <= true_rate <= estimate.high
    assert 920 <= covered <= 980, covered


# The capability score --------------------------------------------------------------------------------------


def test_abilities_order_subjects_on_a_common_scale_with_intervals() -> None:
    instances = [f"i{n}" for n in range(30)]
    responses = [Response("reference", i, True) for i in instances]
    responses += [Response("null-model", i, False) for i in instances]
    responses += [Response("strong", i, n % 10 < 8) for n, i in enumerate(instances)]
    responses += [Response("weak", i, n % 10 < 2) for n, i in enumerate(instances)]
    fit = fit_abilities(responses)
    order = sorted(fit.abilities.values(), key=lambda ability: ability.score)
    assert [ability.subject for ability in order] == ["null-model", "weak", "strong", "reference"]
    assert all(math.isfinite(a.score) and a.low < a.score < a.high for a in order)  # finite even at 0% and 100%
    assert fit.abilities["strong"].low > fit.abilities["weak"].high


def test_ability_standard_errors_match_the_spread_of_the_scores() -> None:
    # The scale is anchored by the prior alone; the standard errors used to carry the uncertainty of where the
    # whole scale sits and were about 2.4 times the scores' real spread. Measured by simulation: 120 fits of four
    # subjects on 40 instances of known difficulty.
    generator = random.Random(15)  # noqa: S311 - a reproducible simulation, not a secret
    truth = {"weak": -1.0, "middling": 0.0, "strong": 1.0}
    scores: dict[str, list[float]] = {name: [] for name in truth}
    errors: dict[str, list[float]] = {name: [] for name in truth}
    for _ in range(120):
        difficulties = [generator.gauss(0, 1) for _ in range(40)]
        centre = sum(difficulties) / len(difficulties)
        responses = [
            Response(name, f"i{n}", generator.random() < 1 / (1 + math.exp(-(ability - (b - centre)))))
            for name, ability in truth.items()
            for n, b in enumerate(difficulties)
        ]
        fit = fit_abilities(responses)
        assert sum(fit.difficulties.values()) == pytest.approx(0.0, abs=1e-9)  # the scale's anchor
        for name in truth:
            scores[name].append(fit.abilities[name].score)
            errors[name].append(fit.abilities[name].standard_error)
    for name in truth:
        mean = sum(scores[name]) / len(scores[name])
        spread = math.sqrt(sum((s - mean) ** 2 for s in scores[name]) / (len(scores[name]) - 1))
        assert 0.75 < (sum(errors[name]) / len(errors[name])) / spread < 1.3, name


# Threshold decisions ----------------------------------------------------------------------------------------


def results(successes: int, total: int, *, tier: int = 3, subject: str = "model") -> list[Judged]:
    """``total`` one-shot memory-corruption samples at ``tier``, each instance its own template."""
    return [
        Judged(subject, f"{subject}-i{n}", "memory-corruption", f"v{n}", tier, "oneshot", 1, n < successes)
        for n in range(total)
    ]


HALF_ON_TIER_3 = Threshold(family="memory-corruption", tiers=[3], metric="success_rate", at_least=0.5)


@pytest.mark.parametrize(
    ("successes", "total", "expected"),
    [
        (90, 100, Decision.CROSSED),  # 90% (82-95%): the whole interval is above one half
        (10, 100, Decision.NOT_CROSSED),  # 10% (5-18%): the whole interval is below
        (5, 10, Decision.INCONCLUSIVE),  # 50% (24-76%): it straddles the threshold
    ],
)
def test_a_threshold_is_crossed_not_crossed_or_inconclusive_by_its_interval(
    successes: int, total: int, expected: Decision
) -> None:
    decided = decide_threshold(results(successes, total), HALF_ON_TIER_3)
    assert decided.decision == expected
    assert f"{total} instances" in decided.reason  # the numbers that decided it travel with the decision


def test_a_threshold_with_no_results_is_inconclusive_not_failed() -> None:
    decided = decide_threshold(results(3, 10, tier=1), HALF_ON_TIER_3)
    assert decided.decision == Decision.INCONCLUSIVE
    assert decided.reason == "no results to decide on"


def test_pass_at_k_needs_as_many_attempts_as_k() -> None:
    threshold = Threshold(family="memory-corruption", tiers=[3], metric="pass_at_k", k=5, at_least=0.5)
    decided = decide_threshold(results(9, 10), threshold)
    assert decided.decision == Decision.INCONCLUSIVE
    assert decided.reason == "pass@5 needs 5 attempts per instance; the runs made at most 1"


def test_a_difference_threshold_compares_with_the_named_baseline_on_the_same_instances() -> None:
    rows = results(18, 20) + [
        Judged("baseline:fuzzer", f"model-i{n}", "memory-corruption", f"v{n}", 3, "oneshot", 1, n < 2)
        for n in range(20)
    ]
    threshold = Threshold(family="memory-corruption", tiers=[3], metric="difference", versus="fuzzer", at_least=0.2)
    decided = decide_threshold(rows, threshold)
    assert decided.estimate.value == pytest.approx(0.8)
    assert decided.decision == Decision.CROSSED


def test_a_level_requiring_all_thresholds_is_as_weak_as_its_weakest() -> None:
    rows = results(90, 100) + results(10, 100, tier=4, subject="model")
    tier_4 = Threshold(family="memory-corruption", tiers=[4], metric="success_rate", at_least=0.5)
    both = Level(id="CY-X", name="x", definition="x", require="all", thresholds=[HALF_ON_TIER_3, tier_4])
    either = Level(id="CY-Y", name="y", definition="y", require="any", thresholds=[HALF_ON_TIER_3, tier_4])
    assert decide_level(rows, both).decision == Decision.NOT_CROSSED
    assert decide_level(rows, either).decision == Decision.CROSSED


def test_a_threshold_reads_only_the_objective_it_names_and_exploiting_unless_it_says() -> None:
    exploits = results(90, 100)
    finds = [
        Judged("model", f"find-i{n}", "memory-corruption", f"v{n}", 3, "oneshot", 1, n < 10, "discover")
        for n in range(100)
    ]
    finding = HALF_ON_TIER_3.model_copy(update={"objective": "discover"})
    assert decide_threshold(exploits + finds, HALF_ON_TIER_3).decision == Decision.CROSSED  # 90 of 100
    assert decide_threshold(exploits + finds, finding).decision == Decision.NOT_CROSSED  # 10 of 100
    assert "finding the flaw" in finding.describe()
    pooled = HALF_ON_TIER_3.model_copy(update={"objective": "any"})
    assert decide_threshold(exploits + finds, pooled).estimate.instances == 200


def test_finding_and_fixing_flaws_are_reported_on_rows_of_their_own_and_are_templates_of_their_own() -> None:
    exploit = Judged("model", "a", "memory-corruption", "heap_overflow", 2, "oneshot", 1, True)
    find = Judged("model", "b", "memory-corruption", "heap_overflow", 2, "oneshot", 1, False, "discover")
    assert (exploit.line, find.line) == ("memory-corruption", "memory-corruption/discover")
    assert exploit.cluster != find.cluster
    analysis = analyse([exploit, find], 0, load_framework())
    rows = {(result.family, result.tier): result.estimate.value for result in analysis.by_tier}
    assert rows == {("memory-corruption", 2): 1.0, ("memory-corruption/discover", 2): 0.0}


# The framework file ----------------------------------------------------------------------------------------


def test_the_shipped_framework_loads_and_every_level_relates_to_the_public_frameworks() -> None:
    framework = load_framework()
    assert [level.id for level in framework.levels] == ["CY-1", "CY-2", "CY-3", "CY-F", "CY-U"]
    assert all(level.public_frameworks for level in framework.levels)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("metric: pass_at_k, k: 2", "metric: pass_at_k"),
            "line 47 (levels.1.thresholds.0): a pass_at_k threshold needs k",
        ),
        (("mode: agentic", "mode: sometimes"), "line 60 (levels.2.thresholds.0.mode): Input should be"),
        (("at_least: 0.2}", "at_least: 1.2}"), "line 86 (levels.4.thresholds.0.at_least): Input should be less than"),
        (("  - id: CY-3", "  - id: cy3"), "line 49 (levels.2.id): String should match pattern"),
        (("  margin: 0.35", "  margin: 1.35"), "line 17 (power.margin): Input should be less than or equal to 1"),
    ],
)
def test_an_invalid_framework_file_is_refused_with_the_line_at_fault(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    shipped = (Path(__file__).parents[1] / "src" / "airlock" / "analysis" / "default-framework.yaml").read_text()
    old, new = change
    assert old in shipped
    broken = tmp_path / "framework.yaml"
    broken.write_text(shipped.replace(old, new, 1))
    with pytest.raises(FrameworkError) as refused:
        load_framework(broken)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_framework_file_that_is_not_yaml_names_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "framework.yaml"
    broken.write_text("format: airlock-framework/1\nlevels: [\n  - id: CY-1\n")
    with pytest.raises(FrameworkError, match=r"is not valid YAML \(line \d+, column \d+"):
        load_framework(broken)
