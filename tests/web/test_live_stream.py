"""GET /api/live/stream: server-sent events of the live view, the latest
handoffs and the overdue orders — against a real Redis (pub/sub included)."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from agi.background import wait_for
from app.orders.http import ORDERS
from app.web.app import init_app
from core.live import QUEUES_KEY, UPDATES_CHANNEL, QueueEntry, QueueState, change_notice
from core.settings import Settings
from tests.web.conftest import authorize


async def next_event(resp: ClientResponse, name: str, timeout: float = 3.0) -> dict[str, Any]:
    """The data of the next `name` event on the stream (others are skipped)."""
    async def read() -> dict[str, Any]:
        event: str | None = None
        data: list[str] = []
        while True:
            raw = await resp.content.readline()
            assert raw, "the stream ended"
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if event == name and data:
                    return json.loads("\n".join(data))
                event, data = None, []
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
    return await wait_for(read(), timeout)


async def put_waiting_call(redis: Redis, prefix: str, number: str) -> None:
    """What the AMI bridge does when a citizen joins the 12345 queue: write, then publish."""
    queue = QueueState("hotline-12345", "12345", "public",
                       entries=[QueueEntry("Local/x;2", "u1", 1, number, time.time() - 5)])
    await redis.hset(prefix + QUEUES_KEY, queue.name, queue.to_json())
    await redis.publish(prefix + UPDATES_CHANNEL, change_notice({"queue": [queue.name]}))


def waiting(live: dict[str, Any]) -> list[str]:
    return [e["caller_number"] for c in live["centres"] for q in c["queues"] for e in q["entries"]]


async def test_when_a_citizen_joins_a_queue_then_the_stream_pushes_the_call_within_a_second(
        client: TestClient, redis: Redis, settings: Settings) -> None:
    async with client.get("/api/live/stream") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await next_event(resp, "live")
        assert waiting(first) == []

        started = time.monotonic()
        await put_waiting_call(redis, settings.redis.prefix, "13800138000")
        pushed = await next_event(resp, "live", timeout=1.0)
        assert waiting(pushed) == ["13800138000"]  # a seat sees the number
        assert time.monotonic() - started < 1.0


async def test_when_the_role_may_not_see_numbers_then_the_stream_masks_them(
        client: TestClient, redis: Redis, settings: Settings) -> None:
    await authorize(client, "admin")  # admin is not in the default unmasked roles
    await put_waiting_call(redis, settings.redis.prefix, "13800138000")
    async with client.get("/api/live/stream") as resp:
        assert waiting(await next_event(resp, "live")) == ["138****8000"]


async def test_when_a_handoff_is_recorded_then_the_stream_lists_it(client: TestClient) -> None:
    async with client.get("/api/live/stream") as resp:
        assert (await next_event(resp, "orders"))["handoffs"] == []
        order = await client.app[ORDERS].create(mode="transfer", source_centre="12345", target_centre="110",
                                                citizen_number="13800138000", actor="test", source_seat="1001")
        listed = await next_event(resp, "orders", timeout=3.0)
        assert [(o["id"], o["status"], o["citizen_number"]) for o in listed["handoffs"]] == [
            (order.id, "pending", "13800138000")]
        await client.app[ORDERS].transition(order.id, "accepted", actor="test", target_seat="2001")
        accepted = await next_event(resp, "orders", timeout=3.0)
        assert [(o["status"], o["target_seat"]) for o in accepted["handoffs"]] == [("accepted", "2001")]
        assert accepted["overdue"] == [] and accepted["overdue_total"] == 0


async def test_when_no_token_is_sent_then_the_stream_answers_401(client: TestClient) -> None:
    client.session.headers.pop("Authorization")
    resp = await client.get("/api/live/stream")
    assert resp.status == 401


async def test_when_redis_is_down_then_the_stream_says_so_instead_of_failing(
        settings: Settings, closed_port: int) -> None:
    dead = settings.with_(redis={"url": f"redis://127.0.0.1:{closed_port}/0"})
    async with TestClient(TestServer(init_app(dead))) as client:
        await authorize(client)
        async with client.get("/api/live/stream") as resp:
            assert resp.status == 200
            problem = await next_event(resp, "problem", timeout=10.0)
            assert problem["service"] == "redis"


async def test_when_the_service_stops_then_open_streams_end_promptly(settings: Settings) -> None:
    client = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    await authorize(client)
    resp = await client.get("/api/live/stream")
    await next_event(resp, "live")
    started = time.monotonic()
    await client.close()
    assert time.monotonic() - started < 5.0


async def test_when_the_feeds_redis_loop_swallows_a_cancel_then_closing_the_feed_still_ends_it(
        client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cancel landing in redis-py's pub/sub read can be swallowed, the loop
    then listening on: the service's stop once waited on it for good."""
    from agi.background import cancel_all
    from app.live.feed import LiveFeed
    from app.web.keys import SESSIONS

    swallowed: list[bool] = []
    real_loop = LiveFeed._subscribe_loop

    async def swallows_once(self: LiveFeed) -> None:
        try:
            await real_loop(self)
        except asyncio.CancelledError:
            swallowed.append(True)
        await asyncio.get_running_loop().create_future()  # listens on, as after a swallowed cancel

    monkeypatch.setattr(LiveFeed, "_subscribe_loop", swallows_once)
    feed = LiveFeed(settings.redis.url, settings.redis.prefix, client.app[SESSIONS], client.app[ORDERS].now)
    with feed.watching():
        await asyncio.sleep(0.2)
    closing = asyncio.create_task(feed.close())
    done, _ = await asyncio.wait({closing}, timeout=5.0)  # no wait_for: a close that swallows it looks ended
    leftover = [*feed._tasks, closing]
    await cancel_all(leftover)
    assert swallowed == [True]
    assert done == {closing}, "the feed's close still waits on its redis loop"


async def test_when_the_token_is_revoked_then_its_open_stream_ends_within_a_second(
        client: TestClient, redis: Redis, settings: Settings) -> None:
    from app.runtime.models import utcnow
    from app.web.auth import revoke_token
    from app.web.keys import SESSIONS

    name = "revoked-seat"
    await authorize(client, "seat", name=name)
    await put_waiting_call(redis, settings.redis.prefix, "13800138000")
    async with client.get("/api/live/stream") as resp:
        assert waiting(await next_event(resp, "live")) == ["13800138000"]
        await revoke_token(client.app[SESSIONS], name=name, now=utcnow())  # as `hotline token revoke` does
        revoked = time.monotonic()

        async def until_the_end() -> bytes:
            rest = b""
            while chunk := await resp.content.read(4096):
                rest += chunk
            return rest

        rest = await wait_for(until_the_end(), 3.0)
        assert time.monotonic() - revoked < 1.0
        await put_waiting_call(redis, settings.redis.prefix, "13900139000")
        assert b"13900139000" not in rest
    async with client.get("/api/live/stream") as resp:
        assert resp.status == 401
