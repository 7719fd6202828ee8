"""Fixtures shared by the whole suite: a real database on each backend, a movable clock, a populated deployment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.store import open_database
from tests.support.postgres import PostgresServer
from tests.support.world import World, build_world

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""Day 0 of every test: a Monday morning, UTC."""

TEMPLATE_DATABASE = "airlock_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1 for the whole session, with a migrated template database."""
    server = PostgresServer()
    server.start()
    try:
        template = open_database(server.create_database(TEMPLATE_DATABASE))
        template.dispose()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh, empty-of-data database for one test, on SQLite and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite')}/airlock.db"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"test_{uuid.uuid4().hex[:16]}", template=TEMPLATE_DATABASE)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return Settings(home=tmp_path_factory.mktemp("home"), database_url=database_url)


@pytest.fixture
def airlock(settings: Settings, clock: ManualClock) -> Iterator[Airlock]:
    """An initialised deployment whose time is ``clock``."""
    opened = Airlock.open(settings, clock, must_be_initialised=False)
    opened.initialise()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def world(airlock: Airlock) -> World:
    """Two developers, the agency's staff and a partner, as principals ready to act."""
    return build_world(airlock)
