"""``airlock backup restore``: an archive restored into an empty home, and every shredding since replayed.

The order is what keeps the promises:

1. Everything that needs no writing is checked first: the archive's signature, that the master key is the one
   the archive's keys are wrapped under (its archive key unwraps), every shred ledger line's signature, and
   that the home (and, for PostgreSQL, the database) is empty. A failure here changes nothing at all.
2. A marker file (``$AIRLOCK_HOME/restore-unfinished``) is written; while it exists, Airlock refuses to open
   the deployment, so a restore that dies half-way never serves a database whose shreddings are undone.
3. The archive is unpacked into a private folder of the home, each member checked against its digest; then
   the database is put in place (SQLite: the file; PostgreSQL: ``pg_restore`` in one transaction), the blobs
   and the pinned audit key beside it.
4. The restored audit log must verify, and must be the one the archive's manifest describes.
5. The shred ledger is replayed: every submission that any verified ledger line names (the archive's own copy,
   the configured ledger, those given) has its data key destroyed again, in one audited operation, and the
   database files are purged as after any shredding. The ledger lines are carried into the deployment's
   configured ledger, so that a later restore of an even older archive replays them too.
6. The marker goes. Should anything in 3 to 5 fail, everything written is removed again (the database too),
   and the home is left as it was.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import inspect, select
from sqlalchemy.engine import make_url

from airlock.app import Airlock, master_key_provider
from airlock.audit.ledger import ShredRecord, append_lines, parse_ledger, stored_line
from airlock.audit.note import Verifier, parse_verifier_key
from airlock.backup.archive import READ_AHEAD_BYTES, ArchiveReader, BackgroundWriter, start_writeback
from airlock.backup.errors import ArchiveError, RestoreTargetError
from airlock.backup.manifest import BLOBS_PREFIX, DATABASE_MEMBER, LEDGER_MEMBER, Manifest, Member
from airlock.backup.postgres import client_programs, server_major
from airlock.backup.verify import checked_archive
from airlock.clock import Clock, SystemClock
from airlock.config import Settings
from airlock.errors import StoreError
from airlock.review.models import Review, Submission
from airlock.review.reviews import destroy_content
from airlock.store import Database, open_database
from airlock.vault import MasterKeyError
from airlock.vault.archive import decrypt_member, open_archive_key

FLUSHING_THREADS = 8
"""Files flushed to disk at once at the end of unpacking (threads that wait on the disk, not on a core)."""
PG_RESTORE_OPTIONS = ["--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges", "--no-password"]
"""All or nothing, stopping at the first error; the objects owned by whoever restores, whatever the old owner."""


class ReplayedShredding(BaseModel):
    submission: str
    review: str
    shredded_at: str
    """When the content was destroyed the first time, in the deployment's lost history."""
    reason: str


class RestoreView(BaseModel):
    archive: str
    archive_id: str
    created_at: datetime
    home: str
    database: str
    blobs: int
    audit_entries_at_backup: int
    ledger_records: int
    replayed: list[ReplayedShredding]
    """Submissions whose content the archive still held, destroyed again."""
    already_destroyed: int
    """Ledger records for content the archive already held destroyed."""
    not_in_backup: int
    """Ledger records for submissions made after the backup: nothing of theirs came back."""


def restore_archive(
    settings: Settings,
    archive: Path,
    *,
    ledgers: Iterable[Path] = (),
    key_file: Path | None = None,
    clock: Clock | None = None,
) -> RestoreView:
    """Restore ``archive`` into the empty home (and database) that ``settings`` name; see the module's docstring."""
    with checked_archive(settings, archive, key_file) as (reader, manifest, trusted):
        if trusted.verifier_key.strip() != manifest.audit_verifier_key.strip():
            raise ArchiveError(
                "The archive's manifest names another audit key than the one that signed it: it was altered.",
                "Use another archive; nothing was restored.",
            )
        verifier = parse_verifier_key(manifest.audit_verifier_key)
        archive_key = _archive_key(settings, manifest)
        records = _given_ledgers(settings, list(ledgers), verifier, manifest.audit_origin)
        _require_matching_backend(settings, manifest)
        target = _EmptyTarget.check(settings)
        restoration = _Restoration(settings, target, manifest, reader, archive_key, verifier)
        return restoration.run(records, clock or SystemClock())


def _archive_key(settings: Settings, manifest: Manifest) -> bytes:
    provider = master_key_provider(settings)
    if provider.key_id != manifest.master_key_id:
        raise MasterKeyError(
            f"The master key from {provider.description} (id {provider.key_id}) is not the one this archive's keys "
            f"are wrapped under (id {manifest.master_key_id}).",
            "Use the master key the deployment had when the archive was made (`airlock keys recover` rebuilds it "
            "from its shares); nothing was restored.",
        )
    try:
        wrapped = base64.b64decode(manifest.archive_key, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ArchiveError("The archive's wrapped archive key is malformed.", "Use another archive.") from error
    return open_archive_key(provider, wrapped, manifest.archive_id, manifest.audit_verifier_key)


def _given_ledgers(settings: Settings, ledgers: list[Path], verifier: Verifier, origin: str) -> list[ShredRecord]:
    """The verified records of every ledger given, and of the configured one if it exists (it may be off the host)."""
    sources = list(ledgers)
    configured = settings.resolved_shred_ledger
    if configured.exists() and all(configured.resolve() != path.resolve() for path in ledgers):
        sources.append(configured)
    records: list[ShredRecord] = []
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ArchiveError(
                f"Cannot read the shred ledger {path} ({getattr(error, 'strerror', None) or error}).",
                "Give a readable copy of the ledger; nothing was restored.",
            ) from error
        records += parse_ledger(text, verifier, origin, str(path))
    return records


def _require_matching_backend(settings: Settings, manifest: Manifest) -> None:
    configured = "sqlite" if settings.uses_sqlite else "postgresql"
    if manifest.backend != configured:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise RestoreTargetError(
            f"The archive holds a {names[manifest.backend]} database, but this deployment is configured for "
            f"{names[configured]}.",
            "Set AIRLOCK_DATABASE_URL to a database of the archive's kind (unset it for SQLite); nothing was restored.",
        )


@dataclass
class _EmptyTarget:
    """The home and database a restore may fill: nothing in them but, at most, the master key file."""

    home: Path
    home_existed: bool
    database: Database | None
    """PostgreSQL's (empty) database, opened without touching its schema; None for SQLite."""

    @classmethod
    def check(cls, settings: Settings) -> _EmptyTarget:
        home = settings.home.resolve()
        found = []
        if home.exists():
            if not home.is_dir():
                raise RestoreTargetError(f"{home} is not a directory.", "Name an empty directory as AIRLOCK_HOME.")
            master_key = settings.resolved_master_key_file.resolve()
            for entry in sorted(home.iterdir()):
                if entry.name == "keys" and all(child.resolve() == master_key for child in entry.iterdir()):
                    continue
                found.append(entry.name)
        database = None
        if settings.uses_sqlite:
            sqlite = settings.sqlite_path
            found += [
                path.name for path in (sqlite, Path(f"{sqlite}-wal")) if path.exists() and not path.is_relative_to(home)
            ]
        else:
            database = open_database(settings.resolved_database_url, upgrade=False)
            try:
                with database.engine.connect() as connection:
                    tables = inspect(connection).get_table_names()
            except Exception as error:
                database.dispose()
                raise StoreError(f"Cannot reach the database to restore into ({error}).", "Check it runs.") from error
            if tables:
                found.append(f"the database {_safe(settings.resolved_database_url)}, which holds tables")
        if found:
            if database is not None:
                database.dispose()
            raise RestoreTargetError(
                f"The restore target is not empty ({', '.join(found[:6])}{', ...' if len(found) > 6 else ''}); "
                "a restore never overwrites a deployment.",
                "Restore into an empty home (and an empty database), holding at most the master key; nothing "
                "was changed.",
            )
        return cls(home, home.exists(), database)


@dataclass
class _Restoration:
    settings: Settings
    target: _EmptyTarget
    manifest: Manifest
    reader: ArchiveReader
    archive_key: bytes
    verifier: Verifier
    airlock: Airlock | None = None
    database_restored: bool = False
    kept: set[Path] = field(default_factory=set)

    def run(self, records: list[ShredRecord], clock: Clock) -> RestoreView:
        settings, home = self.settings, self.target.home
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.kept = set(home.iterdir())
        marker = settings.restore_marker_file
        _write_durably(marker, b"A restore is filling this home; Airlock does not open it until the restore ends.\n")
        staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=home))
        try:
            records = records + self._unpack(staging)
            self._install(staging)
            airlock = self.airlock = Airlock(
                settings=settings, database=open_database(settings.resolved_database_url), clock=clock
            )
            self._check_restored_log(airlock)
            _carry_forward(settings.resolved_shred_ledger, records)
            replayed, already, absent = _replay(airlock, records, self.manifest)
            airlock.vault.finish_shredding(airlock.database)
            view = RestoreView(
                archive=str(self.reader.path),
                archive_id=self.manifest.archive_id,
                created_at=self.manifest.created_at,
                home=str(home),
                database=_safe(settings.resolved_database_url),
                blobs=len(self.manifest.blob_members),
                audit_entries_at_backup=self.manifest.audit_size,
                ledger_records=len({record.key for record in records}),
                replayed=replayed,
                already_destroyed=already,
                not_in_backup=absent,
            )
        except BaseException:
            self._undo()
            marker.unlink(missing_ok=True)
            if not self.target.home_existed:
                shutil.rmtree(home, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            if self.airlock is not None:
                self.airlock.close()
            if self.target.database is not None:
                self.target.database.dispose()
        marker.unlink()
        _sync_directory(home)
        return view

    def _unpack(self, staging: Path) -> list[ShredRecord]:
        """Every member into ``staging``, checked against its digest; returns the archive's ledger records."""
        manifest, reader = self.manifest, self.reader
        members = {member.name: member for member in manifest.members}
        encrypted = staging / "database.enc"
        _write_member(reader, _required(members, DATABASE_MEMBER), encrypted)
        plain = staging / ("airlock.db" if manifest.backend == "sqlite" else "database.dump")
        with encrypted.open("rb") as source, _private_file(plain) as descriptor:
            writer = BackgroundWriter(descriptor)
            try:
                for chunk in decrypt_member(self.archive_key, manifest.archive_id, DATABASE_MEMBER, source):
                    writer.write(chunk)
            finally:
                writer.close()
            os.fsync(descriptor)
        encrypted.unlink()
        with reader.parallel_checks() as checks:
            for member in manifest.blob_members:
                destination = staging / "blobs" / member.name.removeprefix(BLOBS_PREFIX)
                if member.size <= READ_AHEAD_BYTES:
                    checks.submit(member, reader.member_bytes(member), partial(_write_file, destination))
                else:
                    _write_member(reader, member, destination)
        _flush_tree(staging / "blobs")
        ledger = b"".join(reader.member_chunks(_required(members, LEDGER_MEMBER)))
        text = b"".join(
            decrypt_member(self.archive_key, manifest.archive_id, LEDGER_MEMBER, io.BytesIO(ledger))
        ).decode("utf-8")
        return parse_ledger(text, self.verifier, manifest.audit_origin, f"in the archive {reader.path}")

    def _install(self, staging: Path) -> None:
        settings = self.settings
        if self.manifest.backend == "sqlite":
            sqlite = settings.sqlite_path
            sqlite.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.replace(staging / "airlock.db", sqlite)
            self.database_restored = True
        else:
            assert self.target.database is not None
            with self.target.database.engine.connect() as connection:
                programs = client_programs(settings, server_major(connection))
            self.database_restored = True  # from here on, an undo empties the database again
            programs.run(
                "pg_restore",
                [*PG_RESTORE_OPTIONS, str(staging / "database.dump")],
                settings.resolved_database_url,
                failure="Restoring the PostgreSQL database failed, so nothing was restored",
                hint="Check that the database is reachable, empty, and that pg_restore suits its server.",
            )
        blobs = staging / "blobs"
        blobs.mkdir(exist_ok=True, mode=0o700)
        os.replace(blobs, settings.blob_directory)
        key_file = settings.audit_key_file
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_durably(key_file, (self.manifest.audit_verifier_key.strip() + "\n").encode())

    def _check_restored_log(self, airlock: Airlock) -> None:
        """The restored database must be the archive's: its master key, and an intact log of the recorded size."""
        with airlock.database.transaction(read_only=True) as session:
            airlock.vault.check_master_key(session)
            verification = airlock.audit.verify(session, self.manifest.audit_verifier_key)
            head = airlock.audit.verifier_key(session)
        if not verification.ok:
            raise ArchiveError(
                f"The archive's audit log does not verify: {verification.problems[0]}",
                "Use another archive; nothing was restored.",
            )
        if verification.entries != self.manifest.audit_size or head.strip() != self.manifest.audit_verifier_key.strip():
            raise ArchiveError(
                "The archive's database is not the one its manifest describes (another audit log).",
                "Use another archive; nothing was restored.",
            )

    def _undo(self) -> None:
        """Remove everything the restore wrote, the database included: the home is left as it was."""
        if self.airlock is not None:
            self.airlock.close()
            self.airlock = None
        settings = self.settings
        if self.database_restored:
            if self.manifest.backend == "sqlite":
                for suffix in ("", "-wal", "-shm", "-journal"):
                    Path(f"{settings.sqlite_path}{suffix}").unlink(missing_ok=True)
            elif self.target.database is not None:
                with self.target.database.engine.begin() as connection:
                    for table in inspect(connection).get_table_names():
                        connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
        marker = settings.restore_marker_file
        master_key = settings.resolved_master_key_file.resolve()
        for entry in self.target.home.iterdir():
            if entry == marker:
                continue
            if entry.name == "keys" and entry.is_dir() and not entry.is_symlink():
                for child in entry.iterdir():  # the pinned audit key goes, the master key stays
                    if child.resolve() != master_key:
                        child.unlink()
                if entry not in self.kept and not any(entry.iterdir()):
                    entry.rmdir()
            elif entry in self.kept:
                continue
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _replay(
    airlock: Airlock, records: list[ShredRecord], manifest: Manifest
) -> tuple[list[ReplayedShredding], int, int]:
    """Destroy again the content of every submission a ledger record names, in one audited operation."""
    first: dict[str, ShredRecord] = {}
    for record in sorted(records, key=lambda record: record.at):
        if record.submission is not None:
            first.setdefault(record.submission, record)
    replayed: list[ReplayedShredding] = []
    already = absent = 0
    operator = airlock.directory.principal()
    context = airlock.context
    with context.operation(operator, "backup.restore", f"archive:{manifest.archive_id}") as session:
        for public_id, record in first.items():
            submission = session.scalar(select(Submission).where(Submission.public_id == public_id))
            if submission is None:
                absent += 1
                continue
            if submission.content_destroyed_at is not None:
                already += 1
                continue
            review = session.scalars(select(Review).where(Review.submission_id == submission.id)).one()
            reason = (
                f"Destroyed again by the restore of a backup made before it was first destroyed on {record.at[:10]} "
                f"({record.reason or 'no reason recorded'})"
            )
            destroy_content(context, session, review, operator, reason)
            replayed.append(
                ReplayedShredding(
                    submission=public_id, review=review.public_id, shredded_at=record.at, reason=record.reason
                )
            )
        airlock.audit.append(
            session,
            actor=operator.email,
            action="backup.restore",
            target=f"archive:{manifest.archive_id}",
            details={
                "made_at": manifest.created_at.isoformat(),
                "audit_entries_at_backup": manifest.audit_size,
                "ledger_records": len({record.key for record in records}),
                "destroyed_again": {
                    item.submission: {"first_destroyed_at": item.shredded_at, "audit_entry": first[item.submission].seq}
                    for item in replayed
                },
            },
        )
    return replayed, already, absent


def _carry_forward(ledger: Path, records: list[ShredRecord]) -> None:
    """Append to the deployment's ledger the verified records it does not hold yet."""
    present: set[tuple[str, int, str]] = set()
    if ledger.exists():
        for line in ledger.read_text(encoding="utf-8").splitlines():
            try:
                fields = json.loads(line)
                present.add((fields["origin"], int(fields["entry"]["seq"]), fields["entry_hash"]))
            except (ValueError, KeyError, TypeError):
                continue
    missing: dict[tuple[str, int, str], bytes] = {}
    for record in records:
        if record.key not in present:
            missing.setdefault(record.key, stored_line(record))
    try:
        append_lines(ledger, missing.values())
    except OSError as error:
        raise StoreError(
            f"The shred ledger {ledger} cannot be written ({error.strerror}), so nothing was restored.",
            "Check that its storage (AIRLOCK_SHRED_LEDGER) is mounted and writable, then restore again.",
        ) from error


def _required(members: dict[str, Member], name: str) -> Member:
    member = members.get(name)
    if member is None:
        raise ArchiveError(f"The archive's manifest lists no {name}.", "Use another archive; nothing was restored.")
    return member


def _write_file(destination: Path, data: bytes) -> None:
    """Write a checked member out and start its writeback; :func:`_flush_tree` waits for it with the others at the
    end."""
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _private_file(destination) as descriptor:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
        start_writeback(descriptor)


def _flush_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk, several at once. Flushing each file as it is written
    would make the disk wait for the next; by now the kernel has written most of them back already."""
    if not root.exists():
        return
    paths = [root, *root.rglob("*")]
    with ThreadPoolExecutor(FLUSHING_THREADS, thread_name_prefix="airlock-restore-flush") as pool:
        list(pool.map(_flush, paths))


def _flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_member(reader: ArchiveReader, member: Member, destination: Path) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _private_file(destination) as descriptor:
        writer = BackgroundWriter(descriptor)
        try:
            for chunk in reader.member_chunks(member):
                writer.write(chunk)
        finally:
            writer.close()
        os.fsync(descriptor)


@contextmanager
def _private_file(path: Path) -> Iterator[int]:
    """A new file readable by its owner only, as a descriptor."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        yield descriptor
    finally:
        os.close(descriptor)


def _write_durably(path: Path, data: bytes) -> None:
    with _private_file(path) as descriptor:
        os.write(descriptor, data)
        os.fsync(descriptor)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
