"""The data store: migrations from empty on SQLite and PostgreSQL, schema upgrades at start, UTC
timestamps, and transactions that save all or nothing."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from airlock.app import Airlock
from airlock.errors import ConflictError, StoreError
from airlock.review.models import Review
from airlock.store import Base, head_revision, open_database
from airlock.store.database import HEAD_REVISION, alembic_config
from tests.support.postgres import PostgresServer
from tests.support.world import World, database_snapshot, submit


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database with no tables at all."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('empty')}/airlock.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"empty_{uuid.uuid4().hex[:16]}")


def test_the_newest_migration_airlock_knows_of_is_alembics_head() -> None:
    """Opening a database compares its revision with HEAD_REVISION, so a new migration must update it."""
    assert head_revision() == HEAD_REVISION


def test_a_database_from_a_newer_airlock_is_refused_in_one_sentence_and_left_alone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/airlock.db"
    open_database(url).dispose()
    with sqlite3.connect(tmp_path / "airlock.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    before = (tmp_path / "airlock.db").read_bytes()
    with pytest.raises(StoreError, match="schema is at revision 0099_from_the_future, which this version of Airlock"):
        open_database(url)
    assert (tmp_path / "airlock.db").read_bytes() == before


def test_migrations_apply_from_empty_and_match_the_models(empty_database_url: str) -> None:
    database = open_database(empty_database_url)
    try:
        assert database.schema_revision() == head_revision()
        with database.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert set(Base.metadata.tables) <= tables
        assert differences == [], "the models and the migrations disagree: write a migration"
    finally:
        database.dispose()


def test_migrations_downgrade_to_empty_and_upgrade_again(empty_database_url: str) -> None:
    database = open_database(empty_database_url)
    try:
        with database.engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert database.schema_revision() is None
        database.upgrade()
        assert database.schema_revision() == head_revision()
    finally:
        database.dispose()


def test_opening_an_up_to_date_database_changes_nothing(airlock: Airlock, world: World) -> None:
    submit(airlock, world)
    before = database_snapshot(airlock.database)
    again = open_database(str(airlock.database.engine.url.render_as_string(hide_password=False)))
    again.dispose()
    assert database_snapshot(airlock.database) == before


def test_timestamps_come_back_as_the_same_instant_in_utc(airlock: Airlock, world: World) -> None:
    review = submit(airlock, world)
    offset = timezone(timedelta(hours=-5))
    moment = datetime(2026, 11, 20, 7, 30, tzinfo=offset)
    with airlock.database.transaction() as session:
        row = session.scalars(select(Review).where(Review.public_id == review.id)).one()
        row.state_changed_at = moment
    with airlock.database.transaction() as session:
        stored = session.scalars(select(Review.state_changed_at).where(Review.public_id == review.id)).one()
    assert stored == moment
    assert stored.tzinfo == UTC


def test_a_naive_timestamp_is_refused(airlock: Airlock, world: World) -> None:
    review = submit(airlock, world)
    with pytest.raises(Exception, match="naive datetime"), airlock.database.transaction() as session:
        row = session.scalars(select(Review).where(Review.public_id == review.id)).one()
        row.state_changed_at = datetime(2026, 11, 20, 7, 30)
        session.flush()


def test_a_failed_operation_saves_nothing(airlock: Airlock, world: World) -> None:
    review = submit(airlock, world)
    before = database_snapshot(airlock.database)
    with pytest.raises(RuntimeError), airlock.database.transaction() as session:
        row = session.scalars(select(Review).where(Review.public_id == review.id)).one()
        row.state = "accepted"
        session.flush()
        raise RuntimeError("something failed half-way")
    assert database_snapshot(airlock.database) == before


def test_two_people_changing_the_same_review_at_once_cannot_both_win(airlock: Airlock, world: World) -> None:
    if airlock.database.is_sqlite:
        pytest.skip("SQLite writers take the database lock when they begin, so they cannot interleave like this")
    review = submit(airlock, world)
    with pytest.raises(ConflictError, match="Run the command again"), airlock.database.transaction() as first:
        mine = first.scalars(select(Review).where(Review.public_id == review.id)).one()
        with airlock.database.transaction() as second:
            theirs = second.scalars(select(Review).where(Review.public_id == review.id)).one()
            theirs.state = "accepted"
        mine.state = "declined"
        first.flush()
    assert airlock.reviews.show(world.lead, review.id).state == "accepted"


def test_an_unreachable_database_is_a_clear_error_that_hides_the_password() -> None:
    with pytest.raises(StoreError) as failed:
        open_database("postgresql+psycopg://airlock:s3cret@127.0.0.1:1/airlock?connect_timeout=2")
    text = failed.value.diagnostics()
    assert "Cannot open the database" in text
    assert "AIRLOCK_DATABASE_URL" in text
    assert "s3cret" not in text
