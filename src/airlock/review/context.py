"""What every review service works with: the database, time, settings, the vault and the audit log."""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ServiceContext:
    database: Database
    clock: Clock
    settings: Settings
    vault: Vault
    audit: AuditLog
    gate: ContentGate

    def operation(
        self, actor: Principal | str, action: str, target: str = "", *, purpose: str = ""
    ) -> AbstractContextManager[Session]:
        """The transaction of one audited operation (see :func:`airlock.audit.audited_operation`)."""
        label = actor if isinstance(actor, str) else actor.email
        return audited_operation(self.database, self.audit, actor=label, action=action, target=target, purpose=purpose)
