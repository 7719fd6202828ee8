"""One audited operation: its transaction, its checkpoint, and the record of a refusal or failure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from airlock.audit.log import AuditIntegrityError, AuditLog, Outcome
from airlock.errors import AirlockError, StoreError
from airlock.store import Database


@contextmanager
def audited_operation(
    database: Database, audit: AuditLog, *, actor: str, action: str, target: str = "", purpose: str = ""
) -> Iterator[Session]:
    """A transaction for one operation that signs a checkpoint of the audit log before it commits.

    If the operation is refused (an :class:`AirlockError` with ``is_refusal``), or finds damaged data
    (``is_integrity_failure``), its transaction rolls back as usual (nothing it did is kept) and the
    refusal or failure is then appended to the audit log in a transaction of its own, so that it leaves
    a trace even though the operation did not happen.
    """
    try:
        with database.transaction() as session:
            yield session
            audit.checkpoint(session)
    except AirlockError as error:
        if error.is_refusal or error.is_integrity_failure:
            outcome = Outcome.REFUSED if error.is_refusal else Outcome.FAILED
            _record_unhappy_ending(database, audit, actor, action, target, purpose, outcome, error)
        raise


def _record_unhappy_ending(
    database: Database,
    audit: AuditLog,
    actor: str,
    action: str,
    target: str,
    purpose: str,
    outcome: Outcome,
    error: AirlockError,
) -> None:
    """Append the refusal or failure; if even that fails, retry once with plain, fixed-form text."""
    attempts = (
        {"error": error.kind, "reason": error.message},
        {"error": error.kind, "reason": error.message.encode("ascii", "replace").decode()[:500]},
    )
    for details in attempts:
        try:
            with database.transaction() as session:
                audit.append(
                    session,
                    actor=actor,
                    action=action,
                    target=target,
                    outcome=outcome,
                    purpose=purpose,
                    details=details,
                )
                audit.checkpoint(session)
            return
        except AuditIntegrityError as broken:
            # The log itself is the problem: say so, rather than that the recording failed.
            raise broken from error
        except (AirlockError, UnicodeError):
            continue
    raise StoreError(
        f"{error.message} Recording this in the audit log failed as well.",
        "Check the database and run `airlock audit verify`.",
    ) from error
