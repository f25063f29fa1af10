"""Reading the orders a telephony test left, straight from the database."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime.models import Order, OrderEvent
from tests.support.waiting import eventually


@dataclass
class OrderReader:
    sessions: async_sessionmaker[AsyncSession]

    async def of_call(self, linkedid: str) -> list[Order]:
        async with self.sessions() as session:
            return list(await session.scalars(select(Order).where(Order.linkedid == linkedid)
                                              .order_by(Order.created_at)))

    async def one(self, linkedid: str, status: str | None = None, timeout: float = 15.0) -> Order:
        """The call's only order, once it has `status` (polled with a deadline)."""
        async def check() -> Order:
            orders = await self.of_call(linkedid)
            assert len(orders) == 1, f"{len(orders)} orders for call {linkedid}"
            if status is not None:
                assert orders[0].status == status, f"order is {orders[0].status}, waiting for {status}"
            return orders[0]
        return await eventually(check, timeout=timeout, what=f"one {status or ''} order for {linkedid}")

    async def events(self, order_id: str) -> list[OrderEvent]:
        async with self.sessions() as session:
            return list(await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                              .order_by(OrderEvent.id)))
