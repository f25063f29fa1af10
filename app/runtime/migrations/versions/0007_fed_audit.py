"""Federation audit log: every exchange with a peer platform, both directions, kept apart from the nonce records.

The nonce records (`federation_inbox`) only serve the replay window and are
pruned past it; `federation_exchanges` keeps who, when, what and the answer
for the audit retention (HOTLINE_FEDERATION_AUDIT_DAYS).

Revision ID: 0007_fed_audit
Revises: 0006_pause_seat_events
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_fed_audit"
down_revision = "0006_pause_seat_events"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "federation_exchanges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=True),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(256), nullable=True),
        sa.Column("order_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_federation_exchanges"),
    )
    op.create_index("ix_federation_exchanges_at", "federation_exchanges", ["at"])
    op.create_index("ix_federation_exchanges_peer_at", "federation_exchanges", ["peer", "at"])


def downgrade() -> None:
    op.drop_index("ix_federation_exchanges_peer_at", table_name="federation_exchanges")
    op.drop_index("ix_federation_exchanges_at", table_name="federation_exchanges")
    op.drop_table("federation_exchanges")
