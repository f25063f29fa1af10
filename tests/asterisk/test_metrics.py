"""Prometheus /metrics on the real Asterisk: a waiting call, a handoff, the AGI routes.

Scraped the two ways production does: the web service's `/metrics` behind a
supervisor's token, and the metrics address of a process without the web
role (`HOTLINE_METRICS_PORT`, no token).  The live figures come from a
real AMI bridge's mirror in Redis.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.handoff import plugin as handoff
from app.inbound import plugin as inbound
from app.metrics import plugin as metrics
from app.orders import plugin as orders
from app.runtime.features import Dependencies
from app.runtime.models import utcnow
from app.tools.simulation import clean_redis
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from tests.support.metrics import samples, value
from tests.support.pbx import Pbx, free_port
from tests.support.waiting import eventually

CITIZEN = "13800138111"


@pytest.fixture
async def wired(pbx: Pbx, sqlite_url: str) -> AsyncIterator[Dependencies]:
    settings = pbx.settings.with_(network={"metrics_port": free_port()})
    deps = await pbx.wire(sqlite_url, settings=settings, features=(inbound, orders, handoff, metrics))
    assert deps is not None
    bridge = pbx.live_mirror()
    await bridge.start()
    try:
        yield deps
    finally:
        await bridge.stop()
        await pbx.use_database(None)
        await clean_redis(pbx.settings)


@pytest.fixture
async def web(wired: Dependencies) -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(init_app(wired.settings, deps=wired)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def _scrape_web(web: TestClient, token: str) -> dict:
    resp = await web.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/plain"
    return samples(await resp.text())


async def _scrape_port(port: int) -> dict:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        return samples(await resp.text())


async def test_when_a_call_waits_and_is_handed_over_then_metrics_show_it(
        pbx: Pbx, wired: Dependencies, web: TestClient) -> None:
    token = await create_token(web.app[SESSIONS], role="supervisor", name=f"prom-{uuid.uuid4().hex[:6]}",
                               now=utcnow())
    port = wired.settings.network.metrics_port
    assert port is not None
    before = await _scrape_web(web, token)

    # a citizen waits at 110 while its seats ring on
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    waiting = await pbx.citizen_dials("110", "13700137111")

    async def shown_waiting() -> bool:
        now = await _scrape_web(web, token)
        assert value(now, "hotline_queue_calls_waiting", queue="hotline-110") == 1, "no waiting call"
        assert value(now, "hotline_queue_longest_wait_seconds", queue="hotline-110") > 0
        assert value(now, "hotline_seats", centre="110") == 2  # every seat, in some state
        assert value(now, "hotline_bridge_ami_link_up") == 1
        return True

    await eventually(shown_waiting, timeout=10, what="the waiting call in /metrics")
    await pbx.hang_up(waiting.handset_id)
    await pbx.assert_nothing_left()
    await pbx.reset_phones()

    # a 12345 seat hands a citizen to 110 with the key, a 110 seat answers
    call = await pbx.citizen_dials("12345", CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    pbx.events.clear()
    await pbx.press_key(first["Seat"], "*1")
    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Centre"] == "110"

    async def counted() -> dict:
        now = await _scrape_port(port)  # the metrics address: no token
        labels = {"mode": "transfer", "direction": "12345->110"}
        assert value(now, "hotline_handoffs_total", outcome="accepted", **labels) \
            == value(before, "hotline_handoffs_total", outcome="accepted", **labels) + 1
        assert value(now, "hotline_handoff_key_to_answer_seconds_count", **labels) \
            == value(before, "hotline_handoff_key_to_answer_seconds_count", **labels) + 1
        assert value(now, "hotline_handoff_wait_seconds_count", **labels) \
            == value(before, "hotline_handoff_wait_seconds_count", **labels) + 1
        assert value(now, "hotline_handoff_outbox_depth") == 0
        assert value(now, "hotline_seats", centre="110", state="in_call") == 1
        return now

    now = await eventually(counted, timeout=10, what="the handoff counted in /metrics")
    # both calls asked the `inbound` route; the AMI link and its events are counted
    assert value(now, "hotline_agi_route_seconds_count", route="inbound", result="ok") \
        >= value(before, "hotline_agi_route_seconds_count", route="inbound", result="ok") + 2
    assert value(now, "hotline_ami_link_up") >= 1
    assert value(now, "hotline_ami_events_received_total", event="AgentConnect") \
        > value(before, "hotline_ami_events_received_total", event="AgentConnect")
    assert value(now, "hotline_orders_overdue") == 0
    assert ("process_cpu_seconds_total", frozenset()) in now
    await pbx.hang_up(call.handset_id)


async def test_when_no_supervisor_token_then_metrics_refused(wired: Dependencies, web: TestClient) -> None:
    assert (await web.get("/metrics")).status == 401
    seat = await create_token(web.app[SESSIONS], role="seat", name=f"seat-{uuid.uuid4().hex[:6]}", now=utcnow())
    assert (await web.get("/metrics", headers={"Authorization": f"Bearer {seat}"})).status == 403
