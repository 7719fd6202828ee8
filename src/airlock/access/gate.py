"""The content gate: every read or write of confidential content passes here.

The policy decides; the audit log records who touched what, and why, in the same transaction as the
access itself. A refusal raises before anything is read, and the operation that was refused is recorded
by :func:`airlock.audit.audited_operation` once its transaction has rolled back.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from airlock.access.policy import Action, Principal, Scope, authorize
from airlock.access.roles import Role
from airlock.audit import AuditLog, Outcome


class ContentGate:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def admit(
        self,
        session: Session,
        principal: Principal,
        action: Action,
        scope: Scope,
        *,
        submission: str,
        purpose: str,
        justification: str | None = None,
    ) -> None:
        """Allow ``principal`` to read or write ``scope.content_kind`` of ``submission``, and record it."""
        if action not in (Action.READ_CONTENT, Action.WRITE_CONTENT) or scope.content_kind is None:
            raise ValueError("the content gate admits content reads and writes of a named kind only")
        verb = "read" if action is Action.READ_CONTENT else "write"
        authorize(
            principal,
            action,
            scope,
            justification=justification,
            what=f"{verb} the {scope.content_kind} of submission {submission}",
        )
        break_glass = principal.role is Role.OPERATOR and action is Action.READ_CONTENT
        self._audit.append(
            session,
            actor=principal.email,
            action=f"content.{verb}",
            target=f"submission:{submission}",
            outcome=Outcome.ALLOWED,
            purpose=(justification if break_glass else purpose) or "",
            details={
                "kind": scope.content_kind,
                "role": principal.role.value,
                "submission": submission,
                "break_glass": break_glass,
            },
        )

    def admit_case_content(
        self,
        session: Session,
        principal: Principal,
        scope: Scope,
        *,
        report: str,
        case: str,
        kind: str,
        purpose: str,
        justification: str | None = None,
    ) -> None:
        """Allow ``principal`` to read ``kind`` (a PoC, details...) of a clearinghouse report, and record it."""
        authorize(
            principal,
            Action.READ_CASE_CONTENT,
            scope,
            justification=justification,
            what=f"read the {kind} of report {report}",
        )
        break_glass = principal.role is Role.OPERATOR
        self._audit.append(
            session,
            actor=principal.email,
            action="content.read",
            target=f"report:{report}",
            outcome=Outcome.ALLOWED,
            purpose=(justification if break_glass else purpose) or "",
            details={"kind": kind, "role": principal.role.value, "case": case, "break_glass": break_glass},
        )
