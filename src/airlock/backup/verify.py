"""``airlock backup verify``: an archive's signature, and the digest of every member, checked without any secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel

from airlock.audit.note import NoteError, parse_verifier_key
from airlock.backup.archive import READ_AHEAD_BYTES, ArchiveReader, opened_archive
from airlock.backup.errors import ArchiveError
from airlock.backup.manifest import (
    BLOBS_PREFIX,
    DATABASE_MEMBER,
    LEDGER_MEMBER,
    MANIFEST_MEMBER,
    SIGNATURE_MEMBER,
    Manifest,
    check_signature,
    parse_manifest,
)
from airlock.config import Settings
from airlock.errors import ConfigurationError

_BLOB_MEMBER = re.compile(re.escape(BLOBS_PREFIX) + r"[0-9a-f]{2}/[0-9a-f]{62}")
"""A blob's member name: its address, split as the blob store splits it. Nothing else is ever written to disk."""


class ArchiveView(BaseModel):
    archive: str
    archive_id: str
    created_at: datetime
    backend: str
    schema_revision: str | None
    audit_origin: str
    audit_entries: int
    master_key_id: str
    """The master key the archive's keys are wrapped under: the one a restore needs."""
    blobs: int
    bytes: int
    signed_by: str
    """Which key the signature was checked with."""


@dataclass(frozen=True)
class TrustedKey:
    verifier_key: str
    source: str
    """In words, for messages: "the key in auditors/audit.pub"."""


def trusted_key(settings: Settings, key_file: Path | None, manifest: Manifest) -> TrustedKey:
    """The audit key an archive must be signed with: the one given, else the deployment's pinned key, else (an
    empty home, where a restore goes) the one the archive carries, which the master key then vouches for."""
    if key_file is not None:
        return TrustedKey(_read_key(key_file), f"the key in {key_file}")
    pinned = settings.audit_key_file
    if pinned.exists():
        return TrustedKey(_read_key(pinned), f"this deployment's audit key ({pinned})")
    return TrustedKey(manifest.audit_verifier_key, "the audit key the archive names (give --key to check whose it is)")


def _read_key(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(
            f"Cannot read the audit key {path}.", "Pass --key with the key printed by `airlock init` (audit.pub)."
        ) from error


@contextmanager
def checked_archive(
    settings: Settings, path: Path, key_file: Path | None
) -> Iterator[tuple[ArchiveReader, Manifest, TrustedKey]]:
    """The archive opened, its manifest read and its signature checked (members are checked as they are read)."""
    with opened_archive(path) as reader:
        manifest = parse_manifest(reader.manifest)
        trusted = trusted_key(settings, key_file, manifest)
        try:
            verifier = parse_verifier_key(trusted.verifier_key)
        except NoteError as error:
            raise ConfigurationError(
                f"{trusted.source[0].upper()}{trusted.source[1:]} is not an audit key ({error}).",
                "Pass --key with the key printed by `airlock init` (audit.pub).",
            ) from error
        check_signature(manifest, reader.manifest, reader.signature, verifier, trusted.source)
        _check_member_list(reader, manifest)
        yield reader, manifest, trusted


def _check_member_list(reader: ArchiveReader, manifest: Manifest) -> None:
    listed = {member.name for member in manifest.members}
    present = set(reader.members) - {MANIFEST_MEMBER, SIGNATURE_MEMBER}
    if len(listed) != len(manifest.members):
        raise ArchiveError(f"The archive {reader.path}'s manifest lists a member twice.", "Use another archive.")
    for name in sorted(present - listed):
        raise ArchiveError(
            f"The archive {reader.path} holds {name}, which its signed manifest does not list: it was altered.",
            "Use another archive; nothing was restored.",
        )
    for name in sorted(listed - present):
        raise ArchiveError(
            f"The archive {reader.path} lacks {name}, which its manifest lists: it was truncated or altered.",
            "Use another archive; nothing was restored.",
        )
    for member in manifest.members:
        if member.name not in (DATABASE_MEMBER, LEDGER_MEMBER) and not _BLOB_MEMBER.fullmatch(member.name):
            raise ArchiveError(
                f"The archive {reader.path}'s manifest lists {member.name!r}, which is no member of a backup.",
                "Use another archive; nothing was restored.",
            )
    for member in manifest.blob_members:
        address = member.name.removeprefix(BLOBS_PREFIX).replace("/", "")
        if member.sha256 != address:
            raise ArchiveError(
                f"The archive {reader.path}'s manifest records a digest for {member.name} other than its name.",
                "Use another archive; nothing was restored.",
            )


def verify_archive(settings: Settings, path: Path, key_file: Path | None = None) -> ArchiveView:
    """Check the archive's signature and read every member against its digest; an :class:`ArchiveError` if not."""
    with checked_archive(settings, path, key_file) as (reader, manifest, trusted):
        with reader.parallel_checks() as checks:
            for member in manifest.members:
                if member.size <= READ_AHEAD_BYTES:
                    checks.submit(member, reader.member_bytes(member))
                else:
                    for _ in reader.member_chunks(member):
                        pass
        total = sum(member.size for member in manifest.members)
        return ArchiveView(
            archive=str(path),
            archive_id=manifest.archive_id,
            created_at=manifest.created_at,
            backend=manifest.backend,
            schema_revision=manifest.schema_revision,
            audit_origin=manifest.audit_origin,
            audit_entries=manifest.audit_size,
            master_key_id=manifest.master_key_id,
            blobs=len(manifest.blob_members),
            bytes=total,
            signed_by=trusted.source,
        )
