"""Orders across platforms: the peer's order on each order, Idempotency-Key, push outbox, signed-request log.

Revision ID: 0005_federation
Revises: 0004_catalogue_aliases
Create Date: 2026-11-28
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_federation"
down_revision = "0004_catalogue_aliases"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)

_ORDER_COLUMNS = (
    ("peer", sa.String(64)),
    ("peer_side", sa.String(3)),
    ("peer_order_id", sa.String(64)),
    ("peer_status", sa.String(20)),
    ("peer_seq", sa.Integer()),
    ("peer_updated_at", _TS),
    ("idempotency_key", sa.String(200)),
)


def upgrade() -> None:
    for name, type_ in _ORDER_COLUMNS:
        op.add_column("orders", sa.Column(name, type_, nullable=True))
    op.create_index("uq_orders_peer_peer_order_id", "orders", ["peer", "peer_order_id"], unique=True)
    op.create_index("uq_orders_idempotency_key", "orders", ["idempotency_key"], unique=True)
    op.create_table(
        "federation_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("next_attempt_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("last_error", sa.String(512), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_federation_outbox_order_id_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_federation_outbox"),
        sa.UniqueConstraint("order_id", "seq", name="uq_federation_outbox_order_id_seq"),
    )
    op.create_index("ix_federation_outbox_state_next_attempt_at", "federation_outbox",
                    ["state", "next_attempt_at"])
    op.create_table(
        "federation_inbox",
        sa.Column("peer", sa.String(64), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(256), nullable=True),
        sa.PrimaryKeyConstraint("peer", "nonce", name="pk_federation_inbox"),
    )
    op.create_index("ix_federation_inbox_at", "federation_inbox", ["at"])


def downgrade() -> None:
    op.drop_index("ix_federation_inbox_at", table_name="federation_inbox")
    op.drop_table("federation_inbox")
    op.drop_index("ix_federation_outbox_state_next_attempt_at", table_name="federation_outbox")
    op.drop_table("federation_outbox")
    op.drop_index("uq_orders_idempotency_key", table_name="orders")
    op.drop_index("uq_orders_peer_peer_order_id", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for name, _ in reversed(_ORDER_COLUMNS):
            batch.drop_column(name)
