"""The report model: one document, rendered to HTML, PDF and JSON, in a full and a redacted variant.

Everything a rendering shows is in a :class:`Report`; the renderers add layout, nothing else, so the three
formats cannot disagree. The JSON rendering is the model itself, and :func:`report_schema` is its JSON
Schema (shipped as ``docs/report-schema.json``).

The redacted variant, for trusted partners and partner agencies, is built from the same analysis with
every exploit detail left out: no proof-of-concept bytes, no transcript excerpts, no challenge source, no
per-instance reasons (they name functions and bug classes), no variant (a variant *is* a bug class) and no
seed (a seed re-creates a challenge's source). Where a seed or an instance is needed to tie the report to
its evidence, the redacted variant shows a commitment instead: HMAC-SHA256 under a random key that only the
full variant states (:attr:`Methods.commitment_key`), so whoever holds the full report can check that both
speak of the same instances, and nobody else can recover a seed or a bug class from it. Its
:attr:`Report.variant` says so, and its marking says so on every page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_FORMAT: Literal["airlock-report/1"] = "airlock-report/1"
Variant = Literal["full", "redacted"]
Status = Literal["draft", "final"]
DecisionText = Literal["crossed", "not crossed", "inconclusive"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThresholdRow(_Model):
    description: str
    decision: DecisionText
    value: float | None
    low: float | None
    high: float | None
    interval: str
    """The confidence of the bounds that decided it: ``95% interval``, or each bound's where the level's
    thresholds are adjusted for each other (``lower bound at 98.75%, upper bound at 97.5%``)."""
    instances: int
    reason: str
    """The numbers that decided it, in words: ``62.0% (95% interval 48.1% to 74.2%; n=50 instances of 7
    templates): lower bound...``."""


class DecisionRow(_Model):
    level: str
    name: str
    definition: str
    public_frameworks: str
    decision: DecisionText
    adjustment: str
    """How the level's thresholds were adjusted for each other (Bonferroni), in words."""
    thresholds: list[ThresholdRow]


class Rate(_Model):
    subject: str
    """``model``, ``baseline:<name>``, or another model's name."""
    family: str
    """A family, or ``all``."""
    tier: int | None
    """None for a figure over every tier."""
    value: float | None
    standard_error: float | None
    """None where it cannot be estimated: no variation (0% or 100%) or a single template."""
    low: float
    high: float
    attempts: int
    instances: int
    """The unit of evidence: an instance's attempts (epochs) are averaged first."""
    templates: int
    """The clusters: instances of one template are alike."""


class DifferenceRow(_Model):
    versus: str
    family: str
    value: float | None
    standard_error: float | None
    """None where it cannot be estimated: the differences do not vary (the interval is then bounded)."""
    low: float
    high: float
    instances: int
    """Instances both subjects attempted."""
    templates: int


class AbilityRow(_Model):
    subject: str
    score: float
    standard_error: float
    low: float
    high: float


class Results(_Model):
    by_tier: list[Rate]
    """Success by family and tier for every subject: the difficulty curve."""
    by_family: list[Rate]
    pass_at_k: list[Rate]
    """pass@k with k = the number of epochs, when there were several."""
    k: int | None
    differences: list[DifferenceRow]
    """The model minus each other subject, on the same instances."""
    abilities: list[AbilityRow]
    ability_method: str
    statistics: list[str]
    """Which formula each number uses."""


class Figure(_Model):
    title: str
    caption: str
    svg: str
    """A self-contained SVG document (no external references)."""


class Evidence(_Model):
    """What shows a notable success. Full report only."""

    instance: str
    transcript_excerpt: str
    proof_of_concept: str
    """The proof of concept the oracle accepted (text, or hex for binary input)."""
    challenge_source: str
    """An excerpt of the challenge's source: the program the model attacked."""


class Response(_Model):
    text: str
    by: str
    at: datetime


class SampleRef(_Model):
    """One attempt of one instance: the evidence a finding rests on, which the portal opens in its transcript
    viewer (``/reviews/REVIEW/evaluations/RUN/samples/SAMPLE?task=TASK&epoch=EPOCH``)."""

    run: str
    task: str
    """The suite's task: ``memory-corruption/oneshot``."""
    sample: str
    """The sample (the instance's name); in the redacted report, 16 hex digits of a commitment to ``RUN/SAMPLE``,
    as the appendix names the instance (its name holds the bug class and the seed)."""
    epoch: int

    @property
    def text(self) -> str:
        """``RUN/TASK/SAMPLE/EPOCH``: how the command line writes and reads a sample."""
        return f"{self.run}/{self.task}/{self.sample}/{self.epoch}"


FindingKind = Literal["capability", "notable_success", "unplanted_crash", "reviewer"]
"""``capability`` and ``notable_success`` (a level's evidence, a hard success) and ``unplanted_crash`` (a memory
error the model proved where nothing was planted: for a person to look at) come from the analysis; ``reviewer``
from a person."""
ANALYSIS_KINDS = ("capability", "notable_success", "unplanted_crash")


class FindingView(_Model):
    id: str
    kind: FindingKind
    title: str
    body: str
    level: str | None
    evidence: Evidence | None
    response: Response | None
    samples: list[SampleRef] = Field(default_factory=list)
    """The samples behind the finding: a notable success's attempt; a capability finding's successful attempts
    on what the level's thresholds read; those a reviewer named."""


class RunView(_Model):
    id: str
    suite: str
    suite_version: str
    status: str
    samples: int
    epochs: int
    started_at: datetime
    finished_at: datetime | None
    seeds: dict[str, int] | None
    """Task key -> seed: with the suite version, what re-creates the instances exactly. Full report only."""
    seed_commitments: dict[str, str]
    """Task key -> ``hmac-sha256:`` of ``task=seed`` under :attr:`Methods.commitment_key`: what the redacted
    report shows instead of the seed."""


class Methods(_Model):
    model: str
    suites: list[str]
    runs: list[RunView]
    modes: list[str]
    scaffold: str
    budgets: dict[str, Any]
    baselines: list[str]
    framework: str
    framework_version: str
    commitment_key: str | None
    """The key of the commitments to seeds and instances (hex). Full report only: with it, the full report's
    reader can check the redacted report's commitments; without it, they reveal nothing."""


class InstanceRow(_Model):
    instance: str
    """``RUN/SAMPLE``; in the redacted report, ``RUN/`` and a commitment to the sample (its name holds the
    bug class and the seed)."""
    family: str
    variant: str | None
    """The challenge variant (for memory corruption and the web, the bug class). Full report only."""
    tier: int
    mode: str
    verdicts: dict[str, str]
    """Subject -> ``exploit`` / ``not proven`` / ``error`` (the model's over epochs: ``2/3``)."""
    reasons: dict[str, str] | None
    """Subject -> the oracle's reason. Full report only."""


class ExcludedRow(_Model):
    """An instance left out of every figure because a baseline showed it broken."""

    instance: str
    """As in the appendix: a commitment in the redacted report."""
    family: str
    tier: int
    mode: str
    reason: str


class InvalidatedRow(_Model):
    """A sample of the model a lead reviewer invalidated (it went wrong for a reason outside the model): left out
    of every figure, listed with why."""

    instance: str
    """``RUN/SAMPLE`` as in the appendix: a commitment in the redacted report."""
    task: str
    epoch: int
    family: str
    tier: int
    mode: str
    verdict: str
    """The verdict it had."""
    reason: str | None
    """The lead reviewer's reason. Full report only (a reviewer's own words)."""
    by: str | None
    """Who invalidated it. Full report only."""
    at: datetime


class Report(_Model):
    format: Literal["airlock-report/1"] = REPORT_FORMAT
    variant: Variant
    status: Status
    review: str
    model: str
    developer: str
    deployment: str
    issued_at: datetime
    marking: str
    """The banner every page carries."""
    complete: bool
    """False when the review expired or was cut short: the report says what was done."""
    has_results: bool
    summary: str
    """Page one's paragraph, for a non-specialist."""
    decisions: list[DecisionRow]
    notes: list[str]
    methods: Methods | None
    results: Results | None
    figures: list[Figure]
    findings: list[FindingView]
    limitations: list[str]
    excluded: list[ExcludedRow] = Field(default_factory=list)
    """Instances the baselines showed broken (the reference did not solve them, or the null model did)."""
    invalidated: list[InvalidatedRow] = Field(default_factory=list)
    """Samples of the model a lead reviewer invalidated, with why: left out of every figure."""
    appendix: list[InstanceRow] = Field(default_factory=list)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of a report's JSON rendering."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airlock.invalid/schemas/airlock-report-1.json"
    return schema
