"""Asterisk dies under load: kill -9 right after key presses, and `core restart now`.

The handoff key's order is recorded from the `HotlineHandoffCreated` event,
which carries the outbox record (AstDB reaches the disk only about once a
second); after the restart the reconciler settles every handoff whose call
died with Asterisk and deletes the AstDB keys that survived on disk.
"""
from __future__ import annotations

import time

import pytest

from tests.faults.rig import FaultRig, Figures

PRESSES = 8
WHEN = {"created_events": "HotlineHandoffCreated event", "key_presses": "key press (PlayDTMF ended)"}


@pytest.mark.parametrize("kill_at", ["created_events", "key_presses"])
async def test_when_asterisk_is_killed_right_after_key_presses_then_after_the_restart_no_order_is_lost_or_pending(
        fault_rig: FaultRig, figures: Figures, kill_at: str) -> None:
    """`created_events`: the kill lands the moment the last key's event reached
    the AMI link; `key_presses`: the moment the last key press (PlayDTMF) ended,
    whatever Asterisk got done by then — every handoff any event or any AstDB
    record on disk tells of must end as one final order."""
    rig = fault_rig
    await rig.no_110_seat_answers()                 # every handoff is under way when Asterisk dies
    calls = await rig.answered_calls(PRESSES)
    if kill_at == "created_events":
        await rig.press_handoff_keys(calls)
    else:
        await rig.press_keys_only(calls)
    await rig.kill_asterisk()
    down = time.monotonic()
    rig.collect_created()                           # what reached the AMI link before it died
    runs = rig.journal.reconciled
    reconnect_s = await rig.restart_asterisk()
    outage_s = round(time.monotonic() - down, 2)
    await rig.wait_reconciled(runs)
    out = await rig.settled_outcome()
    transfers = await rig.all_transfer_orders()
    figures.done(dropped=0, reconnect_s=reconnect_s, outage_s=outage_s,
                 note=f"kill -9 at the last {WHEN[kill_at]}; {len(transfers)} orders in SQL")
    if kill_at == "created_events":
        assert len(rig.handoff_ids) == PRESSES
        assert out["settled"] == PRESSES            # nobody could report them: settled_after_restart
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
    assert all(o.status in ("accepted", "returned", "abandoned") for o in transfers)
    assert set(rig.handoff_ids) <= {o.id for o in transfers}
    assert out["astdb"] == {} and out["channels"] == []
    assert reconnect_s < 2.0


async def test_when_asterisk_restarts_itself_then_every_handoff_ends_as_one_final_order(
        fault_rig: FaultRig, figures: Figures) -> None:
    rig = fault_rig
    await rig.no_110_seat_answers()
    calls = await rig.answered_calls(PRESSES)
    await rig.press_handoff_keys(calls)
    runs = rig.journal.reconciled
    connections = rig.pbx.ami.connections
    down = time.monotonic()
    await rig.pbx.asterisk.rx("core restart now")
    for call in calls:                              # the restart hangs them up: not "while up"
        rig.hung_up.add(call.citizen.handset_id)
    # the same process re-executes itself: wait for the link to drop and come back
    await rig.pbx.asterisk._wait_booted()
    booted = time.monotonic()
    from tests.support.waiting import eventually
    await eventually(lambda: rig.pbx.ami.connections > connections and rig.pbx.ami.connected, timeout=15,
                     interval=0.01, what="AMI link back after core restart now")
    reconnect_s = round(time.monotonic() - booted, 2)
    outage_s = round(time.monotonic() - down, 2)
    await rig.wait_reconciled(runs)
    out = await rig.settled_outcome()
    figures.done(reconnect_s=reconnect_s, outage_s=outage_s, note="core restart now with handoffs pending")
    assert out["lost"] == [] and out["pending"] == [] and out["not_final"] == []
    assert out["astdb"] == {} and out["channels"] == []
    assert reconnect_s < 2.0
