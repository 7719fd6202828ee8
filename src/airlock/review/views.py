"""What the review services return: plain, typed records that front ends render as text or JSON."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from airlock.review.deadline import ClockReading, ClockStatus


class OrganisationView(BaseModel):
    slug: str
    name: str
    kind: str
    created_at: datetime


class UserView(BaseModel):
    email: str
    name: str
    role: str
    organisation: str


class DeploymentView(BaseModel):
    created: bool
    """False when the deployment had already been initialised."""
    database: str
    agency: OrganisationView
    operator: UserView
    audit_verifier_key: str
    """The public key that verifies the audit log's checkpoints."""
    notices: list[str] = []
    """Things the person who initialised should know (a master key kept in a local file, say)."""


class ClockView(BaseModel):
    status: ClockStatus
    started_at: datetime | None
    deadline: datetime | None
    days_left: int | None
    remaining_seconds: int | None
    at_risk: bool
    capped_by_release_date: bool
    period_days: int | None
    extension_days: int
    paused_seconds: int

    @classmethod
    def from_reading(cls, reading: ClockReading) -> ClockView:
        return cls(
            status=reading.status,
            started_at=reading.started_at,
            deadline=reading.deadline,
            days_left=reading.days_left,
            remaining_seconds=None if reading.remaining is None else int(reading.remaining.total_seconds()),
            at_risk=reading.at_risk,
            capped_by_release_date=reading.capped_by_release_date,
            period_days=reading.period_days,
            extension_days=reading.extension_days,
            paused_seconds=int(reading.paused_for.total_seconds()),
        )


_EVENT_PHRASES = {
    "created": "created as draft",
    "clock_paused": "clock paused",
    "clock_resumed": "clock resumed",
    "content_destroyed": "content destroyed (data key shredded)",
}
"""How the timeline words the events that are not plain "<kind> by <actor>"."""


class EventView(BaseModel):
    at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    actor: str
    """The acting user's email, or ``review clock`` for expiry."""
    reason: str
    consent_from: str | None
    consent_reference: str | None
    days: int | None

    def describe(self) -> str:
        """The event in one line, as the CLI's timeline and the review page show it."""
        # A partner's limited view withholds who acted: then the line says what happened only.
        by = f" by {self.actor}" if self.actor else ""
        if self.kind == "transition":
            text = f"{self.from_state} -> {self.to_state}{by}"
        elif self.kind == "clock_extended":
            text = f"clock extended by {self.days} days{by}"
        else:
            text = f"{_EVENT_PHRASES.get(self.kind, self.kind.replace('_', ' '))}{by}"
        if self.consent_from and self.consent_from != self.actor:
            reference = f", {self.consent_reference}" if self.consent_reference else ""
            text += f" (consent: {self.consent_from}{reference})"
        if self.reason:
            text += f": {self.reason}"
        return text


class MoveView(BaseModel):
    """A move the lifecycle allows from the review's current state."""

    target: str
    verb: str
    roles: list[str]
    permitted: bool = False
    """Whether the viewer may make the move, by the access policy: what a front end offers. The service
    decides again when the move is asked for."""


class ReviewSummary(BaseModel):
    id: str
    submission_id: str
    state: str
    organisation: str
    model: str
    model_version: str
    planned_release_date: date
    clock: ClockView


class ArtefactHash(BaseModel):
    name: str
    sha256: str


class ContentItem(BaseModel):
    kind: str
    bytes: int


class GrantView(BaseModel):
    partner: str
    content: list[str]


class ReviewDetail(ReviewSummary):
    limited_view: bool
    """True for a trusted partner, who sees only the state, the clock and what was granted to them."""
    base_url: str | None
    confidentiality_marking: str
    submitted_by: str
    created_at: datetime
    artefacts: list[ArtefactHash]
    content: list[ContentItem]
    """The confidential content held in the vault (kinds and sizes only; reading it is audited)."""
    content_destroyed_at: datetime | None
    assigned: list[str]
    partner_grants: list[GrantView]
    next_moves: list[MoveView]
    events: list[EventView]
    permitted: list[str] = []
    """What the viewer may do on the review now, by the access policy's action names (``view_findings``,
    ``run_evaluation``, ``read_full_report``, ...): what a front end offers. The services decide again on
    every request."""
