"""The production layout, as the service units run it (`hotline install-service`):
Asterisk, `hotline agi`, `hotline ami-bridge` and `hotline web`, each its own
process on one state directory and one database.

A citizen handed over by `*1` ends as one accepted order (recorded by the
bridge's journal, accepted by the FastAGI process), read back from the web
service; a three-way call started by the key is found, left and settled from
the desk in the web process; every part stops cleanly on SIGTERM, as
systemd stops it.
"""
from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agi.background import wait_for
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.models import utcnow
from app.web.auth import create_token
from core.settings import Settings
from tests.faults.rig import attach, health, hotline, up_env
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

PARTS = ("agi", "ami-bridge", "web")


@dataclass
class Layout:
    env: dict[str, str]
    pbx: Pbx            # the test's own AMI link: citizens, seats, keys, the leak check
    web: aiohttp.ClientSession
    base: str
    parts: dict[str, asyncio.subprocess.Process]

    async def json(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.web.request(method, self.base + path, **kwargs) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def layout(tmp_path: Path) -> AsyncIterator[Layout]:
    env = up_env(tmp_path / "state")
    log = tmp_path / "services.log"
    # hotline-asterisk.service: ExecStartPre=hotline render, then Asterisk in the foreground
    render = await hotline(["render"], env, log)
    assert await render.wait() == 0, log.read_text()
    settings = Settings.from_env(env)
    asterisk = AsteriskProcess(settings)
    await asterisk.start()
    parts: dict[str, asyncio.subprocess.Process] = {}
    pbx: Pbx | None = None
    try:
        for part in PARTS:
            parts[part] = await hotline([part], env, log)

        async def healthy() -> bool:
            for name, proc in parts.items():
                assert proc.returncode is None, f"hotline {name} exited: {log.read_text()[-3000:]}"
            answer = await health(env)
            assert answer is not None and answer[0] == 200, f"health: {answer}"
            return True
        # the web service's health asks its AMI link and the FastAGI process's port
        await eventually(healthy, timeout=60, interval=0.1, what="the services up")
        engine = db.create_engine(settings.effective_database_url)
        try:
            token = await create_token(db.session_factory(engine), role="supervisor",
                                       name=f"split-{uuid.uuid4().hex[:8]}", now=utcnow())
        finally:
            await engine.dispose()
        pbx = await attach(env)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as web:
            yield Layout(env, pbx, web, f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}", parts)
        await pbx.assert_nothing_left()
        # systemd stops a unit with SIGTERM: each part ends, and says it did by its exit code
        for name, proc in parts.items():
            proc.send_signal(signal.SIGTERM)
            assert await wait_for(proc.wait(), 30) == 0, f"hotline {name}: {log.read_text()[-3000:]}"
    finally:
        for proc in parts.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if pbx is not None:
            await pbx.ami.close()
        await asterisk.stop()


async def _order(layout: Layout, order_id: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any]:
        code, body = await layout.json("GET", f"/api/orders/{order_id}")
        assert code == 200 and body["status"] == status, (code, body)
        return dict(body)
    return await eventually(reached, timeout=15, what=f"order {order_id} {status}")


async def test_when_each_part_runs_as_its_own_service_then_handoffs_and_the_desk_work_as_under_hotline_up(
        layout: Layout) -> None:
    pbx = layout.pbx

    # *1: the citizen is handed to 110 and the order is accepted there
    citizen = "13800138021"
    call = await pbx.citizen_dials("12345", citizen)
    seat = (await pbx.seat_answered(citizen, timeout=20))["Seat"]
    pbx.events.clear()
    await pbx.press_key(seat, "*1")
    created = await pbx.events.wait_for(lambda e: e.get("UserEvent") == "HotlineHandoffCreated", timeout=10)
    target = await pbx.seat_answered(citizen, timeout=20)
    assert target["Seat"].startswith("2") and target["ShownNum"] == citizen
    order = await _order(layout, str(created["Handoff"]), "accepted")
    assert (order["source_centre"], order["target_centre"], order["source_seat"], order["target_seat"]) == \
        ("12345", "110", seat, target["Seat"])
    await pbx.hang_up(call.handset_id)

    # *2 in the FastAGI process; the desk (the web process) finds the call and leaves it
    citizen = "13800138022"
    call = await pbx.citizen_dials("12345", citizen)
    initiator = (await pbx.seat_answered(citizen, timeout=20))["Seat"]
    pbx.events.clear()
    await pbx.press_key(initiator, "*2")
    invited = (await pbx.seat_answered(citizen, timeout=20))["Seat"]

    async def on_the_desk() -> dict[str, Any]:
        code, body = await layout.json("GET", "/api/threeway", params={"seat": initiator})
        assert code == 200 and body["threeway"] is not None \
            and body["threeway"]["present"] == ["citizen", "initiator", "invited"], (code, body)
        return dict(body["threeway"])
    threeway = await eventually(on_the_desk, timeout=10, what="the three-way call on the initiator's desk")
    code, body = await layout.json("POST", f"/api/threeway/{threeway['threeway_id']}/leave",
                                   json={"seat": initiator})
    assert code == 200 and body["present"] == ["citizen", "invited"], (code, body)

    async def initiator_free() -> bool:
        assert await pbx.seat_channel(initiator) is None, f"seat {initiator} still has a call"
        return True
    await eventually(initiator_free, what="the initiator's leg hung up by the web process")
    order = await _order(layout, threeway["threeway_id"], "accepted")
    assert (order["handoff_rule"], order["target_centre"], order["target_seat"]) == ("agreed", "110", invited)
    await pbx.hang_up(call.handset_id)
