"""The database: engine, transactions and schema upgrades at start.

SQLite under ``$AIRLOCK_HOME`` is the default; ``AIRLOCK_DATABASE_URL`` selects PostgreSQL. Either way,
:func:`open_database` brings the schema up to date with Alembic before anything else touches it, so an
upgraded Airlock never runs against an old schema.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from airlock.errors import ConflictError, StoreError

if TYPE_CHECKING:
    from alembic.config import Config

HEAD_REVISION = "0010_clearinghouse"
"""The newest migration (tests/test_store.py checks it against Alembic's own answer). Opening a database already
there costs one query; Alembic, and its reading of every migration script, is loaded only to upgrade one."""

MIGRATIONS_DIRECTORY = Path(__file__).parent / "migrations"


class Database:
    """One database, with a session factory whose transactions commit or roll back as a whole."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(engine.execution_options(airlock_read_only=True), expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back entirely on any error.

        On SQLite, writing transactions take the database's write lock when they begin (``BEGIN
        IMMEDIATE``), so concurrent writers queue instead of failing half-way; ``read_only`` ones do not.
        Callables appended to ``session.info["after_commit"]`` run once the transaction has committed, those
        in ``session.info["on_rollback"]`` if it rolls back (to remove files written for it, say).
        A concurrent change of the same review (detected by its version counter) becomes a
        :class:`ConflictError`, so the person can simply run the command again.
        """
        session = (self._read_sessions if read_only else self._sessions)()
        after_commit: list[Callable[[], None]] = []
        on_rollback: list[Callable[[], None]] = []
        session.info["after_commit"] = after_commit
        session.info["on_rollback"] = on_rollback
        try:
            try:
                with session.begin():
                    yield session
            except BaseException:
                for action in on_rollback:
                    action()
                raise
        except StaleDataError as error:
            raise ConflictError(
                "The record changed while this operation was running, so nothing was saved.",
                "Run the command again.",
            ) from error
        except IntegrityError as error:
            raise ConflictError(
                "Another operation created the same record at the same moment, so nothing was saved.",
                "Run the command again.",
            ) from error
        except (OperationalError, DataError) as error:
            raise StoreError(
                f"The database failed during the operation ({_first_line(error)}); nothing was saved.",
                "Check that the database is reachable and not full, then run the command again.",
            ) from error
        finally:
            session.close()
        for action in after_commit:
            action()

    def purge_freed_pages(self) -> bool:
        """Make deleted rows unrecoverable from the database files, as far as the backend allows.

        SQLite overwrites deleted content (``secure_delete``) and this truncates the write-ahead log,
        which may still hold old page images. PostgreSQL's VACUUM makes the space of deleted rows
        reusable; until it is reused the old bytes may remain on disk (see docs/confidentiality.md).
        Returns False when the purge could not finish (another process was reading); try again later.
        """
        if self.is_sqlite:
            # Outside any transaction: SQLite refuses to checkpoint inside one. The first column of the
            # result says whether a reader kept the log from being truncated completely.
            raw = self.engine.raw_connection()
            try:
                busy = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                raw.close()
            return not busy
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM vault_data_keys, vault_blobs, vault_organisation_keys, vault_secrets")
        return True

    def schema_revision(self) -> str | None:
        """The Alembic revision the database is at, or None for an empty database."""
        from sqlalchemy import inspect

        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def upgrade(self) -> None:
        """Bring the schema to the newest revision; a no-op when it is already there."""
        current = self.schema_revision()
        if current == HEAD_REVISION:
            return
        from alembic import command
        from alembic.util import CommandError

        try:
            known = current is None or (head_revision() is not None and _is_known(current))
        except CommandError:
            known = False
        if not known:
            raise StoreError(
                f"The database's schema is at revision {current}, which this version of Airlock does not know "
                f"(it knows revisions up to {HEAD_REVISION}); nothing was changed.",
                "Open it with the version of Airlock that made it, or restore a backup made by this one.",
            )

        with self.engine.connect() as connection:
            # SQLite rebuilds a table to alter it; with foreign keys enforced, dropping the old copy would
            # fail. They are switched off for the migration (only possible outside a transaction) and
            # every reference is checked before it commits.
            driver = connection.connection.driver_connection if self.is_sqlite else None
            if driver is not None:
                driver.execute("PRAGMA foreign_keys = OFF")
            try:
                with connection.begin():
                    config = alembic_config()
                    config.attributes["connection"] = connection
                    command.upgrade(config, "head")
                    if driver is not None and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                        raise StoreError(
                            "Upgrading the database schema would break references between records; "
                            "nothing was changed.",
                            "Restore the database from a backup and report this.",
                        )
            finally:
                if driver is not None:
                    driver.execute("PRAGMA foreign_keys = ON")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    """Alembic's configuration for Airlock's migrations, without any ini file."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    return config


def head_revision() -> str | None:
    """The newest migration, as Alembic finds it by reading them all."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _is_known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None


def create_database_engine(url: str) -> Engine:
    """An engine for ``url`` with the settings Airlock relies on (foreign keys, WAL and a busy timeout on SQLite)."""
    parsed = make_url(url)
    engine_options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            _create_private_file(Path(parsed.database))
        engine_options["connect_args"] = {"timeout": 30}
    else:
        engine_options["pool_pre_ping"] = True
    engine = create_engine(url, **engine_options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _create_private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (its journal files inherit the mode), in a
    directory of the same kind: review metadata (unreleased model names, dates) is not for other users."""
    if path.exists():
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when and how transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 30000")
    # Deleted content (shredded keys) is overwritten with zeros instead of lingering in free pages.
    cursor.execute("PRAGMA secure_delete = ON")
    cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    read_only = connection.get_execution_options().get("airlock_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def open_database(url: str, *, upgrade: bool = True) -> Database:
    """Connect to ``url`` and, unless told otherwise, upgrade its schema to the newest revision."""
    try:
        database = Database(create_database_engine(url))
        if upgrade:
            database.upgrade()
    except SQLAlchemyError as error:
        safe_url = make_url(url).render_as_string(hide_password=True)
        raise StoreError(
            f"Cannot open the database at {safe_url} ({_first_line(error)}).",
            "Check AIRLOCK_DATABASE_URL (or AIRLOCK_HOME for SQLite) and that the server is running.",
        ) from error
    return database


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
