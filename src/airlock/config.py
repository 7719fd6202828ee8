"""Deployment settings, read from ``AIRLOCK_*`` environment variables.

==============================  ==============================================  ===========================
variable                        meaning                                         default
==============================  ==============================================  ===========================
``AIRLOCK_HOME``                data directory (database, blobs, key files)     ``./airlock-data``
``AIRLOCK_DATABASE_URL``        database URL; ``postgresql://...`` for Postgres SQLite in the home
``AIRLOCK_REVIEW_PERIOD_DAYS``  review period given to each accepted review     ``30`` (14..90)
``AIRLOCK_RETENTION_DAYS``      days after a review ends before its content     ``180`` (0..3650)
                                is destroyed
``AIRLOCK_MASTER_KEY``          master key, base64 of 32 bytes                  unset: the key file is used
``AIRLOCK_MASTER_KEY_FILE``     master key file                                 ``$AIRLOCK_HOME/keys/master.key``
==============================  ==============================================  ===========================
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from airlock.errors import ConfigurationError

MIN_REVIEW_PERIOD_DAYS = 14
MAX_REVIEW_PERIOD_DAYS = 90
DEFAULT_REVIEW_PERIOD_DAYS = 30
DEFAULT_RETENTION_DAYS = 180
MAX_RETENTION_DAYS = 3650


class Settings(BaseSettings):
    """The settings of one Airlock deployment."""

    model_config = SettingsConfigDict(env_prefix="AIRLOCK_", extra="ignore")

    home: Path = Path("airlock-data")
    database_url: str | None = None
    review_period_days: int = Field(
        default=DEFAULT_REVIEW_PERIOD_DAYS, ge=MIN_REVIEW_PERIOD_DAYS, le=MAX_REVIEW_PERIOD_DAYS
    )

    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=0, le=MAX_RETENTION_DAYS)
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    new_master_key: SecretStr | None = None
    """Only for rotating a master key given by ``AIRLOCK_MASTER_KEY``: the key to rotate to."""

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.home.resolve() / "keys" / "master.key"

    @property
    def blob_directory(self) -> Path:
        return self.home.resolve() / "blobs"

    @property
    def audit_witness_file(self) -> Path:
        """Where the newest signed audit checkpoint is also kept, outside the database."""
        return self.home.resolve() / "audit" / "latest-checkpoint"

    @property
    def audit_key_file(self) -> Path:
        """Where the public key that verifies audit checkpoints is pinned."""
        return self.home.resolve() / "keys" / "audit.pub"

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL of the database: the configured one, or SQLite inside the home."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        return f"sqlite:///{self.home.resolve() / 'airlock.db'}"

    @property
    def sqlite_path(self) -> Path:
        """The SQLite database file: the one ``AIRLOCK_DATABASE_URL`` names, or ``airlock.db`` in the home."""
        if self.database_url and self.uses_sqlite:
            return Path(self.database_url.split(":///", 1)[1]).resolve()
        return self.home.resolve() / "airlock.db"

    @property
    def uses_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def as_environment(self) -> dict[str, str]:
        """These settings as ``AIRLOCK_*`` variables, for a process of Airlock's own (a background run)."""
        environment = {}
        for name, value in self.model_dump(exclude_none=True).items():
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            environment[f"AIRLOCK_{name.upper()}"] = str(plain.resolve() if isinstance(plain, Path) else plain)
        return environment


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
        if field == "retention_days":
            raise ConfigurationError(
                f"{variable} is {first.get('input')!r}, but the retention period must be a whole number of days "
                f"between 0 and {MAX_RETENTION_DAYS}.",
                f"Set {variable} within that range or unset it for the default of {DEFAULT_RETENTION_DAYS}.",
            ) from None
        raise ConfigurationError(f"{variable} is invalid: {first['msg']}.", f"Correct or unset {variable}.") from None
