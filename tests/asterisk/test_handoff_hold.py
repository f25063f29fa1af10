"""成功转: the transferring seat on hold is woken by the event that ends its wait,
not by polling (dialplan/hotline-handoff.conf.j2, hotline-handoff-hold).

The wake-up is seen as the seat leg entering `hotline-handoff-hold,released`
(AMI Newexten): the answer of the target seat (the handoff journal's AMI
Redirect on AgentConnect: nothing runs on the answer's path), the citizen
coming back, and the citizen hanging up (the dialplan's ChannelRedirect) each
send it there.  With Python away, the hold's safety loop frees the seat.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.handoff.services import HandoffService
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

CITIZEN = "13800138222"


@pytest.fixture
async def wired(pbx: Pbx, sqlite_url: str) -> AsyncIterator[HandoffService]:
    service = await pbx.use_database(sqlite_url)
    assert service is not None
    try:
        yield service
    finally:
        await pbx.assert_nothing_left()
        await pbx.use_database(None)


def _released(seat: str) -> Any:
    return lambda e: (e.get("Event") == "Newexten" and e.get("Context") == "hotline-handoff-hold"
                      and e.get("Extension") == "released"
                      and str(e.get("Channel", "")).startswith(f"Local/{seat}@hotline-seat-phones-"))


async def _handed_over(pbx: Pbx) -> tuple[Any, str]:
    call = await pbx.citizen_dials("12345", CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    # the citizen and the seat are bridged before the seat presses the key
    await pbx.events.wait_for(lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline-12345"
                              and e.get("Linkedid") == call.handset_id, what="citizen and seat bridged")
    pbx.events.clear()
    await pbx.press_key(first["Seat"], "*1")
    return call, first["Seat"]


async def _target_rings(pbx: Pbx) -> None:
    await pbx.events.wait_for(lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110-linkage",
                              what="a 110 seat rings")


async def _seat_gone(pbx: Pbx, seat: str) -> bool:
    assert await pbx.seat_channel(seat) is None, f"seat {seat} still has a channel"
    return True


async def test_when_the_target_answers_then_the_seat_on_hold_is_woken_and_freed(
        pbx: Pbx, wired: HandoffService) -> None:
    call, seat = await _handed_over(pbx)
    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Centre"] == "110"
    # the seat on hold is named on the citizen's channel, which the journal reads on the answer, and
    # on no leg the citizen rings (each inherited variable is one more snapshot before a leg rings)
    target = await pbx.seat_channel(answered["Seat"])
    assert target is not None
    for leg in (target["Channel"], target["Channel"][:-1] + "1"):  # the seat phone's channel and its leg
        assert await pbx.getvar(leg, "HOTLINE_HOLD_CHANNEL") == "", leg
        assert await pbx.getvar(leg, "HOTLINE_HANDOFF_ID"), leg  # what the answer is accepted by
    await pbx.events.wait_for(_released(seat), what=f"seat {seat} woken by the answer")
    await eventually(lambda: _seat_gone(pbx, seat), what="transferring seat freed")
    await pbx.hang_up(call.handset_id)


async def test_when_python_is_away_at_the_answer_then_the_seat_on_hold_is_freed_by_its_safety_loop(
        pbx: Pbx, wired: HandoffService) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    seat = first["Seat"]
    await pbx.events.wait_for(lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline-12345"
                              and e.get("Linkedid") == call.handset_id, what="citizen and seat bridged")
    await pbx.python_down()  # no journal: nobody redirects the seat on hold (the key needs no Python)
    try:
        pbx.events.clear()
        await pbx.press_key(seat, "*1")
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Centre"] == "110"
        await eventually(lambda: _seat_gone(pbx, seat), timeout=5, what="transferring seat freed by its own loop")
        assert not pbx.events.find(_released(seat))  # not woken: its loop saw the citizen bridged
    finally:
        await pbx.python_up()
    await pbx.hang_up(call.handset_id)


async def test_when_the_citizen_hangs_up_while_the_target_rings_then_the_seat_on_hold_is_woken(
        pbx: Pbx, wired: HandoffService) -> None:
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    call, seat = await _handed_over(pbx)
    await _target_rings(pbx)
    # the seat's leg has written the handoff's state (it gives way to the citizen for a few ms
    # first): a hangup before that finds no state and does not wake the leg, whose own wait then
    # ends within a second or two, the citizen's channel gone (hotline-handoff, h)
    await pbx.events.wait_for(lambda e: e.get("UserEvent") == "HotlineHandoffCreated",
                              what="the key's writes after the move")
    await pbx.hang_up(call.handset_id)
    await pbx.events.wait_for(_released(seat), what=f"seat {seat} woken by the hangup")
    await eventually(lambda: _seat_gone(pbx, seat), what="transferring seat freed")


async def test_when_nobody_answers_then_the_seat_on_hold_is_woken_and_takes_the_citizen_back(
        pbx: Pbx, wired: HandoffService) -> None:
    for seat in ("2001", "2002"):
        await pbx.set_phone(seat, "noanswer")
    call, seat = await _handed_over(pbx)
    await _target_rings(pbx)
    await pbx.events.wait_for(_released(seat), timeout=15, what=f"seat {seat} woken by the return")
    back = await pbx.seat_answered(CITIZEN)  # the citizen rings the seat that handed it over
    assert back["Seat"] == seat
    await pbx.hang_up(call.handset_id)
