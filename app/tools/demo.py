"""`hotline demo`: the whole product, one scripted citizen call, then exit (edge).

Seats are simulated phones (Local channels that answer), so the demo needs no
SIP phone.  What it prints is read back from the running system: the seat's
own channel for the number it shows, and `/api/live` for the dashboard view.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import aiohttp

from app.runtime.stack import Stack
from app.tools import simulation
from core.settings import Settings


def _say(text: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {text}", flush=True)


async def _live(settings: Settings, token: str) -> dict[str, Any]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        async with http.get(f"http://{settings.network.http_host}:{settings.network.http_port}/api/live") as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"/api/live answered {resp.status}: {body}")
            return body


async def _demo_token(settings: Settings) -> tuple[str, str]:
    """A short-lived supervisor token for the demo's own /api/live reads."""
    from app.runtime.db import create_engine, session_factory
    from app.web.auth import create_token

    engine = create_engine(settings.effective_database_url)
    try:
        name = f"demo-{uuid.uuid4().hex[:8]}"
        token = await create_token(session_factory(engine), role="supervisor", name=name,
                                   now=datetime.now(timezone.utc))
        return name, token
    finally:
        await engine.dispose()


async def _revoke(settings: Settings, name: str) -> None:
    from app.runtime.db import create_engine, session_factory
    from app.web.auth import revoke_token

    engine = create_engine(settings.effective_database_url)
    try:
        await revoke_token(session_factory(engine), name=name, now=datetime.now(timezone.utc))
    finally:
        await engine.dispose()


async def _poll(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def run_demo(settings: Settings, *, citizen: str, centre: str) -> int:
    settings = settings.with_(site={"seat_mode": "simulated"})
    stack = Stack(settings)
    _say("starting Asterisk, FastAGI, AMI bridge and web service…")
    await stack.start()
    token_name, token = await _demo_token(settings)
    try:
        assert stack.platform.ami is not None
        ami = stack.platform.ami
        await ami.wait_connected(timeout=20)
        answered: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

        def on_user_event(event: dict[str, Any]) -> None:
            if event.get("UserEvent") == simulation.SEAT_ANSWERED_EVENT and event.get("Citizen") == citizen \
                    and not answered.done():
                answered.set_result(event)

        ami.on_event("UserEvent", on_user_event)
        live = await _live(settings, token)
        for c in live["centres"]:
            _say(f"centre {c['id']} {c['name']}: seats "
                 + ", ".join(f"{s['extension']}({s['state']})" for s in c["seats"]))

        _say(f"citizen {citizen} dials {centre}")
        call = await simulation.originate_citizen(ami, centre, citizen)
        event = await asyncio.wait_for(answered, 30)
        seat = event["Seat"]
        _say(f"seat {seat} of centre {event['Centre']} answered; its display shows {event['ShownNum']}")

        async def seat_in_call() -> dict[str, Any] | None:
            data = await _live(settings, token)
            for c in data["centres"]:
                for s in c["seats"]:
                    if s["extension"] == seat and s["state"] == "in_call":
                        return s
            return None

        s = await _poll(seat_in_call, 10, f"seat {seat} in_call on /api/live")
        _say(f"/api/live: seat {seat} is {s['state']}, talking to {s.get('talking_to') or citizen}")
        _say("citizen hangs up")
        await simulation.hang_up(ami, call.handset_id)
        await _poll(lambda: _no_channels(ami), 10, "all channels gone")
        _say("call ended; no channel left. Demo complete.")
        return 0
    finally:
        await _revoke(settings, token_name)
        await stack.stop()


async def _no_channels(ami) -> bool:  # type: ignore[no-untyped-def]
    return not await simulation.channels(ami)
