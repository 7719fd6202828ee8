"""The review clock's rules as pure functions, on cases worked by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from airlock.review.deadline import ClockStatus, days_left, read_clock, release_moment

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
FAR_RELEASE = date(2027, 6, 1)


@dataclass
class Clock:
    period_days: int | None = 30
    clock_started_at: datetime | None = START
    clock_stopped_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: int = 0
    extension_days: int = 0


def test_the_deadline_is_start_plus_the_period_when_release_is_later() -> None:
    reading = read_clock(Clock(), FAR_RELEASE, START)
    assert reading.deadline == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert reading.days_left == 30
    assert not reading.capped_by_release_date


def test_a_release_date_sooner_than_the_period_sets_the_deadline_at_its_midnight_utc() -> None:
    reading = read_clock(Clock(), date(2026, 11, 20), START)
    assert reading.deadline == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert reading.capped_by_release_date
    # 17 days and 15 hours remain: any part of a day counts as a day.
    assert reading.days_left == 18


def test_the_period_is_whatever_the_review_was_accepted_with() -> None:
    reading = read_clock(Clock(period_days=14), FAR_RELEASE, START)
    assert reading.deadline == START + timedelta(days=14)


def test_five_days_or_fewer_left_is_at_risk() -> None:
    deadline = START + timedelta(days=30)
    assert not read_clock(Clock(), FAR_RELEASE, deadline - timedelta(days=5, seconds=1)).at_risk
    exactly_five = read_clock(Clock(), FAR_RELEASE, deadline - timedelta(days=5))
    assert exactly_five.at_risk
    assert exactly_five.days_left == 5


def test_a_running_clock_is_overdue_from_its_deadline_on() -> None:
    deadline = START + timedelta(days=30)
    assert not read_clock(Clock(), FAR_RELEASE, deadline - timedelta(seconds=1)).overdue
    reading = read_clock(Clock(), FAR_RELEASE, deadline)
    assert reading.overdue
    assert reading.days_left == 0


def test_a_paused_clock_keeps_its_remaining_time_and_is_never_overdue() -> None:
    paused_at = START + timedelta(days=10)
    clock = Clock(paused_since=paused_at)
    later = START + timedelta(days=100)
    reading = read_clock(clock, FAR_RELEASE, later)
    assert reading.status is ClockStatus.PAUSED
    assert reading.remaining == timedelta(days=20)
    assert not reading.overdue
    assert reading.deadline == later + timedelta(days=20)


def test_paused_time_and_extensions_move_the_deadline_even_past_the_release_date() -> None:
    clock = Clock(paused_seconds=int(timedelta(days=2).total_seconds()), extension_days=7)
    reading = read_clock(clock, date(2026, 11, 20), START)
    assert reading.deadline == datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def test_a_stopped_clock_is_read_at_the_moment_it_stopped() -> None:
    stopped = START + timedelta(days=26)
    reading = read_clock(Clock(clock_stopped_at=stopped), FAR_RELEASE, START + timedelta(days=400))
    assert reading.status is ClockStatus.STOPPED
    assert reading.days_left == 4
    assert not reading.at_risk
    assert not reading.overdue


def test_a_clock_that_was_never_started_has_no_deadline() -> None:
    reading = read_clock(Clock(period_days=None, clock_started_at=None), FAR_RELEASE, START)
    assert reading.status is ClockStatus.NOT_STARTED
    assert reading.deadline is None


def test_release_moment_is_midnight_utc() -> None:
    assert release_moment(date(2027, 1, 15)) == datetime(2027, 1, 15, tzinfo=UTC)


@given(st.integers(min_value=-(10**7), max_value=10**8))
def test_days_left_counts_part_days_and_is_at_risk_exactly_within_five_days(seconds: int) -> None:
    remaining = timedelta(seconds=seconds)
    left = days_left(remaining)
    assert left >= 0
    assert (left <= 5) == (remaining <= timedelta(days=5))
    if remaining > timedelta(0):
        assert timedelta(days=left - 1) < remaining <= timedelta(days=left)
