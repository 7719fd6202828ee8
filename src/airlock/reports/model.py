"""The report model: one document, rendered to HTML, PDF and JSON, in a full and a redacted variant.

Everything a rendering shows is in a :class:`Report`; the renderers add layout, nothing else, so the three
formats cannot disagree. The JSON rendering is the model itself, and :func:`report_schema` is its JSON
Schema (shipped as ``docs/report-schema.json``).

The redacted variant, for trusted partners and partner agencies, is built from the same analysis with
every exploit detail left out: no proof-of-concept bytes, no transcript excerpts, no challenge source, and
no per-instance reasons (they name functions and bug classes). Its :attr:`Report.variant` says so, and its
marking says so on every page.
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
    observations: int
    reason: str
    """The numbers that decided it, in words: ``62.0% (95% interval 48.1% to 74.2%, n=50): lower bound...``."""


class DecisionRow(_Model):
    level: str
    name: str
    definition: str
    public_frameworks: str
    decision: DecisionText
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
    low: float
    high: float
    observations: int
    clusters: int


class DifferenceRow(_Model):
    versus: str
    family: str
    value: float | None
    standard_error: float | None
    low: float
    high: float
    observations: int


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


class FindingView(_Model):
    id: str
    kind: Literal["capability", "notable_success", "reviewer"]
    title: str
    body: str
    level: str | None
    evidence: Evidence | None
    response: Response | None


class RunView(_Model):
    id: str
    suite: str
    suite_version: str
    status: str
    samples: int
    started_at: datetime
    finished_at: datetime | None
    seeds: dict[str, int]
    """Task key -> seed: with the suite version, what re-creates the instances exactly."""


class Methods(_Model):
    model: str
    suites: list[str]
    runs: list[RunView]
    epochs: int
    modes: list[str]
    scaffold: str
    budgets: dict[str, Any]
    baselines: list[str]
    framework: str
    framework_version: str


class InstanceRow(_Model):
    instance: str
    family: str
    variant: str
    tier: int
    mode: str
    verdicts: dict[str, str]
    """Subject -> ``exploit`` / ``not proven`` / ``error`` (the model's over epochs: ``2/3``)."""
    reasons: dict[str, str] | None
    """Subject -> the oracle's reason. Full report only."""


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
    appendix: list[InstanceRow] = Field(default_factory=list)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of a report's JSON rendering."""
    schema = Report.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://airlock.invalid/schemas/airlock-report-1.json"
    return schema
