"""Alembic environment for Airlock.

The application passes its open connection in ``config.attributes["connection"]``. Run by hand
(``alembic -c alembic.ini ...`` from the repository root, for writing a new migration) it connects to the
database that the ``AIRLOCK_*`` settings name.
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, text

from airlock.config import load_settings
from airlock.store.base import Base, UTCDateTime
from airlock.store.database import create_database_engine


def run_migrations(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Two processes starting at once must not both run the same migration.
        connection.execute(text("SELECT pg_advisory_xact_lock(7340981)"))
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def _render_item(kind: str, item: Any, autogen_context: Any) -> str | Literal[False]:
    """Write Airlock's own column types as the script template imports them."""
    if kind == "type" and isinstance(item, UTCDateTime):
        return "UTCDateTime()"
    return False


def main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    # Run by hand (for ``alembic revision --autogenerate``): compare against every layer's tables. The
    # application never takes this branch, so the store layer still imports nothing above it.
    importlib.import_module("airlock.review.models")
    importlib.import_module("airlock.vulns.models")
    engine = create_database_engine(load_settings().resolved_database_url)
    with engine.begin() as owned_connection:
        run_migrations(owned_connection)
    engine.dispose()


main()
