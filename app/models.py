"""SQL schema as SQLAlchemy 2 `Mapped[...]` models (persistence layer).

Work orders (工单) and their audit trail.  This module only describes tables;
it must not open connections, hold business rules (which status may follow
which lives in `core/`), or import aiohttp/redis.  Every change here needs a
new Alembic revision in `app/migrations/versions/`; a test compares the two.

Datetimes are timezone-aware UTC on the Python side on every backend
(`UTCDateTime`); JSON detail is stored as text so SQLite and PostgreSQL
hold the same thing (`JSONText`).
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import DateTime, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

OrderMode = Literal["transfer", "three_way", "overflow", "online", "inbound"]
ORDER_MODES: tuple[str, ...] = ("transfer", "three_way", "overflow", "online", "inbound")

# Deterministic constraint names, so migrations can name what they alter on
# both SQLite (batch mode) and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL stores `timestamptz`; SQLite has no time zone type and hands
    back naive values, so we store UTC and re-attach UTC on the way out.
    A naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class JSONText(TypeDecorator[dict[str, Any]]):
    """A JSON object kept as text (UTF-8, not ASCII-escaped, keys sorted)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        return None if value is None else json.loads(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONText()}


class Order(Base):
    """A work order (工单): one handoff or one matter between the centres."""

    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Human-readable, per centre and day: "12345-20261125-0001".
    number: Mapped[str] = mapped_column(String(40), unique=True)
    direction: Mapped[str] = mapped_column(String(40))  # "12345->110"
    mode: Mapped[str] = mapped_column(String(20))  # one of ORDER_MODES
    status: Mapped[str] = mapped_column(String(20))
    citizen_number: Mapped[str] = mapped_column(String(32))
    source_centre: Mapped[str] = mapped_column(String(16))
    target_centre: Mapped[str] = mapped_column(String(16))
    source_seat: Mapped[str | None] = mapped_column(String(32))
    target_seat: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    linkedid: Mapped[str | None] = mapped_column(String(64))  # Asterisk LinkedID of the call
    channel: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        Index("ix_orders_status", "status"),
        Index("ix_orders_source_centre_created_at", "source_centre", "created_at"),
        Index("ix_orders_target_centre_created_at", "target_centre", "created_at"),
        Index("ix_orders_linkedid", "linkedid"),
    )

    def __repr__(self) -> str:
        return f"<Order {self.number} {self.direction} {self.mode} {self.status}>"


class OrderEvent(Base):
    """One entry of an order's audit trail (可追溯): who did what, when."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))  # "seat:1001", "system", "ami"
    kind: Mapped[str] = mapped_column(String(32))  # "created", "transition", "note", ...
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"),)

    def __repr__(self) -> str:
        return f"<OrderEvent {self.order_id} {self.kind} {self.from_status}->{self.to_status}>"
