"""Store: the database engine, transactions, and the Alembic migrations that the app applies at start."""

from airlock.store.base import Base, UTCDateTime
from airlock.store.database import Database, head_revision, open_database

__all__ = ["Base", "Database", "UTCDateTime", "head_revision", "open_database"]
