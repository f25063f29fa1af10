"""Work-order persistence: add and read orders and their events (persistence layer).

Functions take an `AsyncSession`; the caller owns the transaction
(`async with sessions.begin() as session: ...`).  They flush so generated
ids are visible, but never commit.  No business rules here (which status may
follow which belongs to `core/`), no HTTP.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, func, insert, not_, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.runtime.models import (
    ORDER_MODES,
    CatalogueEntry,
    Order,
    OrderCounter,
    OrderEvent,
    utcnow,
)
from app.web.errors import BadInput, NotFound
from core.sla import ON_SITE_OWED_IN, SIGN_OWED_IN

log = logging.getLogger(__name__)

# The hot path's statements, built once and executed with bound values: a
# statement object keeps its cache key, so executing it again skips building,
# coercing and keying it (which cost more than running it on SQLite).
_INSERT_EVENT = insert(OrderEvent)
_NEXT_SERIAL = {  # by dialect name
    name: upsert(OrderCounter).values(centre=bindparam("centre"), day=bindparam("day"), last=1)
    .on_conflict_do_update(index_elements=[OrderCounter.centre, OrderCounter.day],
                           set_={"last": OrderCounter.last + 1})
    .returning(OrderCounter.last)
    for name, upsert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_LOCK_ORDER = (
    update(Order).where(Order.id == bindparam("order_id")).values(updated_at=bindparam("now")).returning(Order)
    .execution_options(synchronize_session=False, populate_existing=True)
)


async def add_order(session: AsyncSession, order: Order) -> Order:
    """Insert `order` (id generated when unset) and return it, flushed."""
    if order.mode not in ORDER_MODES:
        raise BadInput("mode", f"{order.mode!r}: expected one of {', '.join(ORDER_MODES)}")
    session.add(order)
    await session.flush()
    log.info("order %s added: %s %s %s", order.number, order.id, order.direction, order.mode)
    return order


async def get_order(session: AsyncSession, order_id: str) -> Order:
    """The order with id `order_id`; raises `NotFound("order", id)`."""
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound("order", order_id)
    return order


async def add_event(
    session: AsyncSession,
    order_id: str,
    *,
    actor: str,
    kind: str,
    from_status: str | None = None,
    to_status: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append an event to the order's audit trail; raises `NotFound` for an unknown order."""
    if await session.get(Order, order_id) is None:
        raise NotFound("order", order_id)
    values = {"order_id": order_id, "actor": actor, "kind": kind, "from_status": from_status,
              "to_status": to_status, "detail": detail or {}, "at": at or utcnow()}
    # a plain INSERT on the transaction's connection, not the ORM's unit of
    # work (a flush: the order's pending changes go with it at commit)
    await (await session.connection()).execute(_INSERT_EVENT, values)
    log.debug("order %s event %s: %s -> %s by %s", order_id, kind, from_status, to_status, actor)


async def list_events(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    """The order's events, oldest first (insertion order)."""
    result = await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return list(result)


async def next_order_serial(session: AsyncSession, centre: str, day: str) -> int:
    """The next serial of `centre`'s orders on `day`, allocated atomically.

    One `INSERT .. ON CONFLICT (centre, day) DO UPDATE SET last = last + 1
    RETURNING last`: the row lock (PostgreSQL) or write lock (SQLite) is held
    until the caller's transaction ends, so two creators never share a number
    and a rolled-back creation gives its number back.
    """
    stmt = _NEXT_SERIAL[session.get_bind().dialect.name]
    return int((await session.execute(stmt, {"centre": centre, "day": day})).scalar_one())


async def lock_order(session: AsyncSession, order_id: str, now: datetime) -> Order:
    """Take the order's write lock (by touching `updated_at`) and return it freshly read,
    in one statement (UPDATE .. RETURNING: SQLite 3.35+, PostgreSQL).

    Raises `NotFound("order", id)`.  Must be the first write of the transaction.
    """
    order = (await session.execute(_LOCK_ORDER, {"order_id": order_id, "now": now})).scalar_one_or_none()
    if order is None:
        raise NotFound("order", order_id)
    return order


async def get_order_by_id_or_number(session: AsyncSession, key: str) -> Order:
    """The order whose id or human-readable number is `key`; raises `NotFound`."""
    order = await session.get(Order, key)
    if order is None:
        order = (await session.scalars(select(Order).where(Order.number == key))).first()
    if order is None:
        raise NotFound("order", key)
    return order


async def find_catalogue_entry(session: AsyncSession, jurisdiction: str, code: str) -> CatalogueEntry | None:
    return (await session.scalars(select(CatalogueEntry).where(
        CatalogueEntry.jurisdiction == jurisdiction, CatalogueEntry.code == code))).first()


@dataclass(frozen=True)
class OrderFilter:
    """What `GET /api/orders` may filter on; None means "any"."""

    status: str | None = None
    mode: str | None = None
    direction: str | None = None
    category: str | None = None
    order_class: str | None = None
    source_centre: str | None = None
    target_centre: str | None = None
    citizen_number: str | None = None
    linkedid: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    overdue: bool | None = None


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """SQL twin of `core.sla.breaches(...) != []` (a test keeps them in step)."""
    return or_(
        and_(Order.status.in_(SIGN_OWED_IN), Order.sign_due_at.is_not(None), Order.sign_due_at < now),
        and_(Order.status.in_(ON_SITE_OWED_IN), Order.on_site_due_at.is_not(None), Order.on_site_due_at < now),
    )


async def list_orders(session: AsyncSession, flt: OrderFilter, *, now: datetime, limit: int,
                      offset: int) -> tuple[list[Order], int]:
    """Orders matching `flt`, newest first, and how many match in all."""
    conditions: list[ColumnElement[bool]] = []
    for name in ("status", "mode", "direction", "category", "order_class", "source_centre", "target_centre",
                 "citizen_number", "linkedid"):
        value = getattr(flt, name)
        if value is not None:
            conditions.append(getattr(Order, name) == value)
    if flt.created_from is not None:
        conditions.append(Order.created_at >= flt.created_from)
    if flt.created_to is not None:
        conditions.append(Order.created_at < flt.created_to)
    if flt.overdue is True:
        conditions.append(overdue_condition(now))
    elif flt.overdue is False:
        conditions.append(not_(overdue_condition(now)))
    where = and_(true(), *conditions)
    total = int(await session.scalar(select(func.count()).select_from(Order).where(where)) or 0)
    rows = await session.scalars(select(Order).where(where)
                                 .order_by(Order.created_at.desc(), Order.number.desc())
                                 .limit(limit).offset(offset))
    return list(rows), total


async def latest_orders(session: AsyncSession, modes: tuple[str, ...], *, limit: int) -> list[Order]:
    """The newest orders of the given modes (the dashboard's latest handoffs), newest first."""
    rows = await session.scalars(select(Order).where(Order.mode.in_(modes))
                                 .order_by(Order.created_at.desc(), Order.number.desc()).limit(limit))
    return list(rows)


async def orders_in_status(session: AsyncSession, mode: str, status: str, *, limit: int = 5000) -> list[Order]:
    """Orders of `mode` in `status`, oldest first (the handoff reconciler's pending ones)."""
    rows = await session.scalars(select(Order).where(Order.mode == mode, Order.status == status)
                                 .order_by(Order.created_at).limit(limit))
    return list(rows)


async def orders_of_seat(session: AsyncSession, mode: str, seat: str, since: datetime, *,
                         limit: int = 20) -> list[Order]:
    """Orders of `mode` created since `since` with `seat` as source or target seat, newest first."""
    rows = await session.scalars(select(Order).where(
        Order.mode == mode, Order.created_at >= since, or_(Order.source_seat == seat, Order.target_seat == seat))
        .order_by(Order.created_at.desc()).limit(limit))
    return list(rows)


async def unflagged_overdue_ids(session: AsyncSession, now: datetime) -> list[str]:
    """Ids of orders with a breach the checker has not flagged yet."""
    rows = await session.scalars(select(Order.id).where(or_(
        and_(Order.status.in_(SIGN_OWED_IN), Order.sign_due_at < now, Order.sign_overdue_at.is_(None)),
        and_(Order.status.in_(ON_SITE_OWED_IN), Order.on_site_due_at < now, Order.on_site_overdue_at.is_(None)),
    )).order_by(Order.created_at).limit(1000))
    return list(rows)


async def count_by(session: AsyncSession, column: str, start: datetime, end: datetime,
                   *extra: ColumnElement[bool]) -> list[tuple[str | None, int]]:
    """(value, count) of `column` over orders created in [start, end), most frequent first."""
    col = getattr(Order, column)
    rows = await session.execute(
        select(col, func.count()).where(Order.created_at >= start, Order.created_at < end, *extra)
        .group_by(col).order_by(func.count().desc(), col))
    return [(value, int(count)) for value, count in rows]


async def status_before(session: AsyncSession, order_id: str, status: str) -> str | None:
    """The status the order left when it last entered `status` (its audit
    trail's latest event into `status` from another one), or None."""
    row = (await session.execute(
        select(OrderEvent.from_status)
        .where(OrderEvent.order_id == order_id, OrderEvent.to_status == status,
               OrderEvent.from_status.is_not(None), OrderEvent.from_status != status)
        .order_by(OrderEvent.id.desc()).limit(1))).first()
    return row[0] if row is not None else None
