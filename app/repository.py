"""Work-order persistence: add and read orders and their events (persistence layer).

Functions take an `AsyncSession`; the caller owns the transaction
(`async with sessions.begin() as session: ...`).  They flush so generated
ids are visible, but never commit.  No business rules here (which status may
follow which belongs to `core/`), no HTTP.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import BadInput, NotFound
from app.models import ORDER_MODES, Order, OrderEvent, utcnow

log = logging.getLogger(__name__)


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
) -> OrderEvent:
    """Append an event to the order's audit trail; raises `NotFound` for an unknown order."""
    if await session.get(Order, order_id) is None:
        raise NotFound("order", order_id)
    event = OrderEvent(
        order_id=order_id, actor=actor, kind=kind, from_status=from_status,
        to_status=to_status, detail=detail or {}, at=at or utcnow(),
    )
    session.add(event)
    await session.flush()
    log.debug("order %s event %s: %s -> %s by %s", order_id, kind, from_status, to_status, actor)
    return event


async def list_events(session: AsyncSession, order_id: str) -> list[OrderEvent]:
    """The order's events, oldest first (insertion order)."""
    result = await session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
    )
    return list(result)
