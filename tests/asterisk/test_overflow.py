"""Remote-seat overflow (远程话务座席支持) in a surge — on the real Asterisk.

The module runs its own Asterisk with a 12345 centre of two local seats
(1001, 1002) and a fast surge detector (check every 0.1 s, open at once,
clear after 1.5 s).  The AMI bridge mirrors the live state into Redis, the
overflow controller reads it and adds/removes the remote group's members
over AMI; admins change the group through the REST API.  Remote seats are
Local channels into the simulated phones (9001-9004: no centre's seats), so
each reports the number its display shows.  Every test ends with no channel
left.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis
from sqlalchemy import select

from agi.background import wait_for
from app.live.store import bridge_source
from app.orders.services import OrderService
from app.overflow.config import OverflowConfig
from app.overflow.controller import OverflowController
from app.runtime import db
from app.runtime.models import Order, SurgeEvent, utcnow
from app.tools.simulation import SEAT_ANSWERED_EVENT, CitizenCall, clean_redis
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.live import UPDATES_CHANNEL
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

log = logging.getLogger(__name__)

LOCAL_SEATS = {"1001", "1002"}
REMOTE_SEATS = {"9001", "9002", "9003", "9004"}
GROUP = {
    "centre": "12345",
    "name": "gx-remote",
    "members": [f"Local/{s}@hotline-seat-phones" for s in sorted(REMOTE_SEATS)],
    "priority": 5,
    "min_waiting": 2,
}


@dataclass
class Surge:
    pbx: Pbx
    api: TestClient
    admin: dict[str, str]
    controller: OverflowController
    sessions: Any

    async def call(self, number: str) -> CitizenCall:
        return await self.pbx.citizen_dials("12345", number)

    async def answered(self, number: str, timeout: float = 15.0) -> dict[str, Any]:
        return await self.pbx.seat_answered(number, timeout=timeout)

    def answers(self) -> dict[str, dict[str, Any]]:
        """Citizen number -> the seat phone's HotlineSeatAnswered event."""
        return {e["Citizen"]: e for e in self.pbx.events.find(
            lambda e: e.get("Event") == "UserEvent" and e.get("UserEvent") == SEAT_ANSWERED_EVENT)}

    async def live(self) -> dict[str, Any]:
        resp = await self.api.get("/api/live", headers=self.admin)
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def surge(self) -> dict[str, Any]:
        return (await self.live())["centres"][0]["surge"]

    async def dynamic_members(self) -> set[str]:
        """The remote members in the queue (the local seats are dynamic too: they sign in)."""
        reply = await self.pbx.ami.send({"Action": "QueueStatus", "Queue": "hotline-12345"})
        return {m.get("Name", "") for m in reply if isinstance(m, dict)
                and m.get("Event") == "QueueMember" and m.get("Membership") == "dynamic"
                and m.get("Name") not in LOCAL_SEATS}

    async def overflow_orders(self) -> list[Order]:
        async with self.sessions() as session:
            return list(await session.scalars(select(Order).where(Order.mode == "overflow")
                                              .order_by(Order.created_at)))

    async def surge_events(self) -> list[SurgeEvent]:
        async with self.sessions() as session:
            return list(await session.scalars(select(SurgeEvent).order_by(SurgeEvent.id)))

    async def waiting_in_queue(self, number: str) -> bool:
        """`number` waits in the 12345 queue (the admin sees numbers masked: 136****0001)."""
        queue = (await self.live())["centres"][0]["queues"][0]
        masked = f"{number[:3]}****{number[-4:]}"
        return any(e["caller_number"] in (number, masked) for e in queue["entries"])

    async def not_answered_within(self, number: str, seconds: float) -> None:
        """Polls the seat events for `seconds`: nobody may answer `number`."""
        with pytest.raises(AssertionError):
            await self.answered(number, timeout=seconds)


@pytest.fixture(scope="module")
async def surge_pbx(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    pbx = await Pbx.start(tmp_path_factory.mktemp("overflow"),
                          HOTLINE_CENTRES="12345:1001-1002;110:2001-2002",
                          HOTLINE_OVERFLOW_CHECK_INTERVAL="0.1",
                          HOTLINE_OVERFLOW_OPEN_AFTER="0",
                          HOTLINE_OVERFLOW_CLEAR_AFTER="1.5")
    try:
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture(scope="module")
async def stack(surge_pbx: Pbx) -> AsyncIterator[Surge]:
    """Bridge + overflow controller + web API over one SQLite file; the
    controller reads the bridge's live state in memory, as in `hotline up`
    (`tests/asterisk/test_trunks.py` runs one that reads Redis)."""
    settings = surge_pbx.settings
    bridge = surge_pbx.live_mirror()
    await bridge.start()
    await db.migrate(settings.effective_database_url)
    engine = db.create_engine(settings.effective_database_url)
    sessions = db.session_factory(engine)
    controller = OverflowController(settings, OverflowConfig(sessions, settings.site.centres), bridge.ami,
                                    OrderService(sessions), live=bridge_source(bridge.live))
    await controller.start()
    api = TestClient(TestServer(init_app(settings)))
    await api.start_server()
    token = await create_token(api.app[SESSIONS], role="admin", name=f"ovf-{uuid.uuid4().hex[:8]}", now=utcnow())
    try:
        yield Surge(surge_pbx, api, {"Authorization": f"Bearer {token}"}, controller, sessions)
    finally:
        log.info("module teardown: api")
        await api.close()
        log.info("module teardown: controller")
        await controller.stop()
        log.info("module teardown: bridge")
        await bridge.stop()
        await engine.dispose()
        log.info("module teardown: redis")
        await clean_redis(settings)


@pytest.fixture
async def surge(stack: Surge) -> AsyncIterator[Surge]:
    """No group, no remote member, phones answering; after the test: no channel left."""
    pbx = stack.pbx
    await pbx.reset_phones()
    await eventually(lambda: pbx.ami.connected, what="AMI connected")
    await eventually(lambda: stack.controller.loads.get("12345") is not None, what="controller sees live state")
    pbx.events.clear()
    try:
        yield stack
    finally:
        log.info("teardown: hanging up")
        await pbx.ami.send({"Action": "Hangup", "Channel": "/^Local\\//"})
        for group in await stack.controller.config.rows():
            await stack.controller.config.delete(group.name, actor="test")
        log.info("teardown: groups deleted")
        await eventually(lambda: not stack.controller.states, what="controller forgot the groups")
        await eventually(lambda: _no_dynamic(stack), what="remote members removed")
        log.info("teardown: leak check")
        await pbx.assert_nothing_left()
        await wait_for(stack.controller.drain(), 15)
        log.info("teardown: done")


async def _no_dynamic(stack: Surge) -> bool:
    return not await stack.dynamic_members()


async def _local_seats_busy(surge: Surge) -> list[CitizenCall]:
    """Two citizens talking to the two local seats."""
    calls = [await surge.call("13900000001"), await surge.call("13900000002")]
    seats = {(await surge.answered(c.number))["Seat"] for c in calls}
    assert seats == LOCAL_SEATS
    return calls


async def test_when_local_seats_are_busy_and_10_citizens_call_then_the_remote_group_answers_all_with_their_numbers(
    surge: Surge,
) -> None:
    created = await surge.api.post("/api/overflow/groups", json=GROUP, headers=surge.admin)
    assert created.status == 201, await created.text()
    await _local_seats_busy(surge)

    burst = [f"1380000{i:04d}" for i in range(10)]
    calls = {}
    for number in burst:  # ten citizens within a few seconds
        calls[number] = await surge.call(number)

    async def surge_open() -> bool:
        return (await surge.surge())["open"]

    await eventually(surge_open, timeout=10, what="/api/live shows the surge open")

    # Remote seats answer; each call is short (the citizen hangs up once
    # answered), so the four remote seats take all ten in turn.
    done: set[str] = set()

    async def all_answered() -> bool:
        for number in surge.answers():
            if number in calls and number not in done:
                done.add(number)
                await surge.pbx.hang_up(calls[number].handset_id)
        assert done == set(burst), f"answered so far: {len(done)}/10"
        return True

    await eventually(all_answered, timeout=60, interval=0.1, what="every citizen of the burst answered")

    answers = surge.answers()
    for number in burst:
        event = answers[number]
        assert event["Seat"] in REMOTE_SEATS, f"{number} answered by {event['Seat']}"
        assert event["ShownNum"] == number  # the remote seat sees the citizen's own number
        assert event["Centre"] == "12345"
    abandoned = surge.pbx.events.find(lambda e: e.get("Event") == "QueueCallerAbandon")
    assert abandoned == []  # none dropped

    async def recorded() -> list[Order]:
        orders = await surge.overflow_orders()
        assert len(orders) == 10, f"{len(orders)} overflow orders"
        return orders

    orders = await eventually(recorded, timeout=10, what="every overflowed call recorded")
    assert {o.citizen_number for o in orders} == set(burst)
    for order in orders:
        assert (order.mode, order.status, order.target, order.source_centre) == \
            ("overflow", "accepted", "gx-remote", "12345")
        assert order.target_seat in REMOTE_SEATS
        assert order.wait_ms is not None and 0 <= order.wait_ms < 60_000
        assert order.number.startswith("12345-")

    # After the burst: calls end, the surge clears (hysteresis), the next call goes local.
    await surge.pbx.ami.send({"Action": "Hangup", "Channel": "/^Local\\//"})

    async def surge_closed() -> bool:
        return not (await surge.surge())["open"] and not await surge.dynamic_members()

    await eventually(surge_closed, timeout=15, what="surge cleared and remote members gone")
    kinds = [(e.group_name, e.kind) for e in await surge.surge_events()]
    assert kinds[0] == ("gx-remote", "open") and kinds[-1] == ("gx-remote", "close")
    assert kinds[-1] != kinds[-2]  # open and close alternate
    after = await surge.call("13700000001")
    assert (await surge.answered(after.number))["Seat"] in LOCAL_SEATS
    await surge.pbx.hang_up(after.handset_id)


async def test_when_an_admin_lowers_the_threshold_then_the_next_call_overflows_and_after_delete_none_does(
    surge: Surge,
) -> None:
    group = {**GROUP, "min_waiting": 5}
    before = len(await surge.surge_events())
    created = await surge.api.post("/api/overflow/groups", json=group, headers=surge.admin)
    assert created.status == 201, await created.text()
    await _local_seats_busy(surge)

    first = await surge.call("13600000001")
    await eventually(lambda: surge.waiting_in_queue(first.number), what="the citizen waits in the queue")
    await surge.not_answered_within(first.number, 1.5)  # 1 waiting < 5: no surge, no remote seat
    assert not (await surge.surge())["open"]

    changed = await surge.api.patch("/api/overflow/groups/gx-remote", json={"min_waiting": 1},
                                    headers=surge.admin)
    assert changed.status == 200, await changed.text()
    answered = await surge.answered(first.number, timeout=10)
    assert answered["Seat"] in REMOTE_SEATS and answered["ShownNum"] == first.number

    deleted = await surge.api.delete("/api/overflow/groups/gx-remote", headers=surge.admin)
    assert deleted.status == 204
    await eventually(lambda: _no_dynamic(surge), what="the deleted group's members leave the queue")
    # the remote call in progress is not disturbed
    assert await surge.pbx.seat_channel(answered["Seat"]) is not None

    second = await surge.call("13600000002")
    await eventually(lambda: surge.waiting_in_queue(second.number), what="the next citizen waits")
    await surge.not_answered_within(second.number, 1.5)
    kinds = [(e.kind, e.reason) for e in (await surge.surge_events())[before:]]
    assert kinds == [("open", "waiting 1 >= 1"), ("close", "group deleted")]


async def test_when_no_local_seat_is_free_then_a_group_with_that_trigger_takes_the_waiting_caller(
    surge: Surge,
) -> None:
    group = {**GROUP, "min_waiting": None, "when_no_local_free": True}
    created = await surge.api.post("/api/overflow/groups", json=group, headers=surge.admin)
    assert created.status == 201, await created.text()
    redis = Redis.from_url(surge.pbx.settings.redis.url, decode_responses=True)
    updates = redis.pubsub()
    await updates.subscribe(surge.pbx.settings.redis.prefix + UPDATES_CHANNEL)
    try:
        await _local_seats_busy(surge)
        third = await surge.call("13500000001")
        answered = await surge.answered(third.number, timeout=10)
        assert answered["Seat"] in REMOTE_SEATS and answered["ShownNum"] == third.number
        view = await surge.surge()
        assert view["open"] and view["groups"][0]["reason"] == "no local seat free"

        async def surge_announced() -> bool:  # the dashboard's live stream wakes on it
            message = await updates.get_message(ignore_subscribe_messages=True, timeout=0.2)
            return bool(message) and json.loads(message["data"]) == {"surge": ["12345"]}
        await eventually(surge_announced, timeout=10, what="the surge announced on live:updates")
    finally:
        await updates.aclose()
        await redis.aclose()
