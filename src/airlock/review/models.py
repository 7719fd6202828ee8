"""The review domain's tables.

There is deliberately no column meaning approved, licensed or cleared: a review is advisory, and its
outcome is a report, never a permission.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from airlock.store import Base, UTCDateTime


class Deployment(Base):
    """The one row describing this installation: when it was initialised and who its local operator is."""

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(primary_key=True)
    initialised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_operator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_hash: Mapped[str | None] = mapped_column(String(200))
    """For signing in to the web portal (scrypt, see :mod:`airlock.review.sessions`); none until one is set."""
    password_is_one_time: Mapped[bool] = mapped_column(default=False, server_default=false())
    """The password was set by someone else (an operator): it signs in only to choose one's own."""
    password_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When an operator last reset the password (break-glass), by whom and why: shown to the user."""
    password_reset_by: Mapped[str | None] = mapped_column(String(254))
    password_reset_reason: Mapped[str | None] = mapped_column(Text())
    credentials_version: Mapped[int] = mapped_column(default=0, server_default="0")
    """Bumped by every new password (:mod:`airlock.review.credentials`): what a credential grants is made only
    while the version it was checked at still holds."""

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class Submission(Base):
    """A model handed over for review, and how to reach it."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    model: Mapped[str] = mapped_column(String(300))
    """The Inspect model name, ``provider/name`` (``openai-api/acme/frontier-1``)."""
    model_version: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str | None] = mapped_column(String(500))
    planned_release_date: Mapped[date] = mapped_column(Date())
    artefact_hashes: Mapped[list[dict[str, Any]]] = mapped_column(JSON())
    confidentiality_marking: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    content_destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the data key was shredded; the content (model card, credentials, ...) lives only in the vault."""

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    submitted_by: Mapped[User] = relationship(lazy="joined")


class LegacySubmissionContent(Base):
    """Plaintext content of submissions made before the vault existed, waiting for ``airlock init`` to
    encrypt it into the vault and delete it (see migration 0002)."""

    __tablename__ = "legacy_submission_content"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    model_card: Mapped[str] = mapped_column(Text())
    endpoint_credentials: Mapped[str | None] = mapped_column(Text())


class Review(Base):
    """One review of one submission: its lifecycle state and its clock."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # The review clock (see airlock.review.deadline for the rules these feed).
    period_days: Mapped[int | None] = mapped_column(Integer())
    clock_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    clock_stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(Integer(), default=0)
    extension_days: Mapped[int] = mapped_column(Integer(), default=0)

    # Optimistic locking: two people moving the same review at once cannot both win.
    version: Mapped[int] = mapped_column(Integer(), default=1)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (SQLAlchemy's declared form)

    submission: Mapped[Submission] = relationship(lazy="joined")
    events: Mapped[list[ReviewEvent]] = relationship(
        back_populates="review", order_by="ReviewEvent.id", cascade="all, delete-orphan"
    )
    assignments: Mapped[list[ReviewAssignment]] = relationship(
        order_by="ReviewAssignment.id", cascade="all, delete-orphan", lazy="selectin"
    )
    grants: Mapped[list[PartnerGrant]] = relationship(
        order_by="PartnerGrant.id", cascade="all, delete-orphan", lazy="selectin"
    )


class ReviewAssignment(Base):
    """A reviewer or lead reviewer assigned to a review: the need-to-know list for its content."""

    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("review_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")


class PartnerGrant(Base):
    """What a developer lets one trusted partner organisation see of a review."""

    __tablename__ = "partner_grants"
    __table_args__ = (UniqueConstraint("review_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    content_kinds: Mapped[list[str]] = mapped_column(JSON())
    granted_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class ReviewEvent(Base):
    """Something that happened to a review: a state transition or a change of its clock, with who and why."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    """None when the review clock itself acted (expiry)."""
    reason: Mapped[str] = mapped_column(Text())
    consent_from_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    consent_reference: Mapped[str | None] = mapped_column(Text())
    days: Mapped[int | None] = mapped_column(Integer())

    review: Mapped[Review] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id], lazy="joined")
    consent_from: Mapped[User | None] = relationship(foreign_keys=[consent_from_id], lazy="joined")


class EvalRun(Base):
    """One run of a suite against a review's model: its plan (suite and seeds), where it stands, who ran it.

    A run that was interrupted is resumed by running the same suite again: its plan is reused, so the
    instances are the same, and only the samples without a verdict are run.
    """

    __tablename__ = "eval_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    suite: Mapped[str] = mapped_column(String(64))
    suite_version: Mapped[str] = mapped_column(String(80))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON())
    """The :class:`airlock.evals.suites.RunPlan`: the suite and the seeds of this run."""
    model: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    """``running`` (or interrupted: nothing is running it), ``completed``, ``failed``."""
    samples_total: Mapped[int] = mapped_column(Integer())
    started_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer(), default=1)
    """How many times the run was started: 1, plus one per resumption."""
    error: Mapped[str | None] = mapped_column(Text())


class SampleVerdict(Base):
    """The verdict on one sample of a run, for the model or for a baseline, on exactly the same instance.

    The transcript is content of the submission: it lives in the vault, at ``transcript_address``.
    """

    __tablename__ = "sample_verdicts"
    __table_args__ = (UniqueConstraint("run_id", "subject", "task", "sample_id", "epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id"), index=True)
    subject: Mapped[str] = mapped_column(String(64))
    """``model``, or ``baseline:<name>`` (``baseline:reference``, ``baseline:null-model``)."""
    task: Mapped[str] = mapped_column(String(100))
    sample_id: Mapped[str] = mapped_column(String(160))
    epoch: Mapped[int] = mapped_column(Integer())
    family: Mapped[str] = mapped_column(String(40))
    variant: Mapped[str] = mapped_column(String(60))
    difficulty: Mapped[int] = mapped_column(Integer())
    challenge_version: Mapped[str] = mapped_column(String(80))
    verdict: Mapped[str] = mapped_column(String(16))
    """``exploit``, ``not proven``, ``failed`` (the model's submission could not be judged because of what it was or
    did: a failure like ``not proven``, counted apart), or ``error`` (a fault outside the model's reach kept the
    sample from being judged; it is run again on resume)."""
    reason: Mapped[str] = mapped_column(Text())
    partial_credit: Mapped[float] = mapped_column(Float())
    model_calls: Mapped[int] = mapped_column(Integer())
    input_tokens: Mapped[int] = mapped_column(Integer())
    output_tokens: Mapped[int] = mapped_column(Integer())
    seconds: Mapped[float] = mapped_column(Float())
    transcript_address: Mapped[str | None] = mapped_column(String(200))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when a lead reviewer invalidated the verdict (it went wrong for a reason outside the model): the sample
    is then left out of every figure and listed in the report with ``invalidation_reason``. Reinstating it
    clears the three columns; the review's timeline and the audit log keep both steps."""
    invalidated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    invalidation_reason: Mapped[str | None] = mapped_column(Text())

    invalidated_by: Mapped[User | None] = relationship(foreign_keys=[invalidated_by_id], lazy="joined")


class EvalRunLog(Base):
    """An Inspect log file of a run, stored in the vault at ``address`` (kind ``eval_log``). Each start of a run
    (the first and every resumption) stores the logs of the samples it ran, named as Inspect named them."""

    __tablename__ = "eval_run_logs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    """The file's path within the run's log directory: ``epoch-1/2026-12-02T10-00-00+00-00_task_ID.eval``."""
    address: Mapped[str] = mapped_column(String(64))
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Finding(Base):
    """What a review found: made by the analysis (``source`` says from what) or by a reviewer.

    Its words (title, body, evidence) and the developer's response are content of the submission: they
    live in the vault, at ``content_address`` and ``response_address``.
    """

    __tablename__ = "findings"
    __table_args__ = (UniqueConstraint("review_id", "source"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``capability``, ``notable_success``, ``unplanted_crash`` (from the analysis) or ``reviewer``."""
    level: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(300))
    """For the analysis's findings, what they stand for (``level:CY-2``), so a rebuild updates them."""
    content_address: Mapped[str] = mapped_column(String(200))
    response_address: Mapped[str | None] = mapped_column(String(200))
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    review: Mapped[Review] = relationship(lazy="joined")


class ApiToken(Base):
    """A credential for the REST API: shown once when issued; only its SHA-256 is kept. Revocable, expiring."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class WebSession(Base):
    """A browser's signed-in session: the cookie's secret is kept only as its SHA-256."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class SignInAttempt(Base):
    """Every password sign-in, kept for throttling and for the auditor: who, from where, whether it worked."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    succeeded: Mapped[bool]


class FormReceipt(Base):
    """A form's one-time token, kept once its form is submitted, so a second submission of the same form
    (a double click, a reload) finds what the first one made instead of making it again."""

    __tablename__ = "form_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    result: Mapped[str | None] = mapped_column(String(64))
    """What the submission made (a review's id); none while it is being made."""
