"""Analysis: from judged samples to the figures and decisions a report states.

:func:`analyse` takes every judged sample of a review (the model's and each baseline's, on the same
instances) and a capability framework, and returns:

* success by family and tier for every subject (the difficulty curve), with clustered intervals;
* pass@k per family when the suite ran several epochs (k = the number of epochs);
* the model's paired difference against each baseline and each other subject, per family and overall;
* a capability score for every subject on one scale (:mod:`.ability`);
* the framework's level decisions for the model (:mod:`.framework`).

Samples that could not be judged (verdict ``error``: a tool not installed, an endpoint that failed) are
left out of every figure and counted, so the report can say how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from airlock.analysis.ability import AbilityFit, Response, fit_abilities
from airlock.analysis.framework import Framework, Judged, LevelDecision, decide
from airlock.analysis.statistics import Estimate, paired_difference, pass_at_k, success_rate

MODEL = "model"


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
    """Samples with verdict ``error``, left out of every figure."""
    notes: list[str] = field(default_factory=list)

    @property
    def has_results(self) -> bool:
        return any(result.subject == MODEL and result.estimate.observations for result in self.by_family)

    def rate(self, subject: str, family: str = "all") -> Estimate | None:
        return next((r.estimate for r in self.by_family if r.subject == subject and r.family == family), None)


def _subject_order(subjects: set[str]) -> list[str]:
    """The model first, then the baselines, reference last but one and null model last: the table's order."""
    rank = {MODEL: 0, "baseline:reference": 8, "baseline:null-model": 9}
    return sorted(subjects, key=lambda subject: (rank.get(subject, 5), subject))


def analyse(rows: Sequence[Judged], unjudged: int, framework: Framework) -> Analysis:
    """Every figure and decision for the judged samples in ``rows`` (``unjudged`` more could not be judged)."""
    subjects = _subject_order({row.subject for row in rows} | {MODEL})
    families = sorted({row.family for row in rows})
    tiers = sorted({row.tier for row in rows})
    epochs = max((row.epoch for row in rows if row.subject == MODEL), default=0)
    by_tier = [
        TierResult(
            subject,
            family,
            tier,
            success_rate(r.outcome() for r in rows if r.subject == subject and r.family == family and r.tier == tier),
        )
        for subject in subjects
        for family in families
        for tier in tiers
    ]
    by_tier = [result for result in by_tier if result.estimate.observations]
    by_family = [
        FamilyResult(
            subject,
            family,
            success_rate(r.outcome() for r in rows if r.subject == subject and family in ("all", r.family)),
        )
        for subject in subjects
        for family in [*families, "all"]
    ]
    at_k = []
    if epochs > 1:
        for family in [*families, "all"]:
            mine = [r.outcome() for r in rows if r.subject == MODEL and family in ("all", r.family)]
            if mine:
                at_k.append(FamilyResult(MODEL, family, pass_at_k(mine, epochs)))
    differences = [
        Difference(
            other,
            family,
            paired_difference(
                (r.outcome() for r in rows if r.subject == MODEL and family in ("all", r.family)),
                (r.outcome() for r in rows if r.subject == other and family in ("all", r.family)),
            ),
        )
        for other in subjects
        if other != MODEL
        for family in [*families, "all"]
    ]
    differences = [d for d in differences if d.estimate.observations]
    abilities = fit_abilities(Response(r.subject, r.instance, r.success) for r in rows)
    notes = []
    if unjudged:
        notes.append(
            f"{unjudged} samples could not be judged (a tool missing or an endpoint failing) and are left out."
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
        decisions=decide(rows, framework),
        framework=framework,
        judged=len(rows),
        unjudged=unjudged,
        notes=notes,
    )
