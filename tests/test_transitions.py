"""Every move of the review lifecycle through the service, on SQLite and on PostgreSQL.

Each allowed move works for the roles it names and is recorded with who, when and why; every other
move is refused with a clear error and leaves the database exactly as it was.
"""

from __future__ import annotations

import pytest

from airlock.access import Principal, Role
from airlock.app import Airlock
from airlock.errors import AirlockError, NotFoundError, PermissionDeniedError, TransitionError
from airlock.review.lifecycle import TRANSITIONS, ReviewState, Transition, find_transition
from tests.support.world import World, database_snapshot, review_in_state

PERSON_MOVES = [t for t in TRANSITIONS if not t.by_clock_only]


def _name(transition: Transition) -> str:
    return f"{transition.source}->{transition.target}"


@pytest.mark.parametrize("transition", PERSON_MOVES, ids=_name)
def test_an_allowed_move_is_made_by_each_role_it_names_and_recorded(
    airlock: Airlock, world: World, transition: Transition
) -> None:
    for role in sorted(transition.roles):
        review = review_in_state(airlock, world, transition.source)
        actor = world.acting_as(role)
        moved = airlock.reviews.transition(actor, review.id, transition.target, reason=f"because {role}")
        assert moved.state == transition.target
        last = [event for event in moved.events if event.kind == "transition"][-1]
        assert (last.from_state, last.to_state) == (transition.source, transition.target)
        assert last.actor == actor.email
        assert last.reason == f"because {role}"
        assert last.at == airlock.clock.now()


@pytest.mark.parametrize("transition", PERSON_MOVES, ids=_name)
def test_an_allowed_move_is_refused_to_every_other_role_and_changes_nothing(
    airlock: Airlock, world: World, transition: Transition
) -> None:
    review = review_in_state(airlock, world, transition.source)
    people: dict[Role, Principal] = {role: world.acting_as(role) for role in Role if role is not Role.VENDOR_CONTACT}
    people[Role.VENDOR_CONTACT] = _vendor_contact(airlock, world)
    before = database_snapshot(airlock.database)
    for role in sorted(set(Role) - transition.roles):
        with pytest.raises((PermissionDeniedError, NotFoundError)) as refused:
            airlock.reviews.transition(people[role], review.id, transition.target, reason="x")
        assert people[role].email in refused.value.diagnostics()
    assert database_snapshot(airlock.database) == before


def _vendor_contact(airlock: Airlock, world: World) -> Principal:
    """A vendor's contact (a clearinghouse role, which no review move names)."""
    airlock.directory.add_organisation(world.operator, name="Upstream Project", kind="vendor")
    contact = airlock.directory.add_user(
        world.operator,
        email="security@upstream.test",
        name="Sec",
        role="vendor_contact",
        organisation="upstream-project",
    )
    return airlock.directory.principal(contact.email)


@pytest.mark.parametrize("source", list(ReviewState), ids=str)
def test_every_move_the_lifecycle_lacks_is_refused_and_changes_nothing(
    airlock: Airlock, world: World, source: ReviewState
) -> None:
    review = review_in_state(airlock, world, source)
    before = database_snapshot(airlock.database)
    for target in ReviewState:
        transition = find_transition(source, target)
        if transition is not None and not transition.by_clock_only:
            continue
        # Act as a role that would be allowed the move if it existed, so only the state machine refuses
        # (drafts are invisible to the agency until submitted).
        actors = (world.acme_admin,) if source is ReviewState.DRAFT else (world.lead, world.acme_admin)
        for actor in actors:
            with pytest.raises(TransitionError) as refused:
                airlock.reviews.transition(actor, review.id, target, reason="trying")
            assert review.id in refused.value.message
    assert database_snapshot(airlock.database) == before


def test_a_refused_move_says_which_moves_are_open(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    with pytest.raises(TransitionError) as refused:
        airlock.reviews.transition(world.lead, review.id, ReviewState.CLOSED)
    assert "accepted (lead_reviewer)" in refused.value.diagnostics()


def test_a_second_withdrawal_is_refused_as_final(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.WITHDRAWN)
    before = database_snapshot(airlock.database)
    with pytest.raises(TransitionError, match="already withdrawn"):
        airlock.reviews.withdraw(world.acme_admin, review.id)
    assert database_snapshot(airlock.database) == before


def test_declining_needs_a_reason(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    before = database_snapshot(airlock.database)
    with pytest.raises(AirlockError, match="reason is required"):
        airlock.reviews.decline(world.lead, review.id, reason="  ")
    assert database_snapshot(airlock.database) == before


def test_another_developer_cannot_even_see_the_review(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    with pytest.raises(NotFoundError) as hidden:
        airlock.reviews.withdraw(world.globex_admin, review.id)
    unknown = pytest.raises(NotFoundError)
    with unknown as missing:
        airlock.reviews.withdraw(world.globex_admin, "R-00000000")
    # The refusal for someone else's review reads exactly like the one for a review that does not exist.
    assert hidden.value.message.replace(review.id, "X") == missing.value.message.replace("R-00000000", "X")
    assert [r.id for r in airlock.reviews.list_visible(world.globex_admin)] == []


def test_unknown_review_id_is_not_found(airlock: Airlock, world: World) -> None:
    with pytest.raises(NotFoundError, match="no review R-NOPE"):
        airlock.reviews.show(world.lead, "r-nope")


def test_a_state_name_that_does_not_exist_is_invalid_input(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    with pytest.raises(AirlockError, match=r"approved.*the states are"):
        airlock.reviews.transition(world.lead, review.id, "approved")


def test_reviews_are_listed_for_those_who_may_see_them(airlock: Airlock, world: World) -> None:
    review = review_in_state(airlock, world, ReviewState.SUBMITTED)
    for who in (world.lead, world.operator, world.auditor, world.acme_admin, world.acme_member):
        assert [r.id for r in airlock.reviews.list_visible(who)] == [review.id]
    # Reviewers see only what they are assigned to; partners only what they were granted.
    for who in (world.reviewer, world.globex_admin, world.partner):
        assert airlock.reviews.list_visible(who) == []
    airlock.reviews.assign(world.lead, review.id, world.reviewer.email)
    assert [r.id for r in airlock.reviews.list_visible(world.reviewer)] == [review.id]
    assert airlock.reviews.list_visible(world.lead, state="accepted") == []


def test_a_draft_is_invisible_to_everyone_but_its_developer(airlock: Airlock, world: World) -> None:
    draft = review_in_state(airlock, world, ReviewState.DRAFT)
    for who in (world.lead, world.reviewer, world.operator, world.auditor, world.partner, world.globex_admin):
        assert airlock.reviews.list_visible(who) == []
        with pytest.raises(NotFoundError):
            airlock.reviews.show(who, draft.id)
    with pytest.raises(NotFoundError):
        airlock.reviews.assign(world.lead, draft.id, world.lead.email)
    assert [r.id for r in airlock.reviews.list_visible(world.acme_member)] == [draft.id]


def test_an_identifier_that_cannot_exist_is_refused_with_a_bounded_message(airlock: Airlock, world: World) -> None:
    with pytest.raises(NotFoundError) as missing:
        airlock.reviews.show(world.lead, "R-" + "X" * 300)
    assert len(missing.value.message) < 120
