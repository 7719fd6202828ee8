"""One audited operation: its transaction, its checkpoint, and the record of a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from airlock.audit.log import AuditLog, Outcome
from airlock.errors import AirlockError
from airlock.store import Database


@contextmanager
def audited_operation(
    database: Database, audit: AuditLog, *, actor: str, action: str, target: str = ""
) -> Iterator[Session]:
    """A transaction for one operation that signs a checkpoint of the audit log before it commits.

    If the operation is refused (an :class:`AirlockError` with ``is_refusal``), its transaction rolls
    back as usual (nothing it did is kept) and the refusal itself is then appended to the audit log in a
    transaction of its own, so that every refused attempt leaves a trace.
    """
    try:
        with database.transaction() as session:
            yield session
            audit.checkpoint(session)
    except AirlockError as error:
        if error.is_refusal:
            with database.transaction() as session:
                audit.append(
                    session,
                    actor=actor,
                    action=action,
                    target=target,
                    outcome=Outcome.REFUSED,
                    details={"error": error.kind, "reason": error.message},
                )
                audit.checkpoint(session)
        raise
