"""Asterisk dies during a three-way call (`*2`): the reconciler settles its order.

A three-way call's state lives in the conference, the Local channel ringing
the other centre, the AstDB phase `hotline-threeway/<id>` and the process's
`ThreeWayService`; its order stays `pending` until an event decides it.  A
`kill -9` of Asterisk takes every event with it: after the restart the
handoff journal's reconciler (the one reconciler, `core.reconcile`) finds
the call gone and settles the order — ringing: abandoned, joined: accepted by
the first-contact rule, both with the reason `settled_after_restart` — and
deletes the phase key.  A three-way call still under way is never touched.
"""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.handoff import plugin as handoff
from app.inbound import plugin as inbound
from app.orders import plugin as orders
from app.threeway import plugin as threeway
from app.threeway.http import THREEWAY
from app.threeway.services import ThreeWayService
from core.reconcile import SETTLED_REASON
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY
from core.threeway import RING_CONTEXT, conference_name
from tests.faults.rig import Call, FaultRig, Figures
from tests.support.waiting import eventually

FEATURES = (inbound, orders, handoff, threeway)


@pytest.fixture
async def rig(tmp_path: Path, figures: Figures) -> AsyncIterator[FaultRig]:
    """The faults rig wired with the three-way feature too (its service is the
    journal's three-way settler, as in every `bridge` process)."""
    rig = await FaultRig.start(tmp_path, figures, features=FEATURES)
    try:
        yield rig
        await rig.assert_clean()
    finally:
        await rig.stop()


def service(rig: FaultRig) -> ThreeWayService:
    assert rig.pbx.deps is not None
    return rig.pbx.deps.get(THREEWAY)


async def start_threeway(rig: FaultRig, *, answered: bool) -> tuple[Call, Any]:
    """One citizen answered by a 12345 seat, who presses the three-way key; returns
    when the call is in the phase wanted (the other centre ringing, or its seat
    joined: three in the conference and the join on the order)."""
    if not answered:
        await rig.no_110_seat_answers()
    [call] = await rig.answered_calls(1)
    await rig.pbx.press_key(call.seat, rig.pbx.settings.threeway.start_key)

    async def order() -> Any:
        found = await rig.handoffs.orders.in_status("three_way", "pending")
        assert len(found) == 1, f"three-way orders pending: {len(found)}"
        return found[0]
    pending = await eventually(order, timeout=15, what="the three-way order")
    rig.handoff_ids.append(pending.id)
    rig.figures.handoffs += 1
    ring = f"Local/t{pending.id.replace('-', '')}@{RING_CONTEXT}-"

    async def in_phase() -> Any:
        chans = [c["Channel"] for c in await rig.pbx.channels()]
        assert any(c.startswith(ring) for c in chans), f"no ringing leg in {chans}"
        rooms = [r.get("Conference") for r in await rig.pbx.conferences()]
        assert conference_name(pending.id) in rooms, f"no conference in {rooms}"
        now = await rig.handoffs.orders.get(pending.id)
        assert bool(now.target_seat) == answered, f"target seat {now.target_seat!r}"
        return now
    return call, await eventually(in_phase, timeout=20, what="the three-way call " + ("joined" if answered
                                                                                      else "ringing"))


@pytest.mark.parametrize("phase", ["ringing", "joined"])
async def test_when_asterisk_is_killed_during_a_three_way_call_then_its_order_is_settled_and_nothing_is_left(
        rig: FaultRig, figures: Figures, phase: str) -> None:
    _, order = await start_threeway(rig, answered=phase == "joined")
    await rig.kill_asterisk()
    down = time.monotonic()
    runs = rig.journal.reconciled
    reconnect_s = await rig.restart_asterisk()
    outage_s = round(time.monotonic() - down, 2)
    await rig.wait_reconciled(runs)
    out = await rig.settled_outcome()
    settled = await rig.handoffs.orders.get(order.id)
    figures.done(reconnect_s=reconnect_s, outage_s=outage_s,
                 note=f"kill -9 with a three-way call {phase}: {settled.status} "
                      f"{settled.handoff_rule or ''} {settled.outcome_reason}".replace("  ", " "))
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
    assert out["channels"] == [] and out["conferences"] == [] and out["astdb"] == {}
    assert settled.outcome_reason == SETTLED_REASON and out["settled"] == 1
    if phase == "joined":  # both seats were there, nothing agreed: 首接负责
        assert (settled.status, settled.handoff_rule, settled.target_centre) == ("accepted", "first_contact", "12345")
    else:
        assert settled.status == "abandoned"
    events = await rig.handoffs.orders.events(order.id)
    moves = [e for e in events if e.kind == "transition"]
    assert len(moves) == 1 and (moves[0].detail or {}).get("by") == "reconciler", \
        [(e.kind, e.detail) for e in events]                     # settled exactly once, by the reconciler
    assert (await service(rig).state(order.id)).phase == "ended"  # over, for every process
    await rig.journal.reconcile()                                # a later run changes nothing
    assert len(await rig.handoffs.orders.events(order.id)) == len(events)
    assert reconnect_s < 2.0


async def test_when_a_three_way_call_is_under_way_then_reconciler_runs_leave_it_alone(
        rig: FaultRig, figures: Figures) -> None:
    """No false positives: runs during the joined call change nothing; the
    citizen's hangup then decides as usual (first contact, undecided)."""
    call, order = await start_threeway(rig, answered=True)
    runs = rig.journal.reconciled
    for _ in range(3):
        plan = await rig.journal.reconcile()
        assert plan is not None and plan.settle_threeway == () and plan.live_threeways == 1
    assert rig.journal.reconciled == runs + 3
    now = await rig.handoffs.orders.get(order.id)
    assert now.status == "pending"
    assert await rig.pbx.astdb_left() == {THREEWAY_FAMILY: {order.id: "joined"}}
    assert conference_name(order.id) in [r.get("Conference") for r in await rig.pbx.conferences()]
    assert len(await rig.pbx.channels()) >= 5                    # citizen, both seats, the ringing leg

    rig.hung_up.add(call.citizen.handset_id)
    await rig.pbx.hang_up(call.citizen.handset_id)
    ended = await eventually(lambda: _final(rig, order.id), timeout=15, what="the three-way order decided")
    out = await rig.settled_outcome()
    figures.done(dropped=await rig.count_dropped(),
                 note=f"3 reconciler runs during a joined three-way call, then the citizen hung up: "
                      f"{ended.status} {ended.handoff_rule} {ended.outcome_reason}")
    assert (ended.status, ended.handoff_rule, ended.outcome_reason) == ("accepted", "first_contact", "undecided")
    assert out["settled"] == 0 and out["pending"] == [] and out["astdb"] == {}


async def _final(rig: FaultRig, order_id: str) -> Any:
    order = await rig.handoffs.orders.get(order_id)
    assert order.status != "pending", "still pending"
    return order


async def test_when_python_is_away_as_a_three_way_call_ends_then_the_next_start_settles_it_as_it_ended(
        rig: FaultRig, figures: Figures) -> None:
    """The FastAGI server and the journal are down when the citizen hangs up in
    a joined three-way call: the dialplan keeps `gone` in AstDB, its report
    never runs.  The new process reconciles at start: both seats were there,
    so first contact accepts, as the report would have decided."""
    call, order = await start_threeway(rig, answered=True)
    await rig.pbx.python_down()
    down = time.monotonic()
    rig.hung_up.add(call.citizen.handset_id)
    await rig.pbx.hang_up(call.citizen.handset_id)
    await eventually(lambda: _no_call(rig), timeout=15, what="the three-way call ended")
    assert (await rig.handoffs.orders.get(order.id)).status == "pending"
    assert await rig.pbx.astdb_left() == {THREEWAY_FAMILY: {order.id: "gone"}}
    await rig.pbx.python_up()
    outage_s = round(time.monotonic() - down, 2)
    await rig.wait_reconciled(0)
    out = await rig.settled_outcome()
    ended = await rig.handoffs.orders.get(order.id)
    figures.done(outage_s=outage_s, note=f"FastAGI + journal down at the citizen's hangup in a joined three-way "
                                         f"call: {ended.status} {ended.handoff_rule} {ended.outcome_reason}")
    assert (ended.status, ended.handoff_rule, ended.outcome_reason, ended.target_centre) == \
        ("accepted", "first_contact", "undecided", "12345")
    assert out["pending"] == [] and out["not_final"] == [] and out["astdb"] == {}


async def _no_call(rig: FaultRig) -> bool:
    left = await rig.pbx.channels()
    assert left == [], [c["Channel"] for c in left]
    return True
