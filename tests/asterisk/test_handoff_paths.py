"""The handoff key's two paths — on the real Asterisk.

By default (HOTLINE_HANDOFF_FAST=yes) the dialplan carries out the common
transfer itself: it writes the order to the AstDB outbox, moves the citizen
at once, and Python records the order from the outbox (the AMI journal, the
sweep, the handoff's later reports).  tests/asterisk/test_handoff.py runs
its scenarios on that path; this file adds what only the outbox can give —
a transfer made while Python is down still leaves its order, recorded once —
and runs the scenarios again with HOTLINE_HANDOFF_FAST=no, where every key
press asks the `handoff_key` route first and a failure there keeps the
citizen with the seat.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from app.handoff.journal import AmiAstDb, sweep
from core.channel_vars import HANDOFF_YIELD
from core.handoff import ASTDB_FAMILY, ENDED_FAMILY, OUTBOX_FAMILY, parse_outbox
from tests.asterisk import test_handoff as spec
from tests.asterisk.test_handoff import (
    CITIZEN,
    SEATS_110,
    SEATS_12345,
    Orders,
    _answered_call,
)
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

# the transfer tests' order fixtures (each test on SQLite and PostgreSQL)
orders = spec.orders


@pytest.fixture
async def python_first(pbx: Pbx) -> AsyncIterator[None]:
    """HOTLINE_HANDOFF_FAST_PATH=no, as rendered: the route decides every key press."""
    await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_FAST", "Value": "no"})
    try:
        yield
    finally:
        await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_FAST", "Value": "yes"})


async def _went_fast(pbx: Pbx) -> dict:
    """The fast path's HotlineHandoffCreated event.  The seat's leg raises it
    after the citizen's move, on its own thread, so on a busy machine it can
    trail the target seat ringing or answering: waited for, not looked up."""
    def created(e: dict) -> bool:
        return e.get("UserEvent") == "HotlineHandoffCreated"
    await pbx.events.wait_for(created, timeout=5, what="the dialplan carrying the transfer out itself")
    return pbx.events.find(created)[-1]


def _asked_python(pbx: Pbx) -> None:
    assert not pbx.events.find(lambda e: e.get("UserEvent") == "HotlineHandoffCreated")
    assert pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "AGI"
                           and str(e.get("AppData", "")).endswith("/handoff_key"))


async def _outbox_keys(pbx: Pbx) -> list[str]:
    return await AmiAstDb(pbx.ami).keys(OUTBOX_FAMILY)


# ------------------------------------------------------------ the default path

async def test_when_key_is_pressed_then_dialplan_moves_the_citizen_and_order_leaves_the_outbox(
        pbx: Pbx, orders: Orders) -> None:
    await spec._transfer_by_key(pbx, orders, "12345", "110", SEATS_110)
    created = await _went_fast(pbx)
    order = await orders.service.orders.get(created["Handoff"])
    assert order.status == "accepted"
    assert await _outbox_keys(pbx) == []


async def test_when_the_journal_has_recorded_the_acceptance_then_the_citizen_s_hangup_asks_no_route(
        pbx: Pbx, orders: Orders) -> None:
    """The AMI journal writes the acceptance and tells the citizen's channel
    (HOTLINE_HANDOFF_RECORDED): the hangup has nothing left to report, so the
    `handoff_ended` route is not run and no end is kept in AstDB for it."""
    call, first = await _answered_call(pbx, "12345")
    await pbx.press_key(first["Seat"], "*1")
    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Centre"] == "110" and answered["ShownNum"] == CITIZEN  # what the 110 seat sees
    order = await orders.one(call.handset_id, "accepted")
    created = await _went_fast(pbx)
    assert created["Handoff"] == order.id

    connect = pbx.events.find(lambda e: e.get("Event") == "AgentConnect" and e.get("Queue") == "hotline-110-linkage")
    citizen = connect[-1]["Channel"]  # the citizen's channel, in the linkage queue

    async def told() -> bool:
        reply = await pbx.ami.send({"Action": "Getvar", "Channel": citizen,
                                    "Variable": "HOTLINE_HANDOFF_RECORDED"})
        assert isinstance(reply, dict) and reply.get("Value") == order.id, reply
        return True
    await eventually(told, what="the citizen's channel told the acceptance is recorded")

    await pbx.hang_up(call.handset_id)
    await pbx.assert_nothing_left()
    assert not pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "AGI"
                               and str(e.get("AppData", "")).endswith("/handoff_ended"))
    assert pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Context") == "hotline-handoff"
                           and e.get("Exten") == "h")  # the hangup ran, and skipped the route
    order = await orders.service.orders.get(order.id)
    assert (order.status, order.target_seat) == ("accepted", answered["Seat"])
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "accepted")]


async def test_when_destination_key_is_pressed_then_python_decides(pbx: Pbx, orders: Orders) -> None:
    await spec.test_when_seat_transfers_to_120_then_its_route_sees_citizen_number(pbx, orders)
    _asked_python(pbx)


# ------------------------------------------------------------ Python first

# test_handoff.py's scenarios, each with the route deciding every key press
PYTHON_FIRST_SCENARIOS = {
    "12345_to_110_seat_sees_citizen_number":
        lambda pbx, orders: spec._transfer_by_key(pbx, orders, "12345", "110", SEATS_110),
    "110_to_12345_twin": lambda pbx, orders: spec._transfer_by_key(pbx, orders, "110", "12345", SEATS_12345),
    "nobody_answers_then_citizen_back_and_order_returned":
        spec.test_when_no_110_seat_answers_within_limit_then_citizen_is_back_with_original_seat,
    "citizen_hangs_up_then_order_abandoned":
        spec.test_when_citizen_hangs_up_while_waiting_then_order_abandoned_and_nothing_left,
    "key_pressed_twice_then_one_order": spec.test_when_key_is_pressed_twice_then_one_order,
    "no_110_seat_ready_then_order_returned":
        spec.test_when_no_110_seat_is_ready_then_citizen_back_with_seat_and_order_says_so,
}


@pytest.mark.parametrize("scenario", list(PYTHON_FIRST_SCENARIOS))
async def test_when_python_decides_first_then_the_transfer_scenarios_hold(
        pbx: Pbx, orders: Orders, python_first: None, scenario: str) -> None:
    await PYTHON_FIRST_SCENARIOS[scenario](pbx, orders)
    _asked_python(pbx)


async def test_when_python_decides_first_and_database_is_down_then_seat_hears_so_and_keeps_the_citizen(
        pbx: Pbx, orders: Orders, python_first: None) -> None:
    async with spec.database_down(orders):
        call, first = await _answered_call(pbx, "12345")
        await pbx.press_key(first["Seat"], "*1")
        await spec._seat_hears_failure_and_keeps_citizen(pbx, call, first["Seat"])
        assert not orders.service.active.channels  # nothing left claimed: the seat may try again
        await pbx.hang_up(call.handset_id)


async def test_when_python_decides_first_and_fastagi_is_down_then_seat_keeps_the_citizen(
        pbx: Pbx, orders: Orders, python_first: None) -> None:
    call, first = await _answered_call(pbx, "110")
    await pbx.python_down()
    try:
        await pbx.press_key(first["Seat"], "*1")
        await spec._seat_hears_failure_and_keeps_citizen(pbx, call, first["Seat"])
        assert await orders.of_call(call.handset_id) == []
    finally:
        await pbx.agi.start()
    await pbx.hang_up(call.handset_id)


# ------------------------------------------------------------ Python away

async def test_when_python_is_down_at_key_press_then_order_appears_after_it_comes_back(
        pbx: Pbx, orders: Orders) -> None:
    call, first = await _answered_call(pbx, "12345")
    await pbx.python_down()
    try:
        pressed = datetime.now(UTC)
        await pbx.press_key(first["Seat"], "*1")
        answered = await pbx.seat_answered(CITIZEN)   # the citizen was moved without Python
        assert answered["Seat"] in SEATS_110 and answered["ShownNum"] == CITIZEN
        handoff_id = (await _went_fast(pbx))["Handoff"]
        assert answered["Handoff"] == handoff_id
        assert await orders.of_call(call.handset_id) == []
        assert await _outbox_keys(pbx) == [handoff_id]  # the order waits in AstDB
    finally:
        await pbx.python_up()
    came_back = datetime.now(UTC)

    # the journal sweeps the outbox as it starts (and every few seconds, and on AMI reconnect)
    order = await orders.one(call.handset_id, "pending")
    assert order.id == handoff_id
    assert pressed <= order.created_at < came_back     # created when the key was pressed
    spec._assert_created_fields(order, source="12345", target="110", seat=first["Seat"], call=call)
    assert await _outbox_keys(pbx) == []

    # the answer was missed while Python was down
    await spec._hangup_makes_order_accepted(pbx, orders, call)


async def _ringing_with_python_down(pbx: Pbx) -> tuple[Any, str]:
    """A seat pressed `*1` with Python away; the 110 seats ring and nobody
    answers.  Returns the call and the handoff's id (Python is up again only
    if this fails)."""
    await spec._no_110_seat_answers(pbx)
    call, first = await _answered_call(pbx, "12345")
    await pbx.python_down()
    try:
        await pbx.press_key(first["Seat"], "*1")
        await spec._110_seat_rings(pbx)
        return call, (await _went_fast(pbx))["Handoff"]
    except BaseException:
        await pbx.python_up()
        raise


async def _outbox_and_ended_cleared(pbx: Pbx) -> None:
    astdb = AmiAstDb(pbx.ami)

    async def cleared() -> bool:
        assert await astdb.keys(OUTBOX_FAMILY) == [] and await astdb.keys(ENDED_FAMILY) == []
        return True
    await eventually(cleared, what="the outbox and the ended records cleared")


async def test_when_citizen_hangs_up_while_python_is_down_then_order_appears_abandoned(
        pbx: Pbx, orders: Orders) -> None:
    call, handoff_id = await _ringing_with_python_down(pbx)
    try:
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left(astdb=False)  # the outbox and ended records wait for Python
        assert await orders.of_call(call.handset_id) == []
    finally:
        await pbx.python_up()

    order = await orders.one(call.handset_id, "abandoned")  # the journal's sweep as it starts
    assert order.id == handoff_id and order.outcome_reason == "citizen_hung_up"
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "abandoned")]
    await _outbox_and_ended_cleared(pbx)


async def test_when_the_seat_hangs_up_right_after_its_key_moved_the_citizen_then_its_hangup_handler_writes_the_order(
        pbx: Pbx, orders: Orders) -> None:
    # The key's seat leg gives way to the citizen it moved (HOTLINE_HANDOFF_YIELD, a few ms) before it
    # writes the order; a seat hanging up meanwhile leaves the writes to the leg's hangup handler.  Played
    # with the pause made long (the global, by AMI) so that the hang-up surely falls inside it.
    reply = await pbx.action(Action="Getvar", Variable=HANDOFF_YIELD)
    saved = str(reply.get("Value") or "")
    assert saved == "0.004"  # the default, rendered from HOTLINE_HANDOFF_YIELD_MS
    await pbx.action(Action="Setvar", Variable=HANDOFF_YIELD, Value="20")
    astdb = AmiAstDb(pbx.ami)
    try:
        call, first = await _answered_call(pbx, "12345")
        leg = await pbx.seat_member_leg(first["Seat"])
        assert leg is not None
        handoff_id = leg["Uniqueid"]  # the key's handoff id: its seat leg's uniqueid

        await pbx.press_key(first["Seat"], "*1")
        answered = await pbx.seat_answered(CITIZEN)  # moved: a 110 seat has it
        assert answered["Seat"] in SEATS_110 and answered["Handoff"] == handoff_id
        assert await astdb.get(ASTDB_FAMILY, handoff_id) in (None, "")  # the leg still gives way: nothing written
        phone = await pbx.seat_channel(first["Seat"])
        assert phone is not None
        await pbx.hang_up(phone["Uniqueid"])  # the transferring seat hangs up within the pause

        order = await orders.one(call.handset_id)
        assert order.id == handoff_id and order.source_seat == first["Seat"] and order.target_centre == "110"
        assert order.citizen_number == CITIZEN
    finally:
        await pbx.action(Action="Setvar", Variable=HANDOFF_YIELD, Value=saved)
    await pbx.hang_up(call.handset_id)
    order = await orders.one(call.handset_id, "accepted")
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "accepted")]
    await _outbox_and_ended_cleared(pbx)
    await pbx.assert_nothing_left()


async def test_when_the_target_answers_within_the_key_s_pause_then_the_journal_accepts_once_the_order_is_written(
        pbx: Pbx, orders: Orders) -> None:
    # A target seat answering before the key's seat leg has written the order (it gives way to the citizen
    # first): the journal waits for the writes, then accepts.  The pause made 0.3 s to be sure of it.
    saved = str((await pbx.action(Action="Getvar", Variable=HANDOFF_YIELD)).get("Value") or "")
    await pbx.action(Action="Setvar", Variable=HANDOFF_YIELD, Value="0.3")
    try:
        call, first = await _answered_call(pbx, "12345")
        await pbx.press_key(first["Seat"], "*1")
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Seat"] in SEATS_110
        order = await orders.one(call.handset_id, "accepted")  # with the citizen still talking
        assert order.id == answered["Handoff"] and order.target_seat == answered["Seat"]
    finally:
        await pbx.action(Action="Setvar", Variable=HANDOFF_YIELD, Value=saved)
    await pbx.hang_up(call.handset_id)
    await _outbox_and_ended_cleared(pbx)
    await pbx.assert_nothing_left()


async def test_when_citizen_hangs_up_before_the_seat_leg_wrote_the_state_then_order_abandoned(
        pbx: Pbx, orders: Orders) -> None:
    # The seat's leg writes the handoff's state right after the citizen moves
    # (core/fast_path.py AFTER_MOVE): a hangup within that instant finds none.
    # Played here by deleting the state before the hangup, Python away so the
    # outbox record is still there: the hangup handler takes it for pending.
    call, handoff_id = await _ringing_with_python_down(pbx)
    astdb = AmiAstDb(pbx.ami)
    try:
        assert await astdb.get(ASTDB_FAMILY, handoff_id) == "pending"
        await astdb.delete(ASTDB_FAMILY, handoff_id)
        await pbx.hang_up(call.handset_id)

        async def ended_kept() -> bool:
            assert await astdb.get(ENDED_FAMILY, handoff_id) == "pending"
            return True
        await eventually(ended_kept, what="how the handoff ended, kept beside its outbox record")
    finally:
        await pbx.python_up()

    order = await orders.one(call.handset_id, "abandoned")
    assert order.id == handoff_id and order.outcome_reason == "citizen_hung_up"
    await _outbox_and_ended_cleared(pbx)
    await pbx.assert_nothing_left()


async def test_when_citizen_hangs_up_before_the_seat_leg_wrote_the_record_then_reconciler_abandons_order(
        pbx: Pbx, orders: Orders) -> None:
    # The seat's leg writes the outbox record and then the state right after
    # the citizen moves (core/fast_path.py AFTER_MOVE): a hangup before both
    # finds neither and reports nothing; the record written next is recorded
    # and the reconciler settles the order, its call gone.  Played here with
    # Python away: both deleted before the hangup, written again after it.
    call, handoff_id = await _ringing_with_python_down(pbx)
    astdb = AmiAstDb(pbx.ami)
    try:
        record = await astdb.get(OUTBOX_FAMILY, handoff_id)
        assert record and parse_outbox(handoff_id, record) is not None
        await astdb.delete(OUTBOX_FAMILY, handoff_id)
        await astdb.delete(ASTDB_FAMILY, handoff_id)
        await pbx.hang_up(call.handset_id)
        await pbx.assert_nothing_left(astdb=False)
        assert await astdb.get(ENDED_FAMILY, handoff_id) in (None, "")  # the hangup had nothing to report
        for family, value in ((OUTBOX_FAMILY, record), (ASTDB_FAMILY, "pending")):  # the seat leg's, late
            await pbx.ami.send({"Action": "DBPut", "Family": family, "Key": handoff_id, "Val": value})
    finally:
        await pbx.python_up()

    order = await orders.one(call.handset_id, "abandoned")
    assert order.id == handoff_id
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "abandoned")]
    await _outbox_and_ended_cleared(pbx)
    await pbx.assert_nothing_left()


async def test_when_outbox_record_is_delivered_twice_then_one_order(pbx: Pbx, orders: Orders) -> None:
    handoff_id = f"{int(time.time())}.{int(time.time() * 1e6) % 1000000}"  # a seat leg's uniqueid
    linkedid = f"test-{handoff_id}"
    value = (f"v1|{time.time():.6f}|Local/1001@hotline-seat-phones-0000aaaa;1|"
             f"Local/12345@hotline-inbound-0000bbbb;2|{CITIZEN}|12345|1001|110|{linkedid}|on_answer")
    record = parse_outbox(handoff_id, value)
    assert record is not None
    await pbx.ami.send({"Action": "DBPut", "Family": OUTBOX_FAMILY, "Key": handoff_id, "Val": value})
    astdb = AmiAstDb(pbx.ami)

    # the journal's event, two sweeps and an early report, all at once
    delivered = await asyncio.gather(sweep(astdb, orders.service), sweep(astdb, orders.service),
                                     orders.service.record(record),
                                     orders.service.returned(handoff_id, "TIMEOUT", record))
    assert delivered[0] + delivered[1] >= 1
    order = await orders.one(linkedid, "returned")
    assert order.id == handoff_id and order.outcome_reason == "no_answer"
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "returned")]
    assert await sweep(astdb, orders.service) == 0
    assert await astdb.keys(OUTBOX_FAMILY) == []
    assert await orders.service.record(record) is not None  # delivered once more: still one order
    assert len(await orders.of_call(linkedid)) == 1
