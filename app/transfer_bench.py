"""`hotline bench transfer`: our one-key transfer against Asterisk's blind transfer (edge).

Both run in one Asterisk, alternating call by call, with simulated seats.
For each call a citizen dials 12345, a seat answers, and the seat presses
either our key (`*1`: AGI route, order recorded, the citizen's own channel
redirected into the 110 linkage queue) or Asterisk's built-in blind transfer
(`#1` then `110`: features.conf blindxfer into `hotline-blind-transfer`,
the same linkage queue).  Timed on Asterisk's own event clock (AMI
`Timestamp`): from the DTMF end of the last digit the seat pressed, as
the bridge heard it on the seat's leg, to the first `AgentCalled` of the
110 linkage queue (target ringing) and to its `AgentConnect` (answered).
Lost orders: handoffs whose order is not `accepted` at the end (must be 0).
Results are figures for notes, never timed assertions.
"""
from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agi.context import RouteContext
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from app import db, simulation
from app.asterisk_process import AsteriskProcess
from app.asterisk_render import render
from app.bench import percentile
from app.handoff_service import HandoffService
from app.order_service import OrderService
from app.secrets_store import load_or_create
from core.settings import Settings

TARGET_QUEUE = "hotline-110-linkage"


def _summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "mean_ms": round(statistics.fmean(values), 2) if values else float("nan")}


class _Watch:
    """AMI events of the run, by the linkedid of each citizen call."""

    def __init__(self) -> None:
        self.by_call: dict[str, list[dict[str, Any]]] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}

    def on_event(self, event: dict[str, Any]) -> None:
        linkedid = event.get("Linkedid") or event.get("DestLinkedid") or ""
        if not linkedid:
            return
        self.by_call.setdefault(linkedid, []).append(event)
        key = (linkedid, self._kind(event))
        fut = self.waiters.get(key)
        if fut is not None and not fut.done():
            fut.set_result(event)

    @staticmethod
    def _kind(event: dict[str, Any]) -> str:
        name = event.get("Event", "")
        if name == "UserEvent":
            return str(event.get("UserEvent"))
        if name in ("AgentCalled", "AgentConnect") and event.get("Queue") == TARGET_QUEUE:
            return f"{name}:target"
        return name

    def wait(self, linkedid: str, kind: str) -> asyncio.Future[dict[str, Any]]:
        for event in self.by_call.get(linkedid, []):
            if self._kind(event) == kind:
                fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
                fut.set_result(event)
                return fut
        fut = asyncio.get_running_loop().create_future()
        self.waiters[(linkedid, kind)] = fut
        return fut


async def _press(ami: AmiManager, channel: str, digits: str) -> None:
    for digit in digits:
        await ami.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Duration": "100"})


async def run_transfer_bench(settings: Settings, transfers: int = 200) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-transfer-"))
    settings = settings.with_(seat_mode="simulated", state_dir=state, database_url=None)
    secrets = load_or_create(settings)
    render(settings, secrets)
    engine = db.create_engine(settings.effective_database_url)
    await db.migrate_engine(engine)
    sessions = db.session_factory(engine)
    handoffs = HandoffService(settings, OrderService(sessions))
    agi = FastAgiServer(settings, RouteContext(settings, handoffs))
    asterisk = AsteriskProcess(settings)
    asterisk.check_installed()
    await agi.start()
    await asterisk.start()
    ami = AmiManager("127.0.0.1", settings.ami_port, settings.ami_user, secrets.ami_secret)
    watch = _Watch()
    ami.on_event("*", watch.on_event)
    await ami.start()
    results: dict[str, dict[str, list[float]]] = {m: {"ringing": [], "answered": []} for m in ("hotline", "blind")}
    failures: dict[str, int] = {"hotline": 0, "blind": 0}
    handoff_ids: list[str] = []
    started = time.monotonic()
    try:
        await ami.wait_connected(timeout=20)
        for i in range(transfers * 2):
            mode = "hotline" if i % 2 == 0 else "blind"
            try:
                ids = await _one(ami, watch, mode, f"1390000{i:04d}")
            except (asyncio.TimeoutError, AssertionError):
                failures[mode] += 1
                await ami.send({"Action": "Hangup", "Channel": "/^Local/"})
                continue
            ringing, answered, handoff = ids
            results[mode]["ringing"].append(ringing)
            results[mode]["answered"].append(answered)
            if handoff:
                handoff_ids.append(handoff)
        await agi.context.drain()
        lost = 0
        for handoff_id in handoff_ids:
            order = await handoffs.orders.get(handoff_id)
            if order.status != "accepted":
                lost += 1
        ours, blind = results["hotline"], results["blind"]
        out: dict[str, Any] = {
            "benchmark": "one-key-transfer-vs-blind-transfer",
            "asterisk": str(settings.asterisk_prefix.resolve().name),
            "transfers_per_mode": transfers,
            "measured_from": "DTMF end of the seat's last digit on its leg (Asterisk event clock)",
            "hotline_key": {"to_target_ringing": _summary(ours["ringing"]),
                            "to_answered": _summary(ours["answered"])},
            "builtin_blindxfer": {"to_target_ringing": _summary(blind["ringing"]),
                                  "to_answered": _summary(blind["answered"])},
            "orders_recorded": len(handoff_ids),
            "lost_orders": lost + failures["hotline"],
            "failed_transfers": failures,
            "database": "sqlite (state dir)",
            "wall_s": round(time.monotonic() - started, 1),
        }
        for phase in ("to_target_ringing", "to_answered"):
            for stat in ("p50_ms", "p95_ms"):
                b = out["builtin_blindxfer"][phase][stat]
                out.setdefault("ratio_hotline_over_blind", {})[f"{phase}_{stat[:3]}"] = (
                    round(out["hotline_key"][phase][stat] / b, 2) if b else None)
        return out
    finally:
        await ami.close()
        await asterisk.stop()
        await agi.stop()
        await engine.dispose()
        shutil.rmtree(state, ignore_errors=True)


async def _one(ami: AmiManager, watch: _Watch, mode: str, number: str) -> tuple[float, float, str | None]:
    call = await simulation.originate_citizen(ami, "12345", number)
    linkedid = call.handset_id
    first = await asyncio.wait_for(watch.wait(linkedid, "HotlineSeatAnswered"), 15)
    # let the citizen<->seat bridge form before the seat presses anything
    await asyncio.wait_for(watch.wait(linkedid, "AgentConnect"), 15)
    seat = first["Seat"]
    chans = await simulation.channels(ami)
    phone = next(c["Channel"] for c in chans if c["Channel"].startswith(f"Local/{seat}@hotline-seat-phones-")
                 and c["Channel"].endswith(";2") and c.get("Linkedid") == linkedid)
    leg = phone[:-1] + "1"
    digits = "*1" if mode == "hotline" else "#1110"
    watch.by_call.setdefault(linkedid, [])
    await _press(ami, phone, digits)
    ringing = await asyncio.wait_for(watch.wait(linkedid, "AgentCalled:target"), 15)
    answered = await asyncio.wait_for(watch.wait(linkedid, "AgentConnect:target"), 15)
    last_digit = [e for e in watch.by_call[linkedid]
                  if e.get("Event") == "DTMFEnd" and e.get("Channel") == leg and e.get("Direction") == "Received"
                  and e.get("Digit") == digits[-1]]
    assert last_digit, "the seat's key press was not seen on its leg"
    t0 = float(last_digit[-1]["Timestamp"])
    handoff = None
    for event in watch.by_call[linkedid]:
        if event.get("Event") == "UserEvent" and event.get("UserEvent") == "HotlineSeatAnswered" \
                and event.get("Handoff"):
            handoff = event["Handoff"]
    if mode == "hotline" and handoff is None:
        # the receiving seat's event may trail AgentConnect by a few ms
        for _ in range(100):
            await asyncio.sleep(0.01)
            handoff = next((e.get("Handoff") for e in watch.by_call[linkedid]
                            if e.get("UserEvent") == "HotlineSeatAnswered" and e.get("Handoff")), None)
            if handoff:
                break
        assert handoff, "no handoff id on the receiving seat"
    await simulation.hang_up(ami, call.handset_id)
    # wait until the call is gone so the next one finds free seats
    for _ in range(500):
        if not any(c.get("Linkedid") == linkedid for c in await simulation.channels(ami)):
            break
        await asyncio.sleep(0.01)
    return ((float(ringing["Timestamp"]) - t0) * 1000, (float(answered["Timestamp"]) - t0) * 1000, handoff)
