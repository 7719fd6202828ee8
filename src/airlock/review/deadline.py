"""The review clock: deadline, days left, "at risk" and expiry, as pure functions of the recorded facts.

Rules (the design brief's, made exact):

* The clock starts when the review is accepted.
* Base deadline = the earlier of *start + review period* and the *planned release date* (taken as
  00:00 UTC on that day: the review must be done before the model is public).
* Time spent paused is added to the deadline, and so are extensions. Both need the developer's recorded
  consent, which is why they may move the deadline past the planned release date: the developer agreed.
* While paused, the remaining time is frozen.
* Days left counts any part of a day as a day; the review is *at risk* when 5 days or fewer remain.
* The clock stops at the final report or at any terminal state; a running clock whose deadline has
  passed means the review expires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol

AT_RISK_WITHIN = timedelta(days=5)
MAX_CLOCK_DAYS = 90
"""A review's period plus its extensions never exceeds this many days of clock time."""


class PauseRecord(Protocol):
    """The recorded pauses of a clock: a review's, or a vulnerability case's disclosure clock."""

    @property
    def paused_since(self) -> datetime | None: ...
    @property
    def paused_seconds(self) -> int: ...


class ClockRecord(PauseRecord, Protocol):
    """The recorded facts about one review's clock (the review row provides them)."""

    @property
    def period_days(self) -> int | None: ...
    @property
    def clock_started_at(self) -> datetime | None: ...
    @property
    def clock_stopped_at(self) -> datetime | None: ...
    @property
    def extension_days(self) -> int: ...


class ClockStatus(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ClockReading:
    """The clock of one review as seen at one moment."""

    status: ClockStatus
    started_at: datetime | None = None
    deadline: datetime | None = None
    remaining: timedelta | None = None
    days_left: int | None = None
    at_risk: bool = False
    overdue: bool = False
    capped_by_release_date: bool = False
    period_days: int | None = None
    extension_days: int = 0
    paused_for: timedelta = timedelta(0)


def release_moment(planned_release_date: date) -> datetime:
    """The moment a model planned for release on ``planned_release_date`` becomes public: 00:00 UTC."""
    return datetime.combine(planned_release_date, time(0, 0), tzinfo=UTC)


def base_deadline(started_at: datetime, period_days: int, planned_release_date: date) -> datetime:
    """The earlier of start + review period and the planned release, before pauses and extensions."""
    return min(started_at + timedelta(days=period_days), release_moment(planned_release_date))


def paused_duration(record: PauseRecord, at: datetime) -> timedelta:
    """All the time the clock has spent paused up to ``at``, the current pause included."""
    paused = timedelta(seconds=record.paused_seconds)
    if record.paused_since is not None:
        paused += max(at - record.paused_since, timedelta(0))
    return paused


def days_left(remaining: timedelta) -> int:
    """Whole days left, counting any part of a day as a day; 0 once the deadline has passed."""
    if remaining <= timedelta(0):
        return 0
    return math.ceil(remaining / timedelta(days=1))


def read_clock(record: ClockRecord, planned_release_date: date, now: datetime) -> ClockReading:
    """The clock of the review described by ``record`` as seen at ``now``."""
    if record.clock_started_at is None or record.period_days is None:
        return ClockReading(status=ClockStatus.NOT_STARTED)
    started_at, period = record.clock_started_at, record.period_days
    # A stopped clock is read at the moment it stopped, so its figures no longer change.
    at = record.clock_stopped_at or now
    paused_for = paused_duration(record, at)
    base = base_deadline(started_at, period, planned_release_date)
    deadline = base + paused_for + timedelta(days=record.extension_days)
    remaining = deadline - at
    if record.clock_stopped_at is not None:
        status = ClockStatus.STOPPED
    elif record.paused_since is not None:
        status = ClockStatus.PAUSED
    else:
        status = ClockStatus.RUNNING
    return ClockReading(
        status=status,
        started_at=started_at,
        deadline=deadline,
        remaining=remaining,
        days_left=days_left(remaining),
        at_risk=status is not ClockStatus.STOPPED and remaining <= AT_RISK_WITHIN,
        overdue=status is ClockStatus.RUNNING and remaining <= timedelta(0),
        capped_by_release_date=base < started_at + timedelta(days=period),
        period_days=period,
        extension_days=record.extension_days,
        paused_for=paused_for,
    )
