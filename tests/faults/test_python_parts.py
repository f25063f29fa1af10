"""Python's parts fail under load while Asterisk stays up: the FastAGI server, the
AMI side (link and journal), the SQLite database locked.

Asterisk keeps every citizen on the dialplan's safe path; the orders wait in
AstDB (the outbox) or are settled by the reconciler once the part is back.
"""
from __future__ import annotations

import asyncio
import sqlite3
import time

from app.handoff.journal import HandoffJournal
from tests.faults.rig import FaultRig, Figures
from tests.support.waiting import eventually

CALLS = 6
LOCKED_S = 8.0


async def test_when_fastagi_is_down_then_callers_still_reach_seats_and_handoffs_end_as_orders(
        fault_rig: FaultRig, figures: Figures) -> None:
    rig = fault_rig
    await rig.pbx.agi.stop()
    down = time.monotonic()
    calls = await rig.answered_calls(CALLS)             # the inbound route is away: the safe path
    ids = await rig.press_handoff_keys(calls[:3])       # the key's dialplan path needs no Python
    await rig.answered_in_110(3, timeout=15, what="three 110 seats answered")
    dropped = await rig.count_dropped()
    await rig.hang_up_all()                            # the hangup reports fail: FastAGI is down
    await rig.pbx.agi.start()
    outage_s = round(time.monotonic() - down, 2)
    out = await rig.settled_outcome()
    figures.done(dropped=dropped, outage_s=outage_s, note="FastAGI server stopped; calls placed during it")
    assert dropped == 0 and len(ids) == 3
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []


async def test_when_the_ami_side_dies_then_the_link_is_back_within_two_seconds_and_no_order_is_lost(
        fault_rig: FaultRig, figures: Figures) -> None:
    rig = fault_rig
    assert rig.pbx.deps is not None
    calls = await rig.answered_calls(CALLS)
    old = rig.journal
    await old.stop()                                   # the bridge process is gone ...
    connections = rig.pbx.ami.connections
    rig.pbx.ami._drop("fault: AMI bridge killed")      # ... and its socket with it
    dropped_at = time.monotonic()
    await eventually(lambda: rig.pbx.ami.connections > connections and rig.pbx.ami.connected,
                     timeout=5, interval=0.01, what="AMI link back")
    reconnect_s = round(time.monotonic() - dropped_at, 2)
    await rig.pbx.ami.send({"Action": "Ping"})          # the new link carries actions (and their events)
    ids = await rig.press_handoff_keys(calls)          # nobody records them: they wait in AstDB
    await rig.hang_up_all()                            # ... or are reported by the hangup routes
    journal = HandoffJournal(rig.pbx.ami, rig.handoffs)
    rig.pbx.deps.workers = [journal if w is old else w for w in rig.pbx.deps.workers]
    await journal.start()                              # the bridge is back: reconcile at once
    outage_s = round(time.monotonic() - dropped_at, 2)
    await rig.wait_reconciled(0)
    out = await rig.settled_outcome()
    dropped = await rig.count_dropped()
    figures.done(dropped=dropped, reconnect_s=reconnect_s, outage_s=outage_s,
                 note="journal stopped + AMI socket dropped; handoffs and hangups meanwhile")
    assert reconnect_s < 2.0 and len(ids) == CALLS and dropped == 0
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []


async def test_when_the_sqlite_database_is_locked_then_orders_wait_and_are_all_recorded_after(
        fault_rig: FaultRig, figures: Figures) -> None:
    rig = fault_rig
    path = rig.url.split("///", 1)[1]
    calls = await rig.answered_calls(CALLS)
    lock = sqlite3.connect(path, timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")                    # another writer holds the database
    locked_at = time.monotonic()
    try:
        ids = await rig.press_handoff_keys(calls)
        await rig.answered_in_110(CALLS, timeout=20, what="every handoff answered by a 110 seat")
        dropped = await rig.count_dropped()
        await rig.hang_up_all()
        # the fault's length, not a wait for something: longer than SQLite's 5 s
        # busy timeout, so writes fail and must be retried
        await asyncio.sleep(max(0.0, LOCKED_S - (time.monotonic() - locked_at)))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    outage_s = round(time.monotonic() - locked_at, 2)
    out = await rig.settled_outcome(timeout=40)        # the next sweep / reconciler run
    figures.done(dropped=dropped, outage_s=outage_s, note="BEGIN EXCLUSIVE held on the orders file")
    assert dropped == 0 and len(ids) == CALLS
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
    # every citizen was answered by a 110 seat: the orders say so, not "settled"
    assert [(await rig.handoffs.orders.get(i)).status for i in ids] == ["accepted"] * CALLS


async def test_when_the_answer_and_the_hangup_report_are_both_lost_then_the_order_still_says_accepted(
        tmp_path, figures: Figures) -> None:
    """The overload case: the order is in SQL (pending), the AMI side misses the
    answer and the hangup's FastAGI report is lost too.  What the dialplan kept
    (`hotline-handoff-ended`) lets the reconciler settle it as it ended."""
    rig = await FaultRig.start(tmp_path, figures, HOTLINE_HANDOFF_FAST_PATH="no")
    try:
        assert rig.pbx.deps is not None
        journal = rig.journal
        calls = await rig.answered_calls(3)
        await journal.stop()                               # the answers go unseen ...
        ids = await rig.press_handoff_keys_agi(calls)      # ... of orders the key route recorded
        await rig.answered_in_110(3, timeout=15, what="three 110 seats answered")
        assert [(await rig.handoffs.orders.get(i)).status for i in ids] == ["pending"] * 3
        await rig.pbx.agi.stop()                           # ... and so do the hangup reports
        down = time.monotonic()
        await rig.hang_up_all()
        await eventually(lambda: _no_channels(rig), timeout=10, what="calls ended")
        await rig.pbx.agi.start()
        back = HandoffJournal(rig.pbx.ami, rig.handoffs)
        rig.pbx.deps.workers = [back if w is journal else w for w in rig.pbx.deps.workers]
        await back.start()
        outage_s = round(time.monotonic() - down, 2)
        await rig.wait_reconciled(0)
        out = await rig.settled_outcome()
        figures.done(outage_s=outage_s, note="AGI path; journal and FastAGI away at answer and hangup")
        assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
        assert [(await rig.handoffs.orders.get(i)).status for i in ids] == ["accepted"] * 3
        await rig.assert_clean()
    finally:
        await rig.stop()


async def _no_channels(rig: FaultRig) -> bool:
    return not await rig.pbx.channels()
