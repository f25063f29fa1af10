"""`hotline demo`: the product's story on the real stack, in seconds (edge).

What it shows is what the product is for (一键携号转接, 三方通话, 工单):

1. a citizen calls 12345; a seat answers and its display shows the citizen's number;
2. the seat presses `*1`; a 110 seat rings showing the *citizen's* number and answers;
3. the handoff's work order: its number, status accepted, how long the citizen waited;
4. a second citizen: the 12345 seat presses `*2` (three-way call), a 110 seat joins,
   the 12345 seat presses `*3` and leaves: the 110 seat takes the citizen;
5. a summary of the two orders and the dashboard's address.

Everything is real — Asterisk, the FastAGI routes, the AMI bridge, Redis, the
database, the web API — but the phones: seats are the test rig's simulated
phones (`app/tools/simulation.py`, Local channels that answer and report what
their display shows), citizens are originated calls with a caller ID, and a
key press is AMI PlayDTMF on the seat's phone.  What is printed is read back
from the running system: the phones' own reports, `/api/live` and
`/api/orders`.  `--keep` leaves it all running for a person to look at the
dashboard, until Ctrl-C.
"""
from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp

from app.runtime.stack import Stack
from app.tools import simulation
from core.centres import centre_by_id
from core.handoff import partner_centre
from core.settings import Settings

T = TypeVar("T")

SECOND_CITIZEN = "13900139000"


class Story:
    """Prints the demo's lines, each with the seconds since the start."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started

    def say(self, text: str) -> None:
        print(f"[demo {time.monotonic() - self.started:5.1f}s] {text}", flush=True)


class Api:
    """The demo's reads of the running web service, with a supervisor token."""

    def __init__(self, settings: Settings, token: str) -> None:
        self.base = f"http://{settings.network.http_host}:{settings.network.http_port}"
        self.token = token

    async def get(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {self.token}"}) as http, \
                http.get(self.base + path, params=params) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{path} answered {resp.status}: {body}")
            return body

    async def order_of_call(self, linkedid: str) -> dict[str, Any] | None:
        orders = (await self.get("/api/orders", linkedid=linkedid))["orders"]
        return orders[0] if orders else None


async def _token(settings: Settings, *, revoke: str | None = None) -> tuple[str, str]:
    """A supervisor token for the demo's reads (and the dashboard with --keep);
    `revoke`: the name of one to revoke instead."""
    from app.runtime.db import create_engine, session_factory
    from app.web.auth import create_token, revoke_token

    engine = create_engine(settings.effective_database_url)
    try:
        now = datetime.now(UTC)
        if revoke is not None:
            await revoke_token(session_factory(engine), name=revoke, now=now)
            return revoke, ""
        name = f"demo-{uuid.uuid4().hex[:8]}"
        return name, await create_token(session_factory(engine), role="supervisor", name=name, now=now)
    finally:
        await engine.dispose()


async def _poll(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 15.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout:.0f}s")
        await asyncio.sleep(0.1)


class SeatPhones:
    """The simulated phones' reports (HotlineSeatAnswered): who answered whom,
    and what the display showed."""

    def __init__(self, ami: Any) -> None:
        self.answered: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        ami.on_event("UserEvent", self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("UserEvent") == simulation.SEAT_ANSWERED_EVENT:
            self.answered.append(event)
            self._changed.set()

    async def answers(self, citizen: str, centre: str, timeout: float = 15.0) -> dict[str, Any]:
        """The report of the seat of `centre` that answered `citizen`."""
        async def found() -> dict[str, Any] | None:
            return next((e for e in self.answered
                         if e.get("Citizen") == citizen and e.get("Centre") == centre), None)
        return await _poll(found, f"a seat of {centre} answering {citizen}", timeout)


def _wait(order: dict[str, Any]) -> str:
    """How long the citizen waited for the other centre: the order's wait, or
    from the key press to the answer."""
    if order.get("wait_ms") is not None:
        return f"{order['wait_ms'] / 1000:.1f} s"
    if order.get("accepted_at") and order.get("created_at"):
        seconds = (datetime.fromisoformat(order["accepted_at"])
                   - datetime.fromisoformat(order["created_at"])).total_seconds()
        return f"{seconds:.1f} s"
    return "-"


MODE_NAMES = {"transfer": "一键转接 one-key transfer", "three_way": "三方通话 three-way call"}


def _order_line(order: dict[str, Any]) -> str:
    rule = f" ({order['handoff_rule']})" if order.get("handoff_rule") else ""
    return (f"order {order['number']}: {MODE_NAMES.get(order['mode'], order['mode'])}, citizen "
            f"{order['citizen_number']}, {order['source_centre']} seat {order['source_seat']} -> "
            f"{order['target_centre']} seat {order['target_seat']}, status {order['status']}{rule}, "
            f"wait {_wait(order)}")


async def _conference_of_three(ami: Any) -> dict[str, Any] | None:
    reply = await ami.send({"Action": "ConfbridgeListRooms"})
    rooms = [m for m in (reply if isinstance(reply, list) else [reply]) if m.get("Event") == "ConfbridgeListRooms"]
    return next((r for r in rooms if str(r.get("Parties")) == "3"), None)


async def run_demo(settings: Settings, *, citizen: str, centre: str, keep: bool = False,
                   started: float | None = None) -> int:
    """The story (module docstring); `started`: the command's start (time.monotonic),
    the origin of the printed seconds."""
    settings = settings.with_(site={"seat_mode": "simulated"})
    source = centre_by_id(settings.site.centres, centre)
    partner = partner_centre(settings.site.centres, centre) if source else None
    if source is None or partner is None:
        raise SystemExit(f"hotline demo: centre {centre} is not configured with a partner centre")
    second = SECOND_CITIZEN if citizen != SECOND_CITIZEN else "13700137000"
    story = Story(started)
    stack = Stack(settings)
    story.say("starting Asterisk, FastAGI, AMI bridge and web service…")
    await stack.start()
    token_name, token = await _token(settings)
    try:
        ami = stack.platform.ami
        assert ami is not None
        await ami.wait_connected(timeout=20)
        phones = SeatPhones(ami)
        api = Api(settings, token)
        for c in (await api.get("/api/live"))["centres"]:
            story.say(f"centre {c['id']} {c['name']}: seats "
                      + ", ".join(f"{s['extension']}({s['state']})" for s in c["seats"]))
        first = await _handoff(story, ami, phones, api, citizen, source.id, partner.id)
        both = [first, await _three_way(story, ami, phones, api, second, source.id, partner.id)]
        await _poll(lambda: _no_channels(ami), "all channels gone", 10)
        story.say(f"summary: {len(both)} calls handed over, {len(both)} work orders (工单):")
        for order in both:
            print(f"    {_order_line(order)}")
        dashboard = f"http://{settings.network.http_host}:{settings.network.http_port}/"
        if not keep:
            story.say(f"dashboard: {dashboard} (`hotline demo --keep` leaves everything running to look at it)")
            story.say("no channel left. Demo complete.")
            return 0
        story.say(f"dashboard: {dashboard} — sign in with this supervisor token: {token}")
        story.say("running until Ctrl-C (the token is revoked then)")
        await _until_interrupted()
        return 0
    finally:
        await _token(settings, revoke=token_name)
        await stack.stop()


async def _handoff(story: Story, ami: Any, phones: SeatPhones, api: Api, citizen: str, source: str,
                   target: str) -> dict[str, Any]:
    """A citizen calls `source`; its seat presses *1; a `target` seat answers."""
    story.say(f"citizen {citizen} dials {source}")
    call = await simulation.originate_citizen(ami, source, citizen)
    seat = await phones.answers(citizen, source)
    story.say(f"{source} seat {seat['Seat']} answered; its display shows {seat['ShownNum']}")

    async def in_call() -> dict[str, Any] | None:
        for c in (await api.get("/api/live"))["centres"]:
            for s in c["seats"]:
                if s["extension"] == seat["Seat"] and s["state"] == "in_call":
                    return s
        return None

    live = await _poll(in_call, f"seat {seat['Seat']} in_call on /api/live")
    story.say(f"/api/live: seat {seat['Seat']} is {live['state']}, talking to {live.get('talking_to') or citizen}")
    story.say(f"seat {seat['Seat']} presses *1 (一键携号转接: one-key transfer carrying the number)")
    await simulation.press_key(ami, seat["Seat"], "*1")
    taker = await phones.answers(citizen, target)
    story.say(f"{target} seat {taker['Seat']} rang showing {taker['ShownNum']} — the citizen's number, "
              f"not the {source} seat's — and answered")

    async def accepted() -> dict[str, Any] | None:
        order = await api.order_of_call(call.handset_id)
        return order if order and order["status"] == "accepted" else None

    order = await _poll(accepted, "the handoff's order accepted")
    story.say(_order_line(order))
    story.say(f"citizen {citizen} hangs up")
    await simulation.hang_up(ami, call.handset_id)
    return order


async def _three_way(story: Story, ami: Any, phones: SeatPhones, api: Api, citizen: str, source: str,
                     target: str) -> dict[str, Any]:
    """A citizen calls `source`; its seat presses *2; a `target` seat joins;
    the `source` seat presses *3 and leaves: the `target` seat takes the citizen."""
    story.say(f"citizen {citizen} dials {source}")
    call = await simulation.originate_citizen(ami, source, citizen)
    seat = await phones.answers(citizen, source)
    story.say(f"{source} seat {seat['Seat']} answered; its display shows {seat['ShownNum']}")
    story.say(f"seat {seat['Seat']} presses *2 (三方通话: three-way call; the citizen hears music meanwhile)")
    await simulation.press_key(ami, seat["Seat"], "*2")
    invited = await phones.answers(citizen, target)
    story.say(f"{target} seat {invited['Seat']} rang showing {invited['ShownNum']} and answered")
    await _poll(lambda: _conference_of_three(ami), "the three-way conference")
    story.say(f"three-way call: citizen {citizen}, {source} seat {seat['Seat']} and {target} seat "
              f"{invited['Seat']} talk in one conference")
    story.say(f"seat {seat['Seat']} presses *3 (leave and hand over): {target} seat {invited['Seat']} "
              "takes the citizen")
    await simulation.press_key(ami, seat["Seat"], "*3")

    async def agreed() -> dict[str, Any] | None:
        order = await api.order_of_call(call.handset_id)
        return order if order and order["status"] == "accepted" and order.get("handoff_rule") else None

    order = await _poll(agreed, "the three-way call's order accepted")
    story.say(_order_line(order))
    story.say(f"citizen {citizen} hangs up")
    await simulation.hang_up(ami, call.handset_id)
    return order


async def _until_interrupted() -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    print("\nstopping…", flush=True)


async def _no_channels(ami: Any) -> bool:
    return not await simulation.channels(ami)
