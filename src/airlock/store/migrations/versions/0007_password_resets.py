"""Password resets: a password set by someone else is one-time, and the last reset is kept for its user.

Revision ID: 0007_password_resets
Revises: 0006_web_portal
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from airlock.store.base import UTCDateTime

revision: str = "0007_password_resets"
down_revision: str | None = "0006_web_portal"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_is_one_time", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("password_reset_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("password_reset_by", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("password_reset_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_reset_reason")
        batch_op.drop_column("password_reset_by")
        batch_op.drop_column("password_reset_at")
        batch_op.drop_column("password_is_one_time")
