"""Reviews: listing and showing them, moving them through the lifecycle, and running their clocks.

Every public method first lets the review clock expire what is overdue, then does its work in one
transaction: either everything it changes is saved, or nothing is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, Scope, authorize, is_permitted
from airlock.clock import Clock
from airlock.config import Settings
from airlock.errors import ConsentRequiredError, InvalidInputError, NotFoundError, TransitionError
from airlock.review.deadline import MAX_CLOCK_DAYS, read_clock, release_moment
from airlock.review.directory import find_user, principal_of
from airlock.review.inputs import normalise_public_id
from airlock.review.lifecycle import (
    CLOCK_RUNNING_STATES,
    TERMINAL_STATES,
    ReviewState,
    Transition,
    find_transition,
    parse_state,
    transitions_from,
)
from airlock.review.models import Review, ReviewEvent, Submission
from airlock.review.views import (
    ArtefactHash,
    ClockView,
    EventView,
    MoveView,
    ReviewDetail,
    ReviewSummary,
)
from airlock.store import Database

CLOCK_ACTOR = "review clock"
MAX_EXTENSION_DAYS = 30


class EventKind(StrEnum):
    """What a :class:`ReviewEvent` records."""

    CREATED = "created"
    TRANSITION = "transition"
    CLOCK_PAUSED = "clock_paused"
    CLOCK_RESUMED = "clock_resumed"
    CLOCK_EXTENDED = "clock_extended"


class Reviews:
    """The review service: the lifecycle and the clock, applied to stored reviews."""

    def __init__(self, database: Database, clock: Clock, settings: Settings) -> None:
        self._database = database
        self._clock = clock
        self._settings = settings

    # Reading ---------------------------------------------------------------------------------------

    def list_visible(self, actor: Principal, *, state: str | None = None) -> list[ReviewSummary]:
        """The reviews ``actor`` may see, newest first, optionally only those in ``state``."""
        wanted = _parse_state_filter(state)
        self.expire_overdue()
        now = self._clock.now()
        with self._database.transaction() as session:
            query = select(Review).order_by(Review.created_at.desc(), Review.id.desc())
            if wanted is not None:
                query = query.where(Review.state == wanted)
            return [
                _summary(review, now)
                for review in session.scalars(query)
                if is_permitted(actor, Action.VIEW_REVIEW, _scope(review))
            ]

    def show(self, actor: Principal, review_id: str, *, include_content: bool = False) -> ReviewDetail:
        """One review with its clock, timeline and next moves; the model card only when asked and permitted."""
        self.expire_overdue()
        with self._database.transaction() as session:
            review = _load_visible(session, actor, review_id)
            if include_content:
                authorize(
                    actor,
                    Action.READ_SUBMISSION_CONTENT,
                    _scope(review),
                    what=f"read the confidential content of review {review.public_id}",
                )
            return review_detail(review, self._clock.now(), include_content=include_content)

    # Lifecycle -------------------------------------------------------------------------------------

    def transition(
        self, actor: Principal, review_id: str, target: str | ReviewState, *, reason: str | None = None
    ) -> ReviewDetail:
        """Move the review to ``target`` if the state machine allows it and ``actor`` holds a role it names."""
        try:
            wanted = target if isinstance(target, ReviewState) else parse_state(target)
        except ValueError as error:
            raise InvalidInputError(str(error)) from None
        self.expire_overdue()
        with self._database.transaction() as session:
            review = _load_visible(session, actor, review_id)
            move_review(session, review, wanted, actor, reason, self._clock.now(), self._settings)
            return review_detail(review, self._clock.now())

    def accept(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        return self.transition(actor, review_id, ReviewState.ACCEPTED, reason=reason)

    def decline(self, actor: Principal, review_id: str, *, reason: str | None) -> ReviewDetail:
        return self.transition(actor, review_id, ReviewState.DECLINED, reason=reason)

    def withdraw(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        return self.transition(actor, review_id, ReviewState.WITHDRAWN, reason=reason)

    # Clock -----------------------------------------------------------------------------------------

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
        self.expire_overdue()
        now = self._clock.now()
        with self._database.transaction() as session:
            review = _load_visible(session, actor, review_id)
            _require_running_clock(review, "pause")
            if review.paused_since is not None:
                raise TransitionError(
                    f"The clock of review {review.public_id} is already paused since "
                    f"{review.paused_since:%Y-%m-%d %H:%M} UTC.",
                    f"Resume it with `airlock review resume {review.public_id}`.",
                )
            authorize(actor, Action.PAUSE_CLOCK, _scope(review), what=f"pause the clock of {review.public_id}")
            clean_reason = _require_reason(reason, "pausing the clock")
            consenting = _developer_consent(session, actor, review, consent_from, "Pausing")
            review.paused_since = now
            record_event(
                session,
                review,
                now,
                EventKind.CLOCK_PAUSED,
                actor,
                clean_reason,
                consent_from_id=consenting,
                consent_reference=consent_reference,
            )
            return review_detail(review, now)

    def resume(self, actor: Principal, review_id: str, *, reason: str | None = None) -> ReviewDetail:
        """Restart a paused clock. Resuming gives back the normal clock, so it needs no further consent."""
        self.expire_overdue()
        now = self._clock.now()
        with self._database.transaction() as session:
            review = _load_visible(session, actor, review_id)
            _require_running_clock(review, "resume")
            if review.paused_since is None:
                raise TransitionError(f"The clock of review {review.public_id} is not paused.")
            authorize(actor, Action.RESUME_CLOCK, _scope(review), what=f"resume the clock of {review.public_id}")
            _fold_pause(review, now)
            record_event(session, review, now, EventKind.CLOCK_RESUMED, actor, (reason or "").strip())
            return review_detail(review, now)

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
        self.expire_overdue()
        now = self._clock.now()
        with self._database.transaction() as session:
            review = _load_visible(session, actor, review_id)
            _require_running_clock(review, "extend")
            authorize(actor, Action.EXTEND_CLOCK, _scope(review), what=f"extend the clock of {review.public_id}")
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
            clean_reason = _require_reason(reason, "extending the clock")
            consenting = _developer_consent(session, actor, review, consent_from, "Extending")
            review.extension_days += days
            record_event(
                session,
                review,
                now,
                EventKind.CLOCK_EXTENDED,
                actor,
                clean_reason,
                consent_from_id=consenting,
                consent_reference=consent_reference,
                days=days,
            )
            return review_detail(review, now)

    def expire_overdue(self) -> list[ReviewSummary]:
        """Expire every review whose running clock has passed its deadline; returns those it expired.

        Nothing needs to run in the background: every service call and ``airlock review tick`` sweep first.
        """
        now = self._clock.now()
        with self._database.transaction() as session:
            candidates = session.scalars(
                select(Review).where(
                    Review.state.in_([state.value for state in CLOCK_RUNNING_STATES]),
                    Review.paused_since.is_(None),
                )
            ).all()
            expired: list[ReviewSummary] = []
            for review in candidates:
                reading = read_clock(review, review.submission.planned_release_date, now)
                if reading.overdue:
                    assert reading.deadline is not None
                    _apply(
                        session,
                        review,
                        _transition_to(review, ReviewState.EXPIRED),
                        None,
                        f"The deadline of {reading.deadline:%Y-%m-%d %H:%M} UTC passed with no final report.",
                        now,
                    )
                    expired.append(_summary(review, now))
            return expired


def move_review(
    session: Session,
    review: Review,
    target: ReviewState,
    actor: Principal,
    reason: str | None,
    now: datetime,
    settings: Settings,
) -> None:
    """Apply the state machine's move of ``review`` to ``target`` on behalf of ``actor``, or refuse it."""
    transition = _transition_to(review, target)
    if transition.by_clock_only:
        raise TransitionError(
            f"Only the review clock can move review {review.public_id} to {target}, when its deadline passes.",
            "Run `airlock review tick` to apply the clock.",
        )
    authorize(
        actor,
        Action.CHANGE_REVIEW_STATE,
        _scope(review),
        roles=transition.roles,
        what=f"{transition.verb} review {review.public_id}",
    )
    clean_reason = (reason or "").strip()
    if transition.reason_required and not clean_reason:
        raise InvalidInputError(f"A reason is required to {transition.verb} a review; give one with --reason.")
    if target is ReviewState.ACCEPTED:
        release = release_moment(review.submission.planned_release_date)
        if release <= now:
            raise TransitionError(
                f"Review {review.public_id} cannot be accepted: its planned release date "
                f"{review.submission.planned_release_date} has already arrived, so no review window is left.",
                "Decline it, or ask the developer to withdraw and resubmit with the new release date.",
            )
        review.period_days = settings.review_period_days
        review.clock_started_at = now
    _apply(session, review, transition, actor, clean_reason, now)


def review_detail(review: Review, now: datetime, *, include_content: bool = False) -> ReviewDetail:
    submission = review.submission
    summary = _summary(review, now)
    return ReviewDetail(
        **summary.model_dump(),
        base_url=submission.base_url,
        confidentiality_marking=submission.confidentiality_marking,
        submitted_by=submission.submitted_by.email,
        created_at=review.created_at,
        artefacts=[ArtefactHash(**artefact) for artefact in submission.artefact_hashes],
        model_card_characters=len(submission.model_card),
        has_endpoint_credentials=bool(submission.endpoint_credentials),
        model_card=submission.model_card if include_content else None,
        next_moves=[
            MoveView(
                target=transition.target,
                verb=transition.verb,
                roles=sorted(role.value for role in transition.roles) or [CLOCK_ACTOR],
            )
            for transition in transitions_from(ReviewState(review.state))
        ],
        events=[_event_view(event) for event in review.events],
    )


def _apply(
    session: Session,
    review: Review,
    transition: Transition,
    actor: Principal | None,
    reason: str,
    now: datetime,
) -> None:
    if (
        (transition.target is ReviewState.FINAL_REPORT or transition.target in TERMINAL_STATES)
        and review.clock_started_at is not None
        and review.clock_stopped_at is None
    ):
        _fold_pause(review, now)
        review.clock_stopped_at = now
    review.state = transition.target
    review.state_changed_at = now
    record_event(
        session,
        review,
        now,
        EventKind.TRANSITION,
        actor,
        reason,
        from_state=transition.source,
        to_state=transition.target,
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


def record_event(
    session: Session,
    review: Review,
    now: datetime,
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
    review.events.append(
        ReviewEvent(
            at=now,
            kind=kind,
            from_state=from_state,
            to_state=to_state,
            actor_id=None if actor is None else actor.user_id,
            reason=reason,
            consent_from_id=consent_from_id,
            consent_reference=(consent_reference or "").strip() or None,
            days=days,
        )
    )
    session.flush()


def _developer_consent(session: Session, actor: Principal, review: Review, consent_from: str | None, doing: str) -> int:
    """The id of the developer administrator whose consent covers this clock change, or refuse."""
    organisation = review.submission.organisation
    if consent_from is None:
        if is_permitted(actor, Action.GIVE_CLOCK_CONSENT, _scope(review)):
            return actor.user_id
        raise ConsentRequiredError(
            f"{doing} the clock of review {review.public_id} needs the developer's recorded consent.",
            f"Pass --consent-from EMAIL naming a developer_admin of {organisation.slug} "
            "(and --consent-ref saying where they gave it), or let them make the change themselves.",
        )
    consenting = principal_of(find_user(session, consent_from))
    if not is_permitted(consenting, Action.GIVE_CLOCK_CONSENT, _scope(review)):
        raise ConsentRequiredError(
            f"{consenting.email} cannot consent for {organisation.slug}: only a developer_admin of the "
            "submitting organisation can.",
            f"Name a developer_admin of {organisation.slug} with --consent-from.",
        )
    return consenting.user_id


def _require_running_clock(review: Review, doing: str) -> None:
    if ReviewState(review.state) not in CLOCK_RUNNING_STATES:
        raise TransitionError(
            f"Review {review.public_id} is {review.state}, so it has no running clock to {doing}.",
            "The clock runs from acceptance until the final report.",
        )


def _require_reason(reason: str | None, doing: str) -> str:
    clean = (reason or "").strip()
    if not clean:
        raise InvalidInputError(f"A reason is required for {doing}; give one with --reason.")
    return clean


def _fold_pause(review: Review, now: datetime) -> None:
    """End a pause in progress, adding its length to the clock's paused time."""
    if review.paused_since is not None:
        review.paused_seconds += int(max(now - review.paused_since, timedelta(0)).total_seconds())
        review.paused_since = None


def _load_visible(session: Session, actor: Principal, review_id: str) -> Review:
    """The review ``review_id`` if ``actor`` may see it; otherwise the same answer as for no review at all."""
    public_id = normalise_public_id(review_id)
    review = session.scalar(select(Review).where(Review.public_id == public_id))
    if review is None or not is_permitted(actor, Action.VIEW_REVIEW, _scope(review)):
        raise NotFoundError(
            f"There is no review {public_id} that {actor.email} can see.",
            "List the reviews you can see with `airlock review list`.",
        )
    return review


def _scope(review: Review) -> Scope:
    return Scope(developer_organisation_id=review.submission.organisation_id)


def _parse_state_filter(state: str | None) -> ReviewState | None:
    if state is None:
        return None
    try:
        return parse_state(state)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None


def _summary(review: Review, now: datetime) -> ReviewSummary:
    submission: Submission = review.submission
    return ReviewSummary(
        id=review.public_id,
        submission_id=submission.public_id,
        state=review.state,
        organisation=submission.organisation.slug,
        model=submission.model,
        model_version=submission.model_version,
        planned_release_date=submission.planned_release_date,
        clock=ClockView.from_reading(read_clock(review, submission.planned_release_date, now)),
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
