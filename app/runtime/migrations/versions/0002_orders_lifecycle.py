"""Orders lifecycle: classes, seed fields, time limits; order-number counter; catalogue; API tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

NEW_ORDER_COLUMNS: list[sa.Column[Any]] = [
    sa.Column("order_class", sa.String(10), server_default="general", nullable=False),
    sa.Column("emergency", sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column("target", sa.String(32), nullable=True),
    sa.Column("wait_ms", sa.Integer(), nullable=True),
    sa.Column("release_mode", sa.String(32), nullable=True),
    sa.Column("outcome_reason", sa.String(256), nullable=True),
    sa.Column("handoff_rule", sa.String(32), nullable=True),
    sa.Column("peer_number", sa.String(64), nullable=True),
    sa.Column("citizen_name", sa.String(64), nullable=True),
    sa.Column("content", sa.Text(), nullable=True),
    sa.Column("address", sa.String(256), nullable=True),
    sa.Column("division_code", sa.String(12), nullable=True),
    sa.Column("org_code", sa.String(18), nullable=True),
    sa.Column("handling_unit", sa.String(128), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("return_reason", sa.String(256), nullable=True),
    sa.Column("dispatched_at", _TS, nullable=True),
    sa.Column("signed_at", _TS, nullable=True),
    sa.Column("on_site_at", _TS, nullable=True),
    sa.Column("feedback_at", _TS, nullable=True),
    sa.Column("returned_at", _TS, nullable=True),
    sa.Column("sign_due_at", _TS, nullable=True),
    sa.Column("on_site_due_at", _TS, nullable=True),
    sa.Column("sign_overdue_at", _TS, nullable=True),
    sa.Column("on_site_overdue_at", _TS, nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        for column in NEW_ORDER_COLUMNS:
            batch.add_column(column)
    op.create_index("ix_orders_created_at", "orders", ["created_at"])
    op.create_index("ix_orders_category", "orders", ["category"])

    op.create_table(
        "order_counters",
        sa.Column("centre", sa.String(16), nullable=False),
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("centre", "day", name="pk_order_counters"),
    )
    op.create_table(
        "catalogue_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jurisdiction", sa.String(32), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("section", sa.String(128), nullable=False),
        sa.Column("group_name", sa.String(128), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("destinations", sa.Text(), nullable=False),
        sa.Column("linkage", sa.String(32), nullable=False),
        sa.Column("handling", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_catalogue_entries"),
        sa.UniqueConstraint("jurisdiction", "code", name="uq_catalogue_entries_jurisdiction_code"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
    op.drop_table("catalogue_entries")
    op.drop_table("order_counters")
    op.drop_index("ix_orders_category", table_name="orders")
    op.drop_index("ix_orders_created_at", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for column in reversed(NEW_ORDER_COLUMNS):
            batch.drop_column(column.name)
