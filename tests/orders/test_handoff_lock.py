"""The double-press guard across processes: a Redis lock per call (real Redis, real database).

Two `HandoffService`s stand for two processes (a FastAGI server and the web
service's button, or two FastAGI servers): each has its own in-process guard,
they share the orders database and Redis.
"""
from __future__ import annotations

import asyncio
import time

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.handoff.lock import RedisHandoffLock
from app.handoff.services import HandoffService
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.models import Order
from core.handoff import HandoffRequest
from core.settings import Settings

SETTINGS = Settings.from_env({"HOTLINE_CENTRES": "12345:1001-1004;110:2001-2002"})
SEAT = "Local/1001@hotline-seat-phones-0000000d;1"
CITIZEN = "Local/12345@hotline-inbound-0000000c;2"


def _request(via: str = "key") -> HandoffRequest:
    return HandoffRequest(seat_channel=SEAT, citizen_channel=CITIZEN, citizen_number="13800138000",
                          centre="12345", linkedid="1795612176.42", via=via)  # type: ignore[arg-type]


async def _orders(engine: AsyncEngine) -> list[Order]:
    async with db.session_factory(engine)() as session:
        return list(await session.scalars(select(Order)))


async def test_when_two_processes_take_the_same_call_at_once_then_one_order(
        service: OrderService, engine: AsyncEngine, redis: Redis, redis_prefix: str) -> None:
    key_side = HandoffService(SETTINGS, service, RedisHandoffLock(redis, redis_prefix))
    button_side = HandoffService(SETTINGS, service, RedisHandoffLock(redis, redis_prefix))

    first, second = await asyncio.gather(key_side.start(_request("key"), None),
                                         button_side.start(_request("button"), None))

    assert sorted([first.ok, second.ok]) == [False, True]
    refused = second if first.ok else first
    assert refused.refusal is not None and refused.refusal.reason == "already_transferring"
    assert len(await _orders(engine)) == 1
    # the winner moves the citizen: the call is free for the next handoff (e.g. back again)
    winner, winner_started = (key_side, first) if first.ok else (button_side, second)
    assert winner_started.plan is not None
    await winner.moved(winner_started.plan)
    assert [k async for k in redis.scan_iter(match=f"{redis_prefix}handoff-lock:*")] == []
    again = await (button_side if winner is key_side else key_side).start(_request(), None)
    assert again.ok


async def test_when_redis_is_down_then_transfer_goes_ahead_on_the_in_process_guard(
        service: OrderService, engine: AsyncEngine) -> None:
    dead = RedisHandoffLock.from_url("redis://127.0.0.1:1/0", "dead:")
    handoffs = HandoffService(SETTINGS, service, dead)
    try:
        t0 = time.monotonic()
        started = await handoffs.start(_request(), None)
        assert started.ok and time.monotonic() - t0 < 1.0  # never blocked on Redis
        again = await handoffs.start(_request(), None)  # the in-process guard still holds
        assert again.refusal is not None and again.refusal.reason == "already_transferring"
        assert started.plan is not None
        await handoffs.moved(started.plan)
        assert not handoffs.active.channels
    finally:
        await dead.close()
    assert len(await _orders(engine)) == 1


async def test_lock_is_released_only_by_its_holder(redis: Redis, redis_prefix: str) -> None:
    a, b = RedisHandoffLock(redis, redis_prefix), RedisHandoffLock(redis, redis_prefix)
    assert await a.acquire("call-1") is True
    assert await b.acquire("call-1") is False
    await b.release("call-1")  # not b's: nothing happens
    assert await redis.exists(f"{redis_prefix}handoff-lock:call-1")
    await a.release("call-1")
    assert await b.acquire("call-1") is True
    assert 0 < await redis.pttl(f"{redis_prefix}handoff-lock:call-1") <= 5000  # a dead holder's lock expires
