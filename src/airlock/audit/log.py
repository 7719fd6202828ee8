"""The audit log: append-only, hash-chained, with signed checkpoints.

Each entry's hash is SHA-256 over a domain tag, the previous entry's hash and the canonical JSON of the
entry (:mod:`airlock.audit.canonical`), so changing, removing, inserting or reordering any entry breaks
every hash after it. After each operation a checkpoint (log size, head hash, time) is signed with the
deployment's Ed25519 audit key (:mod:`airlock.audit.note`); the private key is wrapped by the vault's
master key, the public key is pinned in a file that auditors keep. An auditor who also keeps a copy of a
recent checkpoint can prove that the log has not been cut short since (``airlock audit verify --checkpoint``).

Entries carry who, what, on what, why and the outcome, never confidential content.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from airlock.audit.canonical import canonical_json
from airlock.audit.ledger import SHREDDING_ACTIONS, LedgerError, ShredRecord, append_lines, signed_line
from airlock.audit.models import AuditCheckpoint, AuditEntry, AuditHead
from airlock.audit.note import (
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_verifier_key,
    sign_note,
    verifier_key,
)
from airlock.clock import Clock
from airlock.errors import AirlockError, ConfigurationError
from airlock.vault import Vault

GENESIS = bytes(32)
ENTRY_DOMAIN = b"airlock-audit-entry-v1\n"
SIGNING_SECRET = "audit-signing-key"  # noqa: S105 (the name of a vault secret, not a secret)


class Outcome(StrEnum):
    DONE = "done"
    """Something happened (a transition, a key operation)."""
    ALLOWED = "allowed"
    """An access to confidential content that the policy allowed."""
    REFUSED = "refused"
    """An operation that was refused; nothing else changed."""
    FAILED = "failed"
    """An operation that found damaged or tampered data (a corrupted blob, say); nothing was returned."""


def entry_record(entry: AuditEntry) -> dict[str, Any]:
    """The fields an entry's hash covers, in the form that is hashed."""
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "purpose": entry.purpose,
        "details": entry.details,
    }


def chain_hash(previous: bytes, record: dict[str, Any]) -> bytes:
    return hashlib.sha256(ENTRY_DOMAIN + previous + canonical_json(record)).digest()


@dataclass(frozen=True)
class Verification:
    """What ``airlock audit verify`` found."""

    entries: int
    checkpoints: int
    problems: list[str] = field(default_factory=list)
    first_bad_entry: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    def __init__(
        self, vault: Vault, clock: Clock, witness: Path | None = None, shred_ledger: Path | None = None
    ) -> None:
        """``witness`` is a file outside the database where the newest signed checkpoint is also kept;
        ``shred_ledger`` the file where every shredding is also recorded (:mod:`airlock.audit.ledger`)."""
        self._vault = vault
        self._clock = clock
        self._witness = witness
        self._shred_ledger = shred_ledger
        self._signing_key: Ed25519PrivateKey | None = None

    def initialise(self, session: Session, deployment_name: str) -> str:
        """Create the signing key and the empty chain; returns the verifier key to pin. Idempotent."""
        head = session.get(AuditHead, 1)
        if head is not None:
            return head.verifier_key
        key = Ed25519PrivateKey.generate()
        origin = f"airlock/{deployment_name}/audit-{secrets.token_hex(4)}"
        self._vault.put_secret(session, SIGNING_SECRET, key.private_bytes_raw())
        public = verifier_key(origin, key)
        session.add(AuditHead(id=1, size=0, head_hash=GENESIS.hex(), origin=origin, verifier_key=public))
        session.flush()
        self._signing_key = key
        return public

    def verifier_key(self, session: Session) -> str:
        return self._head(session).verifier_key

    def append(
        self,
        session: Session,
        *,
        actor: str,
        action: str,
        target: str = "",
        outcome: Outcome = Outcome.DONE,
        purpose: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        """Add one entry to the chain, inside the caller's transaction; returns its sequence number."""
        # Incrementing the head row first takes its lock, so concurrent appenders queue here.
        size, head_hash = session.execute(
            update(AuditHead)
            .where(AuditHead.id == 1)
            .values(size=AuditHead.size + 1)
            .returning(AuditHead.size, AuditHead.head_hash)
        ).one()
        entry = AuditEntry(
            seq=size,
            at=self._clock.now(),
            actor=_fit(actor, 254),
            action=_fit(action, 64),
            target=_fit(target, 200),
            outcome=outcome,
            purpose=purpose,
            details=details or {},
        )
        new_hash = chain_hash(bytes.fromhex(head_hash), entry_record(entry)).hex()
        entry.entry_hash = new_hash
        session.add(entry)
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(head_hash=new_hash))
        session.flush()
        session.info[_APPENDED] = session.info.get(_APPENDED, 0) + 1
        if action in SHREDDING_ACTIONS:
            session.info.setdefault(_SHREDDINGS, []).append(entry)
        return int(size)

    def checkpoint(self, session: Session) -> str | None:
        """Sign the head after the entries this transaction appended; returns the note (None if it appended none).

        Fails closed: Airlock signs only a head that extends its last signed checkpoint by exactly the
        entries appended in this transaction, so a log changed behind its back is never signed over.
        """
        appended = session.info.get(_APPENDED, 0)
        if appended == 0:
            return None
        head = self._head(session)
        self._require_untouched_since_last_checkpoint(session, head, appended)
        now = self._clock.now()
        checkpoint = Checkpoint(
            origin=head.origin,
            size=head.size,
            head=bytes.fromhex(head.head_hash),
            time=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        )
        note = sign_note(checkpoint.text(), head.origin, self._key(session))
        session.add(AuditCheckpoint(size=head.size, at=now, note=note))
        session.flush()
        session.info[_APPENDED] = 0
        self._write_shred_ledger(session, head.origin)
        if self._witness is not None:
            session.info.setdefault("after_commit", []).append(lambda: _write_witness(self._witness, note))
        return note

    def _require_untouched_since_last_checkpoint(self, session: Session, head: AuditHead, appended: int) -> None:
        verifier = parse_verifier_key(head.verifier_key)
        latest = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1))
        start_size, start_hash = 0, GENESIS
        if latest is not None:
            try:
                signed = Checkpoint.parse(open_note(latest.note, verifier))
            except NoteError as error:
                raise _tampered(f"its newest checkpoint does not verify ({error})") from error
            start_size, start_hash = signed.size, signed.head
        if head.size - start_size != appended:
            raise _tampered(
                f"it holds {head.size} entries, but the last signed checkpoint covers {start_size} and this "
                f"operation added {appended}"
            )
        previous = start_hash
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.seq > start_size).order_by(AuditEntry.seq)):
            previous = chain_hash(previous, entry_record(entry))
            if previous.hex() != entry.entry_hash:
                raise _tampered(f"entry {entry.seq} does not extend the last signed checkpoint")
        if previous.hex() != head.head_hash:
            raise _tampered("its head does not extend the last signed checkpoint")
        witnessed = _read_witness(self._witness, verifier)
        if witnessed is not None and witnessed.size > start_size:
            raise _tampered(
                f"the checkpoint kept outside the database ({self._witness}) covers {witnessed.size} entries, "
                f"more than the newest one in the database ({start_size})"
            )

    def _write_shred_ledger(self, session: Session, origin: str) -> None:
        """Append this transaction's shreddings to the ledger, before it commits (see :mod:`airlock.audit.ledger`)."""
        entries: list[AuditEntry] = session.info.pop(_SHREDDINGS, [])
        if not entries or self._shred_ledger is None:
            return
        key = self._key(session)
        lines = [signed_line(ShredRecord(origin, entry_record(entry), entry.entry_hash), key) for entry in entries]
        try:
            append_lines(self._shred_ledger, lines)
        except OSError as error:
            raise LedgerError(
                f"The shred ledger {self._shred_ledger} cannot be written ({error.strerror or error}), so no content "
                "was destroyed and nothing was changed.",
                "Check that the ledger's storage (AIRLOCK_SHRED_LEDGER) is mounted and writable, then try again.",
            ) from error

    def sign_statement(self, session: Session, text: str) -> str:
        """``text`` as a signed note by the audit key, under the log's origin (a backup's manifest digest, say)."""
        return sign_note(text, self._head(session).origin, self._key(session))

    def origin(self, session: Session) -> str:
        """The log's origin: the name its checkpoints and statements are signed under."""
        return self._head(session).origin

    def latest_checkpoint(self, session: Session) -> str | None:
        return session.scalar(select(AuditCheckpoint.note).order_by(AuditCheckpoint.size.desc()).limit(1))

    def verify(self, session: Session, trusted_key: str, extra_checkpoints: list[str] | None = None) -> Verification:
        """Recompute the chain and check every checkpoint against ``trusted_key``; fails closed."""
        try:
            verifier = parse_verifier_key(trusted_key)
        except NoteError as error:
            return Verification(0, 0, [f"The trusted audit key is unusable: {error}."])
        # Lock the head first: appenders update it first, so the log cannot move while it is read.
        head = session.scalar(select(AuditHead).where(AuditHead.id == 1).with_for_update())
        if head is None:
            return Verification(0, 0, ["The audit log has no head: it was never initialised or was removed."])
        stored_checkpoints = [(f"checkpoint {row.id}", row.note) for row in session.scalars(select(AuditCheckpoint))]
        supplied = [(f"supplied checkpoint {i + 1}", note) for i, note in enumerate(extra_checkpoints or [])]
        if self._witness is not None and self._witness.exists():
            supplied.append((f"the checkpoint kept in {self._witness}", self._witness.read_text(encoding="utf-8")))
        claims: dict[int, list[tuple[str, bytes]]] = {}
        problems: list[str] = []
        for label, note in stored_checkpoints + supplied:
            try:
                checkpoint = Checkpoint.parse(open_note(note, verifier))
            except NoteError as error:
                problems.append(
                    f"{label} is not a valid checkpoint signed by the trusted key ({error}): it was forged or altered."
                )
                continue
            if checkpoint.origin != head.origin:
                problems.append(f"{label} belongs to another log ({checkpoint.origin}).")
                continue
            claims.setdefault(checkpoint.size, []).append((label, checkpoint.head))
        covered_sizes = set(claims)

        first_bad: int | None = None
        previous = GENESIS
        count = 0
        last_good_checkpoint = 0
        for entry in self._all_entries(session):
            expected = count + 1
            if entry.seq != expected:
                first_bad = expected
                problems.append(
                    f"Entry {expected} is missing: the log jumps from entry {expected - 1} to {entry.seq} "
                    "(entries were deleted)."
                )
                break
            computed = chain_hash(previous, entry_record(entry))
            if computed.hex() != entry.entry_hash:
                first_bad = entry.seq
                problems.append(
                    f"Entry {entry.seq} ({entry.action} by {entry.actor} at {entry.at:%Y-%m-%d %H:%M:%S} UTC) does not "
                    "match its hash chain: it, or its place in the log, was modified."
                )
                break
            for label, claimed in claims.pop(entry.seq, []):
                if claimed != computed:
                    first_bad = last_good_checkpoint + 1 if first_bad is None else first_bad
                    problems.append(
                        f"{label} records a different head at entry {entry.seq}: entries "
                        f"{last_good_checkpoint + 1} to {entry.seq} were rewritten since it was signed."
                    )
            if first_bad is not None:
                break
            if entry.seq in covered_sizes:
                last_good_checkpoint = entry.seq
            previous = computed
            count = entry.seq
        if first_bad is None:
            for size, labelled in sorted(claims.items()):
                for label, _ in labelled:
                    problems.append(
                        f"{label} covers {size} entries but the log holds only {count}: "
                        "entries were deleted from the end."
                    )
                    first_bad = count + 1 if first_bad is None else first_bad
            if head.size != count or head.head_hash != previous.hex():
                problems.append(
                    f"The log's head records {head.size} entries but the chain holds {count}: entries were deleted "
                    "or added outside Airlock."
                )
                first_bad = min(head.size, count) + 1 if first_bad is None else first_bad
            elif count > last_good_checkpoint and first_bad is None:
                first_bad = last_good_checkpoint + 1
                problems.append(
                    f"Entries {last_good_checkpoint + 1} to {count} are covered by no signed checkpoint: "
                    "Airlock signs one after every operation, so they were added outside Airlock."
                )
        if first_bad is None and (count == 0 or not stored_checkpoints):
            first_bad = 1
            problems.append(
                "The log holds no entries or no signed checkpoint, yet every deployment's log starts with its "
                "initialisation: it was emptied or its checkpoints were deleted."
            )
        return Verification(count, len(stored_checkpoints), problems, first_bad)

    def entries(
        self,
        session: Session,
        *,
        since: datetime | None = None,
        actions: tuple[str, ...] | None = None,
        newest: int | None = None,
    ) -> list[AuditEntry]:
        """The entries in order, optionally only those from ``since``, of ``actions``, or the ``newest`` few."""
        query = select(AuditEntry)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if actions is not None:
            query = query.where(AuditEntry.action.in_(actions))
        if newest is not None:
            return list(reversed(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(newest)).all()))
        return list(session.scalars(query.order_by(AuditEntry.seq)))

    def size(self, session: Session) -> int:
        return self._head(session).size

    def _all_entries(self, session: Session) -> Iterator[AuditEntry]:
        yield from session.scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=2000))

    def _head(self, session: Session) -> AuditHead:
        head = session.get(AuditHead, 1, populate_existing=True)
        if head is None:
            raise ConfigurationError(
                "The audit log of this deployment is not initialised.", "Run `airlock init` to set it up."
            )
        return head

    def load_signing_key(self, session: Session) -> None:
        """Unwrap the signing key now (before a master key rotation rewraps it)."""
        self._key(session)

    def _key(self, session: Session) -> Ed25519PrivateKey:
        if self._signing_key is None:
            raw = self._vault.get_secret(session, SIGNING_SECRET)
            if raw is None:
                raise ConfigurationError(
                    "The audit signing key is missing from the vault.", "Restore the database from a backup."
                )
            self._signing_key = Ed25519PrivateKey.from_private_bytes(raw)
        return self._signing_key


_APPENDED = "audit_entries_appended"
"""Key in ``session.info``: entries this transaction appended and has not yet covered by a checkpoint."""
_SHREDDINGS = "audit_shreddings_to_record"
"""Key in ``session.info``: this transaction's shredding entries, for the shred ledger at its checkpoint."""


class AuditIntegrityError(AirlockError):
    """The audit log was changed outside Airlock; Airlock refuses to extend or sign it."""

    kind = "audit_integrity"


def _tampered(how: str) -> AuditIntegrityError:
    return AuditIntegrityError(
        f"The audit log was changed outside Airlock since its last signed checkpoint: {how}. "
        "Airlock will not sign over it, so nothing was done.",
        "Run `airlock audit verify` to locate the change, and restore the database from a backup.",
    )


def _fit(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters (audit columns are bounded; identifiers typed by people are not)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _write_witness(path: Path | None, note: str) -> None:
    """Keep the newest checkpoint in a file too, replacing the old one atomically."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + f".{os.getpid()}.tmp")
    temporary.write_text(note, encoding="utf-8")
    os.replace(temporary, path)


def _read_witness(path: Path | None, verifier: Verifier) -> Checkpoint | None:
    if path is None or not path.exists():
        return None
    try:
        return Checkpoint.parse(open_note(path.read_text(encoding="utf-8"), verifier))
    except NoteError as error:
        raise _tampered(f"the checkpoint kept in {path} does not verify ({error})") from error


@dataclass(frozen=True)
class UnusualAccess:
    actor: str
    signal: str
    detail: str
    first_at: datetime
    last_at: datetime


UNUSUAL_ACCESS_ACTIONS = (
    "content.read",
    "review.assign",
    "user.add",
    "user.password.set",
    "user.password.reset",
    "user.password.change",
)
"""The actions :func:`unusual_access` looks at, besides every refusal."""


@dataclass
class _HandedOver:
    """Credentials someone else set for an account (a first password, or a reset), and when the account took
    them over (signed in with them, choosing its own password)."""

    account: str
    by: str
    at: datetime
    reset: bool
    purpose: str
    taken_over_at: datetime | None = None
    ends_at: datetime | None = None
    """When the next credentials someone set for the account replaced these, if they did."""

    def covers(self, moment: datetime, window: timedelta) -> bool:
        """Whether ``moment`` falls between the setting and ``window`` after the take-over (after the setting,
        if there was none), and before anyone set the account's credentials again."""
        end = (self.taken_over_at or self.at) + window
        if self.ends_at is not None:
            end = min(end, self.ends_at)
        return self.at <= moment <= end

    def setting(self, added_by: str | None) -> str:
        """Who set what, in words, for a signal's detail."""
        if self.reset:
            return f"{self.by} reset the account's password: {self.purpose}"
        also = f" ({self.by} had also added the account)" if added_by == self.by else ""
        return f"{self.by} set the account's first password{also}"

    @property
    def what(self) -> str:
        """What was set, as a signal names it (``read after a first password``)."""
        return "a password reset" if self.reset else "a first password"


def unusual_access(
    entries: list[AuditEntry], *, window: timedelta, distinct_submissions: int, refusals: int
) -> list[UnusualAccess]:
    """Insider-risk signals in ``entries`` (in log order).

    * a user reading the content of ``distinct_submissions`` or more submissions within ``window``;
    * every break-glass read by an operator;
    * every password reset by an operator (break-glass: whoever knows a password acts as its user);
    * every content read through an account, and every time it assigned itself to a review, from when someone
      else set its credentials (a reset, or a first password: whoever sets one can use it, and nothing inside
      Airlock tells the user from the one who set it) until ``window`` after the account took them over
      (signed in with them, choosing its own password), naming who set them, and whether they had also added
      the account. Legitimate onboarding shows here too, for that one window: unusual, not wrong;
    * a user refused ``refusals`` or more times within ``window``.
    """
    findings: list[UnusualAccess] = []
    reads: dict[str, list[AuditEntry]] = {}
    refused: dict[str, list[AuditEntry]] = {}
    joined: dict[str, list[AuditEntry]] = {}
    added_by: dict[str, str] = {}
    handed_over: dict[str, list[_HandedOver]] = {}
    for entry in entries:
        account = entry.target.removeprefix("user:")
        if entry.outcome == Outcome.REFUSED:
            refused.setdefault(entry.actor, []).append(entry)
        elif entry.action == "user.add" and entry.outcome == Outcome.DONE:
            added_by[account] = entry.actor
        elif entry.action in ("user.password.set", "user.password.reset") and entry.outcome == Outcome.DONE:
            reset = entry.action == "user.password.reset"
            if reset:
                findings.append(
                    UnusualAccess(
                        entry.actor,
                        "password reset",
                        f"reset the password of {account}: {entry.purpose}",
                        entry.at,
                        entry.at,
                    )
                )
            if entry.details.get("one_time") and entry.actor != account:
                earlier = handed_over.setdefault(account, [])
                if earlier and earlier[-1].ends_at is None:
                    earlier[-1].ends_at = entry.at
                earlier.append(_HandedOver(account, entry.actor, entry.at, reset, entry.purpose))
        elif entry.action == "user.password.change" and entry.details.get("replaced_one_time_password"):
            current = handed_over.get(entry.actor, [])
            if current and current[-1].taken_over_at is None:
                current[-1].taken_over_at = entry.at
        elif entry.action == "review.assign" and entry.details.get("user") == entry.actor:
            joined.setdefault(entry.actor, []).append(entry)
        elif entry.action == "content.read" and entry.outcome == Outcome.ALLOWED:
            reads.setdefault(entry.actor, []).append(entry)
            if entry.details.get("break_glass"):
                findings.append(
                    UnusualAccess(
                        entry.actor,
                        "break-glass",
                        f"read {entry.target} ({entry.details.get('kind')}): {entry.purpose}",
                        entry.at,
                        entry.at,
                    )
                )
    for actor, actor_reads in reads.items():
        burst = _densest_burst(actor_reads, window, key=lambda entry: entry.details.get("submission", entry.target))
        if burst is not None and burst[0] >= distinct_submissions:
            count, first, last = burst
            findings.append(
                UnusualAccess(
                    actor,
                    "many submissions",
                    f"read content of {count} submissions within {_span(window)}",
                    first,
                    last,
                )
            )
    for account, episodes in handed_over.items():
        for episode in episodes:
            findings += _used_after_handing_over(episode, reads, joined, added_by.get(account), window)
    for actor, actor_refusals in refused.items():
        burst = _densest_burst(actor_refusals, window, key=lambda entry: str(entry.seq))
        if burst is not None and burst[0] >= refusals:
            count, first, last = burst
            findings.append(
                UnusualAccess(actor, "many refusals", f"{count} refused operations within {_span(window)}", first, last)
            )
    return sorted(findings, key=lambda finding: (finding.first_at, finding.actor))


def _used_after_handing_over(
    episode: _HandedOver,
    reads: dict[str, list[AuditEntry]],
    joined: dict[str, list[AuditEntry]],
    added_by: str | None,
    window: timedelta,
) -> list[UnusualAccess]:
    """The signals of what an account did with credentials someone else set: its reads and its
    self-assignments within the episode's window."""
    findings: list[UnusualAccess] = []
    within = (
        f"within {_span(window)} of its first sign-in with it" if episode.taken_over_at else f"within {_span(window)}"
    )
    after = [read for read in reads.get(episode.account, []) if episode.covers(read.at, window)]
    if after:
        submissions = len({read.details.get("submission", read.target) for read in after})
        findings.append(
            UnusualAccess(
                episode.account,
                f"read after {episode.what}",
                f"read content of {submissions} submissions ({len(after)} reads) after {episode.setting(added_by)} "
                f"({within})",
                after[0].at,
                after[-1].at,
            )
        )
    assignments = [entry for entry in joined.get(episode.account, []) if episode.covers(entry.at, window)]
    if assignments:
        reviews = ", ".join(dict.fromkeys(entry.target.removeprefix("review:") for entry in assignments))
        plural = "s" if "," in reviews else ""
        findings.append(
            UnusualAccess(
                episode.account,
                f"joined a review after {episode.what}",
                f"assigned itself to review{plural} {reviews} after {episode.setting(added_by)} ({within})",
                assignments[0].at,
                assignments[-1].at,
            )
        )
    return findings


def _span(window: timedelta) -> str:
    hours = window.total_seconds() / 3600
    return "1 hour" if hours == 1 else f"{hours:g} hours"


def _densest_burst(entries: list[AuditEntry], window: timedelta, key: Any) -> tuple[int, datetime, datetime] | None:
    """The largest number of distinct ``key`` values inside any time window of length ``window``."""
    best: tuple[int, datetime, datetime] | None = None
    start = 0
    for end, entry in enumerate(entries):
        while entry.at - entries[start].at > window:
            start += 1
        distinct = {key(item) for item in entries[start : end + 1]}
        if best is None or len(distinct) > best[0]:
            best = (len(distinct), entries[start].at, entry.at)
    return best
