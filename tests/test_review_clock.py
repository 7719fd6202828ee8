"""The review clock through the service: acceptance starts it, consent guards it, expiry ends it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import ConsentRequiredError, InvalidInputError, PermissionDeniedError, TransitionError
from airlock.review import ClockStatus, ReviewState
from tests.support.world import World, database_snapshot, review_in_state, submit


def accepted(airlock: Airlock, world: World, *, release_in_days: int = 60) -> str:
    review = submit(airlock, world, release_in_days=release_in_days)
    review_id = airlock.reviews.accept(world.lead, review.id).id
    airlock.reviews.assign(world.lead, review_id, world.reviewer.email)
    return review_id


def test_the_clock_starts_at_acceptance_with_the_default_period(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review = submit(airlock, world)
    assert review.clock.status is ClockStatus.NOT_STARTED
    clock.advance(timedelta(days=3))
    review = airlock.reviews.accept(world.lead, review.id)
    assert review.clock.started_at == clock.now()
    assert review.clock.deadline == clock.now() + timedelta(days=30)
    assert review.clock.days_left == 30


def test_the_deployment_period_applies_to_reviews_accepted_after_it_is_set(
    settings: Settings, clock: ManualClock
) -> None:
    from tests.support.world import build_world

    custom = Airlock.open(settings.model_copy(update={"review_period_days": 45}), clock, must_be_initialised=False)
    try:
        custom.initialise()
        world = build_world(custom)
        review = custom.reviews.accept(world.lead, submit(custom, world, release_in_days=80).id)
        assert review.clock.period_days == 45
        assert review.clock.deadline == clock.now() + timedelta(days=45)
    finally:
        custom.close()


def test_a_release_date_sooner_than_the_period_sets_the_deadline(airlock: Airlock, world: World) -> None:
    review = airlock.reviews.show(world.lead, accepted(airlock, world, release_in_days=12))
    release = airlock.clock.now().date() + timedelta(days=12)
    assert review.clock.deadline == datetime.combine(release, datetime.min.time(), tzinfo=UTC)
    assert review.clock.capped_by_release_date


def test_a_review_whose_release_date_has_arrived_cannot_be_accepted(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review = submit(airlock, world, release_in_days=2)
    clock.advance(timedelta(days=2))
    before = database_snapshot(airlock.database)
    with pytest.raises(TransitionError, match=r"release date .* has already arrived"):
        airlock.reviews.accept(world.lead, review.id)
    assert database_snapshot(airlock.database) == before


def test_five_days_before_the_deadline_the_review_is_at_risk(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review_id = accepted(airlock, world)
    clock.advance(timedelta(days=24, hours=23))
    assert not airlock.reviews.show(world.lead, review_id).clock.at_risk
    clock.advance(timedelta(hours=1))
    shown = airlock.reviews.show(world.lead, review_id)
    assert shown.clock.at_risk
    assert shown.clock.days_left == 5


def test_a_pause_with_consent_freezes_the_days_left_and_moves_the_deadline(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review_id = accepted(airlock, world)
    clock.advance(timedelta(days=10))
    paused = airlock.reviews.pause(
        world.lead, review_id, reason="endpoint down", consent_from="admin@acme.test", consent_reference="email #42"
    )
    assert paused.clock.status is ClockStatus.PAUSED
    event = paused.events[-1]
    assert (event.kind, event.consent_from, event.consent_reference) == ("clock_paused", "admin@acme.test", "email #42")
    clock.advance(timedelta(days=40))
    still = airlock.reviews.show(world.lead, review_id)
    assert still.state == ReviewState.ACCEPTED, "a paused review never expires"
    assert still.clock.days_left == 20
    resumed = airlock.reviews.resume(world.lead, review_id)
    assert resumed.clock.status is ClockStatus.RUNNING
    assert resumed.clock.deadline == clock.now() + timedelta(days=20)
    assert resumed.clock.paused_seconds == int(timedelta(days=40).total_seconds())


def test_the_developer_admin_may_pause_on_their_own_consent(airlock: Airlock, world: World) -> None:
    paused = airlock.reviews.pause(world.acme_admin, accepted(airlock, world), reason="maintenance window")
    assert paused.events[-1].consent_from == "admin@acme.test"


def test_a_pause_without_consent_is_refused_and_changes_nothing(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    before = database_snapshot(airlock.database)
    with pytest.raises(ConsentRequiredError, match="Name the developer_admin of acme-ai who consented") as refused:
        airlock.reviews.pause(world.lead, review_id, reason="endpoint down")
    assert refused.value.field == "consent_from"
    assert database_snapshot(airlock.database) == before


def test_an_extension_without_consent_is_refused_and_changes_nothing(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    before = database_snapshot(airlock.database)
    with pytest.raises(ConsentRequiredError, match="needs the developer's recorded consent"):
        airlock.reviews.extend(world.lead, review_id, days=7, reason="more suites")
    assert database_snapshot(airlock.database) == before


def test_consent_must_come_from_an_administrator_of_the_submitting_developer(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    before = database_snapshot(airlock.database)
    for not_entitled in ("member@acme.test", "admin@globex.test", "lead@lab.test"):
        with pytest.raises(ConsentRequiredError, match="cannot consent for acme-ai"):
            airlock.reviews.extend(
                world.lead, review_id, days=7, reason="more", consent_from=not_entitled, consent_reference="email"
            )
    assert database_snapshot(airlock.database) == before


def test_consent_from_someone_else_needs_a_reference_to_where_it_was_given(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    before = database_snapshot(airlock.database)
    with pytest.raises(InvalidInputError, match="where the developer gave their consent") as refused:
        airlock.reviews.extend(world.lead, review_id, days=7, reason="more", consent_from="admin@acme.test")
    assert refused.value.field == "consent_reference"
    assert database_snapshot(airlock.database) == before


def test_an_extension_with_consent_moves_the_deadline(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    deadline = airlock.reviews.show(world.lead, review_id).clock.deadline
    assert deadline is not None
    extended = airlock.reviews.extend(
        world.lead, review_id, days=7, reason="more", consent_from="admin@acme.test", consent_reference="email"
    )
    assert extended.clock.deadline == deadline + timedelta(days=7)
    assert extended.events[-1].days == 7


def test_extensions_stop_at_ninety_days_of_clock_time(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world, release_in_days=200)
    airlock.reviews.extend(world.acme_admin, review_id, days=30, reason="a")
    airlock.reviews.extend(world.acme_admin, review_id, days=30, reason="b")
    before = database_snapshot(airlock.database)
    with pytest.raises(InvalidInputError, match="more than the 90"):
        airlock.reviews.extend(world.acme_admin, review_id, days=1, reason="c")
    with pytest.raises(InvalidInputError, match="1 to 30 days"):
        airlock.reviews.extend(world.acme_admin, review_id, days=0, reason="c")
    assert database_snapshot(airlock.database) == before


def test_the_clock_cannot_be_paused_before_acceptance_or_twice(airlock: Airlock, world: World) -> None:
    submitted = review_in_state(airlock, world, ReviewState.SUBMITTED)
    with pytest.raises(TransitionError, match="no running clock"):
        airlock.reviews.pause(world.acme_admin, submitted.id, reason="x")
    review_id = accepted(airlock, world)
    airlock.reviews.pause(world.acme_admin, review_id, reason="x")
    with pytest.raises(TransitionError, match="already paused"):
        airlock.reviews.pause(world.acme_admin, review_id, reason="x")


def test_only_reviewers_and_the_developer_admin_change_the_clock(airlock: Airlock, world: World) -> None:
    review_id = accepted(airlock, world)
    for outsider in (world.operator, world.auditor, world.acme_member):
        with pytest.raises(PermissionDeniedError):
            airlock.reviews.pause(
                outsider, review_id, reason="x", consent_from="admin@acme.test", consent_reference="email"
            )


def test_a_review_expires_when_its_deadline_passes_without_a_final_report(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review_id = accepted(airlock, world)
    airlock.reviews.transition(world.reviewer, review_id, ReviewState.EVALUATING)
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert airlock.reviews.apply_clock().expired == []
    clock.advance(timedelta(seconds=1))
    (expired,) = airlock.reviews.apply_clock().expired
    assert (expired.id, expired.state) == (review_id, ReviewState.EXPIRED)
    shown = airlock.reviews.show(world.lead, review_id)
    assert shown.events[-1].actor == "review clock"
    assert "passed with no final report" in shown.events[-1].reason


def test_a_quiet_sweep_spares_the_next_second_of_calls_but_not_those_after_a_change_or_a_tick(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review_id = accepted(airlock, world)
    clock.advance(timedelta(days=30) - timedelta(milliseconds=500))
    assert airlock.reviews.list_visible(world.lead)  # a sweep that finds nothing due
    clock.advance(timedelta(milliseconds=600))  # past the deadline, within the second after the quiet sweep
    assert airlock.reviews.show(world.lead, review_id).state == ReviewState.ACCEPTED
    (expired,) = airlock.reviews.apply_clock(even_if_recent=True).expired  # what `airlock review tick` does
    assert expired.id == review_id

    other = accepted(airlock, world)
    clock.advance(timedelta(days=30) - timedelta(milliseconds=500))
    assert airlock.reviews.list_visible(world.lead)
    clock.advance(timedelta(milliseconds=600))
    # A change in the review's timeline: the quiet sweep before it no longer counts.
    airlock.reviews.transition(world.reviewer, other, ReviewState.EVALUATING)
    assert airlock.reviews.show(world.lead, other).state == ReviewState.EXPIRED


def test_any_operation_notices_expiry_first(airlock: Airlock, world: World, clock: ManualClock) -> None:
    review_id = accepted(airlock, world)
    clock.advance(timedelta(days=31))
    with pytest.raises(TransitionError, match="is expired, which is final"):
        airlock.reviews.transition(world.reviewer, review_id, ReviewState.EVALUATING)
    assert airlock.reviews.show(world.lead, review_id).state == ReviewState.EXPIRED


def test_a_final_report_stops_the_clock_so_it_never_expires(airlock: Airlock, world: World, clock: ManualClock) -> None:
    review = review_in_state(airlock, world, ReviewState.FINAL_REPORT)
    clock.advance(timedelta(days=365))
    assert airlock.reviews.apply_clock().expired == []
    shown = airlock.reviews.show(world.lead, review.id)
    assert shown.state == ReviewState.FINAL_REPORT
    assert shown.clock.status is ClockStatus.STOPPED
    assert shown.clock.days_left == review.clock.days_left


def test_withdrawing_a_paused_review_folds_the_pause_into_the_stopped_clock(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    review_id = accepted(airlock, world)
    airlock.reviews.pause(world.acme_admin, review_id, reason="x")
    clock.advance(timedelta(days=3))
    withdrawn = airlock.reviews.withdraw(world.acme_admin, review_id)
    assert withdrawn.clock.status is ClockStatus.STOPPED
    assert withdrawn.clock.paused_seconds == int(timedelta(days=3).total_seconds())
