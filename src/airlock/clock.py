"""Where Airlock's notion of "now" comes from.

Every rule that depends on time (the review clock, expiry, audit timestamps) reads the time from one
injected :class:`Clock`, so that tests and simulations can move time instead of waiting for it.
All times are timezone-aware and in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of the current time."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real time of the machine."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations.

    >>> clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    >>> clock.advance(timedelta(days=3)).isoformat()
    '2026-11-05T09:00:00+00:00'
    """

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by ``delta`` and return the new time."""
        if delta < timedelta(0):
            raise ValueError("a ManualClock only moves forward")
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        """Put the clock at ``moment``."""
        self._now = ensure_utc(moment)


def ensure_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; naive datetimes are refused rather than guessed at."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no timezone; Airlock works in UTC")
    return moment.astimezone(UTC)
