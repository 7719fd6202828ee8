"""Audit: the append-only, hash-chained log with signed checkpoints (see :mod:`airlock.audit.log`)."""

from airlock.audit.log import UNUSUAL_ACCESS_ACTIONS, AuditLog, Outcome, UnusualAccess, Verification, unusual_access
from airlock.audit.operation import audited_operation

__all__ = [
    "UNUSUAL_ACCESS_ACTIONS",
    "AuditLog",
    "Outcome",
    "UnusualAccess",
    "Verification",
    "audited_operation",
    "unusual_access",
]
