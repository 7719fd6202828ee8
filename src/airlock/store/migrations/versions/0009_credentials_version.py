"""A user's credentials version: every new password bumps it, and what a credential grants (a session, an API
token, a new password) is made only while it is the version that was checked.

Revision ID: 0009_credentials_version
Revises: 0008_sample_evidence
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009_credentials_version"
down_revision: str | None = "0008_sample_evidence"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials_version", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("credentials_version")
