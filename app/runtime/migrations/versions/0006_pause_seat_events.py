"""Seats signing in and pausing (签入/签出, 示忙/示闲): the seat journal's events.

Revision ID: 0006_pause_seat_events
Revises: 0005_federation
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pause_seat_events"
down_revision = "0005_federation"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seat_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("seat", sa.String(32), nullable=False),
        sa.Column("centre", sa.String(16), nullable=False),
        sa.Column("signed_in", sa.Boolean(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_seat_events"),
    )
    op.create_index("ix_seat_events_at", "seat_events", ["at"])
    op.create_index("ix_seat_events_seat_id", "seat_events", ["seat", "id"])


def downgrade() -> None:
    op.drop_index("ix_seat_events_seat_id", table_name="seat_events")
    op.drop_index("ix_seat_events_at", table_name="seat_events")
    op.drop_table("seat_events")
