"""`hotline bench transfer`: our one-key transfer against Asterisk's blind transfer (edge).

Both run in one Asterisk, alternating call by call, with simulated seats.
For each call a citizen dials 12345, a seat answers, and the seat presses
either our key (`*1`: by default the dialplan path — the facts checked when
the seat answered, or the whole guard of core/fast_path.py, then BlindTransfer
of the citizen's own channel into the 110 linkage queue, then the seat leg's
writes of the call guard and the order's AstDB outbox record; with
HOTLINE_HANDOFF_FAST_PATH=no the
`handoff_key` AGI route first) or Asterisk's built-in blind transfer (`#1`
then `110`: features.conf blindxfer into the test rig's
`hotline-bench-blind-transfer`, the same linkage queue, no order).  The
handoff journal runs as in `hotline up` and records the orders over AMI.
Lost orders: handoffs whose order is not `accepted` at the end (must be 0).  Results are figures for notes, never timed
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
* where that time goes, from the same start: to the citizen's `BlindTransfer`
  event (moved out of the seat's bridge), to its `QueueCallerJoin` of the
  linkage queue, then ringing and answered (`to_transfer`, `to_target_queue`:
  on one platform only; n 0 across a trunk).
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

`--across-trunk` (`run_handoff_bench(..., across_trunk=True)`): two of the
project's Asterisks on loopback, as two platforms (DESIGN §8) — A serves 12345
(its partner 110 reached over the peer trunk `peer-110`), B serves 110 — each
with its FastAGI routes, A with its handoff journal.  Ours: `*1` on A (the
fast path to a remote partner: the citizen's channel dials the trunk with
X-Hotline-Handoff, Diversion and its PAI; B puts it in its linkage queue).
Built-in: `#1 110` on A (blind transfer into `hotline-bench-blind-transfer`, which
dials the same trunk as a plain call; B takes it as a citizen's call: its
public queue, after its `inbound` route).  Timed from the DTMF end on A's
seat leg (A's event clock) to the first AgentCalled / AgentConnect of that
citizen on B (B's event clock: the same host, the same system clock).
"""
from __future__ import annotations

import asyncio
import random
import shutil
import socket
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from agi.background import cancel_all, wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from app.handoff import plugin as handoff_plugin
from app.handoff.http import HANDOFFS
from app.handoff.journal import AmiAstDb
from app.handoff.journal import sweep as outbox_sweep
from app.handoff.services import HandoffService
from app.inbound import plugin as inbound_plugin
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.features import Dependencies, setup_features
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from app.tools import simulation
from app.tools.agi_bench import percentile
from app.tools.ports import free_port as _free_port
from app.web.errors import NotFound
from core.centres import parse_centres
from core.channel_vars import KEY_CHECKED
from core.feature_keys import BUILTIN_FEATURE_KEYS
from core.settings import Settings, TrunkSettings
from core.trunks import Trunk

TARGET_QUEUE = "hotline-110-linkage"
WATCHED_EVENTS = ("DTMFEnd", "BlindTransfer", "QueueCallerJoin", "AgentCalled", "AgentConnect", "UserEvent")
# where the time goes, each from the same start: the citizen moved (the
# BlindTransfer event), in the target queue (its QueueCallerJoin), a seat
# ringing, answered — the first two on this platform only
PHASES = ("transfer", "target_queue", "target_ringing", "answered")
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
        linkedid = event.get("Linkedid") or event.get("DestLinkedid") or event.get("TransfereeLinkedid") or ""
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
        if name in ("QueueCallerJoin", "AgentCalled", "AgentConnect") and event.get("Queue") == TARGET_QUEUE:
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


class _FarWatch:
    """The far platform's AMI events of the run (across a trunk), by the
    citizen's number: its calls have their own linkedids there."""

    def __init__(self) -> None:
        self.by_number: dict[str, list[dict[str, Any]]] = {}
        self.waiters: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}

    def on_event(self, event: dict[str, Any]) -> None:
        name = str(event.get("Event", ""))
        if name == "UserEvent":
            name, number = str(event.get("UserEvent")), str(event.get("ShownNum") or "")
        else:
            number = str(event.get("CallerIDNum") or "")
        if not number:
            return
        self.by_number.setdefault(number, []).append(event)
        fut = self.waiters.get((number, name))
        if fut is not None and not fut.done():
            fut.set_result(event)

    def wait(self, number: str, kind: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        for event in self.by_number.get(number, []):
            if event.get("Event") == kind or event.get("UserEvent") == kind:
                fut.set_result(event)
                return fut
        self.waiters[(number, kind)] = fut
        return fut



class _Background:
    """`calls` citizen calls kept in progress while the handoffs are timed:
    each slot dials 12345 or 110 in turn, a seat answers, they talk 2-5 s,
    the citizen hangs up and the slot calls again (call setups, bridges and
    the AMI bridge's events go on all the time, as in a busy centre)."""

    def __init__(self, ami: AmiManager, calls: int) -> None:
        self.ami, self.calls = ami, calls
        self.tasks: list[asyncio.Task[None]] = []
        self.placed = 0
        self.live: dict[int, str] = {}  # slot -> the handset of its call now
        self._numbers = iter(range(10**7))

    async def start(self) -> None:
        for slot in range(self.calls):
            self.tasks.append(asyncio.create_task(self._slot(slot)))

    async def _slot(self, slot: int) -> None:
        pick = random.Random(slot)
        while True:
            centre = ("12345", "110")[slot % 2]
            number = f"1370{slot:03d}{next(self._numbers) % 10000:04d}"
            call = await simulation.originate_citizen(self.ami, centre, number)
            self.live[slot] = call.handset_id
            self.placed += 1
            await asyncio.sleep(pick.uniform(2.0, 5.0))
            await simulation.hang_up(self.ami, call.handset_id)
            del self.live[slot]
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        await cancel_all(self.tasks)  # once was not always enough: a run waited for ever
        self.tasks.clear()
        for handset in self.live.values():
            await simulation.hang_up(self.ami, handset)
        self.live.clear()


async def run_handoff_bench(settings: Settings, count: int = 200, background_calls: int = 0, *,
                            across_trunk: bool = False) -> dict[str, Any]:
    if across_trunk:
        return await _run_across_trunk(settings, count)
    state = Path(tempfile.mkdtemp(prefix="hotline-bench-transfer-"))
    settings = settings.with_(site={"seat_mode": "simulated"}, paths={"state_dir": state}, database={"url": None})
    if background_calls:
        # seats for the background calls on top of the measured ones (the queues ring free seats only)
        extra = background_calls // 2 + 2
        settings = settings.with_(site={"centres": parse_centres(f"12345:1001-{1004 + extra};110:2001-{2002 + extra}")})
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
    checked: list[bool] = []  # per key press: the journal had set the leg's checked facts before it
    started = time.monotonic()
    try:
        await ami.wait_connected(timeout=20)
        await journal.start()
        background = _Background(ami, background_calls)
        await background.start()
        if background_calls:
            await asyncio.sleep(3.0)  # the slots' calls are up
        for i in range(count * 2):
            mode = "hotline" if i % 2 == 0 else "blind"
            try:
                intervals, handoff = await _one(ami, watch, mode, f"1390000{i:04d}", digits[mode],
                                                checked=checked)
            except (TimeoutError, AssertionError, StopIteration):
                failures[mode] += 1
                if not background_calls:
                    await ami.send({"Action": "Hangup", "Channel": "/^Local/"})
                continue
            for name, value in intervals.items():
                results[mode].setdefault(name, []).append(value)
            if handoff:
                handoff_ids.append(handoff)
        background_placed = background.placed
        await background.stop()
        await routes.drain()
        await journal.stop()
        # what neither the seat legs' routes nor the journal recorded (none expected)
        swept = await outbox_sweep(AmiAstDb(ami), handoffs)
        lost = await _lost(handoffs, handoff_ids)
        ours, blind = results["hotline"], results["blind"]
        out: dict[str, Any] = {
            "benchmark": "one-key-transfer-vs-blind-transfer",
            "asterisk": str(settings.paths.asterisk_prefix.resolve().name),
            "handoffs_per_mode": count,
            "background_calls": {"in_progress": background_calls, "placed": background_placed,
                                 "what": "citizens calling 12345/110 in turn, answered, 2-5 s talk, again"},
            "keys": {"hotline_key": digits["hotline"], "builtin_blindxfer": digits["blind"],
                     "digit_ms": DIGIT_MS, "pause_between_digits_ms": PAUSE_MS},
            "measured_from": {
                "clock": "Asterisk's event clock (AMI Timestamp)",
                "start_event": "AMI DTMFEnd, Direction Received, on the seat's leg in the bridge",
                "end_events": "the citizen's BlindTransfer (moved), then first QueueCallerJoin (in the "
                              "target queue), AgentCalled (target ringing) and AgentConnect (answered) of "
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
            "transfer_path": ("dialplan: the checked facts or the whole guard (core/fast_path.py), "
                              "BlindTransfer, a pause of HOTLINE_HANDOFF_YIELD_MS for the citizen, then the AstDB "
                              "outbox; orders by the AMI journal"
                              if settings.handoff.fast_path
                              else "agi: handoff_key route before the move (HOTLINE_HANDOFF_FAST_PATH=no)"),
            "handoff_yield_ms": settings.handoff.yield_ms if settings.handoff.fast_path else None,
            "outbox_records_swept_at_end": swept,
            # presses whose seat leg carried the facts the journal checked when it answered (the key's
            # first step compared them; the others ran the whole guard)
            "presses_with_checked_facts": f"{sum(checked)}/{len(checked)}",
            "double_press_guard": ("AstDB key per call, in dialplan" if settings.handoff.fast_path
                                   else "AstDB key per call, over AGI (two round trips on the key path)"),
            "ami_events": "filtered to " + ", ".join(WATCHED_EVENTS) + " (and the journal's)",
            "wall_s": round(time.monotonic() - started, 1),
        }
        out["ratio_hotline_over_blind"] = _ratios(out)
        return out
    finally:
        await journal.stop()
        await ami.close()
        await asterisk.stop()
        await agi.stop()
        await engine.dispose()
        shutil.rmtree(state, ignore_errors=True)


async def _lost(handoffs: HandoffService, handoff_ids: list[str]) -> int:
    """The handoffs whose order is missing or not `accepted` (must be none)."""
    lost = 0
    for handoff_id in handoff_ids:
        try:
            order = await handoffs.orders.get(handoff_id)
        except NotFound:
            lost += 1
            continue
        if order.status != "accepted":
            lost += 1
    return lost


def _ratios(out: dict[str, Any]) -> dict[str, float | None]:
    """Our key over the built-in blind transfer, from the input complete: p50 and p95 of each phase."""
    ratios: dict[str, float | None] = {}
    for phase in ("to_target_ringing", "to_answered"):
        for stat in ("p50_ms", "p95_ms"):
            blind = out["builtin_blindxfer"]["from_input_complete"][phase][stat]
            ours = out["hotline_key"]["from_input_complete"][phase][stat]
            ratios[f"{phase}_{stat[:3]}"] = round(ours / blind, 2) if blind else None
    return ratios


def _views(values: dict[str, list[float]]) -> dict[str, dict[str, dict[str, float]]]:
    # every phase, n 0 where none was timed (a mode whose handoffs all failed; across a trunk, the
    # first two: they happen on the other platform)
    return {view: {f"to_{phase}": _summary(values.get(f"{view}:{phase}", [])) for phase in PHASES}
            for view in ("from_input_complete", "from_first_key_digit")}


async def _one(ami: AmiManager, watch: _Watch, mode: str, number: str,
               digits: str, far: tuple[AmiManager, _FarWatch] | None = None, *,
               checked: list[bool] | None = None) -> tuple[dict[str, float], str | None]:
    call = await simulation.originate_citizen(ami, "12345", number)
    linkedid = call.handset_id
    first = await wait_for(watch.wait(linkedid, "HotlineSeatAnswered"), 15)
    # let the citizen<->seat bridge form before the seat presses anything
    await wait_for(watch.wait(linkedid, "AgentConnect"), 15)
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
    elif checked is not None:  # seen, not waited for: the seat presses as soon as it is bridged
        reply = await ami.send({"Action": "Getvar", "Channel": leg, "Variable": KEY_CHECKED})
        checked.append(isinstance(reply, dict) and bool(reply.get("Value")))
    await _press(ami, phone, digits)
    if far is not None:  # the first seat ringing / answering on the far platform
        ringing = await wait_for(far[1].wait(number, "AgentCalled"), 15)
        answered = await wait_for(far[1].wait(number, "AgentConnect"), 15)
    else:
        ringing = await wait_for(watch.wait(linkedid, "AgentCalled:target"), 15)
        answered = await wait_for(watch.wait(linkedid, "AgentConnect:target"), 15)
    ends = [e for e in watch.by_call[linkedid]
            if e.get("Event") == "DTMFEnd" and e.get("Channel") == leg and e.get("Direction") == "Received"]
    assert [e.get("Digit") for e in ends] == list(digits), f"the seat's digits {digits} were not all seen on its leg"
    starts = {"from_input_complete": float(ends[-1]["Timestamp"]),
              "from_first_key_digit": float(ends[0]["Timestamp"])}
    handoff = None
    if far is not None:
        if mode == "hotline":  # B's answering seat carries A's handoff id (the header's)
            seat_b = await wait_for(far[1].wait(number, "HotlineSeatAnswered"), 5)
            handoff = seat_b.get("PeerHandoff") or None
            assert handoff, "no handoff id on the far platform's seat"
        await simulation.hang_up(ami, call.handset_id)
        for _ in range(500):  # the call gone on both platforms: the next finds free seats
            if not any(c.get("Linkedid") == linkedid for c in await simulation.channels(ami)) \
                    and not await simulation.channels(far[0]):
                break
            await asyncio.sleep(0.01)
        return ({f"{view}:{phase}": (float(event["Timestamp"]) - t0) * 1000
                 for view, t0 in starts.items()
                 for phase, event in (("target_ringing", ringing), ("answered", answered))}, handoff)
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
    # raised before the seat rang: here already (a timeout fails this handoff, its call gone)
    moved = await wait_for(watch.wait(linkedid, "BlindTransfer"), 1)
    queued = await wait_for(watch.wait(linkedid, "QueueCallerJoin:target"), 1)
    return ({f"{view}:{phase}": (float(event["Timestamp"]) - t0) * 1000
             for view, t0 in starts.items()
             for phase, event in (("transfer", moved), ("target_queue", queued),
                                  ("target_ringing", ringing), ("answered", answered))}, handoff)


# ------------------------------------------------------------------ across a trunk

def _platform(settings: Settings, state: Path, centres: str, sip_port: int, trunk: Trunk,
              remote: str, rtp: tuple[int, int]) -> Settings:
    return settings.with_(
        site={"seat_mode": "simulated", "centres": parse_centres(centres)}, paths={"state_dir": state},
        database={"url": None},
        network={"sip_port": sip_port, "agi_port": _free_port(), "http_port": _free_port(),
                 "rtp_start": rtp[0], "rtp_end": rtp[1]},
        ami={"port": _free_port()},
        redis={"prefix": f"hotline-bench-{uuid.uuid4().hex[:8]}:"},
        handoff={"release_modes": {}},
        trunks=TrunkSettings(trunks=(trunk,), remote_centres={remote: trunk.name}))


async def _trunk_up(ami: AmiManager, trunk: str, timeout: float = 20.0) -> None:
    """Wait until the trunk's contact qualifies (its endpoint's device state leaves UNAVAILABLE)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await ami.send({"Action": "Getvar", "Variable": f"DEVICE_STATE(PJSIP/{trunk})"})
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("Value") in ("NOT_INUSE", "INUSE"):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"trunk {trunk} not reachable after {timeout:g}s")


async def _run_across_trunk(settings: Settings, count: int) -> dict[str, Any]:
    """The handoff key on A to 110 on B over a loopback peer trunk, against
    Asterisk's blind transfer to the same trunk (see the module docstring)."""
    root = Path(tempfile.mkdtemp(prefix="hotline-bench-trunk-"))
    port_a, port_b = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_DGRAM)
    peer_b = Trunk(name="peer-110", host="127.0.0.1", port=port_b, match=f"127.0.0.1:{port_b}", qualify_s=1)
    peer_a = Trunk(name="peer-12345", host="127.0.0.1", port=port_a, match=f"127.0.0.1:{port_a}", qualify_s=1)
    sa = _platform(settings, root / "a", "12345:1001-1002", port_a, peer_b, "110", (31000, 31499))
    sb = _platform(settings, root / "b", "110:2001-2002", port_b, peer_a, "12345", (31500, 31999))
    sides: list[dict[str, Any]] = []
    for platform in (sa, sb):
        secrets = load_or_create(platform)
        render(platform, secrets)
        engine = db.create_engine(platform.effective_database_url)
        await db.migrate_engine(engine)
        sessions = db.session_factory(engine)
        ami = AmiManager("127.0.0.1", platform.ami.port, platform.ami.user, secrets.ami_secret,
                         filter_events=True)
        routes = AgiRoutes()
        deps = setup_features(Dependencies(platform, engine, sessions, OrderService(sessions),
                                           frozenset({"agi", "bridge"}), agi=routes, ami=ami),
                              (inbound_plugin, handoff_plugin))
        sides.append({"settings": platform, "engine": engine, "ami": ami, "routes": routes, "deps": deps,
                      "agi": FastAgiServer(platform, routes), "asterisk": AsteriskProcess(platform)})
    a, b = sides
    watch, far = _Watch(), _FarWatch()
    for name in WATCHED_EVENTS:
        a["ami"].on_event(name, watch.on_event)
    for name in ("AgentCalled", "AgentConnect", "UserEvent"):
        b["ami"].on_event(name, far.on_event)
    handoffs = a["deps"].get(HANDOFFS)
    digits = {"hotline": sa.handoff.key, "blind": BUILTIN_FEATURE_KEYS["blindxfer"] + BLIND_DESTINATION}
    results: dict[str, dict[str, list[float]]] = {m: {} for m in ("hotline", "blind")}
    failures: dict[str, int] = {"hotline": 0, "blind": 0}
    handoff_ids: list[str] = []
    started = time.monotonic()
    try:
        for side in sides:
            side["asterisk"].check_installed()
            await side["agi"].start()
            await side["asterisk"].start()
            await side["ami"].start()
        for side in sides:
            await side["ami"].wait_connected(timeout=20)
            for worker in side["deps"].workers:
                await worker.start()
        await asyncio.gather(_trunk_up(a["ami"], "peer-110"), _trunk_up(b["ami"], "peer-12345"))
        for i in range(count * 2):
            mode = "hotline" if i % 2 == 0 else "blind"
            try:
                intervals, handoff = await _one(a["ami"], watch, mode, f"1390000{i:04d}", digits[mode],
                                                far=(b["ami"], far))
            except (TimeoutError, AssertionError):
                failures[mode] += 1
                for side in sides:
                    await side["ami"].send({"Action": "Hangup", "Channel": "/^(Local|PJSIP)//"})
                await asyncio.sleep(0.5)
                continue
            for name, value in intervals.items():
                results[mode].setdefault(name, []).append(value)
            if handoff:
                handoff_ids.append(handoff)
        for side in sides:
            await side["routes"].drain()
            for worker in side["deps"].workers:
                await worker.stop()
        swept = await outbox_sweep(AmiAstDb(a["ami"]), handoffs)
        lost = await _lost(handoffs, handoff_ids)
        out: dict[str, Any] = {
            "benchmark": "one-key-transfer-vs-blind-transfer-across-a-trunk",
            "asterisk": str(settings.paths.asterisk_prefix.resolve().name),
            "handoffs_per_mode": count,
            "platforms": {"a": "12345 (seats 1001-1002), peer trunk peer-110 to B",
                          "b": "110 (seats 2001-2002), peer trunk peer-12345 to A",
                          "trunk": "PJSIP over UDP on loopback, qualify 1 s"},
            "keys": {"hotline_key": digits["hotline"], "builtin_blindxfer": digits["blind"],
                     "digit_ms": DIGIT_MS, "pause_between_digits_ms": PAUSE_MS},
            "measured_from": {
                "clock": "each Asterisk's event clock (AMI Timestamp), one host: one system clock",
                "start_event": "AMI DTMFEnd, Direction Received, on A's seat leg in the bridge",
                "end_events": "the citizen's first AgentCalled (far seat ringing) / AgentConnect "
                              "(answered) on B, in any of its queues",
                "paths": {"hotline_key": "A: the fast path's guard, BlindTransfer to to-110*<seat>*<id>, Dial over "
                                         "peer-110 with X-Hotline-Handoff/Diversion/PAI; B: hotline-peer-in, "
                                         "the header checked, the 110 linkage queue",
                          "builtin_blindxfer": "A: features.conf blindxfer into hotline-bench-blind-transfer, Dial "
                                               "over peer-110 (no header); B: hotline-peer-in, hotline-inbound, "
                                               "its `inbound` FastAGI route, the 110 public queue"},
            },
            "hotline_key": _views(results["hotline"]),
            "builtin_blindxfer": _views(results["blind"]),
            "orders_recorded_on_a": len(handoff_ids),
            "lost_orders": lost + failures["hotline"],
            "failed_handoffs": failures,
            "handoff_yield_ms": settings.handoff.yield_ms if settings.handoff.fast_path else None,
            "outbox_records_swept_at_end": swept,
            "wall_s": round(time.monotonic() - started, 1),
        }
        out["ratio_hotline_over_blind"] = _ratios(out)
        return out
    finally:
        for side in sides:
            for worker in side["deps"].workers:
                await worker.stop()
            await side["ami"].close()
            await side["asterisk"].stop()
            await side["agi"].stop()
            await side["engine"].dispose()
        shutil.rmtree(root, ignore_errors=True)
