"""A caller ID that is not a number: kept as presented (URI-escaped) on the order.

Revision ID: 0008_harden_numbers
Revises: 0007_fed_audit
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_harden_numbers"
down_revision = "0007_fed_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("citizen_presented", sa.String(600), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("citizen_presented")
