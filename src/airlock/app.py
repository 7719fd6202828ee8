"""The composition root: one object that opens a deployment and holds its services.

Front ends (the CLI now, the API later) build an :class:`Airlock` and call its services; they hold no
domain logic of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from airlock.clock import Clock, SystemClock
from airlock.config import Settings, load_settings
from airlock.review import Directory, Reviews, Submissions
from airlock.review.directory import not_initialised_error
from airlock.review.models import Deployment
from airlock.store import Database, open_database


@dataclass
class Airlock:
    settings: Settings
    database: Database
    clock: Clock
    directory: Directory = field(init=False)
    reviews: Reviews = field(init=False)
    submissions: Submissions = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Directory(self.database, self.clock)
        self.reviews = Reviews(self.database, self.clock, self.settings)
        self.submissions = Submissions(self.database, self.clock, self.settings)

    @classmethod
    def open(
        cls, settings: Settings | None = None, clock: Clock | None = None, *, must_be_initialised: bool = True
    ) -> Airlock:
        """Open the deployment that ``settings`` name, upgrading its schema if needed.

        With ``must_be_initialised`` (the default) a deployment that ``airlock init`` has not set up is
        refused before anything is created on disk.
        """
        settings = settings or load_settings()
        where = str(settings.sqlite_path.parent) if settings.uses_sqlite else "AIRLOCK_DATABASE_URL"
        if must_be_initialised and settings.uses_sqlite and not settings.sqlite_path.exists():
            raise not_initialised_error(where)
        database = open_database(settings.resolved_database_url)
        airlock = cls(settings=settings, database=database, clock=clock or SystemClock())
        if must_be_initialised and not airlock.is_initialised():
            database.dispose()
            raise not_initialised_error(where)
        return airlock

    def is_initialised(self) -> bool:
        with self.database.transaction() as session:
            return session.get(Deployment, 1) is not None

    def close(self) -> None:
        self.database.dispose()
