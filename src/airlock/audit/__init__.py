"""Audit: the append-only, hash-chained log with signed checkpoints (see :mod:`airlock.audit.log`)."""

from airlock.audit.log import AuditLog, Outcome, UnusualAccess, Verification, unusual_access
from airlock.audit.operation import audited_operation

__all__ = ["AuditLog", "Outcome", "UnusualAccess", "Verification", "audited_operation", "unusual_access"]
