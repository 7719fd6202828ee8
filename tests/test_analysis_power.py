"""Suites derived from the framework: the power analysis says which levels a suite can decide, and simulated
reviews of the shipped suites confirm it with the report's own decisions.

Every simulation here is seeded: the numbers are the same on every run. Simulated models follow the
framework's stated assumptions (docs/reports.md, "Power"): a rate per template drawn around the model's mean
(intra-template correlation 0.1), a rate per instance drawn around its template's (two attempts at one
instance correlated 0.5), binomial successes over the epochs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from airlock.analysis.framework import (
    Decision,
    Judged,
    Level,
    Threshold,
    decide_level,
    decision_tails,
    load_framework,
)
from airlock.analysis.power import (
    Design,
    Planned,
    decidability,
    expected_pass_at_k,
    rate_for_pass_at_k,
    simulated_rates,
    simulated_successes,
    summary,
    threshold_outcomes,
)
from airlock.analysis.statistics import (
    NINETY_FIVE,
    Tails,
    difference_bounds,
    pass_at_k_values,
    proportion_bounds,
)
from airlock.evals.suites import SHIPPED, load_suite

FRAMEWORK = load_framework()
POWER = FRAMEWORK.power


def full_design() -> Design:
    return load_suite("full").design()


# What a suite can decide, before it runs ------------------------------------------------------------------


def test_the_full_suite_decides_every_level_of_the_default_framework() -> None:
    levels = decidability(full_design(), FRAMEWORK)
    assert [level.level.id for level in levels] == ["CY-1", "CY-2", "CY-3", "CY-F", "CY-U"]
    assert [level.reasons for level in levels] == [[], [], [], [], []]
    assert all(level.crossed_above >= POWER.target for level in levels)
    assert all(level.not_crossed_null >= POWER.target for level in levels)


@pytest.mark.parametrize("suite", ["smoke", "screening"])
def test_a_suite_too_small_to_decide_a_level_says_so_and_why(suite: str) -> None:
    design = load_suite(suite).design()
    levels = decidability(design, FRAMEWORK)
    assert not any(level.decidable for level in levels)  # never confident
    assert all(level.reasons for level in levels)
    lines = summary(design, levels, POWER)
    assert all(f"the {suite} suite cannot decide it" in line for line in lines)


def test_each_structural_gap_is_named() -> None:
    threshold = Threshold(family="memory-corruption", tiers=[3], metric="pass_at_k", k=2, at_least=0.5)
    versus = Threshold(family="web-injection", tiers=[3], metric="difference", versus="scanner", at_least=0.2)
    logic = Threshold(family="logic-constraint", tiers=[4], at_least=0.5)
    planned = tuple(
        Planned(family, variant, tier, "oneshot", "exploit", 9)
        for family, variants, tier in (
            ("memory-corruption", ["stack_overflow", "heap_overflow"], 3),
            ("web-injection", ["sql_injection", "path_traversal"], 3),
            ("logic-constraint", ["gate"], 4),
        )
        for variant in variants
    )
    level = Level(id="CY-X", name="x", definition="x", thresholds=[threshold, versus, logic])
    framework = FRAMEWORK.model_copy(update={"levels": [level]})
    (decided,) = decidability(Design("mine", 1, planned, ("reference",)), framework)
    assert not decided.decidable
    assert decided.reasons == [
        "pass@2 on memory-corruption, tier 3 needs 2 epochs and the suite runs 1",
        "success rate minus scanner's on web-injection, tier 3 needs the scanner baseline, which the suite does not "
        "run",
        "success rate on logic-constraint, tier 4 reads a single template, and one template says nothing about how "
        "templates differ (its interval is [0, 1] whatever the number of instances)",
    ]


# Simulated reviews, decided as the report decides them --------------------------------------------------


def simulated_review(
    generator: np.random.Generator, design: Design, level: Level, values: Sequence[float]
) -> list[Judged]:
    """One simulated review of ``design``'s instances where ``level`` reads: the model's true figure on each
    threshold is ``values[i]`` (a success rate, pass@k, or the difference over the tool, which then runs too)."""
    rows: list[Judged] = []
    for threshold, value in zip(level.thresholds, values, strict=True):
        planned = [p for p in design.planned if threshold.reads(p.family, p.tier, p.mode, p.objective)]

        def template(p: Planned) -> tuple[str, str, int, str]:
            return (p.family, p.variant, p.tier, p.objective)

        templates = sorted({template(p) for p in planned})
        sizes = [sum(p.instances for p in planned if template(p) == t) for t in templates]
        instances = [(p, n) for t in templates for p in planned if template(p) == t for n in range(p.instances)]
        tool_rate = 0.0
        if threshold.metric == "pass_at_k":
            assert threshold.k is not None
            rate = rate_for_pass_at_k(value, threshold.k, POWER)
        elif threshold.metric == "difference":
            tool_rate = max(0.0, (1 - value) / 2) if value > 0 else 0.0
            rate = tool_rate + value
        else:
            rate = value
        successes = simulated_successes(generator, rate, sizes, design.epochs, POWER, 1)[0]
        tool = (
            generator.random(len(instances))
            < simulated_rates(generator, tool_rate, sizes, POWER.template_correlation, 1)[0]
        )
        for (p, n), won, solved in zip(instances, successes, tool, strict=True):
            instance = f"{p.family}/{p.variant}/t{p.tier}/{p.mode}/{p.objective}/{n}"
            rows += [
                Judged("model", instance, p.family, p.variant, p.tier, p.mode, epoch, epoch <= won, p.objective)
                for epoch in range(1, design.epochs + 1)
            ]
            if threshold.metric == "difference":
                rows.append(
                    Judged(
                        f"baseline:{threshold.versus}",
                        instance,
                        p.family,
                        p.variant,
                        p.tier,
                        p.mode,
                        1,
                        bool(solved),
                        p.objective,
                    )
                )
    return rows


REVIEWS = 400


@pytest.mark.parametrize("level", FRAMEWORK.levels, ids=lambda level: level.id)
def test_simulated_full_reviews_cross_a_level_clearly_above_it_and_not_a_null_model(level: Level) -> None:
    design = full_design()
    generator = np.random.default_rng(sum(map(ord, level.id)))
    above = [min(1.0, t.at_least + POWER.margin) for t in level.thresholds]
    # require all: the model is above every threshold; require any: above one only (each in turn), null on the rest.
    scenarios = (
        [above]
        if level.require == "all"
        else [[a if i == j else 0.0 for j, a in enumerate(above)] for i in range(len(above))]
    )
    (predicted,) = decidability(design, FRAMEWORK.model_copy(update={"levels": [level]}))
    for values in scenarios:
        crossed = sum(
            decide_level(simulated_review(generator, design, level, values), level).decision == Decision.CROSSED
            for _ in range(REVIEWS)
        )
        assert crossed / REVIEWS >= POWER.target, (values, crossed)
        assert crossed / REVIEWS >= predicted.crossed_above - 0.06  # the analysis says what the report will do
    not_crossed = sum(
        decide_level(simulated_review(generator, design, level, [0.0] * len(above)), level).decision
        == Decision.NOT_CROSSED
        for _ in range(REVIEWS // 4)
    )
    assert not_crossed / (REVIEWS // 4) >= POWER.target


def test_a_level_of_several_thresholds_is_falsely_crossed_no_more_than_one_threshold_would_be() -> None:
    # A model exactly at each threshold of CY-U (require any: crossing one suffices). Each threshold alone is
    # falsely crossed at most 2.5% of the time; unadjusted, the level was crossed about twice (with three
    # thresholds, three times) as often. Bonferroni over the level's thresholds brings it back to 2.5%.
    level = next(level for level in FRAMEWORK.levels if level.id == "CY-U")
    design = full_design()
    generator = np.random.default_rng(8)

    def falsely_crossed(tails: Tails) -> float:
        missed = np.ones(4000, dtype=bool)
        for threshold in level.thresholds:
            sizes = list(design.cell(threshold).values())
            crossed, _ = threshold_outcomes(
                generator, threshold, sizes, design.epochs, POWER, tails, threshold.at_least, replicates=4000
            )
            missed &= ~crossed
        return float(1 - missed.mean())

    assert falsely_crossed(decision_tails(level)) <= 0.03
    assert falsely_crossed(NINETY_FIVE) > falsely_crossed(decision_tails(level))


# Coverage in every cell size the suites have ------------------------------------------------------------------


def cell_shapes() -> set[tuple[tuple[int, ...], int]]:
    """(instances of each template, epochs) of every cell a shipped suite gives a figure or a decision on: each
    threshold of the default framework, each family and tier, each family, everything."""
    shapes = set()
    for name in SHIPPED:
        design = load_suite(name).design()
        cells = [design.cell(threshold) for level in FRAMEWORK.levels for threshold in level.thresholds]
        families = {p.family for p in design.planned}
        for family in families:
            tiers = sorted({p.tier for p in design.planned if p.family == family})
            cells.append(design.cell(Threshold(family=family, tiers=tiers, at_least=0.5)))
            cells += [design.cell(Threshold(family=family, tiers=[tier], at_least=0.5)) for tier in tiers]
        cells.append(design.cell(Threshold(family="any", tiers=[1, 2, 3, 4], at_least=0.5)))
        shapes |= {(tuple(sorted(cell.values())), design.epochs) for cell in cells if cell}
    return shapes


COVERAGE_REPLICATES = 1500


@pytest.mark.parametrize("truth", [0.05, 0.2, 0.5, 0.8, 0.95])
def test_the_95_percent_intervals_cover_the_truth_in_every_cell_size_the_suites_have(truth: float) -> None:
    shortfalls = []
    for sizes, epochs in sorted(cell_shapes()):
        # Seeded by the cell's shape too: a suite that gains a cell leaves the other cells' draws as they were.
        generator = np.random.default_rng([int(truth * 1000), epochs, *sizes])
        codes = np.repeat(np.arange(len(sizes)), sizes)
        successes = simulated_successes(generator, truth, sizes, epochs, POWER, COVERAGE_REPLICATES)
        rate = proportion_bounds(successes / epochs, codes, NINETY_FIVE)
        covered = {"success rate": float(np.mean((rate.low <= truth) & (truth <= rate.high)))}
        if epochs > 1:
            at_k = proportion_bounds(pass_at_k_values(epochs, successes, epochs), codes, NINETY_FIVE)
            expected = expected_pass_at_k(truth, epochs, POWER)
            covered[f"pass@{epochs}"] = float(np.mean((at_k.low <= expected) & (expected <= at_k.high)))
        tool_rate = 0.3
        tool = (
            generator.random(successes.shape)
            < simulated_rates(generator, tool_rate, sizes, POWER.template_correlation, COVERAGE_REPLICATES)
        ).astype(float)
        difference = difference_bounds(successes / epochs, tool, codes, NINETY_FIVE)
        gap = truth - tool_rate
        covered["difference"] = float(np.mean((difference.low <= gap) & (gap <= difference.high)))
        shortfalls += [(sizes, epochs, what, share) for what, share in covered.items() if share < 0.93]
    assert shortfalls == []
