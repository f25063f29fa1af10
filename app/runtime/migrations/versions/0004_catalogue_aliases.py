"""Catalogue aliases: everyday words per catalogue entry, editable by admins.

Revision ID: 0004_catalogue_aliases
Revises: 0003_overflow
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_catalogue_aliases"
down_revision = "0003_overflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # JSON text like `destinations`: {"list": [...]}; existing rows start with
    # none, and the web service fills the shipped ones in at its next start
    # (entries no admin has edited follow the shipped files).
    with op.batch_alter_table("catalogue_entries") as batch:
        batch.add_column(sa.Column("aliases", sa.Text(), server_default='{"list": []}', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("catalogue_entries") as batch:
        batch.drop_column("aliases")
