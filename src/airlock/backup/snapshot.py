"""A consistent snapshot of a serving deployment's database, and the facts the archive needs from that snapshot.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies the database in one step inside a
  read transaction; in write-ahead-log mode writers carry on meanwhile, and the copy is the database as of
  that transaction's start.
* PostgreSQL: a ``REPEATABLE READ`` transaction exports its snapshot (``pg_export_snapshot``), reads the facts,
  and ``pg_dump --snapshot`` dumps exactly what that transaction sees, while the portal goes on writing.

The facts (which blobs the vault index names, the audit log's size and head, the master key's id) are read
from the same snapshot as the dump, so the archive's blobs are exactly those its database names.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, select, text

from airlock.audit.models import AuditCheckpoint, AuditHead
from airlock.backup.errors import BackupError
from airlock.backup.postgres import client_programs, server_major
from airlock.config import Settings
from airlock.store import Database
from airlock.vault.models import Blob, VaultState

SQLITE_COPY = "airlock.db"
POSTGRES_DUMP = "database.dump"


@dataclass(frozen=True)
class Snapshot:
    database_file: Path
    backend: str
    schema_revision: str | None
    audit_origin: str
    audit_verifier_key: str
    audit_size: int
    audit_head: str
    latest_checkpoint: str | None
    master_key_id: str
    blobs: list[str]
    """Addresses of the blobs whose content the snapshot holds (shredded ones are left out)."""


def take_snapshot(database: Database, settings: Settings, staging: Path) -> Snapshot:
    """Copy the database into ``staging`` (a private directory) and read the facts of that same copy."""
    if database.is_sqlite:
        copy = staging / SQLITE_COPY
        _sqlite_online_backup(settings.sqlite_path, copy)
        engine = create_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as connection:
                return _facts(connection, copy, "sqlite")
        finally:
            engine.dispose()
    dump = staging / POSTGRES_DUMP
    with database.engine.connect() as connection:
        programs = client_programs(settings, server_major(connection))
    repeatable = database.engine.connect().execution_options(isolation_level="REPEATABLE READ")
    with repeatable, repeatable.begin():
        snapshot_id = repeatable.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
        facts = _facts(repeatable, dump, "postgresql")
        # The exporting transaction stays open until pg_dump has taken the snapshot over and finished.
        programs.run(
            "pg_dump",
            ["--format=custom", "--no-password", f"--snapshot={snapshot_id}", "--file", str(dump)],
            settings.resolved_database_url,
            failure="Dumping the PostgreSQL database failed, so no backup was made",
            hint="Check that the database is reachable and pg_dump suits its server (AIRLOCK_POSTGRES_BIN).",
        )
    return facts


def _sqlite_online_backup(source_path: Path, copy: Path) -> None:
    try:
        source = sqlite3.connect(source_path, timeout=30)
        try:
            target = sqlite3.connect(copy)
            try:
                source.backup(target)  # all pages in one step: one read transaction, a consistent copy
            finally:
                target.close()
        finally:
            source.close()
    except sqlite3.Error as error:
        raise BackupError(
            f"Copying the SQLite database {source_path} failed ({error}), so no backup was made.",
            "Check that the database is readable and the disk has room, then try again.",
        ) from error


def _facts(connection: Connection, database_file: Path, backend: str) -> Snapshot:
    head = connection.execute(select(AuditHead).where(AuditHead.id == 1)).one_or_none()
    state = connection.execute(select(VaultState.master_key_id).where(VaultState.id == 1)).scalar_one_or_none()
    if head is None or state is None:
        raise BackupError(
            "The deployment has no audit log or no vault yet, so there is nothing to back up.",
            "Run `airlock init` first.",
        )
    blobs = list(connection.execute(select(Blob.address).where(Blob.shredded_at.is_(None)).order_by(Blob.id)).scalars())
    checkpoint = connection.execute(
        select(AuditCheckpoint.note).order_by(AuditCheckpoint.size.desc()).limit(1)
    ).scalar_one_or_none()
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    return Snapshot(
        database_file=database_file,
        backend=backend,
        schema_revision=revision,
        audit_origin=head.origin,
        audit_verifier_key=head.verifier_key,
        audit_size=head.size,
        audit_head=head.head_hash,
        latest_checkpoint=checkpoint,
        master_key_id=state,
        blobs=blobs,
    )
