"""A citizen dials a centre and a seat answers — on the real Asterisk."""
from __future__ import annotations

import pytest

from app.tools import simulation
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

CITIZEN = "13800138000"


@pytest.mark.parametrize("centre, seats", [("12345", {"1001", "1002", "1003", "1004"}),
                                           ("110", {"2001", "2002"})])
async def test_when_citizen_dials_centre_then_a_seat_of_that_centre_sees_citizen_number(
        pbx: Pbx, centre: str, seats: set[str]) -> None:
    call = await pbx.citizen_dials(centre, CITIZEN)

    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Seat"] in seats
    assert answered["Centre"] == centre
    assert answered["ShownNum"] == CITIZEN  # what the seat phone's display shows
    seat_chan = await pbx.seat_channel(answered["Seat"])
    assert seat_chan is not None and seat_chan["CallerIDNum"] == CITIZEN
    # the citizen's leg and the seat's member leg are in one bridge
    leg = await pbx.channel_by_uniqueid(call.pbx_leg_id)
    member = await pbx.seat_member_leg(answered["Seat"])
    assert leg is not None and member is not None
    assert leg["BridgeId"] and leg["BridgeId"] == member["BridgeId"]

    await pbx.hang_up(call.handset_id)


async def test_when_the_rig_hangs_up_a_handset_by_its_uniqueid_then_the_whole_call_ends(pbx: Pbx) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    await pbx.seat_answered(CITIZEN)
    other = await pbx.citizen_dials("110", "13900139000")
    await pbx.seat_answered("13900139000")

    assert await simulation.hang_up(pbx.ami, call.handset_id) is True

    async def gone() -> bool:
        uniqueids = {c.get("Uniqueid") for c in await pbx.channels()}
        return call.handset_id not in uniqueids and call.pbx_leg_id not in uniqueids
    await eventually(gone, what="the citizen's channels gone")
    # the other call is untouched; a second hang-up finds nothing
    assert await pbx.channel_by_uniqueid(other.pbx_leg_id) is not None
    assert await simulation.hang_up(pbx.ami, call.handset_id) is False
    with pytest.raises(ValueError):
        await simulation.hang_up(pbx.ami, "/^Local/")
    await pbx.hang_up(other.handset_id)


async def test_when_fastagi_server_is_down_then_call_still_reaches_12345_queue_and_a_seat(pbx: Pbx) -> None:
    await pbx.agi.stop()
    try:
        call = await pbx.citizen_dials("12345", CITIZEN)
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Centre"] == "12345"
        assert answered["Seat"].startswith("100")
        assert answered["ShownNum"] == CITIZEN
        # the call took the dialplan's safe path
        safe = pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == call.pbx_leg_id
                               and e.get("Context") == "hotline-fallback")
        assert safe, "the call did not go through hotline-fallback"
        await pbx.hang_up(call.handset_id)
    finally:
        await pbx.agi.start()


async def test_when_route_decides_then_fastagi_server_was_asked(pbx: Pbx) -> None:
    before = pbx.agi.requests
    call = await pbx.citizen_dials("110", "13900139000")
    await pbx.seat_answered("13900139000")
    assert pbx.agi.requests == before + 1
    await pbx.hang_up(call.handset_id)


async def test_when_seats_do_not_answer_then_citizen_waits_in_queue_until_hanging_up(pbx: Pbx) -> None:
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    call = await pbx.citizen_dials("110", CITIZEN)
    await pbx.events.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Queue") == "hotline-110",
                              what="citizen joins the 110 queue")
    await pbx.events.wait_for(lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110",
                              what="a 110 seat rings")
    await pbx.hang_up(call.handset_id)
    await pbx.events.wait_for(lambda e: e.get("Event") == "QueueCallerAbandon", what="abandon recorded")


async def test_the_asterisk_the_project_builds_is_a_production_build_without_the_test_framework(pbx: Pbx) -> None:
    """scripts/install-asterisk turns TEST_FRAMEWORK off (it raises TestEvent AMI events on every call)."""
    reply = await pbx.ami.send({"Action": "Command", "Command": "core show settings"})
    text = "\n".join(str(v) for m in (reply if isinstance(reply, list) else [reply]) for v in m.values())
    options = next(line for line in text.splitlines() if "Build Options" in line)
    assert "TEST_FRAMEWORK" not in options, options


async def test_when_a_call_leaves_an_astdb_entry_behind_then_the_leak_check_fails_naming_it_and_clears_it(
        pbx: Pbx) -> None:
    from core.handoff import ASTDB_FAMILY

    await pbx.ami.send({"Action": "DBPut", "Family": ASTDB_FAMILY, "Key": "1796000000.1", "Val": "pending"})
    with pytest.raises(AssertionError, match=r"astdb=\{'hotline-handoff': \{'1796000000.1': 'pending'\}\}"):
        await pbx.assert_nothing_left(timeout=0.5)
    assert await pbx.astdb_left() == {}
