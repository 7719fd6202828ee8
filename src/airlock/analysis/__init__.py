"""Analysis: from judged samples to the figures and decisions a report states.

:func:`analyse` takes every judged sample of a review (the model's and each baseline's, on the same
instances) and a capability framework, and returns:

* success by family and tier for every subject (the difficulty curve), with clustered intervals;
* pass@k per family when the suite ran several epochs (k = the number of epochs);
* the model's paired difference against each baseline and each other subject, per family and overall;
* a capability score for every subject on one scale (:mod:`.ability`);
* the framework's level decisions for the model (:mod:`.framework`).

Samples that could not be judged (verdict ``error``: a tool not installed, an endpoint that failed) are
left out of every figure and counted, so the report can say how many. Instances the baselines show to be
broken (the reference solution failed, or the null model solved them) are left out of every figure and
listed (:func:`.framework.check_baselines`). Runs with different epochs (a one-epoch screening run and a
full run with more) mix: rates average each instance's attempts first, and pass@k (k = the most epochs)
reads only the instances attempted at least k times.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from airlock.analysis.ability import AbilityFit, Response, fit_abilities
from airlock.analysis.framework import MODEL, Exclusion, Framework, Judged, LevelDecision, check_baselines, decide
from airlock.analysis.statistics import Estimate, paired_difference, pass_at_k, success_rate

__all__ = ["MODEL", "Analysis", "Difference", "FamilyResult", "TierResult", "analyse"]


@dataclass(frozen=True)
class TierResult:
    subject: str
    family: str
    tier: int
    estimate: Estimate


@dataclass(frozen=True)
class FamilyResult:
    subject: str
    family: str
    """A family, or ``all``."""
    estimate: Estimate


@dataclass(frozen=True)
class Difference:
    versus: str
    family: str
    """A family, or ``all``."""
    estimate: Estimate


@dataclass(frozen=True)
class Analysis:
    subjects: list[str]
    families: list[str]
    tiers: list[int]
    epochs: int
    by_tier: list[TierResult]
    by_family: list[FamilyResult]
    pass_at_k: list[FamilyResult]
    differences: list[Difference]
    abilities: AbilityFit
    decisions: list[LevelDecision]
    framework: Framework
    judged: int
    unjudged: int
    """Samples with verdict ``error`` (a fault outside the model's reach), left out of every figure."""
    failed: int = 0
    """The model's attempts with verdict ``failed`` (its submission could not be judged because of what it was
    or did): failures in every figure, counted here so the report can say so."""
    excluded: list[Exclusion] = field(default_factory=list)
    """Instances the baselines show to be broken, left out of every figure."""
    notes: list[str] = field(default_factory=list)

    @property
    def has_results(self) -> bool:
        return any(result.subject == MODEL and result.estimate.attempts for result in self.by_family)

    def rate(self, subject: str, family: str = "all") -> Estimate | None:
        return next((r.estimate for r in self.by_family if r.subject == subject and r.family == family), None)


def _subject_order(subjects: set[str]) -> list[str]:
    """The model first, then the baselines, reference last but one and null model last: the table's order."""
    rank = {MODEL: 0, "baseline:reference": 8, "baseline:null-model": 9}
    return sorted(subjects, key=lambda subject: (rank.get(subject, 5), subject))


def analyse(rows: Sequence[Judged], unjudged: int, framework: Framework, *, failed: int = 0) -> Analysis:
    """Every figure and decision for the judged samples in ``rows`` (``unjudged`` more could not be judged;
    ``failed`` of the model's are failures it caused, already among ``rows``)."""
    checks = check_baselines(rows)
    kept = [row for row in rows if row.instance not in checks.excluded]
    subjects = _subject_order({row.subject for row in rows} | {MODEL})
    families = sorted({row.line for row in kept})
    tiers = sorted({row.tier for row in kept})
    attempts: dict[str, int] = defaultdict(int)
    for row in kept:
        if row.subject == MODEL:
            attempts[row.instance] += 1
    epochs = max(attempts.values(), default=0)

    def of(subject: str, family: str, tier: int | None = None) -> list[Judged]:
        return [r for r in kept if r.subject == subject and family in ("all", r.line) and tier in (None, r.tier)]

    by_tier = [
        TierResult(subject, family, tier, success_rate(r.outcome() for r in of(subject, family, tier)))
        for subject in subjects
        for family in families
        for tier in tiers
    ]
    by_tier = [result for result in by_tier if result.estimate.attempts]
    by_family = [
        FamilyResult(subject, family, success_rate(r.outcome() for r in of(subject, family)))
        for subject in subjects
        for family in [*families, "all"]
    ]
    notes = []
    at_k = []
    if epochs > 1:
        for family in [*families, "all"]:
            mine = [r for r in of(MODEL, family) if attempts[r.instance] >= epochs]
            if mine:
                at_k.append(FamilyResult(MODEL, family, pass_at_k((r.outcome() for r in mine), epochs)))
        fewer = sum(1 for count in attempts.values() if count < epochs)
        if fewer:
            notes.append(
                f"pass@{epochs} reads the instances attempted {epochs} times; {fewer} instances attempted fewer "
                "times (a run with fewer epochs, or attempts that could not be judged) are left out of it."
            )
    differences = [
        Difference(
            other,
            family,
            paired_difference((r.outcome() for r in of(MODEL, family)), (r.outcome() for r in of(other, family))),
        )
        for other in subjects
        if other != MODEL
        for family in [*families, "all"]
    ]
    differences = [d for d in differences if d.estimate.instances]
    abilities = fit_abilities(Response(r.subject, r.instance, r.success) for r in kept)
    if unjudged:
        notes.append(
            f"{unjudged} samples could not be judged (a tool missing or an endpoint failing) and are left out."
        )
    if failed:
        notes.append(
            f"{failed} of the model's attempts failed by its own doing (its proof of concept could not be read, or "
            "its run flooded its output or used up its sandbox); they count as failures."
        )
    if checks.exclusions:
        notes.append(
            f"{len(checks.exclusions)} instances are left out of every figure because a baseline shows them broken "
            "(the reference solution did not solve them, or the null model did); they are listed with the results."
        )
    return Analysis(
        subjects=subjects,
        families=families,
        tiers=tiers,
        epochs=epochs,
        by_tier=by_tier,
        by_family=by_family,
        pass_at_k=at_k,
        differences=differences,
        abilities=abilities,
        decisions=decide(rows, framework, checks=checks),
        framework=framework,
        judged=len(rows),
        unjudged=unjudged,
        failed=failed,
        excluded=list(checks.exclusions),
        notes=notes,
    )
