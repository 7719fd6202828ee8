"""The review state machine as a table: the design brief's lifecycle, and nothing that means approval."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from airlock.access import Role
from airlock.review.lifecycle import (
    CLOCK_RUNNING_STATES,
    TERMINAL_STATES,
    TRANSITIONS,
    ReviewState,
    find_transition,
    transitions_from,
)
from airlock.store import Base

S = ReviewState


def test_the_main_line_runs_from_draft_to_closed() -> None:
    line = [
        S.DRAFT,
        S.SUBMITTED,
        S.ACCEPTED,
        S.EVALUATING,
        S.DRAFT_REPORT,
        S.DEVELOPER_RESPONSE,
        S.FINAL_REPORT,
        S.CLOSED,
    ]
    for source, target in itertools.pairwise(line):
        assert find_transition(source, target) is not None, f"{source} -> {target}"


def test_only_a_submitted_review_can_be_declined() -> None:
    assert [t.source for t in TRANSITIONS if t.target is S.DECLINED] == [S.SUBMITTED]


def test_the_developer_can_withdraw_from_every_state_that_is_not_final() -> None:
    for state in ReviewState:
        withdrawal = find_transition(state, S.WITHDRAWN)
        if state in TERMINAL_STATES:
            assert withdrawal is None
        else:
            assert withdrawal is not None
            assert withdrawal.roles == {Role.DEVELOPER_ADMIN}


def test_only_the_clock_expires_a_review_and_only_while_its_clock_runs() -> None:
    expiries = [t for t in TRANSITIONS if t.target is S.EXPIRED]
    assert {t.source for t in expiries} == CLOCK_RUNNING_STATES
    assert all(t.by_clock_only for t in expiries)
    assert all(not t.by_clock_only for t in TRANSITIONS if t.target is not S.EXPIRED)


def test_terminal_states_have_no_way_out() -> None:
    for state in TERMINAL_STATES:
        assert transitions_from(state) == ()


def test_every_state_can_be_reached_from_draft() -> None:
    reached, frontier = {S.DRAFT}, [S.DRAFT]
    while frontier:
        for transition in transitions_from(frontier.pop()):
            if transition.target not in reached:
                reached.add(transition.target)
                frontier.append(transition.target)
    assert reached == set(ReviewState)


def test_each_transition_is_listed_once() -> None:
    pairs = [(t.source, t.target) for t in TRANSITIONS]
    assert len(pairs) == len(set(pairs))


def test_nothing_in_the_states_or_the_schema_means_approved_licensed_or_cleared() -> None:
    forbidden = re.compile(r"approv|licen[cs]|clear|authori[sz]ed|certif", re.IGNORECASE)
    names = [state.value for state in ReviewState]
    for table in Base.metadata.tables.values():
        names.append(table.name)
        names.extend(column.name for column in table.columns)
    assert [name for name in names if forbidden.search(name)] == []


def test_the_documented_table_of_moves_is_the_state_machine() -> None:
    document = (Path(__file__).parent.parent / "docs" / "lifecycle.md").read_text()
    documented = set()
    for line in document.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] in {s.value for s in ReviewState}:
            roles = frozenset() if cells[3] == "the review clock" else frozenset(r.strip() for r in cells[3].split(","))
            documented.add((cells[0], cells[1], roles))
    actual = {(t.source.value, t.target.value, frozenset(r.value for r in t.roles)) for t in TRANSITIONS}
    assert documented == actual
