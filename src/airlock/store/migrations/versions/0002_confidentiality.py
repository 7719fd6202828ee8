"""Confidentiality: the vault's keys and blob index, the audit log, reviewer assignments and partner grants.

Submissions made before this revision kept their model card and endpoint credentials in plaintext
columns. A migration cannot encrypt them (it has no master key), so it moves them aside into
``legacy_submission_content`` and drops the columns; ``airlock init`` then encrypts them into the vault
and deletes them, and until it has, Airlock refuses to start.

Revision ID: 0002_confidentiality
Revises: 0001_foundation
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airlock.store.base import UTCDateTime

revision: str = "0002_confidentiality"
down_revision: str | None = "0001_foundation"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoints_size"), ["size"], unique=False)

    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entries_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_entries_at"), ["at"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "vault_secrets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("wrapped_secret", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_vault_secrets")),
    )
    op.create_table(
        "vault_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("master_key_id", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("rotated_at", UTCDateTime(), nullable=True),
        sa.Column("purge_pending", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_state")),
    )
    op.create_table(
        "vault_organisation_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_vault_organisation_keys_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_organisation_keys")),
        sa.UniqueConstraint("organisation_id", "version", name=op.f("uq_vault_organisation_keys_organisation_id")),
    )
    with op.batch_alter_table("vault_organisation_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vault_organisation_keys_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "vault_blobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("plaintext_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("shredded_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_vault_blobs_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_blobs")),
        sa.UniqueConstraint("address", name=op.f("uq_vault_blobs_address")),
    )
    with op.batch_alter_table("vault_blobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_blobs_submission_id"), ["submission_id"], unique=False)

    op.create_table(
        "vault_data_keys",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("organisation_key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_vault_data_keys_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_vault_data_keys_submission_id_submissions")
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_vault_data_keys")),
    )
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vault_data_keys_organisation_id"), ["organisation_id"], unique=False)

    op.create_table(
        "partner_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("content_kinds", sa.JSON(), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["granted_by_id"], ["users.id"], name=op.f("fk_partner_grants_granted_by_id_users")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_partner_grants_organisation_id_organisations")
        ),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.id"], name=op.f("fk_partner_grants_review_id_reviews")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_grants")),
        sa.UniqueConstraint("review_id", "organisation_id", name=op.f("uq_partner_grants_review_id")),
    )
    with op.batch_alter_table("partner_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partner_grants_review_id"), ["review_id"], unique=False)

    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"], ["users.id"], name=op.f("fk_review_assignments_assigned_by_id_users")
        ),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.id"], name=op.f("fk_review_assignments_review_id_reviews")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_review_assignments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint("review_id", "user_id", name=op.f("uq_review_assignments_review_id")),
    )
    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_assignments_review_id"), ["review_id"], unique=False)

    op.create_table(
        "legacy_submission_content",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("model_card", sa.Text(), nullable=False),
        sa.Column("endpoint_credentials", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_legacy_submission_content_submission_id_submissions"),
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_legacy_submission_content")),
    )
    op.execute(
        "INSERT INTO legacy_submission_content (submission_id, model_card, endpoint_credentials) "
        "SELECT id, model_card, endpoint_credentials FROM submissions"
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_destroyed_at", UTCDateTime(), nullable=True))
        batch_op.drop_column("endpoint_credentials")
        batch_op.drop_column("model_card")


def downgrade() -> None:
    # Content already in the vault stays there: a downgrade gives back only what had not been moved yet.
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_card", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("endpoint_credentials", sa.Text(), nullable=True))
        batch_op.drop_column("content_destroyed_at")
    op.execute(
        "UPDATE submissions SET model_card = (SELECT model_card FROM legacy_submission_content "
        "WHERE submission_id = submissions.id), endpoint_credentials = (SELECT endpoint_credentials "
        "FROM legacy_submission_content WHERE submission_id = submissions.id) "
        "WHERE id IN (SELECT submission_id FROM legacy_submission_content)"
    )
    op.drop_table("legacy_submission_content")

    with op.batch_alter_table("review_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_assignments_review_id"))

    op.drop_table("review_assignments")
    with op.batch_alter_table("partner_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_grants_review_id"))

    op.drop_table("partner_grants")
    with op.batch_alter_table("vault_data_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_data_keys_organisation_id"))

    op.drop_table("vault_data_keys")
    with op.batch_alter_table("vault_blobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_blobs_submission_id"))

    op.drop_table("vault_blobs")
    with op.batch_alter_table("vault_organisation_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vault_organisation_keys_organisation_id"))

    op.drop_table("vault_organisation_keys")
    op.drop_table("vault_state")
    op.drop_table("vault_secrets")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entries_at"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_actor"))
        batch_op.drop_index(batch_op.f("ix_audit_entries_action"))

    op.drop_table("audit_entries")
    with op.batch_alter_table("audit_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoints_size"))

    op.drop_table("audit_checkpoints")
