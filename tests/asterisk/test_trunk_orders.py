"""One order per handoff on the receiving platform, whichever comes first:
the call over the trunk (X-Hotline-Handoff read on B, `peer_handoff`) or
A's push (issue 13, item 2).  Two real Asterisks (A 12345, B 110), each with
its own SQLite orders, FastAGI, AMI and web service; A's pushes go to B's
federation API, signed.  The order of arrival is made, not hoped for: A's
pusher starts only once B has the call's order, or B's `peer_handoff` route
holds the call until B has the push's order."""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy import select

from agi.call import AgiCall
from app.federation import plugin as federation_feature
from app.federation.health import link_status
from app.federation.http import FEDERATION
from app.federation.pusher import FederationPusher
from app.handoff import plugin as handoff_feature
from app.inbound import plugin as inbound_feature
from app.live import plugin as live_feature
from app.orders import plugin as orders_feature
from app.runtime.features import Dependencies
from app.runtime.models import Order, utcnow
from app.web.app import init_app
from app.web.auth import create_token
from core.settings import FederationSettings, Peer
from tests.federation.conftest import (
    ORG_110,
    ORG_12345,
    SECRET,
    document_bytes,
    signed_headers,
)
from tests.support.orders import OrderReader
from tests.support.pbx import free_port
from tests.support.platforms import (
    Platforms,
    received,
    start_platform,
    start_two_platforms,
    trunk_spec,
)
from tests.support.waiting import eventually

CITIZEN = "13800138000"
FEATURES = (inbound_feature, orders_feature, handoff_feature, live_feature, federation_feature)


def _federation(name: str, org: str, peer: Peer) -> FederationSettings:
    return FederationSettings(name=name, peers=(peer,), division_code="450700", org_code=org,
                              unit_name=f"钦州市{name}", retry_s=(0.5, 1.0, 2.0, 5.0), jitter=0.0, timeout_s=2.0,
                              poll_s=0.02)


@dataclass
class Linked:
    platforms: Platforms
    deps_a: Dependencies
    deps_b: Dependencies
    pusher_a: FederationPusher
    urls: tuple[str, str]

    async def b_orders(self) -> list[Order]:
        async with self.deps_b.sessions() as session:
            return list(await session.scalars(select(Order)))


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[Linked]:
    p = await start_two_platforms(tmp_path)
    runners: list[web.AppRunner] = []
    pusher: FederationPusher | None = None
    try:
        port_a, port_b = free_port(), free_port()
        settings_a = p.a.settings.with_(network={"http_port": port_a}, federation=_federation(
            "gov-12345", ORG_12345, Peer("police-110", f"http://127.0.0.1:{port_b}", ("110",), SECRET)))
        settings_b = p.b.settings.with_(network={"http_port": port_b}, federation=_federation(
            "police-110", ORG_110, Peer("gov-12345", f"http://127.0.0.1:{port_a}", ("12345",), SECRET)))
        urls = tuple(f"sqlite+aiosqlite:///{tmp_path / n / 'orders.db'}" for n in ("a", "b"))
        # A: no web role, so no pusher of its own: the test starts it when the order of arrival wants it
        deps_a = await p.a.wire(urls[0], settings=settings_a, features=FEATURES)
        deps_b = await p.b.wire(urls[1], settings=settings_b, features=FEATURES,
                                roles=frozenset({"agi", "bridge", "web"}))
        assert deps_a is not None and deps_b is not None
        for settings, deps in ((settings_a, deps_a), (settings_b, deps_b)):
            runner = web.AppRunner(init_app(settings, deps=deps))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", settings.network.http_port).start()
            runners.append(runner)
        pusher = FederationPusher(deps_a.get(FEDERATION))
        yield Linked(p, deps_a, deps_b, pusher, (f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"))
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        if pusher is not None:
            await pusher.stop()
        for runner in runners:
            await runner.cleanup()
        await p.stop()


async def _hand_over(linked: Linked) -> tuple[Any, str, Order]:
    """A citizen on A, answered by a 12345 seat who presses *1: the call goes to 110 on B."""
    a, b = linked.platforms.a, linked.platforms.b
    call = await a.citizen_dials("12345", CITIZEN)
    seat = (await a.seat_answered(CITIZEN))["Seat"]
    a.events.clear()
    await a.press_key(seat, "*1")
    got = await received(b, "110")
    order_a = await linked.platforms.orders_a.one(call.handset_id)
    assert got["Handoff"].startswith(f"{order_a.id};src=12345;seat={seat}")
    return call, seat, order_a


async def _b_order(linked: Linked, order_a: Order, **expected: Any) -> Order:
    async def check() -> Order:
        orders = await linked.b_orders()
        assert len(orders) == 1, f"{len(orders)} orders on B"
        order = orders[0]
        wrong = {k: getattr(order, k) for k, v in expected.items() if getattr(order, k) != v}
        assert order.peer_order_id == order_a.id and not wrong, f"B's order has {wrong}, waiting for {expected}"
        return order
    return await eventually(check, timeout=15, what=f"B's order with {expected}")


async def test_when_the_call_comes_before_the_push_then_110_makes_its_order_from_the_call_and_merges_the_push(
        linked: Linked) -> None:
    call, seat, order_a = await _hand_over(linked)
    order = await _b_order(linked, order_a, peer="gov-12345", peer_side="in", peer_seq=None)
    assert (order.status, order.source_centre, order.target_centre, order.citizen_number, order.source_seat) == (
        "dispatched", "12345", "110", CITIZEN, seat)
    assert order.channel and order.channel.startswith("PJSIP/peer-12345-") and order.linkedid
    assert order.number.startswith("110-") and order.division_code is None  # the call does not carry it
    [item] = await linked.deps_a.get(FEDERATION).items()
    assert (item.kind, item.state) == ("order", "pending")  # A's push is held back so far

    await linked.pusher_a.start()
    merged = await _b_order(linked, order_a, peer_seq=1, peer_number=order_a.number, division_code="450700")
    assert (merged.id, merged.linkedid, merged.channel) == (order.id, order.linkedid, order.channel)
    events = await OrderReader(linked.deps_b.sessions).events(order.id)
    assert [e.kind for e in events] == ["created", "peer_order_merged"]
    assert events[0].actor == events[1].actor == "peer:gov-12345"
    assert events[1].detail["from"] == "push" and events[1].detail["filled"]["division_code"] == "450700"

    async def acknowledged() -> bool:  # A shows 110's order number next to its own
        got = await linked.platforms.orders_a.one(call.handset_id)
        assert got.peer_number == order.number, got.peer_number
        return True
    await eventually(acknowledged, timeout=10, what="A showing 110's order number")

    # the push sent again (an answer lost): nothing changes on B
    [item] = await linked.deps_a.get(FEDERATION).items()
    body = document_bytes(item.document)
    async with aiohttp.ClientSession() as http:
        async with http.post(linked.urls[1] + item.path, data=body,
                             headers=signed_headers("gov-12345", SECRET, item.path, body)) as response:
            assert response.status == 200 and (await response.json())["id"] == order.id
    assert len(await OrderReader(linked.deps_b.sessions).events(order.id)) == 2

    answered = await linked.platforms.b.seat_answered(CITIZEN)
    assert answered["PeerHandoff"] == order_a.id
    await linked.platforms.a.hang_up(call.handset_id)


async def test_when_the_push_comes_before_the_call_then_110_merges_the_call_into_the_pushed_order(
        linked: Linked) -> None:
    b_routes = linked.platforms.b.agi.routes
    held: list[str] = []

    async def after_the_push(agi_call: AgiCall) -> None:
        async def pushed() -> bool:
            assert await linked.b_orders(), "no order from the push on B yet"
            return True
        await eventually(pushed, timeout=10, what="the push's order on B before the call goes on")
        held.append(agi_call.headers.get("agi_channel", ""))
        await real(agi_call)
    real = b_routes.replace("peer_handoff", after_the_push)
    await linked.pusher_a.start()

    call, seat, order_a = await _hand_over(linked)
    await eventually(lambda: held, timeout=15, what="the call let through after the push")
    order = await _b_order(linked, order_a, peer_seq=1, source_seat=seat, channel=held[0])
    assert (order.channel or "").startswith("PJSIP/peer-12345-") and order.linkedid
    assert (order.status, order.peer_number, order.division_code) == ("dispatched", order_a.number, "450700")
    events = await OrderReader(linked.deps_b.sessions).events(order.id)
    assert [e.kind for e in events] == ["created", "peer_call_merged"]
    assert events[1].detail["from"] == "call" and events[1].detail["handoff"] == order_a.id
    assert set(events[1].detail["filled"]) >= {"linkedid", "channel"}

    answered = await linked.platforms.b.seat_answered(CITIZEN)
    assert answered["PeerHandoff"] == order_a.id
    await linked.platforms.a.hang_up(call.handset_id)
    assert len(await linked.b_orders()) == 1


async def test_when_the_trunk_qualifies_then_supervisors_see_it_reachable_with_the_push_queue(
        linked: Linked) -> None:
    token = await create_token(linked.deps_b.sessions, role="supervisor", name="sup-b", now=utcnow())
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async def reachable() -> dict[str, Any]:
            async with http.get(linked.urls[1] + "/api/federation/status") as response:
                [link] = (await response.json())["peers"]
            assert link["trunks"] and link["trunks"][0]["status"] == "Reachable", link["trunks"]
            return link
        link = await eventually(reachable, timeout=15, what="B's trunk to A reachable")
        assert link["peer"] == "gov-12345" and link["trunks"][0]["name"] == "peer-12345"
        assert (link["pending"], link["failed"], link["ok"]) == (0, 0, True)
        async with http.get(linked.urls[1] + "/api/live") as response:
            [shown] = (await response.json())["federation"]
        assert shown["trunks"][0]["reachable"] is True


async def test_when_the_trunk_is_down_then_link_health_says_unreachable(tmp_path: Path) -> None:
    dead = free_port(socket.SOCK_DGRAM)  # nothing answers there
    a = await start_platform(tmp_path / "a", "12345:1001-1002", free_port(socket.SOCK_DGRAM),
                             HOTLINE_TRUNKS=trunk_spec("peer-110", dead), HOTLINE_REMOTE_CENTRES="110=peer-110")
    redis = Redis.from_url(a.settings.redis.url)
    try:
        settings = a.settings.with_(federation=_federation(
            "gov-12345", ORG_12345, Peer("police-110", "http://127.0.0.1:9", ("110",), SECRET)))
        deps = await a.wire(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'orders.db'}", settings=settings,
                            features=FEATURES)
        assert deps is not None
        service = deps.get(FEDERATION)

        async def unreachable() -> dict[str, Any]:
            [link] = await link_status(service, redis, utcnow())
            assert link["trunks"][0]["status"] == "Unreachable", link["trunks"]
            return link
        link = await eventually(unreachable, timeout=20, what="the dead trunk unreachable")
        assert link["ok"] is False and link["trunks"][0]["name"] == "peer-110"
        await a.assert_nothing_left()
    finally:
        await redis.delete(a.settings.redis.prefix + "live:trunks")
        await redis.aclose()
        await a.stop()


async def test_when_110_does_not_answer_the_handoff_then_its_order_is_withdrawn(linked: Linked) -> None:
    for seat_b in ("2001", "2002"):
        await linked.platforms.b.set_phone(seat_b, "noanswer")
    await linked.pusher_a.start()
    call, seat, order_a = await _hand_over(linked)
    await _b_order(linked, order_a, peer_seq=1)  # made from the push (or the call), merged

    back = await linked.platforms.a.seat_answered(CITIZEN, timeout=20)  # the citizen is back with the A seat
    assert back["Seat"] == seat
    returned = await linked.platforms.orders_a.one(call.handset_id, "returned")
    assert returned.outcome_reason == "no_answer"
    withdrawn = await _b_order(linked, order_a, status="voided", peer_status="voided")
    [event] = [e for e in await OrderReader(linked.deps_b.sessions).events(withdrawn.id) if e.to_status == "voided"]
    assert event.actor == "peer:gov-12345" and event.detail["reason"] == "no_answer"
    await linked.platforms.a.hang_up(call.handset_id)
