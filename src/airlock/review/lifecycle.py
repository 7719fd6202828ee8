"""The review state machine: the one table of which moves exist and who may make them.

::

    draft -> submitted -> accepted -> evaluating -> draft_report -> developer_response -> final_report -> closed
                |            |             |              |                  |
                +-> declined +-------------+--------------+------------------+-> withdrawn (developer, any time)
                                           +-> expired (the clock ran out before the final report)

Withdrawal is open from every state that is not terminal, drafts and issued final reports included: the
review is voluntary, and the developer may always take the model back. Expiry is made by the review clock
alone, never by a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from airlock.access import DEVELOPER_ROLES, REVIEWER_ROLES, Action, Role


class ReviewState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    EVALUATING = "evaluating"
    DRAFT_REPORT = "draft_report"
    DEVELOPER_RESPONSE = "developer_response"
    FINAL_REPORT = "final_report"
    CLOSED = "closed"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


TERMINAL_STATES = frozenset({ReviewState.CLOSED, ReviewState.DECLINED, ReviewState.WITHDRAWN, ReviewState.EXPIRED})

CLOCK_RUNNING_STATES = frozenset(
    {ReviewState.ACCEPTED, ReviewState.EVALUATING, ReviewState.DRAFT_REPORT, ReviewState.DEVELOPER_RESPONSE}
)
"""States in which the review clock counts down: after acceptance and before the final report."""

RECORDING_STATES = CLOCK_RUNNING_STATES
"""While findings can still change: from acceptance until the final report."""
BUILDABLE_STATES = CLOCK_RUNNING_STATES | {ReviewState.FINAL_REPORT, ReviewState.EXPIRED}
"""When a report can be built: a closed review's final report was issued and stays as it is (exported, never rebuilt);
an expired one's is built as what was done, marked incomplete."""

WORK_STATES: dict[Action, frozenset[ReviewState]] = {
    Action.RUN_EVALUATION: frozenset({ReviewState.ACCEPTED, ReviewState.EVALUATING}),
    Action.RECORD_FINDING: RECORDING_STATES,
    # An invalidation changes the report's figures: like a finding, it is settled before the final report.
    Action.INVALIDATE_SAMPLE: RECORDING_STATES,
    Action.RESPOND_TO_FINDING: frozenset({ReviewState.DEVELOPER_RESPONSE}),
    Action.BUILD_REPORT: BUILDABLE_STATES,
    Action.ASSIGN_REVIEWER: frozenset(ReviewState) - TERMINAL_STATES,
    Action.PAUSE_CLOCK: CLOCK_RUNNING_STATES,
    Action.RESUME_CLOCK: CLOCK_RUNNING_STATES,
    Action.EXTEND_CLOCK: CLOCK_RUNNING_STATES,
    Action.GIVE_CLOCK_CONSENT: CLOCK_RUNNING_STATES,
}
"""The states in which each kind of work on a review can be done at all, whoever asks: the services refuse it in
any other state, and pages offer it only in these (who may do it is the access policy's answer)."""


def open_for(action: Action, state: str) -> bool:
    """Whether a review in ``state`` takes ``action`` (an action this table does not name has no such limit)."""
    states = WORK_STATES.get(action)
    return states is None or ReviewState(state) in states


@dataclass(frozen=True)
class Transition:
    """One allowed move of a review, and the roles that may make it."""

    source: ReviewState
    target: ReviewState
    verb: str
    """What the move is called in messages and timelines ("accept", "withdraw")."""
    roles: frozenset[Role]
    """Roles that may make the move; empty when only the review clock makes it."""
    reason_required: bool = False

    @property
    def by_clock_only(self) -> bool:
        return not self.roles


_LEAD = frozenset({Role.LEAD_REVIEWER})

_FORWARD = (
    Transition(ReviewState.DRAFT, ReviewState.SUBMITTED, "submit", DEVELOPER_ROLES),
    Transition(ReviewState.SUBMITTED, ReviewState.ACCEPTED, "accept", _LEAD),
    Transition(ReviewState.SUBMITTED, ReviewState.DECLINED, "decline", _LEAD, reason_required=True),
    Transition(ReviewState.ACCEPTED, ReviewState.EVALUATING, "start the evaluation of", REVIEWER_ROLES),
    Transition(ReviewState.EVALUATING, ReviewState.DRAFT_REPORT, "draft the report of", REVIEWER_ROLES),
    Transition(ReviewState.DRAFT_REPORT, ReviewState.DEVELOPER_RESPONSE, "send the draft report of", _LEAD),
    Transition(ReviewState.DEVELOPER_RESPONSE, ReviewState.FINAL_REPORT, "issue the final report of", _LEAD),
    Transition(ReviewState.FINAL_REPORT, ReviewState.CLOSED, "close", _LEAD),
)

_WITHDRAWALS = tuple(
    Transition(state, ReviewState.WITHDRAWN, "withdraw", frozenset({Role.DEVELOPER_ADMIN}))
    for state in ReviewState
    if state not in TERMINAL_STATES
)

_EXPIRIES = tuple(
    Transition(state, ReviewState.EXPIRED, "expire", frozenset())
    for state in ReviewState
    if state in CLOCK_RUNNING_STATES
)

TRANSITIONS: tuple[Transition, ...] = _FORWARD + _WITHDRAWALS + _EXPIRIES


def find_transition(source: ReviewState, target: ReviewState) -> Transition | None:
    """The transition from ``source`` to ``target``, or None if the state machine has no such move."""
    for transition in TRANSITIONS:
        if transition.source == source and transition.target == target:
            return transition
    return None


def transitions_from(source: ReviewState) -> tuple[Transition, ...]:
    """Every move out of ``source``, in the order of the lifecycle."""
    return tuple(transition for transition in TRANSITIONS if transition.source == source)


def parse_state(text: str) -> ReviewState:
    """The state named ``text``; raises ValueError listing the valid names."""
    try:
        return ReviewState(text.strip().lower().replace("-", "_"))
    except ValueError as error:
        names = ", ".join(state.value for state in ReviewState)
        raise ValueError(f"Unknown review state {text!r}; the states are: {names}.") from error
