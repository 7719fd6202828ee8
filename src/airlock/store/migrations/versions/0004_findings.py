"""Findings (what a review found, with the developer's responses; their words live in the vault).

Revision ID: 0004_findings
Revises: 0003_evaluation_runs
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airlock.store.base import UTCDateTime

revision: str = "0004_findings"
down_revision: str | None = "0003_evaluation_runs"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=16), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("content_address", sa.String(length=200), nullable=False),
        sa.Column("response_address", sa.String(length=200), nullable=True),
        sa.Column("responded_by_id", sa.Integer(), nullable=True),
        sa.Column("responded_at", UTCDateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["review_id"], ["reviews.id"], name=op.f("fk_findings_review_id_reviews")),
        sa.ForeignKeyConstraint(["responded_by_id"], ["users.id"], name=op.f("fk_findings_responded_by_id_users")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_findings_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
        sa.UniqueConstraint("public_id", name=op.f("uq_findings_public_id")),
        sa.UniqueConstraint("review_id", "source", name=op.f("uq_findings_review_id")),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_review_id"), ["review_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_findings_review_id"))
    op.drop_table("findings")
