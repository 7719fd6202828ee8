"""The clearinghouse's tables: programs, reports, cases, their vendors and partners, timeline, outbox and advisories.

Nothing confidential is a column here: a report's proof of concept, details, crash report and reproduction evidence
live in the vault under the report's own data key (:class:`airlock.vault.models.ReportKey`). What the database
keeps is what the workflow runs on: who reported what program, the crash's signature, the scores, the statuses and
the dates.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from airlock.store import Base, UTCDateTime


class Program(Base):
    """A build the clearinghouse reproduces reports against: a program's version and its C sources.

    *Our choice:* sources are kept as a JSON object of path to text in the database, not in the vault: they are the
    software under report (open source, or handed over by its vendor to be reproduced), not the reporter's secret.
    """

    __tablename__ = "vulns_programs"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    poc_input: Mapped[str] = mapped_column(String(8))
    """``stdin`` or ``file``: how the program takes a proof of concept."""
    sources: Mapped[bytes] = mapped_column(LargeBinary())
    """The sources as a JSON object (path: text), UTF-8."""
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    """Who maintains it: the vendor a case about it notifies by default."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Case(Base):
    """One vulnerability: the reports with one root cause, scored, coordinated and disclosed as one."""

    __tablename__ = "vulns_cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    program: Mapped[str] = mapped_column(String(200))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("vulns_cases.id"))
    """Set when a report proved this case a duplicate of an older one; its reports moved there."""
    tlp: Mapped[str] = mapped_column(String(16))
    cvss_vector: Mapped[str | None] = mapped_column(String(200))
    cvss_score: Mapped[float | None] = mapped_column(Float())
    cvss_severity: Mapped[str | None] = mapped_column(String(16))
    cwe: Mapped[str | None] = mapped_column(String(16))
    ssvc: Mapped[dict[str, Any] | None] = mapped_column(JSON())
    """The SSVC decision: decision points, action, who decided, when and why."""
    priority_rank: Mapped[int] = mapped_column(Integer(), default=0)
    """The SSVC action's rank (act 3 ... track 0, unscored -1): the queue's first key, then the CVSS score."""
    embargo_days: Mapped[int] = mapped_column(Integer())
    first_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_seconds: Mapped[int] = mapped_column(Integer(), default=0)
    extension_days: Mapped[int] = mapped_column(Integer(), default=0)
    reminders_sent: Mapped[list[int]] = mapped_column(JSON(), default=list)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Report(Base):
    """One report of a vulnerability, from a review, a developer or partner, or a bulk file."""

    __tablename__ = "vulns_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    """``review``, ``partner`` (a developer's or partner's own report), or ``bulk``."""
    title: Mapped[str] = mapped_column(String(200))
    program: Mapped[str] = mapped_column(String(200))
    affected_versions: Mapped[list[str]] = mapped_column(JSON())
    reporter: Mapped[str] = mapped_column(String(320))
    submitted_by: Mapped[str] = mapped_column(String(320))
    """The Airlock user who brought it in."""
    submitted_by_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    model: Mapped[str | None] = mapped_column(String(200))
    repository: Mapped[str | None] = mapped_column(String(2000))
    fixed_commit: Mapped[str | None] = mapped_column(String(64), index=True)
    poc_input: Mapped[str] = mapped_column(String(8))
    cvss_vector: Mapped[str | None] = mapped_column(String(200))
    cwe: Mapped[str | None] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    """A keyed digest of who reported which PoC for which program (:meth:`Vault.fingerprint`): the same report
    sent again is recognised, and nothing of the PoC can be learnt from it without the vault's key."""
    signature: Mapped[str | None] = mapped_column(String(600), index=True)
    """The crash's signature: reproduction's where it reproduced, otherwise the one its crash report gave."""
    review: Mapped[str | None] = mapped_column(String(16))
    """For a report from a review: the review's public id (and ``finding``, the finding's)."""
    finding: Mapped[str | None] = mapped_column(String(16))
    reproduction: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``reproduced``, or ``not reproduced``."""
    reproduction_outcome: Mapped[str | None] = mapped_column(String(32))
    """``crash``, ``no crash``, ``timeout``, ``build failed``, ``sandbox failed``, ``no build``."""
    reproduced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseVendor(Base):
    """A vendor (an organisation of kind ``vendor``) of a case, with its status."""

    __tablename__ = "vulns_case_vendors"
    __table_args__ = (UniqueConstraint("case_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseShare(Base):
    """What a trusted partner organisation was given of a case: its record, and its proofs of concept or not."""

    __tablename__ = "vulns_case_shares"
    __table_args__ = (UniqueConstraint("case_id", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    with_poc: Mapped[bool] = mapped_column(Boolean())
    shared_by: Mapped[str] = mapped_column(String(320))
    shared_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseEvent(Base):
    """One line of a case's timeline."""

    __tablename__ = "vulns_case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(320))
    event: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text())


class OutboxMessage(Base):
    """A notification prepared for a vendor's contact: the message itself is a file in the outbox."""

    __tablename__ = "vulns_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(400))
    file: Mapped[str] = mapped_column(String(200))
    prepared_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdvisoryRecord(Base):
    """An advisory of a case as exported (CSAF 2.0 and OSV), and the commitment published before it.

    The documents and the commitment's nonce are in the vault (kind ``advisory``, under the key of the case's
    oldest report) until the reveal: an embargoed advisory says what the vulnerability is."""

    __tablename__ = "vulns_advisories"
    __table_args__ = (UniqueConstraint("case_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("vulns_cases.id"), index=True)
    revision: Mapped[int] = mapped_column(Integer())
    report_id: Mapped[int] = mapped_column(ForeignKey("vulns_reports.id"))
    """The report under whose key the documents are kept."""
    address: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(80))
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
