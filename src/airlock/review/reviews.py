"""Reviews: listing and showing them, moving them through the lifecycle, running their clocks, deciding
who works on them and which partners see them, and destroying their content when they end.

Every public method does its work as one audited operation (which first applies the review clock: expiry,
end of retention; see :meth:`ServiceContext.operation`): everything it changes is saved together with its
audit entries, or nothing is, and a refusal is itself recorded in the audit log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, Scope, authorize, granted_to, is_permitted
from airlock.audit import audited_operation
from airlock.errors import AirlockError, ConsentRequiredError, InvalidInputError, NotFoundError, TransitionError
from airlock.review.content import GRANTABLE_TO_PARTNERS, ContentKind, read_content
from airlock.review.context import CLOCK_ACTOR, ServiceContext
from airlock.review.deadline import MAX_CLOCK_DAYS, ClockRecord, read_clock, release_moment
from airlock.review.directory import find_organisation, find_user, principal_of
from airlock.review.inputs import clean_reason, normalise_public_id, parse_choice
from airlock.review.lifecycle import (
    CLOCK_RUNNING_STATES,
    TERMINAL_STATES,
    ReviewState,
    Transition,
    find_transition,
    open_for,
    parse_state,
    transitions_from,
)
from airlock.review.models import Organisation, PartnerGrant, Review, ReviewAssignment, ReviewEvent, Submission
from airlock.review.scope import review_scope, scope_of, visible_reviews
from airlock.review.views import (
    ArtefactHash,
    ClockView,
    ContentItem,
    EventView,
    GrantView,
    MoveView,
    ReviewDetail,
    ReviewSummary,
)

MAX_EXTENSION_DAYS = 30
ENDED_STATES = frozenset({ReviewState.CLOSED, ReviewState.DECLINED, ReviewState.EXPIRED})
"""Terminal states after which content is kept for the retention period (withdrawal destroys it at once)."""


class EventKind(StrEnum):
    """What a :class:`ReviewEvent` records."""

    CREATED = "created"
    TRANSITION = "transition"
    CLOCK_PAUSED = "clock_paused"
    CLOCK_RESUMED = "clock_resumed"
    CLOCK_EXTENDED = "clock_extended"
    CONTENT_DESTROYED = "content_destroyed"
    EVALUATION = "evaluation"
    """An evaluation run started, completed or failed (the reason says which, and the run)."""
    REPORT = "report"
    """A report was built (draft or final; the reason says which, and its decisions)."""


class ClockAction(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    EXTEND = "extend"


@dataclass(frozen=True)
class ClockSweep:
    """What applying the review clock did."""

    expired: list[ReviewSummary]
    destroyed: list[ReviewSummary]


class Reviews:
    """The review service: the lifecycle and the clock, applied to stored reviews."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # Reading ---------------------------------------------------------------------------------------

    def list_visible(
        self, actor: Principal, *, state: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[ReviewSummary]:
        """The reviews ``actor`` may see, newest first, optionally only those in ``state``; with ``limit``, only
        that many from the ``offset``-th on (a page of a dashboard)."""
        wanted = _parse_state_filter(state)
        if limit is not None and not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"A page holds 1 to {MAX_PAGE} reviews, not {limit}.", "Ask for fewer.")
        if not 0 <= offset <= MAX_OFFSET:
            raise InvalidInputError(f"An offset counts reviews from 0 to {MAX_OFFSET}, not {offset}.")
        now = self._context.clock.now()
        # Columns, not whole reviews: a dashboard page is read on every visit (see bench/api.py).
        query = (
            select(
                Review.id,
                Review.public_id,
                Review.state,
                *_CLOCK_COLUMNS,
                Submission.public_id.label("submission_id"),
                Submission.organisation_id,
                Submission.model,
                Submission.model_version,
                Submission.planned_release_date,
                Organisation.slug.label("organisation"),
            )
            .join(Review.submission)
            .join(Submission.organisation)
            .where(visible_reviews(actor))
            .order_by(Review.created_at.desc(), Review.id.desc())
            .offset(offset)
            .limit(limit)
        )
        if wanted is not None:
            query = query.where(Review.state == wanted)
        with self._context.reading() as session:
            rows = session.execute(query).all()
            ids = [row.id for row in rows]
            assigned: dict[int, list[int]] = {review: [] for review in ids}
            granted: dict[int, list[tuple[int, list[str]]]] = {review: [] for review in ids}
            for review, user in session.execute(
                select(ReviewAssignment.review_id, ReviewAssignment.user_id).where(ReviewAssignment.review_id.in_(ids))
            ):
                assigned[review].append(user)
            for review, organisation, kinds in session.execute(
                select(PartnerGrant.review_id, PartnerGrant.organisation_id, PartnerGrant.content_kinds).where(
                    PartnerGrant.review_id.in_(ids)
                )
            ):
                granted[review].append((organisation, kinds))
        # The SQL condition mirrors the policy; the policy itself still has the last word on every review.
        return [
            _summary_of(
                review=row.public_id,
                submission=row.submission_id,
                state=row.state,
                organisation=row.organisation,
                model=row.model,
                model_version=row.model_version,
                planned_release_date=row.planned_release_date,
                clock=_ClockFacts.of(row),
                now=now,
            )
            for row in rows
            if is_permitted(
                actor,
                Action.VIEW_REVIEW,
                scope_of(
                    organisation_id=row.organisation_id,
                    state=row.state,
                    assigned_user_ids=assigned[row.id],
                    partner_grants=granted[row.id],
                ),
            )
        ]

    def show(self, actor: Principal, review_id: str) -> ReviewDetail:
        """One review with its clock, timeline, team and next moves (metadata only: no content)."""
        with self._context.operation(actor, "review.show", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            return review_detail(self._context, session, review, actor)

    def read_content(
        self, actor: Principal, review_id: str, kind: str, *, purpose: str, break_glass: str | None = None
    ) -> bytes:
        """Decrypt one kind of the review's confidential content, if the policy allows; audited."""
        content_kind = parse_choice(ContentKind, kind, "content kind")
        break_glass = clean_reason(break_glass, "The break-glass reason", field="break_glass") or None
        stated = f"break-glass: {break_glass}" if break_glass else purpose
        with self._context.operation(actor, "content.read", _target(review_id), purpose=stated) as session:
            review = load_visible_review(session, actor, review_id)
            return read_content(
                self._context, session, actor, review, content_kind, purpose=purpose, justification=break_glass
            )

    # Lifecycle -------------------------------------------------------------------------------------

    def transition(
        self, actor: Principal, review_id: str, target: str | ReviewState, *, reason: str | None = None
    ) -> ReviewDetail:
        """Move the review to ``target`` if the state machine allows it and ``actor`` holds a role it names."""
        try:
            wanted = target if isinstance(target, ReviewState) else parse_state(target)
        except ValueError as error:
            raise InvalidInputError(str(error)) from None
        with self._context.operation(actor, "review.transition", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            move_review(self._context, session, review, wanted, actor, reason)
            return review_detail(self._context, session, review, actor)

    def accept(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        return self.transition(actor, review_id, ReviewState.ACCEPTED, reason=reason)

    def decline(self, actor: Principal, review_id: str, *, reason: str | None) -> ReviewDetail:
        return self.transition(actor, review_id, ReviewState.DECLINED, reason=reason)

    def withdraw(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        """Withdraw the review; its content is destroyed at once (crypto-shredding)."""
        return self.transition(actor, review_id, ReviewState.WITHDRAWN, reason=reason)

    # Clock -----------------------------------------------------------------------------------------

    def change_clock(
        self,
        actor: Principal,
        review_id: str,
        change: str,
        *,
        reason: str | None,
        days: int | None = None,
        consent_from: str | None = None,
        consent_reference: str | None = None,
    ) -> ReviewDetail:
        """One change of the clock, named as front ends offer them: ``pause``, ``resume`` or ``extend``."""
        consent = {"consent_from": consent_from, "consent_reference": consent_reference}
        match parse_choice(ClockAction, change, "change of the clock"):
            case ClockAction.PAUSE:
                return self.pause(actor, review_id, reason=reason, **consent)
            case ClockAction.RESUME:
                return self.resume(actor, review_id, reason=reason)
            case ClockAction.EXTEND:
                if days is None:
                    raise InvalidInputError("Say by how many days to extend the clock.", field="days")
                return self.extend(actor, review_id, days=days, reason=reason, **consent)

    def pause(
        self,
        actor: Principal,
        review_id: str,
        *,
        reason: str | None,
        consent_from: str | None = None,
        consent_reference: str | None = None,
    ) -> ReviewDetail:
        """Stop the clock (model access down, say) with the developer's recorded consent."""
        now = self._context.clock.now()
        with self._context.operation(actor, "review.clock.pause", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            _require_running_clock(review, Action.PAUSE_CLOCK, "pause")
            if review.paused_since is not None:
                raise TransitionError(
                    f"The clock of review {review.public_id} is already paused since "
                    f"{review.paused_since:%Y-%m-%d %H:%M} UTC.",
                    "Resume it first.",
                )
            authorize(actor, Action.PAUSE_CLOCK, review_scope(review), what=f"pause the clock of {review.public_id}")
            stated_reason = _require_reason(reason, "pausing the clock")
            consenting = _developer_consent(session, actor, review, consent_from, consent_reference, "Pausing")
            review.paused_since = now
            self._record(
                session,
                review,
                EventKind.CLOCK_PAUSED,
                actor,
                stated_reason,
                consent_from=consenting,
                consent_reference=consent_reference,
            )
            return review_detail(self._context, session, review, actor)

    def resume(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        """Restart a paused clock. Resuming gives back the normal clock, so it needs no further consent."""
        now = self._context.clock.now()
        with self._context.operation(actor, "review.clock.resume", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            _require_running_clock(review, Action.RESUME_CLOCK, "resume")
            if review.paused_since is None:
                raise TransitionError(f"The clock of review {review.public_id} is not paused.")
            authorize(actor, Action.RESUME_CLOCK, review_scope(review), what=f"resume the clock of {review.public_id}")
            _fold_pause(review, now)
            self._record(session, review, EventKind.CLOCK_RESUMED, actor, clean_reason(reason))
            return review_detail(self._context, session, review, actor)

    def extend(
        self,
        actor: Principal,
        review_id: str,
        *,
        days: int,
        reason: str | None,
        consent_from: str | None = None,
        consent_reference: str | None = None,
    ) -> ReviewDetail:
        """Move the deadline ``days`` later, with the developer's recorded consent."""
        with self._context.operation(actor, "review.clock.extend", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            _require_running_clock(review, Action.EXTEND_CLOCK, "extend")
            authorize(actor, Action.EXTEND_CLOCK, review_scope(review), what=f"extend the clock of {review.public_id}")
            if not 1 <= days <= MAX_EXTENSION_DAYS:
                raise InvalidInputError(
                    f"An extension of {days} days is out of range; extend by 1 to {MAX_EXTENSION_DAYS} days at a time."
                )
            assert review.period_days is not None
            clock_days = review.period_days + review.extension_days + days
            if clock_days > MAX_CLOCK_DAYS:
                raise InvalidInputError(
                    f"Extending review {review.public_id} by {days} days would give it {clock_days} days of "
                    f"clock time, more than the {MAX_CLOCK_DAYS} any review may have.",
                    f"Extend by at most {MAX_CLOCK_DAYS - review.period_days - review.extension_days} days.",
                )
            stated_reason = _require_reason(reason, "extending the clock")
            consenting = _developer_consent(session, actor, review, consent_from, consent_reference, "Extending")
            review.extension_days += days
            self._record(
                session,
                review,
                EventKind.CLOCK_EXTENDED,
                actor,
                stated_reason,
                consent_from=consenting,
                consent_reference=consent_reference,
                days=days,
            )
            return review_detail(self._context, session, review, actor)

    def apply_clock(self, *, even_if_recent: bool = False) -> ClockSweep:
        """Apply the review clock now (see :func:`sweep_review_clock`); ``airlock review tick`` sweeps
        ``even_if_recent``."""
        return sweep_review_clock(self._context, even_if_recent=even_if_recent)

    # Team and partners -----------------------------------------------------------------------------

    def assign(self, actor: Principal, review_id: str, reviewer: str) -> ReviewDetail:
        """Put a reviewer on the review's need-to-know list (lead reviewers)."""
        with self._context.operation(actor, "review.assign", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor, Action.ASSIGN_REVIEWER, review_scope(review), what=f"assign reviewers to {review.public_id}"
            )
            user = principal_of(find_user(session, reviewer))
            if not is_permitted(user, Action.JOIN_REVIEW_TEAM):
                raise InvalidInputError(
                    f"{user.email} is a {user.role}, not a reviewer; only reviewers and lead reviewers are assigned."
                )
            if not open_for(Action.ASSIGN_REVIEWER, review.state):
                raise TransitionError(f"Review {review.public_id} is {review.state}; its team can no longer change.")
            _assign(self._context, session, review, user, actor)
            return review_detail(self._context, session, review, actor)

    def unassign(self, actor: Principal, review_id: str, reviewer: str) -> ReviewDetail:
        with self._context.operation(actor, "review.unassign", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor, Action.ASSIGN_REVIEWER, review_scope(review), what=f"unassign reviewers of {review.public_id}"
            )
            user = find_user(session, reviewer)
            assignment = next((a for a in review.assignments if a.user_id == user.id), None)
            if assignment is None:
                raise InvalidInputError(f"{user.email} is not assigned to review {review.public_id}.")
            review.assignments.remove(assignment)
            self._context.audit.append(
                session,
                actor=actor.email,
                action="review.unassign",
                target=f"review:{review.public_id}",
                details={"user": user.email},
            )
            return review_detail(self._context, session, review, actor)

    def grant(self, actor: Principal, review_id: str, partner: str, kinds: Iterable[str]) -> ReviewDetail:
        """Let a trusted partner organisation read exactly ``kinds`` of the review's content (developer admins)."""
        wanted = sorted({parse_choice(ContentKind, kind, "content kind") for kind in kinds})
        if not wanted:
            raise InvalidInputError("Name at least one content kind to grant.", field="content")
        for kind in wanted:
            if kind not in GRANTABLE_TO_PARTNERS:
                allowed = ", ".join(sorted(GRANTABLE_TO_PARTNERS))
                raise InvalidInputError(f"{kind} cannot be granted to partners; grant one of: {allowed}.")
        with self._context.operation(actor, "review.grant", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor, Action.GRANT_PARTNER, review_scope(review), what=f"grant partners access to {review.public_id}"
            )
            organisation = find_organisation(session, partner)
            if organisation.kind != "partner":
                raise InvalidInputError(
                    f"{organisation.slug} is a {organisation.kind} organisation; grants go to partner organisations."
                )
            grant = next((g for g in review.grants if g.organisation_id == organisation.id), None)
            if grant is None:
                grant = PartnerGrant(
                    organisation=organisation,
                    content_kinds=[],
                    granted_by_id=actor.user_id,
                    at=self._context.clock.now(),
                )
                review.grants.append(grant)
            grant.content_kinds = [str(kind) for kind in wanted]
            grant.granted_by_id = actor.user_id
            grant.at = self._context.clock.now()
            session.flush()
            self._context.audit.append(
                session,
                actor=actor.email,
                action="review.grant",
                target=f"review:{review.public_id}",
                details={"partner": organisation.slug, "content": grant.content_kinds},
            )
            return review_detail(self._context, session, review, actor)

    def revoke(self, actor: Principal, review_id: str, partner: str) -> ReviewDetail:
        with self._context.operation(actor, "review.revoke", _target(review_id)) as session:
            review = load_visible_review(session, actor, review_id)
            authorize(
                actor, Action.GRANT_PARTNER, review_scope(review), what=f"revoke partner access to {review.public_id}"
            )
            organisation = find_organisation(session, partner)
            grant = next((g for g in review.grants if g.organisation_id == organisation.id), None)
            if grant is None:
                raise InvalidInputError(f"{organisation.slug} holds no grant on review {review.public_id}.")
            review.grants.remove(grant)
            self._context.audit.append(
                session,
                actor=actor.email,
                action="review.revoke",
                target=f"review:{review.public_id}",
                details={"partner": organisation.slug},
            )
            return review_detail(self._context, session, review, actor)

    def _record(
        self,
        session: Session,
        review: Review,
        kind: EventKind,
        actor: Principal,
        reason: str,
        *,
        consent_from: int | None = None,
        consent_reference: str | None = None,
        days: int | None = None,
    ) -> None:
        record_event(
            self._context,
            session,
            review,
            kind,
            actor,
            reason,
            consent_from_id=consent_from,
            consent_reference=consent_reference,
            days=days,
        )


def move_review(
    context: ServiceContext,
    session: Session,
    review: Review,
    target: ReviewState,
    actor: Principal,
    reason: str | None,
) -> None:
    """Apply the state machine's move of ``review`` to ``target`` on behalf of ``actor``, or refuse it."""
    now = context.clock.now()
    transition = _transition_to(review, target)
    if transition.by_clock_only:
        raise TransitionError(
            f"Only the review clock can move review {review.public_id} to {target}, when its deadline passes.",
            "The clock applies itself at every call; `airlock review tick` applies it at once.",
        )
    authorize(
        actor,
        Action.CHANGE_REVIEW_STATE,
        review_scope(review),
        roles=transition.roles,
        what=f"{transition.verb} review {review.public_id}",
    )
    given = clean_reason(reason)
    if transition.reason_required and not given:
        raise InvalidInputError(f"A reason is required to {transition.verb} a review; give one.", field="reason")
    if target is ReviewState.ACCEPTED:
        release = release_moment(review.submission.planned_release_date)
        if release <= now:
            raise TransitionError(
                f"Review {review.public_id} cannot be accepted: its planned release date "
                f"{review.submission.planned_release_date} has already arrived, so no review window is left.",
                "Decline it, or ask the developer to withdraw and resubmit with the new release date.",
            )
        review.period_days = context.settings.review_period_days
        review.clock_started_at = now
        _assign(context, session, review, actor, actor)
    _apply(context, session, review, transition, actor, given)
    if target is ReviewState.WITHDRAWN:
        destroy_content(context, session, review, actor, "The developer withdrew the review.")


def destroy_content(
    context: ServiceContext, session: Session, review: Review, actor: Principal | None, reason: str
) -> None:
    """Crypto-shred the submission's content: destroy its data key, then (after commit) its blob files."""
    submission = review.submission
    if submission.content_destroyed_at is not None:
        return
    now = context.clock.now()
    blobs = context.vault.destroy_data_key(session, submission.id)
    submission.content_destroyed_at = now
    record_event(context, session, review, EventKind.CONTENT_DESTROYED, actor, reason)
    context.audit.append(
        session,
        actor=CLOCK_ACTOR if actor is None else actor.email,
        action="key.data.destroy",
        target=f"submission:{submission.public_id}",
        details={"reason": reason, "blobs": blobs},
    )
    session.info["after_commit"].append(lambda: finish_shredding(context))


def finish_shredding(context: ServiceContext) -> None:
    """Delete shredded blobs' files and purge the database; what cannot be done now, the next sweep retries."""
    # The data key is already gone, so the content is unreadable whatever happens here; a clean-up that
    # fails now stays pending in the vault and is retried by the next clock sweep.
    with contextlib.suppress(OSError, AirlockError):
        context.vault.finish_shredding(context.database)


def sweep_review_clock(context: ServiceContext, *, even_if_recent: bool = False) -> ClockSweep:
    """Expire every review whose running clock passed its deadline, and destroy the content of reviews
    that ended longer ago than the retention period.

    Nothing runs in the background: every service call sweeps first, since :meth:`ServiceContext.operation`
    and :meth:`ServiceContext.reading` call this before they open their transaction, unless this process
    swept and found nothing due less than a second ago (see :class:`~airlock.review.context.SweepRecord`).
    The sweep's own transactions are opened here, not through the context, which would sweep again.
    """
    now = context.clock.now()
    if not even_if_recent and context.sweeps.recently_quiet(now):
        return ClockSweep([], [])
    with context.database.transaction(read_only=True) as session:
        due = _overdue(session, now) or _due_for_destruction(context, session, now)
        cleanup_pending = context.vault.shredding_pending(session)
    if cleanup_pending:
        finish_shredding(context)
    if not due:
        if not cleanup_pending:
            context.sweeps.record_quiet(now)
        return ClockSweep([], [])
    with audited_operation(context.database, context.audit, actor=CLOCK_ACTOR, action="review.clock.sweep") as session:
        expired: list[ReviewSummary] = []
        for review in _due_for_expiry(session, now):
            reading = read_clock(review, review.submission.planned_release_date, now)
            assert reading.deadline is not None
            _apply(
                context,
                session,
                review,
                _transition_to(review, ReviewState.EXPIRED),
                None,
                f"The deadline of {reading.deadline:%Y-%m-%d %H:%M} UTC passed with no final report.",
            )
            expired.append(_summary(review, now))
        destroyed: list[ReviewSummary] = []
        for review in _due_for_destruction(context, session, now):
            destroy_content(
                context,
                session,
                review,
                None,
                f"The retention period of {context.settings.retention_days} days after the review ended is over.",
            )
            destroyed.append(_summary(review, now))
        return ClockSweep(expired, destroyed)


def _overdue(session: Session, now: datetime) -> list[int]:
    """The ids of reviews whose running clock is past its deadline. Every service call asks this first, so
    it reads only the clock's columns, not whole reviews (a few milliseconds for hundreds of running
    clocks instead of tens)."""
    rows = session.execute(
        select(Review.id, *_CLOCK_COLUMNS, Submission.planned_release_date)
        .join(Review.submission)
        .where(Review.state.in_([state.value for state in CLOCK_RUNNING_STATES]), Review.paused_since.is_(None))
    )
    return [row.id for row in rows if read_clock(_ClockFacts.of(row), row.planned_release_date, now).overdue]


def _due_for_expiry(session: Session, now: datetime) -> list[Review]:
    overdue = _overdue(session, now)
    return list(session.scalars(select(Review).where(Review.id.in_(overdue)))) if overdue else []


def _due_for_destruction(context: ServiceContext, session: Session, now: datetime) -> list[Review]:
    ended_before = now - timedelta(days=context.settings.retention_days)
    return list(
        session.scalars(
            select(Review)
            .join(Review.submission)
            .where(
                Review.state.in_([state.value for state in ENDED_STATES]),
                Review.state_changed_at <= ended_before,
                Submission.content_destroyed_at.is_(None),
            )
        )
    )


def review_detail(context: ServiceContext, session: Session, review: Review, viewer: Principal) -> ReviewDetail:
    """The review as ``viewer`` may see it: everything for its developer and the agency; for a trusted
    partner, only its state, clock and the content kinds granted to them (see the access policy)."""
    submission = review.submission
    scope = review_scope(review)
    full = is_permitted(viewer, Action.VIEW_REVIEW_DETAILS, scope)
    stored = context.vault.contents(session, submission.id)
    grants = list(review.grants)
    events = [_event_view(event) for event in review.events]
    if not full:
        # A partner's view: the content kinds granted to them, and only their own organisation's grant.
        granted = granted_to(viewer, scope)
        stored = [item for item in stored if item.kind in granted]
        grants = [grant for grant in grants if grant.organisation_id == viewer.organisation_id]
        events = [
            event.model_copy(update={"actor": "", "reason": "", "consent_from": None, "consent_reference": None})
            for event in events
            if event.kind == EventKind.TRANSITION
        ]
    return ReviewDetail(
        **_summary(review, context.clock.now()).model_dump(),
        limited_view=not full,
        base_url=submission.base_url if full else None,
        confidentiality_marking=submission.confidentiality_marking,
        submitted_by=submission.submitted_by.email if full else submission.organisation.slug,
        created_at=review.created_at,
        artefacts=[ArtefactHash(**artefact) for artefact in submission.artefact_hashes] if full else [],
        content=[ContentItem(kind=item.kind, bytes=item.plaintext_bytes) for item in stored],
        content_destroyed_at=submission.content_destroyed_at,
        assigned=[assignment.user.email for assignment in review.assignments] if full else [],
        partner_grants=[
            GrantView(partner=grant.organisation.slug, content=list(grant.content_kinds)) for grant in grants
        ],
        next_moves=[
            MoveView(
                target=transition.target,
                verb=transition.verb,
                roles=sorted(role.value for role in transition.roles) or [CLOCK_ACTOR],
                permitted=not transition.by_clock_only
                and is_permitted(viewer, Action.CHANGE_REVIEW_STATE, scope, roles=transition.roles),
            )
            for transition in transitions_from(ReviewState(review.state))
        ]
        if full
        else [],
        events=events,
        permitted=_permitted(viewer, review, scope),
    )


MAX_PAGE = 500
"""The most reviews one page of a list holds."""
MAX_OFFSET = 2**31 - 1
"""The furthest a page may start: beyond any real dashboard, and inside the integers every database binds."""

# What a front end may offer on a review's page; each one is decided again when it is asked for.
_OFFERED_ACTIONS = (
    Action.VIEW_FINDINGS,
    Action.VIEW_EVALUATION,
    Action.RUN_EVALUATION,
    Action.RECORD_FINDING,
    Action.RESPOND_TO_FINDING,
    Action.BUILD_REPORT,
    Action.ASSIGN_REVIEWER,
    Action.GRANT_PARTNER,
    Action.PAUSE_CLOCK,
    Action.RESUME_CLOCK,
    Action.EXTEND_CLOCK,
    Action.GIVE_CLOCK_CONSENT,
)


def _permitted(viewer: Principal, review: Review, scope: Scope) -> list[str]:
    """What the viewer may do on the review now: the policy allows it, and the review's state takes it."""
    permitted = [
        action.name.lower()
        for action in _OFFERED_ACTIONS
        if open_for(action, review.state) and is_permitted(viewer, action, scope)
    ]
    for kind in (ContentKind.FULL_REPORT, ContentKind.REDACTED_REPORT):
        if is_permitted(viewer, Action.READ_CONTENT, review_scope(review, content_kind=kind)):
            permitted.append(f"read_{kind}")
    return permitted


_CLOCK_COLUMNS = (
    Review.period_days,
    Review.clock_started_at,
    Review.clock_stopped_at,
    Review.paused_since,
    Review.paused_seconds,
    Review.extension_days,
)


@dataclass(frozen=True)
class _ClockFacts:
    """A review's clock columns, read without the rest of the review (lists and the clock sweep)."""

    period_days: int | None
    clock_started_at: datetime | None
    clock_stopped_at: datetime | None
    paused_since: datetime | None
    paused_seconds: int
    extension_days: int

    @classmethod
    def of(cls, row: Any) -> _ClockFacts:
        """From a result row that holds :data:`_CLOCK_COLUMNS`."""
        return cls(
            row.period_days,
            row.clock_started_at,
            row.clock_stopped_at,
            row.paused_since,
            row.paused_seconds,
            row.extension_days,
        )


def record_event(
    context: ServiceContext,
    session: Session,
    review: Review,
    kind: EventKind,
    actor: Principal | None,
    reason: str,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    consent_from_id: int | None = None,
    consent_reference: str | None = None,
    days: int | None = None,
) -> None:
    """Add an event to the review's timeline, and the matching entry to the audit log."""
    context.sweeps.forget()  # whatever changed may be due at once: the next call sweeps
    clean_reference = (consent_reference or "").strip() or None
    review.events.append(
        ReviewEvent(
            at=context.clock.now(),
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            actor_id=None if actor is None else actor.user_id,
            reason=reason,
            consent_from_id=consent_from_id,
            consent_reference=clean_reference,
            days=days,
        )
    )
    session.flush()
    details: dict[str, str | int | None] = {"event": kind.value}
    if from_state is not None or to_state is not None:
        details |= {"from": from_state, "to": to_state}
    if consent_from_id is not None:
        details["consent_from"] = review.events[-1].consent_from.email if review.events[-1].consent_from else None
        details["consent_reference"] = clean_reference
    if days is not None:
        details["days"] = days
    context.audit.append(
        session,
        actor=CLOCK_ACTOR if actor is None else actor.email,
        action="review.event" if kind is not EventKind.TRANSITION else "review.transition",
        target=f"review:{review.public_id}",
        details=details,
    )


def _apply(
    context: ServiceContext,
    session: Session,
    review: Review,
    transition: Transition,
    actor: Principal | None,
    reason: str,
) -> None:
    now = context.clock.now()
    stops_clock = transition.target is ReviewState.FINAL_REPORT or transition.target in TERMINAL_STATES
    if stops_clock and review.clock_started_at is not None and review.clock_stopped_at is None:
        _fold_pause(review, now)
        review.clock_stopped_at = now
    review.state = transition.target
    review.state_changed_at = now
    record_event(
        context,
        session,
        review,
        EventKind.TRANSITION,
        actor,
        reason,
        from_state=transition.source,
        to_state=transition.target,
    )


def _assign(context: ServiceContext, session: Session, review: Review, user: Principal, actor: Principal) -> None:
    if any(assignment.user_id == user.user_id for assignment in review.assignments):
        return
    review.assignments.append(
        ReviewAssignment(user_id=user.user_id, assigned_by_id=actor.user_id, at=context.clock.now())
    )
    session.flush()
    context.audit.append(
        session,
        actor=actor.email,
        action="review.assign",
        target=f"review:{review.public_id}",
        details={"user": user.email},
    )


def _transition_to(review: Review, target: ReviewState) -> Transition:
    current = ReviewState(review.state)
    transition = find_transition(current, target)
    if transition is not None:
        return transition
    if current == target:
        raise TransitionError(f"Review {review.public_id} is already {current}; nothing was changed.")
    if current in TERMINAL_STATES:
        raise TransitionError(f"Review {review.public_id} is {current}, which is final; it cannot move to {target}.")
    moves = ", ".join(
        f"{move.target} ({'/'.join(sorted(move.roles)) or CLOCK_ACTOR})" for move in transitions_from(current)
    )
    raise TransitionError(
        f"Review {review.public_id} is {current}; it cannot move to {target} from there.",
        f"From {current} it can move to: {moves}.",
    )


def _developer_consent(
    session: Session,
    actor: Principal,
    review: Review,
    consent_from: str | None,
    consent_reference: str | None,
    doing: str,
) -> int:
    """The id of the developer administrator whose consent covers this clock change, or refuse."""
    organisation = review.submission.organisation
    scope = review_scope(review)
    if consent_from is None:
        if is_permitted(actor, Action.GIVE_CLOCK_CONSENT, scope):
            return actor.user_id
        raise ConsentRequiredError(
            f"{doing} the clock of review {review.public_id} needs the developer's recorded consent.",
            f"Name the developer_admin of {organisation.slug} who consented and say where they did, or let "
            "them make the change themselves.",
            field="consent_from",
        )
    if not (consent_reference or "").strip():
        raise InvalidInputError(
            "Say where the developer gave their consent (an email, a letter, a meeting).", field="consent_reference"
        )
    consenting = principal_of(find_user(session, consent_from))
    if not is_permitted(consenting, Action.GIVE_CLOCK_CONSENT, scope):
        raise ConsentRequiredError(
            f"{consenting.email} cannot consent for {organisation.slug}: only a developer_admin of the "
            "submitting organisation can.",
            f"Name a developer_admin of {organisation.slug}.",
            field="consent_from",
        )
    return consenting.user_id


def _require_running_clock(review: Review, action: Action, doing: str) -> None:
    if not open_for(action, review.state):
        raise TransitionError(
            f"Review {review.public_id} is {review.state}, so it has no running clock to {doing}.",
            "The clock runs from acceptance until the final report.",
        )


def _require_reason(reason: str | None, doing: str) -> str:
    clean = clean_reason(reason)
    if not clean:
        raise InvalidInputError(f"A reason is required for {doing}; give one.", field="reason")
    return clean


def _fold_pause(review: Review, now: datetime) -> None:
    """End a pause in progress, adding its length to the clock's paused time."""
    if review.paused_since is not None:
        review.paused_seconds += int(max(now - review.paused_since, timedelta(0)).total_seconds())
        review.paused_since = None


def load_visible_review(session: Session, actor: Principal, review_id: str) -> Review:
    """The review ``review_id`` if ``actor`` may see it; otherwise the same answer as for no review at all."""
    public_id = normalise_public_id(review_id)
    review = session.scalar(select(Review).where(Review.public_id == public_id))
    if review is None or not is_permitted(actor, Action.VIEW_REVIEW, review_scope(review)):
        raise NotFoundError(
            f"There is no review {public_id} that {actor.email} can see.",
            "Check the identifier against the list of reviews you can see.",
        )
    return review


def _target(review_id: str) -> str:
    return f"review:{normalise_public_id(review_id)}"


def _parse_state_filter(state: str | None) -> ReviewState | None:
    if state is None:
        return None
    try:
        return parse_state(state)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None


def _summary(review: Review, now: datetime) -> ReviewSummary:
    submission: Submission = review.submission
    return _summary_of(
        review=review.public_id,
        submission=submission.public_id,
        state=review.state,
        organisation=submission.organisation.slug,
        model=submission.model,
        model_version=submission.model_version,
        planned_release_date=submission.planned_release_date,
        clock=review,
        now=now,
    )


def _summary_of(
    *,
    review: str,
    submission: str,
    state: str,
    organisation: str,
    model: str,
    model_version: str,
    planned_release_date: date,
    clock: ClockRecord,
    now: datetime,
) -> ReviewSummary:
    return ReviewSummary(
        id=review,
        submission_id=submission,
        state=state,
        organisation=organisation,
        model=model,
        model_version=model_version,
        planned_release_date=planned_release_date,
        clock=ClockView.from_reading(read_clock(clock, planned_release_date, now)),
    )


def _event_view(event: ReviewEvent) -> EventView:
    return EventView(
        at=event.at,
        kind=event.kind,
        from_state=event.from_state,
        to_state=event.to_state,
        actor=CLOCK_ACTOR if event.actor is None else event.actor.email,
        reason=event.reason,
        consent_from=None if event.consent_from is None else event.consent_from.email,
        consent_reference=event.consent_reference,
        days=event.days,
    )
