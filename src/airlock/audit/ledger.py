"""The shred ledger: every crypto-shredding, also written to an append-only file outside the database.

A restore brings the database back as it was when the backup was taken, with the data keys of every
submission withdrawn (or past its retention) since. The ledger is what keeps those keys destroyed: the
audit entry of each shredding (``key.data.destroy``) is also appended to this file, signed with the
deployment's audit key, and ``airlock backup restore`` destroys again every key a ledger names before the
deployment serves (:mod:`airlock.backup.restore`). For it to outlive the backup it corrects, the file belongs
on storage that does not share the host's fate (``AIRLOCK_SHRED_LEDGER``; see docs/backup.md).

Each line is one JSON object: the audit entry's hashed fields (:func:`airlock.audit.log.entry_record`), the
log's origin, the entry's hash, and an Ed25519 signature (RFC 8032) over the canonical JSON of the rest,
prefixed by a domain tag. A forged line (which would destroy content at a restore) fails the signature.

The line is written when the operation signs its audit checkpoint, just before its transaction commits:
written ahead, so no committed shredding is ever missing from the ledger. Should the commit then fail, the
line stays and a restore destroys that content; the developer or the retention period had asked for it.
A line cut short by a crash (no final newline) was never followed by a commit, and is ignored.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airlock.audit.canonical import canonical_json
from airlock.audit.note import Verifier
from airlock.errors import AirlockError

SHREDDING_ACTIONS = frozenset({"key.data.destroy"})
"""The audit actions that destroy a data key: :class:`~airlock.audit.log.AuditLog` copies their entries here."""
LEDGER_DOMAIN = b"airlock-shred-ledger-v1\n"
SUBMISSION_PREFIX = "submission:"


class LedgerError(AirlockError):
    """The shred ledger cannot be written, or a ledger given to a restore does not verify."""

    kind = "shred_ledger"


@dataclass(frozen=True)
class ShredRecord:
    """One shredding as the ledger keeps it."""

    origin: str
    entry: dict[str, Any]
    """The audit entry's hashed fields: seq, at, actor, action, target, outcome, purpose, details."""
    entry_hash: str
    signature: bytes = field(default=b"", compare=False)
    """The audit key's signature over :meth:`signed_fields`, as read from a ledger (empty for a new record)."""

    @property
    def key(self) -> tuple[str, int, str]:
        """What makes two lines the same record."""
        return (self.origin, self.seq, self.entry_hash)

    @property
    def seq(self) -> int:
        return int(self.entry["seq"])

    @property
    def at(self) -> str:
        return str(self.entry["at"])

    @property
    def submission(self) -> str | None:
        """The public id of the submission whose data key was destroyed."""
        target = str(self.entry.get("target", ""))
        return target.removeprefix(SUBMISSION_PREFIX) if target.startswith(SUBMISSION_PREFIX) else None

    @property
    def reason(self) -> str:
        details = self.entry.get("details")
        return str(details.get("reason", "")) if isinstance(details, dict) else ""

    def signed_fields(self) -> dict[str, Any]:
        return {"origin": self.origin, "entry": self.entry, "entry_hash": self.entry_hash}


def signed_line(record: ShredRecord, key: Ed25519PrivateKey) -> bytes:
    """The ledger line of ``record``: its fields and their signature, one line of JSON."""
    signature = key.sign(LEDGER_DOMAIN + canonical_json(record.signed_fields()))
    return stored_line(ShredRecord(record.origin, record.entry, record.entry_hash, signature))


def stored_line(record: ShredRecord) -> bytes:
    """The line of a record read from a ledger, with its signature as read: to copy it into another ledger."""
    return canonical_json({**record.signed_fields(), "signature": base64.b64encode(record.signature).decode()}) + b"\n"


def parse_ledger(text: str, verifier: Verifier, origin: str, source: str) -> list[ShredRecord]:
    """The records of a ledger, every line verified; a :class:`LedgerError` names the first bad line.

    Fails closed: a line that is not this deployment's (another origin), not signed by its audit key, or not a
    record at all is an error, since it could make a restore destroy content nobody asked to destroy.
    """
    lines = text.split("\n")
    if lines and lines[-1] != "":
        lines[-1] = ""  # cut short by a crash before its transaction could commit: see the module's docstring
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        record = _parse_line(line, verifier, f"Line {number} of the shred ledger {source}")
        if record.origin != origin:
            raise LedgerError(
                f"Line {number} of the shred ledger {source} belongs to another deployment ({record.origin}).",
                "Give this deployment's ledger only; nothing was restored.",
            )
        records.append(record)
    return records


def _parse_line(line: str, verifier: Verifier, where: str) -> ShredRecord:
    try:
        fields = json.loads(line)
        signature = base64.b64decode(fields.pop("signature"), validate=True)
        record = ShredRecord(fields["origin"], fields["entry"], fields["entry_hash"], signature)
        if set(fields) != {"origin", "entry", "entry_hash"} or not isinstance(record.entry, dict):
            raise ValueError("unexpected fields")
        record.seq  # noqa: B018 (checks the entry has a sequence number)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        raise LedgerError(
            f"{where} is not a shred record.",
            "Give the ledger Airlock wrote (or a verbatim copy); nothing was restored.",
        ) from error
    try:
        verifier.public_key.verify(signature, LEDGER_DOMAIN + canonical_json(record.signed_fields()))
    except InvalidSignature as error:
        raise LedgerError(
            f"{where} is not signed by this deployment's audit key: it was forged or altered.",
            "Give a copy of the ledger that verifies (the one kept off the host); nothing was restored.",
        ) from error
    return record


def append_lines(path: Path, lines: Iterable[bytes]) -> None:
    """Append ``lines`` to the ledger at ``path`` and flush them to disk; raises ``OSError``.

    Writers of several processes take an exclusive lock on the file in turn, so lines never interleave (even
    where ``O_APPEND`` alone does not guarantee it, as on NFS). A line that a writer who died mid-write left
    without its newline is cut off first: its transaction never committed (the module's docstring).
    """
    payload = b"".join(lines)
    if not payload:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        _cut_torn_line(descriptor)
        written = 0
        while written < len(payload):
            written += os.write(descriptor, payload[written:])
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


TORN_LINE_SEARCH = 1 << 16
"""How far back from the end a torn line's start is looked for: far more than one record takes."""


def _cut_torn_line(descriptor: int) -> None:
    size = os.fstat(descriptor).st_size
    if not size or os.pread(descriptor, 1, size - 1) == b"\n":
        return
    start = max(0, size - TORN_LINE_SEARCH)
    tail = os.pread(descriptor, size - start, start)
    os.ftruncate(descriptor, start + tail.rfind(b"\n") + 1)
