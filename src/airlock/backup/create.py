"""``airlock backup create``: one archive of a serving deployment, consistent, signed, holding no key in plaintext."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import select

from airlock import __version__
from airlock.access import Action, Principal, authorize
from airlock.app import Airlock
from airlock.backup.archive import ArchiveWriter, read_ahead
from airlock.backup.errors import ArchiveError, BackupError
from airlock.backup.manifest import (
    BLOBS_PREFIX,
    DATABASE_MEMBER,
    FORMAT,
    LEDGER_MEMBER,
    MANIFEST_MEMBER,
    SIGNATURE_MEMBER,
    Manifest,
    Member,
    statement,
)
from airlock.backup.snapshot import Snapshot, take_snapshot
from airlock.vault.archive import encrypt_member, encrypted_member_size, new_archive_key
from airlock.vault.models import Blob
from airlock.vault.stream import read_segments


class BackupView(BaseModel):
    archive: str
    archive_id: str
    created_at: datetime
    size_bytes: int
    blobs: int
    blob_bytes: int
    database_bytes: int
    audit_entries: int
    ledger_records: int
    blobs_shredded_during_backup: int


def create_backup(airlock: Airlock, actor: Principal, destination: Path) -> BackupView:
    """Write an archive of the deployment to ``destination`` (a file, or a directory to put one in).

    The deployment goes on serving: the database is snapshotted (:mod:`airlock.backup.snapshot`), the blobs
    its snapshot names are copied, then a copy of the shred ledger. The archive is written under a temporary
    name and renamed once complete and flushed, so a failed backup leaves nothing that looks like an archive.
    """
    context = airlock.context
    with context.operation(actor, "backup.create") as session:
        authorize(actor, Action.MANAGE_KEYS, what="back up the deployment")
        origin = airlock.audit.origin(session)
    now = airlock.clock.now()
    target = _archive_path(destination, origin, now)
    home = airlock.settings.home.resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The database copy sits in the home, beside the database itself, and goes when the backup ends.
    staging = Path(tempfile.mkdtemp(prefix=".backup-", dir=home))
    partial = target.with_name(f".{target.name}.partial-{secrets.token_hex(4)}")
    try:
        snapshot = take_snapshot(airlock.database, airlock.settings, staging)
        provider = airlock.vault.provider
        if snapshot.master_key_id != provider.key_id:
            raise BackupError(
                "The master key changed while the backup was being made (a rotation), so no backup was made.",
                "Run the backup again.",
            )
        descriptor = _create_private(partial)
        writer = ArchiveWriter(descriptor)
        try:
            view = _write_archive(airlock, actor, writer, snapshot, target, now)
            writer.finish()
        except BaseException:
            writer.abandon()
            raise
        finally:
            os.close(descriptor)
        _rename_without_overwriting(partial, target)
        return view.model_copy(update={"size_bytes": target.stat().st_size})
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_archive(
    airlock: Airlock, actor: Principal, writer: ArchiveWriter, snapshot: Snapshot, target: Path, now: datetime
) -> BackupView:
    archive_id = secrets.token_hex(8)
    key, wrapped = new_archive_key(airlock.vault.provider, archive_id, snapshot.audit_verifier_key)
    members: list[Member] = []
    database_bytes = snapshot.database_file.stat().st_size
    with snapshot.database_file.open("rb") as source:
        chunks = encrypt_member(key, archive_id, DATABASE_MEMBER, read_segments(source))
        members.append(writer.add(DATABASE_MEMBER, encrypted_member_size(database_bytes), chunks))

    gone: list[str] = []
    blob_bytes = 0
    paths = {airlock.vault.blobs.path(address): address for address in snapshot.blobs}
    for read in read_ahead(paths):
        address, path = paths[read.path], read.path
        name = f"{BLOBS_PREFIX}{address[:2]}/{address[2:]}"
        if read.missing:
            _require_shredded_since(airlock, address, path)
            gone.append(address)
            continue
        if read.data is not None:
            member = writer.add(name, len(read.data), [read.data], read.sha256)
        else:
            try:
                source = path.open("rb")
            except FileNotFoundError:
                _require_shredded_since(airlock, address, path)
                gone.append(address)
                continue
            with source:
                member = writer.add_file(name, source, os.fstat(source.fileno()).st_size)
        if member.sha256 != address:
            raise BackupError(
                f"The blob {path} is damaged: its bytes no longer match its name, so no backup was made.",
                f"Put back an intact copy (`tar -xf ARCHIVE {name}` takes it out of an earlier archive), then "
                "back up again.",
            )
        members.append(member)
        blob_bytes += member.size

    # Read after the blobs: a shredding that removed a blob above is already in it (it is written ahead).
    ledger = _ledger_copy(airlock.settings.resolved_shred_ledger)
    members.append(
        writer.add(
            LEDGER_MEMBER,
            encrypted_member_size(len(ledger)),
            encrypt_member(key, archive_id, LEDGER_MEMBER, [ledger]),
        )
    )
    manifest = Manifest(
        format=FORMAT,
        archive_id=archive_id,
        created_at=now,
        airlock_version=__version__,
        audit_origin=snapshot.audit_origin,
        audit_verifier_key=snapshot.audit_verifier_key,
        master_key_id=snapshot.master_key_id,
        backend="sqlite" if snapshot.backend == "sqlite" else "postgresql",
        schema_revision=snapshot.schema_revision,
        audit_size=snapshot.audit_size,
        audit_head=snapshot.audit_head,
        archive_key=base64.b64encode(wrapped).decode(),
        members=members,
        blobs_shredded_during_backup=gone,
        ledger_records=ledger.count(b"\n"),
    )
    encoded = manifest.encoded()
    with airlock.context.operation(actor, "backup.create") as session:
        note = airlock.audit.sign_statement(session, statement(archive_id, encoded))
        airlock.audit.append(
            session,
            actor=actor.email,
            action="backup.create",
            target=f"archive:{archive_id}",
            details={
                "archive": target.name,
                "blobs": len(members) - 2,
                "audit_entries": snapshot.audit_size,
                "manifest_sha256": statement(archive_id, encoded).split()[-1],
            },
        )
    writer.add(MANIFEST_MEMBER, len(encoded), [encoded])
    signature = note.encode()
    writer.add(SIGNATURE_MEMBER, len(signature), [signature])
    return BackupView(
        archive=str(target),
        archive_id=archive_id,
        created_at=now,
        size_bytes=0,
        blobs=len(members) - 2,
        blob_bytes=blob_bytes,
        database_bytes=database_bytes,
        audit_entries=snapshot.audit_size,
        ledger_records=manifest.ledger_records,
        blobs_shredded_during_backup=len(gone),
    )


def _require_shredded_since(airlock: Airlock, address: str, path: Path) -> None:
    """A blob the snapshot names vanished: fine if its submission was shredded since, an error otherwise."""
    with airlock.database.transaction(read_only=True) as session:
        row = session.scalar(select(Blob).where(Blob.address == address))
    if row is None or row.shredded_at is not None:
        return
    raise BackupError(
        f"The blob {path}, which the vault's index names, is missing from the blob store, so no backup was made.",
        f"Put it back from an earlier archive (`tar -xf ARCHIVE {BLOBS_PREFIX}{address[:2]}/{address[2:]}`), "
        "then back up again.",
    )


def _ledger_copy(path: Path) -> bytes:
    """The shred ledger's complete lines as they are now (another process may be appending)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as error:
        raise BackupError(
            f"The shred ledger {path} cannot be read ({error.strerror}), so no backup was made.",
            "Check that its storage (AIRLOCK_SHRED_LEDGER) is mounted and readable.",
        ) from error
    return data[: data.rfind(b"\n") + 1]


def _archive_path(destination: Path, origin: str, now: datetime) -> Path:
    destination = destination.expanduser()
    if destination.is_dir():
        name = origin.split("/")[1] if origin.count("/") >= 2 else "airlock"
        return destination.resolve() / f"{name}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}.airlock-backup.tar"
    if destination.exists():
        raise ArchiveError(
            f"{destination} already exists; a backup never overwrites a file.",
            "Name a new file, or a directory to put the archive in.",
        )
    if not destination.parent.is_dir():
        raise ArchiveError(
            f"The directory {destination.parent} does not exist.", "Create it, or name another destination."
        )
    return destination.resolve()


def _create_private(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise BackupError(
            f"Cannot write the archive in {path.parent} ({error.strerror}).",
            "Check the destination's permissions and free space.",
        ) from error


def _rename_without_overwriting(partial: Path, target: Path) -> None:
    """Give the finished archive its name, unless something took that name meanwhile (a link never replaces)."""
    try:
        os.link(partial, target)
    except FileExistsError as error:
        raise ArchiveError(
            f"{target} appeared while the backup was being written; a backup never overwrites a file.",
            "Run the backup again.",
        ) from error
    partial.unlink()
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
