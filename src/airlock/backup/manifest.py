"""The manifest of a backup archive: what the archive holds, with the digest of every member, signed.

The manifest is JSON. Its SHA-256 is signed with the deployment's audit key (Ed25519) as a C2SP signed note
under the audit log's origin (:mod:`airlock.audit.note`), whose text is::

    airlock-backup/1
    <archive id>
    manifest sha256 <hex digest>

so the auditors' copy of ``audit.pub`` verifies an archive as it verifies the log.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from airlock.audit.note import NoteError, Verifier, open_note
from airlock.backup.errors import ArchiveError

FORMAT = "airlock-backup/1"
ROOT = "airlock-backup/"
"""Every member's name starts here, so that unpacking with ``tar`` makes one folder."""
DATABASE_MEMBER = ROOT + "database.enc"
LEDGER_MEMBER = ROOT + "shred-ledger.enc"
BLOBS_PREFIX = ROOT + "blobs/"
MANIFEST_MEMBER = ROOT + "manifest.json"
SIGNATURE_MEMBER = ROOT + "manifest.sig"


class Member(BaseModel):
    name: str
    size: int
    sha256: str


class Manifest(BaseModel):
    format: Literal["airlock-backup/1"]
    archive_id: str
    created_at: datetime
    airlock_version: str
    audit_origin: str
    audit_verifier_key: str
    master_key_id: str
    backend: Literal["sqlite", "postgresql"]
    schema_revision: str | None
    audit_size: int
    """How many audit entries the backed-up log holds."""
    audit_head: str
    archive_key: str
    """The archive key, wrapped by the master key (base64): the only key material in the archive, and wrapped."""
    members: list[Member]
    blobs_shredded_during_backup: list[str]
    """Blobs the database snapshot names whose submission was shredded before they could be copied."""
    ledger_records: int

    def encoded(self) -> bytes:
        return self.model_dump_json(indent=1).encode() + b"\n"

    @property
    def blob_addresses(self) -> list[str]:
        return [member.name.removeprefix(BLOBS_PREFIX).replace("/", "") for member in self.blob_members]

    @property
    def blob_members(self) -> list[Member]:
        return [member for member in self.members if member.name.startswith(BLOBS_PREFIX)]


def statement(archive_id: str, manifest: bytes) -> str:
    """The text the audit key signs for an archive."""
    return f"{FORMAT}\n{archive_id}\nmanifest sha256 {hashlib.sha256(manifest).hexdigest()}\n"


def parse_manifest(data: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as error:
        raise ArchiveError(
            "The archive's manifest is not an Airlock backup manifest (damaged, or from an unknown version).",
            "Use an archive made by `airlock backup create`; nothing was restored.",
        ) from error


def check_signature(manifest: Manifest, data: bytes, note: str, verifier: Verifier, key_source: str) -> None:
    """Fail unless ``note`` is ``verifier``'s signature over exactly ``data``, the manifest of this archive."""
    try:
        text = open_note(note, verifier)
    except NoteError as error:
        raise ArchiveError(
            f"The archive's manifest is not signed by {key_source} ({error}): it was altered, or comes from "
            "another deployment.",
            "Use an archive of this deployment that verifies; nothing was restored.",
        ) from error
    if text != statement(manifest.archive_id, data):
        raise ArchiveError(
            "The archive's manifest does not match its signature: it was altered after the backup.",
            "Use an archive that verifies; nothing was restored.",
        )
