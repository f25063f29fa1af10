"""The phone's own transfer buttons are handoffs — real SIP phones on the real Asterisk.

Each seat is a real SIP phone (a second Asterisk registered with the seat's
generated password, tests/support/sip_phone.py) that presses its own
buttons as SIP carries them: Transfer (a blind REFER), consult then
complete (a second call, then a REFER with Replaces).  The order is read
from the database the rig's handoff journal writes; after each test no
channel is left on any PBX and no handoff state is left in AstDB.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.runtime import db
from app.tools.simulation import CitizenCall
from core.handoff import ASTDB_FAMILY, CALL_GUARD_FAMILY, OUTBOX_FAMILY
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx
from tests.support.sip_phone import SipPhone, registered
from tests.support.waiting import eventually

CITIZEN = "13800138000"


@pytest.fixture(scope="module")
async def sip_pbx(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    pbx = await Pbx.start(tmp_path_factory.mktemp("phone-transfer-pbx"), HOTLINE_SEAT_MODE="sip",
                          HOTLINE_CENTRES="12345:1001;110:2001", HOTLINE_RTP_PORTS="33000-33999")
    try:
        yield pbx
    finally:
        await pbx.stop()


@asynccontextmanager
async def _orders_recorded(pbx: Pbx, sqlite_url: str) -> AsyncIterator[OrderReader]:
    """The rig's handoff journal records orders in `sqlite_url` while in the block."""
    await pbx.use_database(sqlite_url)
    engine = db.create_engine(sqlite_url)
    try:
        yield OrderReader(sessions=db.session_factory(engine))
    finally:
        await engine.dispose()
        await pbx.use_database(None)


@pytest.fixture
async def orders(sip_pbx: Pbx, sqlite_url: str) -> AsyncIterator[OrderReader]:
    async with _orders_recorded(sip_pbx, sqlite_url) as reader:
        yield reader


@pytest.fixture
async def phones(sip_pbx: Pbx, orders: OrderReader, tmp_path: Path) -> AsyncIterator[tuple[SipPhone, SipPhone]]:
    """Seat 1001 (12345) and seat 2001 (110), each a registered SIP phone."""
    started = await asyncio.gather(
        *(SipPhone.start(tmp_path / f"phone-{seat}", sip_pbx.settings, seat, sip_pbx.secrets.seat_passwords[seat])
          for seat in ("1001", "2001")), return_exceptions=True)
    ok = [p for p in started if isinstance(p, SipPhone)]
    try:
        assert len(ok) == 2, started
        for phone in ok:
            await eventually(lambda: registered(sip_pbx.ami, phone.seat, phone.sip_port),  # noqa: B023 - awaited here
                             timeout=15, what=f"seat {phone.seat}'s phone registered")
        yield ok[0], ok[1]
        await sip_pbx.assert_nothing_left()
        for phone in ok:
            await eventually(lambda: _idle(phone), timeout=10,  # noqa: B023 - awaited here
                             what=f"phone {phone.seat} idle")
        await eventually(lambda: _no_handoff_state(sip_pbx), timeout=10, what="no handoff state left in AstDB")
    finally:
        await asyncio.gather(*(p.stop() for p in ok))
        await sip_pbx.unwire()


async def _idle(phone: SipPhone) -> bool:
    return not await phone.channels()


async def _no_handoff_state(pbx: Pbx) -> bool:
    for family in (ASTDB_FAMILY, OUTBOX_FAMILY, CALL_GUARD_FAMILY):
        reply = await pbx.ami.send({"Action": "DBGetTree", "Family": family})
        msgs = reply if isinstance(reply, list) else [reply]
        left = [m.get("Key") for m in msgs if m.get("Event") == "DBGetTreeResponse"]
        assert not left, f"left in AstDB {family}: {left}"
    return True


async def _pbx_leg(pbx: Pbx, seat: str) -> dict[str, Any]:
    async def leg() -> dict[str, Any] | None:
        return next((c for c in await pbx.channels() if c["Channel"].startswith(f"PJSIP/{seat}-")), None)
    return await eventually(leg, timeout=10, what=f"seat {seat}'s leg on the PBX")


async def _connected_to(pbx: Pbx, channel: str, number: str) -> bool:
    shown = await pbx.getvar(channel, "CONNECTEDLINE(num)")
    assert shown == number, f"{channel} connected to {shown!r}"
    return True


def _told_citizen(phone: SipPhone) -> bool:
    told = [m for method in ("UPDATE", "INVITE") for m in phone.received(method)
            if any(line.startswith("P-Asserted-Identity:") and CITIZEN in line for line in m.splitlines())]
    assert told, f"requests received: {[m.splitlines()[0] for x in ('UPDATE', 'INVITE') for m in phone.received(x)]}"
    return True


async def _hang_up(pbx: Pbx, uniqueid: str) -> None:
    await pbx.hang_up(uniqueid)


async def _refer_outcome(phone: SipPhone) -> dict[str, Any]:
    return await phone.events.wait_for(lambda e: e.get("UserEvent") == "PhoneTransferred",
                                       timeout=10, what="the REFER's outcome on the phone")


async def _accepted_by_2001(pbx: Pbx, orders: OrderReader, call: CitizenCall, release_mode: str) -> dict[str, Any]:
    """The call's order, accepted: seat 1001 (12345) handed the citizen to seat
    2001 (110), whose leg carries the handoff id: its desk
    (/api/seats/2001/current) shows the order.  Returns that leg."""
    order = await orders.one(call.handset_id, status="accepted")
    assert (order.mode, order.source_centre, order.target_centre, order.source_seat, order.target_seat,
            order.citizen_number) == ("transfer", "12345", "110", "1001", "2001", CITIZEN)
    assert order.release_mode == release_mode
    leg = await _pbx_leg(pbx, "2001")
    # the journal writes the order first, then the id on the call's channels (an attended
    # transfer's: a Setvar after the write)

    async def carries_id() -> bool:
        return await pbx.getvar(leg["Channel"], "HOTLINE_HANDOFF_ID") == order.id
    await eventually(carries_id, timeout=5, what="the 110 seat's leg carrying the handoff id")
    return leg


# ------------------------------------------------------------------ blind: the Transfer button

async def test_when_seat_phone_blind_transfers_to_110_then_order_is_recorded_and_110_seat_sees_citizen_number(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    seat_12345, seat_110 = phones
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()

    await seat_12345.blind_transfer(channel, "110")

    transferred = await _refer_outcome(seat_12345)
    assert transferred["Status"] == "SUCCESS", transferred
    rang = await seat_110.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                          what="the 110 seat's phone answering")
    assert rang["ShownNum"] == CITIZEN  # the citizen's own channel rang it
    assert CITIZEN in rang["PAI"]
    await _accepted_by_2001(sip_pbx, orders, call, "immediate")  # the phone let go of the call: 释放转
    await _hang_up(sip_pbx, call.handset_id)


async def test_when_refer_target_does_not_answer_then_citizen_returns_to_seat_and_order_says_returned(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    seat_12345, seat_110 = phones
    await seat_110.set_answering(False)
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()
    seat_12345.events.clear()

    await seat_12345.blind_transfer(channel, "110")

    await seat_110.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRinging", timeout=15,
                                   what="the 110 seat's phone ringing")
    # HOTLINE_HANDOFF_TIMEOUT (3 s in the rig) later the citizen rings the seat that handed it over
    back = await seat_12345.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=20,
                                            what="the citizen back on seat 1001's phone")
    assert back["ShownNum"] == CITIZEN
    order = await orders.one(call.handset_id, status="returned")
    assert (order.source_seat, order.target_centre, order.outcome_reason) == ("1001", "110", "no_answer")
    assert [e.to_status for e in await orders.events(order.id)] == ["pending", "returned"]
    await _hang_up(sip_pbx, call.handset_id)


async def test_when_python_is_down_then_the_phone_s_transfer_goes_ahead_and_its_order_is_recorded_when_back(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    """The phone's transfer needs no Python, as the key's fast path: the
    order waits in the AstDB outbox until the journal sweeps it."""
    seat_12345, seat_110 = phones
    await sip_pbx.python_down()
    try:
        call = await sip_pbx.citizen_dials("12345", CITIZEN)
        channel = await seat_12345.answered_call()
        await seat_12345.blind_transfer(channel, "110")
        rang = await seat_110.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                              what="the 110 seat's phone answering")
        assert rang["ShownNum"] == CITIZEN
        assert await orders.of_call(call.handset_id) == []
    finally:
        await sip_pbx.python_up()
    await orders.one(call.handset_id)                      # swept from the outbox at once
    await _hang_up(sip_pbx, call.handset_id)
    order = await orders.one(call.handset_id, status="accepted")  # the citizen's hangup step says how it ended
    assert (order.source_seat, order.target_centre, order.citizen_number) == ("1001", "110", CITIZEN)


async def test_when_seat_phone_transfers_to_its_own_centre_then_no_order_and_the_citizen_waits_in_its_queue(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    seat_12345, _ = phones
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()
    seat_12345.events.clear()
    sip_pbx.events.clear()

    await seat_12345.blind_transfer(channel, "12345")

    queued = await sip_pbx.events.wait_for(
        lambda e: e.get("Event") == "QueueCallerJoin" and e.get("Queue") == "hotline-12345-linkage",
        timeout=10, what="the citizen in 12345's linkage queue")
    assert queued["CallerIDNum"] == CITIZEN
    again = await seat_12345.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                             what="12345's only seat rung again")
    assert again["ShownNum"] == CITIZEN
    assert await orders.of_call(call.handset_id) == []
    await _hang_up(sip_pbx, call.handset_id)


async def test_when_seat_phone_transfers_to_a_number_that_is_not_a_centre_then_it_keeps_the_citizen(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    seat_12345, seat_110 = phones
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()

    await seat_12345.blind_transfer(channel, "2001")   # a seat's extension: not in hotline-phone-transfer

    transferred = await _refer_outcome(seat_12345)
    assert (transferred["Status"], transferred["Protocol"]) == ("FAILURE", "404"), transferred  # REFER refused
    leg = await _pbx_leg(sip_pbx, "1001")
    assert leg.get("BridgeId")  # still in the call with the citizen
    assert not seat_110.events.find(lambda e: e.get("UserEvent") in ("PhoneRang", "PhoneRinging"))
    assert await orders.of_call(call.handset_id) == []
    await _hang_up(sip_pbx, call.handset_id)


# ------------------------------------------------------------------ attended: consult, then complete

async def test_when_seat_attended_transfers_to_110_then_order_is_accepted(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    seat_12345, seat_110 = phones
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()
    seat_110.events.clear()
    sip_pbx.events.clear()

    consultation = await seat_12345.consult("110")   # the seat calls 110 on its phone's second line
    consulted = await seat_110.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                               what="the 110 seat answering the consultation")
    assert consulted["ShownNum"] == "1001"  # a consultation: the 110 seat sees who calls, the 12345 seat
    await seat_12345.attended_transfer(channel, consultation, "110")

    transferred = await _refer_outcome(seat_12345)
    await sip_pbx.events.wait_for(lambda e: e.get("Event") == "AttendedTransfer", timeout=10,
                                  what="Asterisk's AttendedTransfer")
    assert transferred["Status"] == "SUCCESS", transferred
    # the seat stayed until the 110 seat had answered: 成功转
    leg = await _accepted_by_2001(sip_pbx, orders, call, "on_answer")
    # the 110 seat's display now names the citizen (a connected-line update from the PBX)
    await eventually(lambda: _connected_to(sip_pbx, leg["Channel"], CITIZEN), timeout=10,
                     what="the 110 seat's leg connected to the citizen's number")
    # ... and the 110 seat's phone is told so: a request in the call carrying the citizen's number in PAI
    await eventually(lambda: _told_citizen(seat_110), timeout=10, what="the 110 phone told the citizen's number")
    await _hang_up(sip_pbx, call.handset_id)


# ------------------------------------------------------------------ the Conference/Merge button

async def test_when_seat_phone_merges_its_two_calls_itself_then_pbx_sees_two_calls_and_records_no_handoff(
        sip_pbx: Pbx, orders: OrderReader, phones: tuple[SipPhone, SipPhone]) -> None:
    """What is NOT recognised, and why (README, "the phone's own buttons"): a
    phone's Conference/Merge button mixes the three parties on the phone.  The
    PBX sees only the seat's two calls — the citizen's, and the seat's own
    call to 110, which shows the seat's number — exactly as during a
    consultation; nothing on the wire says "conference".  No order is
    recorded: the seat uses `*2` for a three-way call the platform knows
    about, or completes the transfer (recognised, see above)."""
    seat_12345, seat_110 = phones
    call = await sip_pbx.citizen_dials("12345", CITIZEN)
    channel = await seat_12345.answered_call()
    seat_110.events.clear()
    consultation = await seat_12345.consult("110")
    consulted = await seat_110.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                               what="the 110 seat answering")

    await seat_12345.conference(channel, consultation)

    # two calls on the PBX, each with the seat: citizen <-> 1001, 1001 <-> 2001
    async def two_calls() -> bool:
        bridged = [c for c in await sip_pbx.channels() if c.get("BridgeId")]
        bridges = {c["BridgeId"] for c in bridged}
        assert len(bridges) == 2, bridged
        return True
    await eventually(two_calls, timeout=10, what="the PBX bridging the seat's two calls")
    assert consulted["ShownNum"] == "1001"  # the 110 seat sees the 12345 seat, not the citizen
    leg = await _pbx_leg(sip_pbx, "2001")
    assert await sip_pbx.getvar(leg["Channel"], "HOTLINE_HANDOFF_ID") == ""
    assert await orders.of_call(call.handset_id) == []
    # the citizen hangs up, then the seat leaves the call it still has with 110
    await _hang_up(sip_pbx, call.handset_id)
    await eventually(lambda: _only_line(seat_12345), timeout=10, what="the seat's phone left with one call")
    for line in await seat_12345.channels():
        await seat_12345.ami.send({"Action": "Hangup", "Channel": line})
    assert await orders.of_call(call.handset_id) == []


async def _only_line(phone: SipPhone) -> bool:
    return len(await phone.channels()) <= 1


# ------------------------------------------------------------------ #1: Asterisk's own blind transfer key

async def test_when_seat_presses_hash_1_and_110_then_it_is_the_same_handoff_as_the_phone_s_transfer_button(
        pbx: Pbx, sqlite_url: str) -> None:
    """Simulated seats (their legs are Local channels): `#1` then `110` is
    features.conf blindxfer into the same TRANSFER_CONTEXT as a REFER."""
    async with _orders_recorded(pbx, sqlite_url) as orders:
        call = await pbx.citizen_dials("12345", CITIZEN)
        first = await pbx.seat_answered(CITIZEN)
        pbx.events.clear()
        await pbx.press_key(first["Seat"], "#1")
        await pbx.press_key(first["Seat"], "110")
        target = await pbx.seat_answered(CITIZEN)
        assert target["Seat"] in {"2001", "2002"} and target["ShownNum"] == CITIZEN
        order = await orders.one(call.handset_id, status="accepted")
        assert target["Handoff"] == order.id  # the answering seat carries the order's id
        assert (order.source_seat, order.target_centre, order.target_seat, order.citizen_number,
                order.release_mode) == (first["Seat"], "110", target["Seat"], CITIZEN, "immediate")
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left()
        await eventually(lambda: _no_handoff_state(pbx), timeout=10, what="no handoff state left in AstDB")


async def test_when_seat_presses_hash_2_110_and_hangs_up_after_the_110_seat_answers_then_order_is_accepted(
        pbx: Pbx, sqlite_url: str) -> None:
    """Asterisk's own attended transfer (`#2`, features.conf atxfer): the
    consultation is dialled on a Local channel into hotline-phone-transfer;
    the seat hanging up completes the transfer, and the journal finds the
    seat it reached behind that Local channel."""
    async with _orders_recorded(pbx, sqlite_url) as orders:
        call = await pbx.citizen_dials("12345", CITIZEN)
        first = await pbx.seat_answered(CITIZEN)
        pbx.events.clear()
        await pbx.press_key(first["Seat"], "#2")
        await pbx.press_key(first["Seat"], "110")
        consulted = await pbx.events.wait_for(
            lambda e: e.get("UserEvent") == "HotlineSeatAnswered" and e.get("Seat") in {"2001", "2002"},
            timeout=15, what="a 110 seat answering the consultation")
        assert consulted["ShownNum"] == CITIZEN  # the consultation presents the caller of the seat's leg
        seat_phone = await pbx.seat_channel(first["Seat"])
        assert seat_phone is not None
        await pbx.action(Action="Hangup", Channel=seat_phone["Channel"])  # the seat leaves: transfer done
        order = await orders.one(call.handset_id, status="accepted")
        assert (order.source_seat, order.target_centre, order.target_seat, order.citizen_number,
                order.release_mode) == (first["Seat"], "110", consulted["Seat"], CITIZEN, "on_answer")
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left()
