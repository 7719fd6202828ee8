"""Deployment settings, read from ``AIRLOCK_*`` environment variables.

==============================  ==============================================  ==================
variable                        meaning                                         default
==============================  ==============================================  ==================
``AIRLOCK_HOME``                data directory (SQLite database, later blobs)   ``./airlock-data``
``AIRLOCK_DATABASE_URL``        database URL; ``postgresql://...`` for Postgres SQLite in the home
``AIRLOCK_REVIEW_PERIOD_DAYS``  review period given to each accepted review     ``30`` (14..90)
==============================  ==============================================  ==================
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from airlock.errors import ConfigurationError

MIN_REVIEW_PERIOD_DAYS = 14
MAX_REVIEW_PERIOD_DAYS = 90
DEFAULT_REVIEW_PERIOD_DAYS = 30


class Settings(BaseSettings):
    """The settings of one Airlock deployment."""

    model_config = SettingsConfigDict(env_prefix="AIRLOCK_", extra="ignore")

    home: Path = Path("airlock-data")
    database_url: str | None = None
    review_period_days: int = Field(
        default=DEFAULT_REVIEW_PERIOD_DAYS, ge=MIN_REVIEW_PERIOD_DAYS, le=MAX_REVIEW_PERIOD_DAYS
    )

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of the database: the configured one, or SQLite inside the home."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.sqlite_path}"

    @property
    def sqlite_path(self) -> Path:
        return self.home.resolve() / "airlock.db"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


def normalise_database_url(url: str) -> str:
    """Map the usual ``postgresql://`` spelling onto the psycopg 3 driver that Airlock installs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment; an invalid value is a :class:`ConfigurationError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        variable = f"AIRLOCK_{field.upper()}"
        if field == "review_period_days":
            raise ConfigurationError(
                f"{variable} is {first.get('input')!r}, but the review period must be a whole number of days "
                f"between {MIN_REVIEW_PERIOD_DAYS} and {MAX_REVIEW_PERIOD_DAYS}.",
                f"Set {variable} within that range or unset it for the default of {DEFAULT_REVIEW_PERIOD_DAYS}.",
            ) from None
        raise ConfigurationError(f"{variable} is invalid: {first['msg']}.", f"Correct or unset {variable}.") from None
