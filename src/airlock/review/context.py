"""What every review service works with: the database, time, settings, the vault and the audit log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from airlock.access import Principal
from airlock.access.gate import ContentGate
from airlock.audit import AuditLog, audited_operation
from airlock.clock import Clock
from airlock.config import Settings
from airlock.store import Database
from airlock.vault import Vault

CLOCK_ACTOR = "review clock"
"""How the review clock signs what it does (expiry, destruction at the end of retention)."""


QUIET_SWEEP_HOLDS_FOR = timedelta(seconds=1)
"""How long a sweep of the review clock that found nothing due spares the reads that follow it."""


class SweepRecord:
    """When this process last swept the review clock and found nothing due.

    Every service call sweeps first (see :meth:`ServiceContext.operation`); a portal answering a
    hundred requests a second would otherwise spend a third of each dashboard request on sweeps that find
    nothing. After a quiet sweep, calls within :data:`QUIET_SWEEP_HOLDS_FOR` of clock time skip it, so a
    deadline is applied at most that long after it passes. Every new event in a review's timeline forgets the
    quiet sweep (see :func:`airlock.review.reviews.record_event`): a change of state or clock can make
    something due at once (a review ended under zero days of retention, say).
    """

    def __init__(self) -> None:
        self._quiet_at: datetime | None = None

    def recently_quiet(self, now: datetime) -> bool:
        quiet_at = self._quiet_at
        # A clock set back (tests do) counts as not recent.
        return quiet_at is not None and quiet_at <= now < quiet_at + QUIET_SWEEP_HOLDS_FOR

    def record_quiet(self, now: datetime) -> None:
        self._quiet_at = now

    def forget(self) -> None:
        self._quiet_at = None


@dataclass(frozen=True)
class ServiceContext:
    """What every service works with, and the one way a service call opens its transaction.

    Both ways (:meth:`operation`, :meth:`reading`) apply the review clock first, so no service can forget
    to: work that a review's deadline forbids finds the review expired and is refused, and whatever a call
    does is recorded after the expiry it may have made due.
    """

    database: Database
    clock: Clock
    settings: Settings
    vault: Vault
    audit: AuditLog
    gate: ContentGate
    sweep_clock: Callable[[ServiceContext], object]
    """Applies the review clock (expiry, destruction at the end of retention) in transactions of its own:
    :func:`airlock.review.reviews.sweep_review_clock`, passed in by the composition root because the sweep
    is built on the services that build on this context."""
    sweeps: SweepRecord = field(default_factory=SweepRecord)

    @contextmanager
    def operation(
        self, actor: Principal | str, action: str, target: str = "", *, purpose: str = ""
    ) -> Iterator[Session]:
        """The transaction of one audited operation (see :func:`airlock.audit.audited_operation`), opened
        once the review clock is applied."""
        self.sweep_clock(self)
        label = actor if isinstance(actor, str) else actor.email
        with audited_operation(
            self.database, self.audit, actor=label, action=action, target=target, purpose=purpose
        ) as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction for a service read that the audit log does not record (a list of
        reviews), opened once the review clock is applied."""
        self.sweep_clock(self)
        with self.database.transaction(read_only=True) as session:
            yield session
