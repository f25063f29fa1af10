"""The handoff key's table of cases through the real dialplan on Asterisk.

tests/support/handoff_cases.py holds the cases; tests/unit/test_handoff_key_table.py
runs them through `core.fast_path` and `plan_handoff`.  Here each case is
staged on a real call and the seat presses the key; what the rendered
dialplan does is read from the AMI events:

* the fast path's `HotlineHandoffCreated` (and no AGI asked): `dialplan`;
* the `handoff_key` route asked, then the citizen in `hotline-handoff,s`: `python`;
* the route asked, then the seat hears a refusal: `refused:` + the reason the
  route gave (HOTLINE_HANDOFF_REFUSAL on the seat's leg), with its prompt.

One rig for the module (three centres, see handoff_cases), orders in SQLite;
the `remote` cases run on two platforms linked by a peer trunk (A serves
12345, B its partner 110), also started once for the module.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.handoff.telephony import AmiTelephony
from core import channel_vars as cv
from core.refusals import PROMPTS
from tests.support.handoff_cases import (
    CASES,
    LOGGED_IN,
    RIG_CENTRES,
    SEAT_PHONES,
    STAGED_SEAT_CALLER,
    KeyCase,
)
from tests.support.pbx import Pbx
from tests.support.platforms import Platforms, received, start_two_platforms


@pytest.fixture(scope="module")
async def table_rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    state = tmp_path_factory.mktemp("handoff-table")
    pbx = await Pbx.start(state, HOTLINE_CENTRES=RIG_CENTRES, HOTLINE_RELEASE_MODES="12315:immediate")
    try:
        await pbx.use_database(f"sqlite+aiosqlite:///{Path(state) / 'orders.db'}")
        for queue, logged_in in LOGGED_IN.items():  # the table's premise: who is logged in where
            reply = await pbx.ami.send({"Action": "Getvar", "Variable": f"QUEUE_MEMBER({queue},logged)"})
            assert isinstance(reply, dict) and reply.get("Value") == str(logged_in), (queue, reply)
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture
async def rig(table_rig: Pbx) -> AsyncIterator[Pbx]:
    await table_rig.reset_phones()
    table_rig.events.clear()
    yield table_rig
    await table_rig.assert_nothing_left()


@pytest.fixture(scope="module")
async def two_platforms(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platforms]:
    platforms = await start_two_platforms(tmp_path_factory.mktemp("handoff-table-remote"))
    try:
        yield platforms
    finally:
        await platforms.stop()


@pytest.fixture
async def remote_rig(two_platforms: Platforms) -> AsyncIterator[Pbx]:
    """Platform A of the two (its partner on B); B's seats answer."""
    for pbx in two_platforms.all:
        await pbx.reset_phones()
        pbx.events.clear()
    yield two_platforms.a
    await asyncio.gather(*(pbx.assert_nothing_left() for pbx in two_platforms.all))


async def _stage(pbx: Pbx, case: KeyCase) -> tuple[str, str]:
    """Put the case's call through; returns (the handset's uniqueid, the seat that presses)."""
    if case.seat is None:  # a citizen dials the centre; its queue rings a seat
        call = await pbx.citizen_dials(case.centre, case.number)
        answered = await pbx.seat_answered(case.number)
        return call.handset_id, answered["Seat"]
    # put straight through to `case.seat`, its leg set up as a queue's (the keys: b(hotline-seat-leg))
    caller = (f"Local/{STAGED_SEAT_CALLER}@{SEAT_PHONES}/n" if case.peer == "seat"
              else "Local/talk@hotline-citizen-phone/n")
    handset = f"table-{uuid.uuid4().hex[:12]}"
    reply = await pbx.ami.send({
        "Action": "Originate", "Channel": caller, "Application": "Dial",
        "Data": f"Local/{case.seat}@{case.phones}/n,30,b(hotline-seat-leg^s^1)",
        "Variable": [f"__HOTLINE_CITIZEN={case.number}", f"__HOTLINE_CENTRE={case.centre}"],
        "ChannelId": handset, "OtherChannelId": f"table-phone-{uuid.uuid4().hex[:12]}", "Async": "true",
    }, ack_only=True)
    assert (reply[0] if isinstance(reply, list) else reply).get("Response") == "Success", reply
    await pbx.events.wait_for(
        lambda e: e.get("UserEvent") in ("HotlineSeatAnswered", "HotlineDestinationAnswered")
        and case.seat in (e.get("Seat"), e.get("Destination")), what=f"{case.seat} answering")
    return handset, case.seat


async def _press(pbx: Pbx, case: KeyCase, seat: str) -> None:
    digits = "*1" if case.target is None else f"{pbx.settings.handoff.to_key}{case.target}#"
    if case.phones == SEAT_PHONES:
        await pbx.press_key(seat, digits)
        return
    phone = next(c["Channel"] for c in await pbx.channels()
                 if c["Channel"].startswith(f"Local/{seat}@{case.phones}-") and c["Channel"].endswith(";2"))
    for digit in digits:
        reply = await pbx.ami.send({"Action": "PlayDTMF", "Channel": phone, "Digit": digit, "Duration": "80"})
        assert isinstance(reply, dict) and reply.get("Response") == "Success", reply


def _decided(event: dict[str, Any]) -> bool:
    return (event.get("UserEvent") == "HotlineHandoffCreated"
            or (event.get("Event") == "Newexten" and event.get("Context") == "hotline-handoff"
            and event.get("Exten") == "s")
            or (event.get("Event") == "Newexten" and event.get("Context") == "hotline-handoff-key"
            and event.get("Exten") == "refuse" and event.get("Application") == "Playback"))


def _asked_python(pbx: Pbx) -> bool:
    return bool(pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "AGI"
                                and str(e.get("AppData", "")).endswith("/handoff_key")))


async def _outcome(pbx: Pbx) -> str:
    event = await pbx.events.wait_for(_decided, what="the handoff key's outcome")
    if event.get("Context") == "hotline-handoff" and not _asked_python(pbx):
        # the fast path's citizen can reach hotline-handoff before the seat's
        # leg sends HotlineHandoffCreated (to a remote partner: at once)
        created = await pbx.events.wait_for(lambda e: e.get("UserEvent") == "HotlineHandoffCreated"
                                            or _asked_python(pbx), what="the handoff key's outcome")
        if created.get("UserEvent") == "HotlineHandoffCreated":
            event = created
    if event.get("UserEvent") == "HotlineHandoffCreated":
        assert not _asked_python(pbx), "the fast path asked Python"
        return "dialplan"
    assert _asked_python(pbx), "Python was not asked"
    if event.get("Context") == "hotline-handoff":
        return "python"
    reasons = [e.get("Value") for e in pbx.events.find(
        lambda e: e.get("Event") == "VarSet" and e.get("Variable") == cv.HANDOFF_REFUSAL and e.get("Value"))]
    assert len(reasons) == 1, reasons
    assert event.get("AppData") == PROMPTS[str(reasons[0])]  # what the seat hears
    return f"refused:{reasons[0]}"


LOCAL = [c for c in CASES if not c.remote]
REMOTE = [c for c in CASES if c.remote]


@pytest.mark.parametrize("case", LOCAL, ids=[c.name for c in LOCAL])
async def test_handoff_key_table_on_asterisk(rig: Pbx, case: KeyCase) -> None:
    await _run(rig, case, None)


@pytest.mark.parametrize("case", REMOTE, ids=[c.name for c in REMOTE])
async def test_handoff_key_table_across_a_trunk_on_asterisk(remote_rig: Pbx, two_platforms: Platforms,
                                                            case: KeyCase) -> None:
    await _run(remote_rig, case, two_platforms.b)


async def _run(rig: Pbx, case: KeyCase, far: Pbx | None) -> None:
    telephony = AmiTelephony(rig.ami, rig.settings.site.centres)
    if not case.fast:
        await rig.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_FAST", "Value": "no"})
    handset, seat = await _stage(rig, case)
    leg = await rig.seat_member_leg(seat) if case.phones == SEAT_PHONES else None
    try:
        if case.under_way:  # as a press or a click on this leg a moment before would have left it
            assert leg is not None and await telephony.claim_call(leg["Linkedid"], leg["Uniqueid"])
        rig.events.clear()

        await _press(rig, case, seat)

        assert await _outcome(rig) == case.expect
        if far is not None and not case.expect.startswith("refused:"):
            # whichever path decided, the citizen went over the trunk with the handoff's header
            got = await received(far, "110")
            assert got["Endpoint"] == "peer-12345" and f";src=12345;seat={seat}" in got["Handoff"]
            # Python's path records the order before the move: the header names its number
            assert (";order=12345-" in got["Handoff"]) == (case.expect == "python"), got["Handoff"]
            await far.events.wait_for(lambda e: e.get("UserEvent") == "HotlineSeatAnswered",
                                      what="a 110 seat on B answering")
        if case.expect.startswith("refused:") and leg is not None and not case.under_way:
            # a refusal after the route claimed the call leaves the leg free to try again
            assert await telephony.claim_call(leg["Linkedid"], leg["Uniqueid"])
    finally:
        if leg is not None:
            await telephony.release_call(leg["Linkedid"])
        if not case.fast:
            await rig.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_FAST", "Value": "yes"})
        await rig.agi.routes.drain()
        await rig.hang_up(handset)
