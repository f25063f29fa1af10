"""Remote-seat overflow: remote seat groups and surge events.

Revision ID: 0003_overflow
Revises: 0002
Create Date: 2026-11-27
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_overflow"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "overflow_groups",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("centre", sa.String(16), nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("min_waiting", sa.Integer(), nullable=True),
        sa.Column("max_wait_s", sa.Integer(), nullable=True),
        sa.Column("when_no_local_free", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_overflow_groups"),
        sa.UniqueConstraint("name", name="uq_overflow_groups_name"),
    )
    op.create_table(
        "overflow_surge_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("centre", sa.String(16), nullable=False),
        sa.Column("group_name", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(256), nullable=False),
        sa.Column("waiting", sa.Integer(), nullable=False),
        sa.Column("longest_wait_ms", sa.Integer(), nullable=False),
        sa.Column("local_free", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_overflow_surge_events"),
    )
    op.create_index("ix_overflow_surge_events_at", "overflow_surge_events", ["at"])
    op.create_index("ix_overflow_surge_events_centre_at", "overflow_surge_events", ["centre", "at"])


def downgrade() -> None:
    op.drop_index("ix_overflow_surge_events_centre_at", table_name="overflow_surge_events")
    op.drop_index("ix_overflow_surge_events_at", table_name="overflow_surge_events")
    op.drop_table("overflow_surge_events")
    op.drop_table("overflow_groups")
