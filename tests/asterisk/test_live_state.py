"""The AMI bridge mirrors the real Asterisk into Redis, and /api/live shows it —
also after Asterisk restarts."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ami_bridge.manager import ALWAYS_WANTED
from ami_bridge.service import AmiBridge
from ami_bridge.translate import HANDLED_EVENTS
from app.tools.simulation import clean_redis
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from tests.support.pbx import Pbx
from tests.support.waiting import eventually


@pytest.fixture
async def bridge(pbx: Pbx) -> AsyncIterator[AmiBridge]:
    b = pbx.live_mirror()
    await b.start()
    try:
        yield b
    finally:
        await b.stop()
        await clean_redis(pbx.settings)


@pytest.fixture
async def api(pbx: Pbx, bridge: AmiBridge) -> AsyncIterator[TestClient]:
    settings = pbx.settings.with_(database={"url": f"sqlite+aiosqlite:///{pbx.settings.paths.state_dir / 'live.db'}"})
    client = TestClient(TestServer(init_app(settings)))
    await client.start_server()
    token = await create_token(client.app[SESSIONS], role="supervisor", name=f"live-{uuid.uuid4().hex[:8]}",
                               now=datetime.now(UTC))
    client.auth_headers = {"Authorization": f"Bearer {token}"}  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await client.close()


async def _live(api: TestClient) -> dict[str, Any]:
    resp = await api.get("/api/live", headers=getattr(api, "auth_headers", {}))
    assert resp.status == 200, await resp.text()
    return await resp.json()


def _queue(live: dict[str, Any], name: str) -> dict[str, Any]:
    return next(q for c in live["centres"] for q in c["queues"] if q["name"] == name)


def _seat(live: dict[str, Any], ext: str) -> dict[str, Any]:
    return next(s for c in live["centres"] for s in c["seats"] if s["extension"] == ext)


async def test_when_a_citizen_waits_then_live_shows_the_call_and_ringing_seats(pbx: Pbx, api: TestClient) -> None:
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    call = await pbx.citizen_dials("110", "13700137000")

    async def waiting() -> bool:
        live = await _live(api)
        q = _queue(live, "hotline-110")
        assert q["waiting"] == 1 and q["entries"][0]["caller_number"] == "13700137000", q
        return True

    await eventually(waiting, timeout=10, what="the waiting call on /api/live")
    await pbx.hang_up(call.handset_id)

    async def empty() -> bool:
        assert _queue(await _live(api), "hotline-110")["waiting"] == 0
        return True

    await eventually(empty, timeout=10, what="the queue empty again")


async def test_when_seat_answers_then_live_shows_seat_in_call_with_citizen(pbx: Pbx, api: TestClient) -> None:
    call = await pbx.citizen_dials("12345", "13800138000")
    seat = (await pbx.seat_answered("13800138000"))["Seat"]

    async def in_call() -> bool:
        s = _seat(await _live(api), seat)
        assert s["state"] == "in_call", s
        return True

    await eventually(in_call, timeout=10, what=f"seat {seat} in_call on /api/live")
    await pbx.hang_up(call.handset_id)

    async def idle() -> bool:
        s = _seat(await _live(api), seat)
        assert s["state"] == "idle", s
        return True

    await eventually(idle, timeout=10, what=f"seat {seat} idle again")


async def test_when_a_call_runs_then_asterisk_sends_the_bridge_only_the_events_it_handles(
        pbx: Pbx, bridge: AmiBridge) -> None:
    """The bridge's link filters (AMI `Filter`): the dialplan's Newexten and
    VarSet events — most of the traffic — never reach it, nor the caller ID
    and connected line updates (every other channel event carries both)."""
    await eventually(lambda: bridge.ami.connected, what="bridge connected")
    call = await pbx.citizen_dials("12345", "13800138000")
    await pbx.seat_answered("13800138000")
    await eventually(lambda: bridge.ami.events_received["AgentConnect"] >= 1, what="AgentConnect on the bridge")
    await pbx.hang_up(call.handset_id)
    await eventually(lambda: bridge.ami.events_received["Hangup"] >= 2, what="the hangups on the bridge")
    assert pbx.ami.events_received["Newexten"] > 0 and pbx.ami.events_received["VarSet"] > 0  # the rig's link
    assert bridge.ami.events_received["Newexten"] == 0 and bridge.ami.events_received["VarSet"] == 0
    assert pbx.ami.events_received["NewCallerid"] > 0 and pbx.ami.events_received["NewConnectedLine"] > 0
    assert bridge.ami.events_received["NewCallerid"] == 0 and bridge.ami.events_received["NewConnectedLine"] == 0
    assert set(bridge.ami.events_received) <= set(HANDLED_EVENTS) | set(ALWAYS_WANTED) | {"FullyBooted", ""}


async def test_when_asterisk_restarts_then_bridge_reconnects_and_live_is_right_again(
        pbx: Pbx, bridge: AmiBridge, api: TestClient) -> None:
    # a call waiting before the restart...
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    await pbx.citizen_dials("110", "13600136000")

    async def waiting() -> bool:
        live = await _live(api)
        assert live["ami"]["connected"] and _queue(live, "hotline-110")["waiting"] == 1
        return True

    await eventually(waiting, timeout=10, what="the waiting call before the restart")
    connections = bridge.ami.connections

    await pbx.restart_asterisk()  # the call dies with the old Asterisk

    await eventually(lambda: bridge.ami.connections > connections, timeout=30, what="the bridge reconnected")

    async def right_again() -> bool:
        live = await _live(api)
        assert live["ami"]["connected"], live["ami"]
        for c in live["centres"]:
            for q in c["queues"]:
                assert q["waiting"] == 0, q  # the stale entry is gone
            for s in c["seats"]:
                assert s["state"] == "idle", s
        return True

    await eventually(right_again, timeout=20, what="/api/live rebuilt after the restart")
