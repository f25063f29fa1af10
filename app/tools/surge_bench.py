"""`hotline simulate surge`: a burst of citizens, without and then with a remote seat group (edge).

One Asterisk (simulated seat phones, the centres of the settings), the
FastAGI server, the AMI bridge mirroring into Redis and the overflow
controller — the production path.  The same burst runs twice in one
process: first with no remote seat group, then with a group of
`remote_seats` members (`Local/9001…@hotline-seat-phones`, phones that
answer and report the number they see) opening at `min_waiting` callers.

Each citizen arrives at `rate` per second, talks `talk_s` seconds once a
seat answers, and hangs up unanswered after `patience_s` (abandoned).  Wait
= from the citizen's call to the seat's answer, as the citizen hears it.
Figures for notes — never asserted as timed tests.  A progress bar goes to
stderr; the JSON result is returned.
"""
from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from agi.background import wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from ami_bridge.service import AmiBridge
from app.inbound import agi as inbound_agi
from app.orders.services import OrderService
from app.overflow.config import OverflowConfig, event_view
from app.overflow.controller import OverflowController
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.models import Order
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from app.tools import simulation
from app.tools.agi_bench import percentile
from core.centres import centre_by_id
from core.settings import Settings

GROUP = "bench-remote"


class _Watch:
    """Seat answers by citizen number, and channel names by uniqueid."""

    def __init__(self) -> None:
        self.answered: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = {}
        self.names: dict[str, str] = {}

    def expect(self, number: str) -> asyncio.Future[tuple[float, dict[str, Any]]]:
        fut: asyncio.Future[tuple[float, dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self.answered[number] = fut
        return fut

    def on_event(self, event: dict[str, Any]) -> None:
        name = event.get("Event")
        if name == "Newchannel":
            uniqueid = str(event.get("Uniqueid", ""))
            if uniqueid.startswith("citizen-"):
                self.names[uniqueid] = str(event.get("Channel", ""))
        elif name == "UserEvent" and event.get("UserEvent") == simulation.SEAT_ANSWERED_EVENT:
            fut = self.answered.get(str(event.get("Citizen", "")))
            if fut is not None and not fut.done():
                fut.set_result((time.monotonic(), event))


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.done = self.answered = self.abandoned = 0

    def step(self, outcome: str) -> None:
        self.done += 1
        if outcome == "answered":
            self.answered += 1
        else:
            self.abandoned += 1
        width = 30
        filled = int(width * self.done / self.total)
        sys.stderr.write(f"\r{self.label:<16} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}"
                         f"  answered {self.answered}  abandoned {self.abandoned}")
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


async def _hang_up(ami: AmiManager, watch: _Watch, handset_id: str) -> None:
    name = watch.names.get(handset_id)
    if name:
        await ami.send({"Action": "Hangup", "Channel": name})
    else:
        await simulation.hang_up(ami, handset_id)


async def _citizen(ami: AmiManager, watch: _Watch, centre: str, number: str, talk_s: float, patience_s: float,
                   progress: _Progress) -> dict[str, Any]:
    answered = watch.expect(number)
    started = time.monotonic()
    call = await simulation.originate_citizen(ami, centre, number)
    try:
        at, event = await wait_for(answered, patience_s)
    except TimeoutError:
        await _hang_up(ami, watch, call.handset_id)
        progress.step("abandoned")
        return {"outcome": "abandoned"}
    progress.step("answered")
    await asyncio.sleep(talk_s)
    await _hang_up(ami, watch, call.handset_id)
    return {"outcome": "answered", "wait_s": at - started, "seat": event.get("Seat"),
            "shown": event.get("ShownNum") == number}


async def _burst(ami: AmiManager, watch: _Watch, label: str, prefix: str, *, centre: str, calls: int,
                 rate: float, talk_s: float, patience_s: float, local: set[str]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    progress = _Progress(label, calls)
    tasks = []
    start = loop.time()
    for i in range(calls):
        await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
        tasks.append(asyncio.create_task(_citizen(ami, watch, centre, f"{prefix}{i:08d}", talk_s, patience_s,
                                                  progress)))
    results = await asyncio.gather(*tasks)
    waits = [r["wait_s"] for r in results if r["outcome"] == "answered"]
    by_remote = sum(1 for r in results if r["outcome"] == "answered" and r["seat"] not in local)
    return {
        "answered": len(waits),
        "abandoned": sum(1 for r in results if r["outcome"] == "abandoned"),
        "answered_by_local": len(waits) - by_remote,
        "answered_by_remote": by_remote,
        "wait_p50_s": round(percentile(waits, 50), 2) if waits else None,
        "wait_p95_s": round(percentile(waits, 95), 2) if waits else None,
        "wait_max_s": round(max(waits), 2) if waits else None,
        "citizen_number_shown": sum(1 for r in results if r.get("shown")),
        "burst_s": round(loop.time() - start, 1),  # first arrival to last call ended
    }


async def _drained(ami: AmiManager, timeout: float = 60.0) -> None:
    await ami.send({"Action": "Hangup", "Channel": "/^Local\\//"})
    deadline = time.monotonic() + timeout
    while await simulation.channels(ami):
        if time.monotonic() > deadline:
            raise RuntimeError("channels left after the burst")
        await asyncio.sleep(0.2)


async def run_surge_bench(settings: Settings, *, calls: int = 200, rate: float = 10.0, talk_s: float = 4.0,
                          patience_s: float = 20.0, remote_seats: int = 40, min_waiting: int = 2,
                          centre: str = "12345") -> dict[str, Any]:
    if not 1 <= remote_seats <= 64:
        raise ValueError("remote seats: 1 to 64 (one group)")
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-surge-"))
    settings = settings.with_(site={"seat_mode": "simulated"}, paths={"state_dir": state}, database={"url": None},
                              redis={"prefix": f"{settings.redis.prefix}bench-surge-{uuid.uuid4().hex[:8]}:"})
    home = centre_by_id(settings.site.centres, centre)
    if home is None:
        raise ValueError(f"centre {centre} is not configured")
    local = {s.extension for s in home.seats}
    secrets = load_or_create(settings)
    render(settings, secrets)
    engine = db.create_engine(settings.effective_database_url)
    await db.migrate_engine(engine)
    sessions = db.session_factory(engine)
    config = OverflowConfig(sessions, settings.site.centres)
    routes = AgiRoutes()
    inbound_agi.register(routes, settings)  # the citizens' inbound route, as `hotline up` serves it
    agi = FastAgiServer(settings, routes)
    asterisk = AsteriskProcess(settings)
    asterisk.check_installed()
    await agi.start()
    await asterisk.start()
    bridge = AmiBridge(settings, secrets.ami_secret)
    controller = OverflowController(settings, config, bridge.ami, OrderService(sessions))
    ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret)
    watch = _Watch()
    ami.on_event("*", watch.on_event)
    started = time.monotonic()
    try:
        await bridge.start()
        await controller.start()
        await ami.start()
        await ami.wait_connected(timeout=20)
        await bridge.ami.wait_connected(timeout=20)
        common = dict(centre=centre, calls=calls, rate=rate, talk_s=talk_s, patience_s=patience_s, local=local)
        without = await _burst(ami, watch, "without remote", "131", **common)  # type: ignore[arg-type]
        await _drained(ami)
        await config.create({"name": GROUP, "centre": centre, "priority": 1, "min_waiting": min_waiting,
                             "members": [f"Local/{9001 + i}@hotline-seat-phones" for i in range(remote_seats)]},
                            actor="bench")
        with_group = await _burst(ami, watch, "with remote", "132", **common)  # type: ignore[arg-type]
        await _drained(ami)
        await controller.drain()
        async with sessions() as session:
            orders = await session.scalar(select(func.count()).select_from(Order).where(Order.mode == "overflow"))
        with_group["overflow_orders"] = orders
        with_group["surge_events"] = [event_view(e) for e in await config.surge_events()]
        return {
            "benchmark": "surge",
            "asterisk": settings.paths.asterisk_prefix.resolve().name,
            "centre": centre,
            "calls_per_run": calls,
            "rate_per_s": rate,
            "talk_s": talk_s,
            "patience_s": patience_s,
            "local_seats": len(local),
            "remote_seats": remote_seats,
            "group_min_waiting": min_waiting,
            "overflow": {"check_s": settings.overflow.check_s, "open_after_s": settings.overflow.open_after_s,
                         "clear_after_s": settings.overflow.clear_after_s},
            "without_remote_group": without,
            "with_remote_group": with_group,
            "wall_s": round(time.monotonic() - started, 1),
        }
    finally:
        await ami.close()
        await controller.stop()
        await bridge.stop()
        await asterisk.stop()
        await agi.stop()
        await engine.dispose()
        await simulation.clean_redis(settings)
        shutil.rmtree(state, ignore_errors=True)
