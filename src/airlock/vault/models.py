"""The vault's tables: wrapped keys and the index of encrypted blobs. No plaintext key is ever stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.store import Base, UTCDateTime


class VaultState(Base):
    """Which master key the deployment's keys are wrapped under."""

    __tablename__ = "vault_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    master_key_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    purge_pending: Mapped[bool] = mapped_column(Boolean(), default=False)
    """Set when keys were destroyed and the database files may still hold their old bytes."""


class OrganisationKey(Base):
    """One version of an organisation's key, wrapped by the master key."""

    __tablename__ = "vault_organisation_keys"
    __table_args__ = (UniqueConstraint("organisation_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer())
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DataKey(Base):
    """A submission's data key, wrapped by a version of its organisation's key. Deleting it shreds the content."""

    __tablename__ = "vault_data_keys"

    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    organisation_key_version: Mapped[int] = mapped_column(Integer())
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportKey(Base):
    """A clearinghouse report's data key, sealed under the clearinghouse key (a vault secret under the master key).

    A report, not its case, owns its content: cases merge as duplicates are found, and a report's PoC stays under
    the key it was stored with."""

    __tablename__ = "vault_report_keys"

    report_id: Mapped[int] = mapped_column(ForeignKey("vulns_reports.id"), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Blob(Base):
    """An encrypted blob on disk, named by the SHA-256 of its encrypted bytes, owned by a submission or by a
    clearinghouse report (exactly one)."""

    __tablename__ = "vault_blobs"
    __table_args__ = (CheckConstraint("(submission_id IS NULL) <> (report_id IS NULL)", name="one_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    """Order of storage: the newest blob of a kind is the current one."""
    address: Mapped[str] = mapped_column(String(64), unique=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("vulns_reports.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    plaintext_bytes: Mapped[int] = mapped_column(Integer())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the submission's data key was destroyed; the file is then deleted and the row with it."""


class VaultSecret(Base):
    """A small secret of another layer (the audit signing key), wrapped by the master key."""

    __tablename__ = "vault_secrets"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    wrapped_secret: Mapped[bytes] = mapped_column(LargeBinary())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
