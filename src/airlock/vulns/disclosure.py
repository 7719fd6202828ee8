"""A case's disclosure clock: when the details become public unless the vendor needs longer, as pure functions of the
recorded facts (like the review clock, :mod:`airlock.review.deadline`, whose pause arithmetic it shares).

Rules (CERT/CC's and Project Zero's practice, made exact):

* The clock starts at the first notification of a vendor; before it, nothing is due.
* Deadline = first notification + the case's embargo (:data:`DEFAULT_EMBARGO_DAYS`, 90, unless the case sets
  another between 1 and :data:`MAX_EMBARGO_DAYS`), plus the time spent paused, plus extensions. Pauses and
  extensions are recorded with who and why by the service that makes them, as the review clock's are.
* While paused, the remaining time is frozen.
* Reminders fall due as the deadline nears, at each of :data:`REMINDERS` (30, 14, 7 and 1 days before); each is
  sent once (the caller records which went out), and a reminder whose moment passed while the clock was paused is
  due once it runs again.
* Publication stops the clock; a running clock past its deadline is *overdue*: the coordinator decides to publish
  (the clearinghouse never publishes by itself).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from airlock.errors import InvalidInputError
from airlock.review.deadline import days_left, paused_duration

DEFAULT_EMBARGO_DAYS = 90
MAX_EMBARGO_DAYS = 365
REMINDERS = (30, 14, 7, 1)
"""Days before the deadline at which the coordinator and the vendors are reminded."""


class DisclosureRecord(Protocol):
    """The recorded facts about one case's disclosure clock (the case row provides them)."""

    @property
    def embargo_days(self) -> int: ...
    @property
    def first_notified_at(self) -> datetime | None: ...
    @property
    def published_at(self) -> datetime | None: ...
    @property
    def paused_since(self) -> datetime | None: ...
    @property
    def paused_seconds(self) -> int: ...
    @property
    def extension_days(self) -> int: ...


class DisclosureStatus(StrEnum):
    NOT_STARTED = "not_started"
    """No vendor notified yet."""
    RUNNING = "running"
    PAUSED = "paused"
    OVERDUE = "overdue"
    PUBLISHED = "published"


@dataclass(frozen=True)
class DisclosureReading:
    status: DisclosureStatus
    deadline: datetime | None = None
    remaining: timedelta | None = None
    days_left: int | None = None
    paused_for: timedelta = timedelta(0)


def read_disclosure_clock(record: DisclosureRecord, now: datetime) -> DisclosureReading:
    """The case's disclosure clock as seen at ``now``."""
    if record.first_notified_at is None:
        return DisclosureReading(DisclosureStatus.NOT_STARTED)
    at = record.published_at or now  # a published case's figures no longer change
    paused_for = paused_duration(record, at)
    deadline = record.first_notified_at + timedelta(days=record.embargo_days + record.extension_days) + paused_for
    remaining = deadline - at
    if record.published_at is not None:
        status = DisclosureStatus.PUBLISHED
    elif record.paused_since is not None:
        status = DisclosureStatus.PAUSED
    elif remaining <= timedelta(0):
        status = DisclosureStatus.OVERDUE
    else:
        status = DisclosureStatus.RUNNING
    return DisclosureReading(status, deadline, remaining, days_left(remaining), paused_for)


def reminders_due(record: DisclosureRecord, now: datetime, sent: Collection[int]) -> list[int]:
    """The reminders (days before the deadline, from :data:`REMINDERS`) that are due at ``now`` and not yet
    ``sent``, the nearest last; none while the clock is paused, not started or stopped."""
    reading = read_disclosure_clock(record, now)
    if reading.status not in (DisclosureStatus.RUNNING, DisclosureStatus.OVERDUE) or reading.remaining is None:
        return []
    return [days for days in REMINDERS if days not in sent and reading.remaining <= timedelta(days=days)]


def checked_embargo(days: int) -> int:
    """An embargo a case may set, or a refusal naming the bounds."""
    if not 1 <= days <= MAX_EMBARGO_DAYS:
        raise InvalidInputError(
            f"An embargo of {days} days is outside 1 to {MAX_EMBARGO_DAYS}.",
            f"Give the days until disclosure (the default is {DEFAULT_EMBARGO_DAYS}).",
            field="embargo_days",
        )
    return days
