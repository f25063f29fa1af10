"""Initial schema: work orders and their audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("citizen_number", sa.String(32), nullable=False),
        sa.Column("source_centre", sa.String(16), nullable=False),
        sa.Column("target_centre", sa.String(16), nullable=False),
        sa.Column("source_seat", sa.String(32), nullable=True),
        sa.Column("target_seat", sa.String(32), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("linkedid", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("number", name="uq_orders_number"),
    )
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_source_centre_created_at", "orders", ["source_centre", "created_at"])
    op.create_index("ix_orders_target_centre_created_at", "orders", ["target_centre", "created_at"])
    op.create_index("ix_orders_linkedid", "orders", ["linkedid"])

    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(20), nullable=True),
        sa.Column("to_status", sa.String(20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_order_events"),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_order_events_order_id_orders"),
    )
    op.create_index("ix_order_events_order_id_id", "order_events", ["order_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_order_events_order_id_id", table_name="order_events")
    op.drop_table("order_events")
    op.drop_index("ix_orders_linkedid", table_name="orders")
    op.drop_index("ix_orders_target_centre_created_at", table_name="orders")
    op.drop_index("ix_orders_source_centre_created_at", table_name="orders")
    op.drop_index("ix_orders_status", table_name="orders")
    op.drop_table("orders")
