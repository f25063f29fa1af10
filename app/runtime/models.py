"""SQL schema as SQLAlchemy 2 `Mapped[...]` models (persistence layer).

Work orders (工单) and their audit trail, the per-centre order-number
counter, the diversion catalogue and API tokens.  This module only describes tables;
it must not open connections, hold business rules (which status may follow
which lives in `core/`), or import aiohttp/redis.  Every change here needs a
new Alembic revision in `app/runtime/migrations/versions/`; a test compares the two.

Datetimes are timezone-aware UTC on the Python side on every backend
(`UTCDateTime`); JSON detail is stored as text so SQLite and PostgreSQL
hold the same thing (`JSONText`).
"""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy import true as sa_true
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
    return datetime.now(UTC)


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
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


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
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSONText()}


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

    # 0002: classes, destinations, call outcome, the seeds' order fields, lifecycle times.
    order_class: Mapped[str] = mapped_column(String(10), default="general", server_default="general")
    emergency: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    target: Mapped[str | None] = mapped_column(String(32))  # "110", "120", "12315", a utility
    wait_ms: Mapped[int | None] = mapped_column(Integer)  # caller's wait before a seat answered
    release_mode: Mapped[str | None] = mapped_column(String(32))  # how the transferring seat left
    outcome_reason: Mapped[str | None] = mapped_column(String(256))
    handoff_rule: Mapped[str | None] = mapped_column(String(32))  # "agreed", "first_contact", ...
    peer_number: Mapped[str | None] = mapped_column(String(64))  # the other centre's order number
    citizen_name: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(256))
    division_code: Mapped[str | None] = mapped_column(String(12))  # 行政区划代码
    org_code: Mapped[str | None] = mapped_column(String(18))  # 统一社会信用代码 / 组织机构代码
    handling_unit: Mapped[str | None] = mapped_column(String(128))  # 承办单位
    result: Mapped[str | None] = mapped_column(Text)  # 反馈 result
    return_reason: Mapped[str | None] = mapped_column(String(256))  # 退单 reason
    dispatched_at: Mapped[datetime | None]
    signed_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    feedback_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    sign_due_at: Mapped[datetime | None]
    on_site_due_at: Mapped[datetime | None]
    # When the overdue checker flagged each breach (once per breach; reset on re-dispatch).
    sign_overdue_at: Mapped[datetime | None]
    on_site_overdue_at: Mapped[datetime | None]

    # 0004: the order's counterpart on a peer platform (app/federation, core/federation.py).
    peer: Mapped[str | None] = mapped_column(String(64))  # the peer platform's name
    peer_side: Mapped[str | None] = mapped_column(String(3))  # "out": sent to it; "in": received from it
    peer_order_id: Mapped[str | None] = mapped_column(String(64))  # the peer's own order id
    peer_status: Mapped[str | None] = mapped_column(String(20))  # the peer's order status, as last reported
    peer_seq: Mapped[int | None] = mapped_column(Integer)  # last document applied from the peer
    peer_updated_at: Mapped[datetime | None]
    # "actor|key" of POST /api/orders' Idempotency-Key: the same key gives the same order
    idempotency_key: Mapped[str | None] = mapped_column(String(200))

    # 0006: a caller ID that is not a number (citizen_number is then ""), as
    # presented, URI-escaped: kept for the audit, never turned into a number.
    citizen_presented: Mapped[str | None] = mapped_column(String(600))

    __table_args__ = (
        Index("uq_orders_peer_peer_order_id", "peer", "peer_order_id", unique=True),
        Index("uq_orders_idempotency_key", "idempotency_key", unique=True),
        Index("ix_orders_status", "status"),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_category", "category"),
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


class OrderCounter(Base):
    """The last order number handed out per centre and (local) day.

    Allocation is one upsert (`INSERT .. ON CONFLICT DO UPDATE .. RETURNING`),
    so concurrent creators never get the same number.
    """

    __tablename__ = "order_counters"

    centre: Mapped[str] = mapped_column(String(16))
    day: Mapped[str] = mapped_column(String(8))  # YYYYMMDD in the centre's time zone
    last: Mapped[int] = mapped_column(Integer)

    __table_args__ = (PrimaryKeyConstraint("centre", "day", name="pk_order_counters"),)


class CatalogueEntry(Base):
    """One matter of a diversion catalogue (分流事项清单), per jurisdiction.

    `code` is what orders carry in `category`; `destinations` lists where the
    matter goes ("12345", "110", "120", "12315", "供电企业", ...), the first
    being the primary one; `linkage` says how (transfer, joint handling, ...).
    """

    __tablename__ = "catalogue_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jurisdiction: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(32))
    section: Mapped[str] = mapped_column(String(128))  # table / part of the seed
    group_name: Mapped[str] = mapped_column(String(128))  # 警情类别 / 分类
    name: Mapped[str] = mapped_column(Text)  # the matter, as the seed words it
    destinations: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"list": [...]}
    # everyday words for the matter, for search: {"list": [...]}
    aliases: Mapped[dict[str, Any]] = mapped_column(default=lambda: {"list": []}, server_default='{"list": []}')
    linkage: Mapped[str] = mapped_column(String(32))
    handling: Mapped[str] = mapped_column(Text)  # the seed's disposal wording
    note: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64), default="seed")

    __table_args__ = (UniqueConstraint("jurisdiction", "code", name="uq_catalogue_entries_jurisdiction_code"),)


class ApiToken(Base):
    """An API token: a role and a name; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class RemoteSeatGroup(Base):
    """A remote seat group (远程话务座席) of one centre: who takes its calls in a
    surge and what opens it (`core.overflow`).  `members` is {"list": [dial
    strings]}; a threshold left NULL is off."""

    __tablename__ = "overflow_groups"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    centre: Mapped[str] = mapped_column(String(16))
    members: Mapped[dict[str, Any]] = mapped_column(default=dict)
    priority: Mapped[int] = mapped_column(Integer)
    min_waiting: Mapped[int | None] = mapped_column(Integer)
    max_wait_s: Mapped[int | None] = mapped_column(Integer)
    when_no_local_free: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=sa_true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))


class SurgeEvent(Base):
    """A surge transition of a remote seat group (open / close), kept for reports."""

    __tablename__ = "overflow_surge_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    centre: Mapped[str] = mapped_column(String(16))
    group_name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))  # "open" / "close"
    reason: Mapped[str] = mapped_column(String(256))
    waiting: Mapped[int] = mapped_column(Integer)
    longest_wait_ms: Mapped[int] = mapped_column(Integer)
    local_free: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_overflow_surge_events_at", "at"),
                      Index("ix_overflow_surge_events_centre_at", "centre", "at"))


class FederationOutbox(Base):
    """A document to push to a peer platform, written in the transaction of
    the order change it reports (app/federation).  `seq` numbers an order's
    documents; one is pushed only after every earlier one of its order was
    delivered.  `state`: pending, sent, failed (the retries are spent; an
    admin may retry)."""

    __tablename__ = "federation_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    peer: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = mapped_column(String(36), ForeignKey("orders.id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # "order" / "status"
    path: Mapped[str] = mapped_column(String(200))  # where on the peer it goes
    document: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(512))

    __table_args__ = (
        UniqueConstraint("order_id", "seq", name="uq_federation_outbox_order_id_seq"),
        Index("ix_federation_outbox_state_next_attempt_at", "state", "next_attempt_at"),
    )


class FederationInbox(Base):
    """The nonce of every signed request a peer made that passed the signature
    check (with its method, path, body digest and answer).  Its key refuses a
    replayed nonce; rows are pruned once they are older than twice the
    signature window (no request carrying them can be accepted any more).
    The lasting record is `FederationExchange`."""

    __tablename__ = "federation_inbox"

    peer: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    answer: Mapped[int | None] = mapped_column(Integer)  # HTTP status given
    note: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (PrimaryKeyConstraint("peer", "nonce", name="pk_federation_inbox"),
                      Index("ix_federation_inbox_at", "at"))


class SeatEventRow(Base):
    """A change of what a seat is (签入/签出, 示忙/示闲): signed in or out, paused
    or not and why.  Written by the seat journal (app/seats/journal.py); the
    reports count paused time per seat and reason from these rows."""

    __tablename__ = "seat_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    seat: Mapped[str] = mapped_column(String(32))
    centre: Mapped[str] = mapped_column(String(16))
    signed_in: Mapped[bool] = mapped_column(Boolean)
    paused: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # "event" (as it happened) / "resync" (noticed later)

    __table_args__ = (Index("ix_seat_events_at", "at"), Index("ix_seat_events_seat_id", "seat", "id"))


class FederationExchange(Base):
    """The audit log of the federation (0007): every request a peer made —
    refused ones too — and every push to a peer, each try: who (`peer`, and
    `actor` of the change pushed), when, what (method, path, body digest, the
    order and kind) and the answer (HTTP status, or None when none came;
    `note` the reason or error).  Kept HOTLINE_FEDERATION_AUDIT_DAYS."""

    __tablename__ = "federation_exchanges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    peer: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(3))  # "in": the peer asked us; "out": we pushed
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(64))
    body_sha256: Mapped[str] = mapped_column(String(64))
    answer: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(256))
    order_id: Mapped[str | None] = mapped_column(String(36))
    kind: Mapped[str | None] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_federation_exchanges_at", "at"),
                      Index("ix_federation_exchanges_peer_at", "peer", "at"))
