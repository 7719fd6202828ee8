"""A case's disclosure clock: 90 days from the first notification unless the case says otherwise, pauses and
extensions moving the deadline, reminders as it nears, each once, and publication stopping it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from airlock.errors import InvalidInputError
from airlock.vulns.disclosure import (
    DisclosureStatus,
    checked_embargo,
    read_disclosure_clock,
    reminders_due,
)

NOTIFIED = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Case:
    embargo_days: int = 90
    first_notified_at: datetime | None = NOTIFIED
    published_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: int = 0
    extension_days: int = 0


def test_nothing_is_due_before_a_vendor_is_notified() -> None:
    assert read_disclosure_clock(Case(first_notified_at=None), NOTIFIED).status is DisclosureStatus.NOT_STARTED
    assert reminders_due(Case(first_notified_at=None), NOTIFIED + timedelta(days=200), sent=()) == []


def test_the_deadline_is_ninety_days_from_the_first_notification_and_moves_with_pauses_and_extensions() -> None:
    reading = read_disclosure_clock(Case(), NOTIFIED + timedelta(days=10))
    assert reading.deadline == NOTIFIED + timedelta(days=90)
    assert (reading.status, reading.days_left) == (DisclosureStatus.RUNNING, 80)
    extended = Case(extension_days=14, paused_seconds=3 * 86400)
    assert read_disclosure_clock(extended, NOTIFIED).deadline == NOTIFIED + timedelta(days=107)
    paused = Case(paused_since=NOTIFIED + timedelta(days=20))
    frozen = [read_disclosure_clock(paused, NOTIFIED + timedelta(days=d)).remaining for d in (20, 50, 400)]
    assert frozen == [timedelta(days=70)] * 3, "while paused, the remaining time is frozen"
    assert read_disclosure_clock(paused, NOTIFIED + timedelta(days=400)).status is DisclosureStatus.PAUSED


def test_a_clock_past_its_deadline_is_overdue_and_a_published_case_is_stopped() -> None:
    assert read_disclosure_clock(Case(), NOTIFIED + timedelta(days=91)).status is DisclosureStatus.OVERDUE
    published = Case(published_at=NOTIFIED + timedelta(days=60))
    reading = read_disclosure_clock(published, NOTIFIED + timedelta(days=500))
    assert (reading.status, reading.days_left) == (DisclosureStatus.PUBLISHED, 30), "read when it stopped"
    assert reminders_due(published, NOTIFIED + timedelta(days=89), sent=()) == []


def test_reminders_fall_due_as_the_deadline_nears_each_once() -> None:
    case = Case(embargo_days=45)
    assert reminders_due(case, NOTIFIED + timedelta(days=10), sent=()) == []
    assert reminders_due(case, NOTIFIED + timedelta(days=16), sent=()) == [30]
    assert reminders_due(case, NOTIFIED + timedelta(days=39), sent={30}) == [14, 7]
    assert reminders_due(case, NOTIFIED + timedelta(days=44, hours=1), sent={30, 14, 7}) == [1]
    assert reminders_due(case, NOTIFIED + timedelta(days=60), sent={30, 14, 7, 1}) == []
    paused = Case(embargo_days=45, paused_since=NOTIFIED + timedelta(days=10))
    assert reminders_due(paused, NOTIFIED + timedelta(days=40), sent=()) == [], "none while paused"


@pytest.mark.parametrize("days", [0, -5, 366])
def test_an_embargo_outside_its_bounds_is_refused_in_one_sentence(days: int) -> None:
    with pytest.raises(InvalidInputError, match=f"An embargo of {days} days is outside 1 to 365"):
        checked_embargo(days)
    assert checked_embargo(120) == 120
