"""The evidence behind the numbers: a sample's invalidation (when, by whom, why), and which Inspect logs in the
vault belong to which evaluation run.

Revision ID: 0008_sample_evidence
Revises: 0007_password_resets
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airlock.store.base import UTCDateTime

revision: str = "0008_sample_evidence"
down_revision: str | None = "0007_password_resets"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sample_verdicts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invalidated_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("invalidated_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("invalidation_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_sample_verdicts_invalidated_by_id_users"), "users", ["invalidated_by_id"], ["id"]
        )
    # Runs stored before this revision keep their logs in the vault, but nothing says which run each belongs to:
    # `airlock eval export` answers that such a run has no log linked to it.
    op.create_table(
        "eval_run_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("stored_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["eval_runs.id"], name=op.f("fk_eval_run_logs_run_id_eval_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_run_logs")),
    )
    with op.batch_alter_table("eval_run_logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eval_run_logs_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eval_run_logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eval_run_logs_run_id"))
    op.drop_table("eval_run_logs")
    with op.batch_alter_table("sample_verdicts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_sample_verdicts_invalidated_by_id_users"), type_="foreignkey")
        batch_op.drop_column("invalidation_reason")
        batch_op.drop_column("invalidated_by_id")
        batch_op.drop_column("invalidated_at")
