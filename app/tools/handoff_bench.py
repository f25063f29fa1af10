"""`hotline bench transfer`: our one-key transfer against Asterisk's blind transfer (edge).

Both run in one Asterisk, alternating call by call, with simulated seats.
For each call a citizen dials 12345, a seat answers, and the seat presses
either our key (`*1`: by default the dialplan path — the guard, one GotoIf
per named part of core/fast_path.py, a few MSet/Set steps writing the call
guard and the order's AstDB outbox record, BlindTransfer of the citizen's own
channel into the 110 linkage queue; with HOTLINE_HANDOFF_FAST_PATH=no the
`handoff_key` AGI route first) or Asterisk's built-in blind transfer (`#1`
then `110`: features.conf blindxfer into the test rig's
`hotline-bench-blind-transfer`, the same linkage queue, no order).  The
handoff journal runs as in `hotline up` and records the orders over AMI.  Lost orders: handoffs whose order is not `accepted`
at the end (must be 0).  Results are figures for notes, never timed
assertions.

What is timed (both modes the same way, on Asterisk's own event clock, the
AMI `Timestamp`; events are AMI `DTMFEnd` with `Direction: Received` on the
seat's leg — the bridge side, where features are detected):

* `from_input_complete` (the headline, and the ratio): from the DTMF end of
  the digit that completes the seat's input — ours: the last digit of the
  transfer key; built-in: the last digit of the destination typed after
  `#1` — to the first `AgentCalled` of the 110 linkage queue (target
  ringing) and to its `AgentConnect` (answered).  After that moment the seat
  has nothing left to type: the interval is what the PBX and hotline-link
  take, the overhead DESIGN §6 asks about.
* `from_first_key_digit`: from the DTMF end of the first digit of the
  feature key (`*` / `#`).  It includes the seat's typing at the rig's pace
  (ours: one more digit, built-in: four), so it is reported, not compared.

Digits are pressed like a person does: `DIGIT_MS` long with a
`PAUSE_MS` gap.  Back-to-back PlayDTMF (no gap) is not a key press a phone
can make, and Asterisk treats it specially: a digit that begins within
AST_MIN_DTMF_GAP (45 ms) of the previous one is held in the read queue
(main/channel.c should_skip_dtmf, polled by the 20 ms DTMF timer), so its
measured length falls under `mindtmfduration` (80 ms) and its end is
emulated ~20 ms after the real `DTMFEnd` event.  In a bridge (our key) that
delay lands inside the timed interval; the built-in's destination digits
are read by ast_waitfordigit in END-only mode and are not delayed.  That
artefact was most of the 18x ratio first reported.
"""
from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from app.handoff import plugin as handoff_plugin
from app.handoff.http import HANDOFFS
from app.handoff.journal import AmiAstDb
from app.handoff.journal import sweep as outbox_sweep
from app.inbound import plugin as inbound_plugin
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.features import Dependencies, setup_features
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from app.tools import simulation
from app.tools.agi_bench import percentile
from app.web.errors import NotFound
from core.feature_keys import BUILTIN_FEATURE_KEYS
from core.settings import Settings

TARGET_QUEUE = "hotline-110-linkage"
WATCHED_EVENTS = ("DTMFEnd", "AgentCalled", "AgentConnect", "UserEvent")
BLIND_DESTINATION = "110"
BLIND_CONTEXT = "hotline-bench-blind-transfer"  # dialplan/hotline-test-rig.conf.j2
DIGIT_MS = 100   # a key held for 100 ms (ast_senddigit_external's minimum too)
PAUSE_MS = 150   # between releasing a key and pressing the next: a fast typist


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
    """The seat types `digits` (PlayDTMF returns when the digit has ended)."""
    for i, digit in enumerate(digits):
        if i:
            await asyncio.sleep(PAUSE_MS / 1000)
        await ami.send({"Action": "PlayDTMF", "Channel": channel, "Digit": digit, "Duration": str(DIGIT_MS)})


async def run_handoff_bench(settings: Settings, count: int = 200) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-transfer-"))
    settings = settings.with_(site={"seat_mode": "simulated"}, paths={"state_dir": state}, database={"url": None})
    secrets = load_or_create(settings)
    render(settings, secrets)
    engine = db.create_engine(settings.effective_database_url)
    await db.migrate_engine(engine)
    sessions = db.session_factory(engine)
    # the events the run times and waits for, and nothing else (as the AMI bridge does:
    # the dialplan's Newexten/VarSet flood would only load this machine's two cores)
    ami = AmiManager("127.0.0.1", settings.ami.port, settings.ami.user, secrets.ami_secret,
                     filter_events=True)
    watch = _Watch()
    for name in WATCHED_EVENTS:
        ami.on_event(name, watch.on_event)
    # wired as in `hotline up`: the key's routes, and the AMI journal that records
    # and accepts the key's handoffs
    routes = AgiRoutes()
    deps = setup_features(Dependencies(settings, engine, sessions, OrderService(sessions),
                                       frozenset({"agi", "bridge"}), agi=routes, ami=ami),
                          (inbound_plugin, handoff_plugin))
    handoffs = deps.get(HANDOFFS)
    (journal,) = deps.workers
    agi = FastAgiServer(settings, routes)
    asterisk = AsteriskProcess(settings)
    asterisk.check_installed()
    await agi.start()
    await asterisk.start()
    await ami.start()
    digits = {"hotline": settings.handoff.key,
              "blind": BUILTIN_FEATURE_KEYS["blindxfer"] + BLIND_DESTINATION}
    results: dict[str, dict[str, list[float]]] = {m: {} for m in ("hotline", "blind")}
    failures: dict[str, int] = {"hotline": 0, "blind": 0}
    handoff_ids: list[str] = []
    started = time.monotonic()
    try:
        await ami.wait_connected(timeout=20)
        await journal.start()
        for i in range(count * 2):
            mode = "hotline" if i % 2 == 0 else "blind"
            try:
                intervals, handoff = await _one(ami, watch, mode, f"1390000{i:04d}", digits[mode])
            except (asyncio.TimeoutError, AssertionError):
                failures[mode] += 1
                await ami.send({"Action": "Hangup", "Channel": "/^Local/"})
                continue
            for name, value in intervals.items():
                results[mode].setdefault(name, []).append(value)
            if handoff:
                handoff_ids.append(handoff)
        await routes.drain()
        await journal.stop()
        # what neither the seat legs' routes nor the journal recorded (none expected)
        swept = await outbox_sweep(AmiAstDb(ami), handoffs)
        lost = 0
        for handoff_id in handoff_ids:
            try:
                order = await handoffs.orders.get(handoff_id)
            except NotFound:
                lost += 1
                continue
            if order.status != "accepted":
                lost += 1
        ours, blind = results["hotline"], results["blind"]
        out: dict[str, Any] = {
            "benchmark": "one-key-transfer-vs-blind-transfer",
            "asterisk": str(settings.paths.asterisk_prefix.resolve().name),
            "handoffs_per_mode": count,
            "keys": {"hotline_key": digits["hotline"], "builtin_blindxfer": digits["blind"],
                     "digit_ms": DIGIT_MS, "pause_between_digits_ms": PAUSE_MS},
            "measured_from": {
                "clock": "Asterisk's event clock (AMI Timestamp)",
                "start_event": "AMI DTMFEnd, Direction Received, on the seat's leg in the bridge",
                "end_events": "first AgentCalled (target ringing) / AgentConnect (answered) of "
                              f"{TARGET_QUEUE}",
                "from_input_complete": "DTMF end of the digit that completes the seat's input: ours the "
                                       "last digit of the key, built-in the last digit of the destination "
                                       "typed after the feature key (the ratio is taken here)",
                "from_first_key_digit": "DTMF end of the feature key's first digit (* or #); includes the "
                                        "seat's typing at the rig's pace: not comparable, for reference",
            },
            "hotline_key": _views(ours),
            "builtin_blindxfer": _views(blind),
            "orders_recorded": len(handoff_ids),
            "lost_orders": lost + failures["hotline"],
            "failed_handoffs": failures,
            "database": "sqlite (state dir)",
            "transfer_path": ("dialplan: the guard (core/fast_path.py), MSet/Set (AstDB outbox), BlindTransfer; "
                              "orders by the AMI journal"
                              if settings.handoff.fast_path
                              else "agi: handoff_key route before the move (HOTLINE_HANDOFF_FAST_PATH=no)"),
            "outbox_records_swept_at_end": swept,
            "double_press_guard": ("AstDB key per call, in dialplan" if settings.handoff.fast_path
                                   else "AstDB key per call, over AGI (two round trips on the key path)"),
            "ami_events": "filtered to " + ", ".join(WATCHED_EVENTS) + " (and the journal's)",
            "wall_s": round(time.monotonic() - started, 1),
        }
        for phase in ("to_target_ringing", "to_answered"):
            for stat in ("p50_ms", "p95_ms"):
                b = out["builtin_blindxfer"]["from_input_complete"][phase][stat]
                h = out["hotline_key"]["from_input_complete"][phase][stat]
                out.setdefault("ratio_hotline_over_blind", {})[f"{phase}_{stat[:3]}"] = (
                    round(h / b, 2) if b else None)
        return out
    finally:
        await journal.stop()
        await ami.close()
        await asterisk.stop()
        await agi.stop()
        await engine.dispose()
        shutil.rmtree(state, ignore_errors=True)


def _views(values: dict[str, list[float]]) -> dict[str, dict[str, dict[str, float]]]:
    return {view: {f"to_{phase}": _summary(values.get(f"{view}:{phase}", []))
                   for phase in ("target_ringing", "answered")}
            for view in ("from_input_complete", "from_first_key_digit")}


async def _one(ami: AmiManager, watch: _Watch, mode: str, number: str,
               digits: str) -> tuple[dict[str, float], str | None]:
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
    watch.by_call.setdefault(linkedid, [])
    if mode == "blind":
        # the baseline is Asterisk's own blind transfer into the queue, not the
        # seats' TRANSFER_CONTEXT (hotline-phone-transfer makes #1 a handoff)
        await ami.send({"Action": "Setvar", "Channel": leg, "Variable": "TRANSFER_CONTEXT",
                        "Value": BLIND_CONTEXT})
    await _press(ami, phone, digits)
    ringing = await asyncio.wait_for(watch.wait(linkedid, "AgentCalled:target"), 15)
    answered = await asyncio.wait_for(watch.wait(linkedid, "AgentConnect:target"), 15)
    ends = [e for e in watch.by_call[linkedid]
            if e.get("Event") == "DTMFEnd" and e.get("Channel") == leg and e.get("Direction") == "Received"]
    assert [e.get("Digit") for e in ends] == list(digits), f"the seat's digits {digits} were not all seen on its leg"
    starts = {"from_input_complete": float(ends[-1]["Timestamp"]),
              "from_first_key_digit": float(ends[0]["Timestamp"])}
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
    return ({f"{view}:{phase}": (float(event["Timestamp"]) - t0) * 1000
             for view, t0 in starts.items()
             for phase, event in (("target_ringing", ringing), ("answered", answered))}, handoff)
