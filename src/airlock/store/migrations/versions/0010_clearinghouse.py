"""The clearinghouse: programs, vulnerability reports and cases, their vendors, partners, timeline, outbox and
advisories; a report's content in the vault under a data key of its own (blobs now belong to a submission or a
report).

Revision ID: 0010_clearinghouse
Revises: 0009_credentials_version
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airlock.store.base import UTCDateTime

revision: str = "0010_clearinghouse"
down_revision: str | None = "0009_credentials_version"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "vulns_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("program", sa.String(length=200), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("cvss_vector", sa.String(length=200), nullable=True),
        sa.Column("cvss_score", sa.Float(), nullable=True),
        sa.Column("cvss_severity", sa.String(length=16), nullable=True),
        sa.Column("cwe", sa.String(length=16), nullable=True),
        sa.Column("ssvc", sa.JSON(), nullable=True),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("embargo_days", sa.Integer(), nullable=False),
        sa.Column("first_notified_at", UTCDateTime(), nullable=True),
        sa.Column("paused_since", UTCDateTime(), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("reminders_sent", sa.JSON(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["vulns_cases.id"], name=op.f("fk_vulns_cases_merged_into_id_vulns_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_cases")),
        sa.UniqueConstraint("public_id", name=op.f("uq_vulns_cases_public_id")),
    )
    op.create_table(
        "vulns_case_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_case_events_case_id_vulns_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_case_events")),
    )
    with op.batch_alter_table("vulns_case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_case_events_case_id"), ["case_id"], unique=False)

    op.create_table(
        "vulns_case_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("with_poc", sa.Boolean(), nullable=False),
        sa.Column("shared_by", sa.String(length=320), nullable=False),
        sa.Column("shared_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_case_shares_case_id_vulns_cases")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_vulns_case_shares_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_case_shares")),
        sa.UniqueConstraint("case_id", "organisation_id", name=op.f("uq_vulns_case_shares_case_id")),
    )
    with op.batch_alter_table("vulns_case_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_case_shares_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vulns_case_shares_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "vulns_case_vendors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_case_vendors_case_id_vulns_cases")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_vulns_case_vendors_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_case_vendors")),
        sa.UniqueConstraint("case_id", "organisation_id", name=op.f("uq_vulns_case_vendors_case_id")),
    )
    with op.batch_alter_table("vulns_case_vendors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_case_vendors_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vulns_case_vendors_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "vulns_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("prepared_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_outbox_case_id_vulns_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_outbox")),
    )
    with op.batch_alter_table("vulns_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_outbox_case_id"), ["case_id"], unique=False)

    op.create_table(
        "vulns_programs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("poc_input", sa.String(length=8), nullable=False),
        sa.Column("sources", sa.LargeBinary(), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["organisations.id"], name=op.f("fk_vulns_programs_vendor_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_programs")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_vulns_programs_name")),
    )
    op.create_table(
        "vulns_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("program", sa.String(length=200), nullable=False),
        sa.Column("affected_versions", sa.JSON(), nullable=False),
        sa.Column("reporter", sa.String(length=320), nullable=False),
        sa.Column("submitted_by", sa.String(length=320), nullable=False),
        sa.Column("submitted_by_organisation_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("repository", sa.String(length=2000), nullable=True),
        sa.Column("fixed_commit", sa.String(length=64), nullable=True),
        sa.Column("poc_input", sa.String(length=8), nullable=False),
        sa.Column("cvss_vector", sa.String(length=200), nullable=True),
        sa.Column("cwe", sa.String(length=16), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=600), nullable=True),
        sa.Column("review", sa.String(length=16), nullable=True),
        sa.Column("finding", sa.String(length=16), nullable=True),
        sa.Column("reproduction", sa.String(length=16), nullable=False),
        sa.Column("reproduction_outcome", sa.String(length=32), nullable=True),
        sa.Column("reproduced_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_reports_case_id_vulns_cases")),
        sa.ForeignKeyConstraint(
            ["submitted_by_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_vulns_reports_submitted_by_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_reports")),
        sa.UniqueConstraint("public_id", name=op.f("uq_vulns_reports_public_id")),
    )
    with op.batch_alter_table("vulns_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_reports_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vulns_reports_fixed_commit"), ["fixed_commit"], unique=False)
        batch_op.create_index(batch_op.f("ix_vulns_reports_signature"), ["signature"], unique=False)
        batch_op.create_index(batch_op.f("ix_vulns_reports_fingerprint"), ["fingerprint"], unique=False)

    op.create_table(
        "vault_report_keys",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"], ["vulns_reports.id"], name=op.f("fk_vault_report_keys_report_id_vulns_reports")
        ),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_vault_report_keys")),
    )
    op.create_table(
        "vulns_advisories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("commitment", sa.String(length=80), nullable=False),
        sa.Column("committed_at", UTCDateTime(), nullable=False),
        sa.Column("revealed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["vulns_cases.id"], name=op.f("fk_vulns_advisories_case_id_vulns_cases")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["vulns_reports.id"], name=op.f("fk_vulns_advisories_report_id_vulns_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vulns_advisories")),
        sa.UniqueConstraint("case_id", "revision", name=op.f("uq_vulns_advisories_case_id")),
    )
    with op.batch_alter_table("vulns_advisories", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vulns_advisories_case_id"), ["case_id"], unique=False)

    with op.batch_alter_table("vault_blobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_id", sa.Integer(), nullable=True))
        batch_op.alter_column("submission_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_vault_blobs_report_id"), ["report_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_vault_blobs_report_id_vulns_reports"), "vulns_reports", ["report_id"], ["id"]
        )
        batch_op.create_check_constraint("one_owner", "(submission_id IS NULL) <> (report_id IS NULL)")


def downgrade() -> None:
    # A report's blobs have no owner before this revision: their index rows go (the files stay, unreadable).
    op.execute("DELETE FROM vault_blobs WHERE report_id IS NOT NULL")
    with op.batch_alter_table("vault_blobs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_vault_blobs_one_owner"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_vault_blobs_report_id_vulns_reports"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_vault_blobs_report_id"))
        batch_op.alter_column("submission_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("report_id")

    with op.batch_alter_table("vulns_advisories", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_advisories_case_id"))

    op.drop_table("vulns_advisories")
    op.drop_table("vault_report_keys")
    with op.batch_alter_table("vulns_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_reports_signature"))
        batch_op.drop_index(batch_op.f("ix_vulns_reports_fingerprint"))
        batch_op.drop_index(batch_op.f("ix_vulns_reports_fixed_commit"))
        batch_op.drop_index(batch_op.f("ix_vulns_reports_case_id"))

    op.drop_table("vulns_reports")
    op.drop_table("vulns_programs")
    with op.batch_alter_table("vulns_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_outbox_case_id"))

    op.drop_table("vulns_outbox")
    with op.batch_alter_table("vulns_case_vendors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_case_vendors_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_vulns_case_vendors_case_id"))

    op.drop_table("vulns_case_vendors")
    with op.batch_alter_table("vulns_case_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_case_shares_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_vulns_case_shares_case_id"))

    op.drop_table("vulns_case_shares")
    with op.batch_alter_table("vulns_case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vulns_case_events_case_id"))

    op.drop_table("vulns_case_events")
    op.drop_table("vulns_cases")
