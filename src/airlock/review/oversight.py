"""Oversight of the deployment itself: verifying the audit trail, spotting unusual access, rotating keys.

Auditors and operators use these; everything here is gated by the access policy and audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from airlock.access import Action, Principal, authorize
from airlock.audit import UNUSUAL_ACCESS_ACTIONS, Outcome, UnusualAccess, Verification, unusual_access
from airlock.errors import ConfigurationError, InvalidInputError
from airlock.review.context import ServiceContext
from airlock.review.directory import find_organisation
from airlock.review.inputs import check_moment
from airlock.vault import FileKeyProvider, environment_provider

MAX_ENTRIES_AT_ONCE = 1000
"""The most of the newest audit entries one read returns (a page, or the API)."""


class AuditEntryView(BaseModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str
    purpose: str
    details: dict[str, object]


class VerificationView(BaseModel):
    ok: bool
    entries: int
    checkpoints: int
    first_bad_entry: int | None
    problems: list[str]

    @classmethod
    def of(cls, verification: Verification) -> VerificationView:
        return cls(
            ok=verification.ok,
            entries=verification.entries,
            checkpoints=verification.checkpoints,
            first_bad_entry=verification.first_bad_entry,
            problems=verification.problems,
        )


class UnusualAccessView(BaseModel):
    actor: str
    signal: str
    detail: str
    first_at: datetime
    last_at: datetime

    @classmethod
    def of(cls, finding: UnusualAccess) -> UnusualAccessView:
        return cls(
            actor=finding.actor,
            signal=finding.signal,
            detail=finding.detail,
            first_at=finding.first_at,
            last_at=finding.last_at,
        )


class KeyRotationView(BaseModel):
    key: str
    old_id: str
    new_id: str
    rewrapped: int
    notice: str | None = None


@dataclass(frozen=True)
class UnusualAccessThresholds:
    window: timedelta = timedelta(hours=24)
    distinct_submissions: int = 5
    refusals: int = 10


class Oversight:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def verify_audit(
        self, actor: Principal, trusted_key: str, extra_checkpoints: list[str] | None = None
    ) -> VerificationView:
        """Recompute the audit chain and check every checkpoint against ``trusted_key``; the result is audited."""
        context = self._context
        with context.operation(actor, "audit.verify") as session:
            authorize(actor, Action.READ_AUDIT, what="verify the audit trail")
            result = VerificationView.of(context.audit.verify(session, trusted_key, extra_checkpoints))
            # A broken log is reported, not extended: Airlock never signs a checkpoint over it.
            if result.ok:
                context.audit.append(
                    session, actor=actor.email, action="audit.verify", details={"ok": True, "entries": result.entries}
                )
            return result

    def latest_checkpoint(self, actor: Principal) -> str:
        """The newest signed checkpoint, for an auditor to keep outside the deployment."""
        with self._context.operation(actor, "audit.checkpoint") as session:
            authorize(actor, Action.READ_AUDIT, what="read the audit trail")
            note = self._context.audit.latest_checkpoint(session)
            if note is None:
                raise ConfigurationError("The audit log has no checkpoint yet.", "Run any command, then try again.")
            return note

    def entries(
        self, actor: Principal, *, since: datetime | None = None, newest: int | None = None
    ) -> list[AuditEntryView]:
        """The audit trail in order (auditors and operators): from ``since``, or only the ``newest`` entries."""
        if newest is not None and not 1 <= newest <= MAX_ENTRIES_AT_ONCE:
            raise InvalidInputError(
                f"Ask for 1 to {MAX_ENTRIES_AT_ONCE} of the newest entries, not {newest}.", field="newest"
            )
        since = None if since is None else check_moment(since, "The start of the audit entries asked for", "since")
        with self._context.operation(actor, "audit.read") as session:
            authorize(actor, Action.READ_AUDIT, what="read the audit trail")
            return [
                AuditEntryView(
                    seq=entry.seq,
                    at=entry.at,
                    actor=entry.actor,
                    action=entry.action,
                    target=entry.target,
                    outcome=entry.outcome,
                    purpose=entry.purpose,
                    details=entry.details,
                )
                for entry in self._context.audit.entries(session, since=since, newest=newest)
            ]

    def unusual_access(
        self, actor: Principal, thresholds: UnusualAccessThresholds, *, since: datetime | None = None
    ) -> list[UnusualAccessView]:
        """Insider-risk signals: bursts of content reads across submissions, break-glass reads, password resets,
        the reads and self-assignments through an account in the window after it took over a password someone
        else set (a reset or a first password), bursts of refusals (:func:`airlock.audit.unusual_access`)."""
        with self._context.operation(actor, "audit.unusual") as session:
            authorize(actor, Action.READ_AUDIT, what="read the audit trail")
            entries = self._context.audit.entries(session, since=since)
            findings = unusual_access(
                [
                    entry
                    for entry in entries
                    if entry.action in UNUSUAL_ACCESS_ACTIONS or entry.outcome == Outcome.REFUSED
                ],
                window=thresholds.window,
                distinct_submissions=thresholds.distinct_submissions,
                refusals=thresholds.refusals,
            )
            return [UnusualAccessView.of(finding) for finding in findings]

    def rotate_master_key(self, actor: Principal) -> KeyRotationView:
        """Rewrap the organisation keys and vault secrets under a new master key; no blob is re-encrypted.

        With a key file, the new key is generated beside the old one and moved into its place once the
        database has committed. With ``AIRLOCK_MASTER_KEY``, the new key comes from
        ``AIRLOCK_NEW_MASTER_KEY``, and the operator replaces the variable afterwards.
        """
        context = self._context
        vault = context.vault
        old_id = vault.provider.key_id
        with context.operation(actor, "key.master.rotate") as session:
            authorize(actor, Action.MANAGE_KEYS, what="rotate the master key")
            # The audit log signs this operation's checkpoint after the rewrap: load its key while the
            # old master key still unwraps it.
            context.audit.load_signing_key(session)
            notice = "Back up the new master key now: the old one no longer opens this deployment."
            if isinstance(vault.provider, FileKeyProvider):
                new = vault.stage_file_rotation(session)
            else:
                given = context.settings.new_master_key
                if given is None:
                    raise ConfigurationError(
                        "The master key comes from AIRLOCK_MASTER_KEY, so the new one must be given too.",
                        "Put the new key (base64 of 32 random bytes) in AIRLOCK_NEW_MASTER_KEY and run this again.",
                    )
                new = environment_provider(given.get_secret_value())
                notice = "Now replace AIRLOCK_MASTER_KEY with the value of AIRLOCK_NEW_MASTER_KEY everywhere it is set."
            count = vault.rotate_master_key(session, new)
            context.audit.append(
                session,
                actor=actor.email,
                action="key.master.rotate",
                details={"from": old_id, "to": new.key_id, "rewrapped": count},
            )
        if vault.staged_rotation is not None:
            notice = (
                f"The new master key could not yet replace the old file; it is kept in {vault.staged_rotation} and "
                "is moved into place at the next start. Back it up now."
            )
        vault.finish_shredding(context.database)
        return KeyRotationView(key="master", old_id=old_id, new_id=new.key_id, rewrapped=count, notice=notice)

    def rotate_organisation_key(self, actor: Principal, organisation: str) -> KeyRotationView:
        """Give an organisation a new key and rewrap its submissions' data keys under it."""
        context = self._context
        with context.operation(actor, "key.organisation.rotate", f"organisation:{organisation}") as session:
            authorize(actor, Action.MANAGE_KEYS, what="rotate an organisation key")
            target = find_organisation(session, organisation)
            version, rewrapped = context.vault.rotate_organisation_key(session, target.id)
            context.audit.append(
                session,
                actor=actor.email,
                action="key.organisation.rotate",
                target=f"organisation:{target.slug}",
                details={"version": version, "rewrapped": rewrapped},
            )
        context.vault.finish_shredding(context.database)
        return KeyRotationView(
            key=f"organisation {target.slug}", old_id=str(version - 1), new_id=str(version), rewrapped=rewrapped
        )
