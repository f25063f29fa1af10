"""One-key number-carrying transfer (一键携号转接) 12345 ⇄ 110 — on the real Asterisk.

Key presses are AMI PlayDTMF on the seat phone's own channel; the seat that
answers reports what its display shows (HotlineSeatAnswered).  Every test
checks the order the handoff left, on SQLite and on PostgreSQL (marker
`postgres`: an unreachable server fails the test, it never skips), and ends
with no channel left (the `pbx` fixture).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from app.handoff.journal import AmiAstDb, sweep
from app.handoff.services import HandoffService
from app.handoff.telephony import AmiTelephony
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.models import Order, utcnow
from app.runtime.render import write_agi_script
from core.channel_vars import KEY_CHECKED
from core.fast_path import answered_leg, checked_marker, encode_facts
from core.handoff import OUTBOX_FAMILY, HandoffRequest
from tests.support.desk import seat_desk
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

CITIZEN = "13800138000"
SEATS_110 = {"2001", "2002"}
SEATS_12345 = {"1001", "1002", "1003", "1004"}


# ------------------------------------------------------------------ fixtures

@dataclass
class Orders(OrderReader):
    """The handoff service the rig's FastAGI server uses, and a reader for its orders."""

    service: HandoffService
    url: str


@pytest.fixture
async def orders(pbx: Pbx, database_url: str) -> AsyncIterator[Orders]:
    """Each test using orders runs on SQLite and on PostgreSQL (tests/conftest.py)."""
    url = database_url
    service = await pbx.use_database(url)
    assert service is not None
    engine = db.create_engine(url)
    try:
        yield Orders(sessions=db.session_factory(engine), service=service, url=url)
        # the hangup hooks report through the service: let the last one land
        await pbx.assert_nothing_left()
    finally:
        await engine.dispose()
        await pbx.use_database(None)


async def _answered_call(pbx: Pbx, centre: str, number: str = CITIZEN) -> tuple[Any, dict[str, Any]]:
    call = await pbx.citizen_dials(centre, number)
    first = await pbx.seat_answered(number)
    pbx.events.clear()
    return call, first


async def _no_110_seat_answers(pbx: Pbx) -> None:
    """The 110 seats' phones ring on: a handoff to 110 stays pending."""
    for seat in SEATS_110:
        await pbx.set_phone(seat, "noanswer")


async def _110_seat_rings(pbx: Pbx) -> None:
    await pbx.events.wait_for(lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110-linkage",
                              what="a 110 seat rings")


async def _hangup_makes_order_accepted(pbx: Pbx, orders: Orders, call: Any) -> None:
    """The answer was missed (Python or its database away): the citizen's
    hangup handler makes the order right."""
    await pbx.hang_up(call.handset_id)
    order = await orders.one(call.handset_id, "accepted")
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "accepted")]


def _assert_created_fields(order: Order, *, source: str, target: str, seat: str, call: Any) -> None:
    assert order.mode == "transfer"
    assert order.direction == f"{source}->{target}"
    assert order.source_centre == source and order.target_centre == target
    assert order.source_seat == seat
    assert order.citizen_number == CITIZEN
    assert order.linkedid == call.handset_id
    assert order.channel and order.channel.startswith(f"Local/{source}@hotline-inbound-")
    assert order.created_at <= utcnow()


# ------------------------------------------------------------------ the key

async def _transfer_by_key(pbx: Pbx, orders: Orders, source: str, target: str, target_seats: set[str]) -> None:
    call, first = await _answered_call(pbx, source)

    await pbx.press_key(first["Seat"], "*1")

    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Seat"] in target_seats
    assert answered["ShownNum"] == CITIZEN            # the citizen's number, not the seat's
    assert answered["ShownConnectedNum"] == CITIZEN
    assert answered["Centre"] == target
    order = await orders.one(call.handset_id, "accepted")
    assert answered["Handoff"] == order.id            # the desktop can pop the order
    _assert_created_fields(order, source=source, target=target, seat=first["Seat"], call=call)
    assert order.target_seat == answered["Seat"]
    assert order.release_mode == "on_answer"
    assert order.accepted_at is not None and order.created_at <= order.accepted_at
    assert order.wait_ms is not None
    assert abs((order.accepted_at - order.created_at) - timedelta(milliseconds=order.wait_ms)) \
        < timedelta(milliseconds=500)
    assert [(e.kind, e.to_status) for e in await orders.events(order.id)] == [
        ("created", "pending"), ("transition", "accepted")]
    # 成功转: the transferring seat was freed when the target answered
    await eventually(lambda: _no_seat_channel(pbx, first["Seat"]), what="transferring seat freed")
    # the receiving seat's channel carries the handoff id
    seat_chan = await pbx.seat_channel(answered["Seat"])
    assert seat_chan is not None and seat_chan["CallerIDNum"] == CITIZEN
    assert f"HOTLINE_HANDOFF_ID={order.id}" in seat_chan["ChanVariable"]

    await pbx.hang_up(call.handset_id)
    await pbx.assert_nothing_left()
    assert (await orders.one(call.handset_id)).status == "accepted"  # hanging up changes nothing


async def test_when_12345_seat_presses_transfer_then_110_seat_sees_citizen_number(
        pbx: Pbx, orders: Orders) -> None:
    await _transfer_by_key(pbx, orders, "12345", "110", SEATS_110)


async def test_when_110_seat_presses_transfer_then_12345_seat_sees_citizen_number(
        pbx: Pbx, orders: Orders) -> None:
    await _transfer_by_key(pbx, orders, "110", "12345", SEATS_12345)


def _key_steps(pbx: Pbx, leg: str) -> list[int]:
    """The priorities of the handoff key's context the seat's leg ran (AMI
    Newexten; the internal Gosub's entry reports a priority 0 first)."""
    return [int(e["Priority"]) for e in pbx.events.find(
        lambda e: e.get("Event") == "Newexten" and e.get("Channel") == leg
        and e.get("Context") == "hotline-handoff-key" and e.get("Extension") == "key") if int(e["Priority"]) > 0]


@pytest.mark.parametrize("facts", ["checked", "changed"])
async def test_when_the_seat_answered_then_its_key_compares_the_facts_checked_then_instead_of_the_whole_guard(
        pbx: Pbx, orders: Orders, facts: str) -> None:
    """The handoff journal checks, when the seat answers, what the key's guard
    reads of the seat's leg and the citizen's channel (core/fast_path.py
    CHECKED_FACTS) and sets it on the leg: the key's first step compares and
    goes straight to the writes (priority 3).  When the facts on the leg are
    no longer those (`changed`), the whole guard runs (priority 2) — and
    either way the citizen is handed over."""
    call, first = await _answered_call(pbx, "12345")
    member = await pbx.seat_member_leg(first["Seat"])
    assert member is not None
    leg = str(member["Channel"])
    citizen = await pbx.getvar(leg, "BRIDGEPEER")
    marker = checked_marker(answered_leg(leg, citizen, CITIZEN, str(member["Linkedid"]), str(member["Uniqueid"])), ())
    assert marker is not None and citizen.startswith("Local/12345@hotline-inbound-")
    await eventually(lambda: pbx.getvar(leg, KEY_CHECKED), what="the facts checked at the answer")
    assert await pbx.getvar(leg, KEY_CHECKED) == marker
    if facts == "changed":  # as if checked for another peer
        await pbx.action(Action="Setvar", Channel=leg, Variable=KEY_CHECKED,
                         Value=marker.replace(encode_facts(citizen), encode_facts(citizen + "0")))

    await pbx.press_key(first["Seat"], "*1")

    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Seat"] in SEATS_110 and answered["ShownNum"] == CITIZEN
    order = await orders.one(call.handset_id, "accepted")
    assert order.source_seat == first["Seat"] and order.channel == citizen
    assert _key_steps(pbx, leg)[:3] == ([1, 3, 4] if facts == "checked" else [1, 2, 3])  # 3: the writes, 4: the move
    await pbx.hang_up(call.handset_id)
    await pbx.assert_nothing_left()


async def test_when_agi_mode_is_classic_then_transfer_key_still_hands_the_citizen_over(
        pbx: Pbx, orders: Orders) -> None:
    """Process-per-call AGI (the agi-bin wrapper) records the same order: the
    wrapper's settings file names the test's database."""
    wrapper = write_agi_script(pbx.settings.with_(database={"url": orders.url}))
    env_file = pbx.settings.paths.run_dir / "etc" / "hotline-agi.env"
    assert wrapper.stat().st_mode & 0o077 == 0 and env_file.stat().st_mode & 0o077 == 0
    assert f"HOTLINE_DATABASE_URL={orders.url}\n" in env_file.read_text()
    assert orders.url not in wrapper.read_text()  # the wrapper names the file, not the values
    await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_AGI_MODE", "Value": "classic"})
    fast_requests = pbx.agi.requests
    try:
        await _transfer_by_key(pbx, orders, "12345", "110", SEATS_110)
        assert pbx.agi.requests == fast_requests  # the FastAGI server was not asked
    finally:
        await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_AGI_MODE", "Value": "fast"})
        write_agi_script(pbx.settings)


async def _no_seat_channel(pbx: Pbx, seat: str) -> bool:
    assert await pbx.seat_channel(seat) is None, f"seat {seat} still has a channel"
    return True


async def test_when_no_110_seat_answers_within_limit_then_citizen_is_back_with_original_seat(
        pbx: Pbx, orders: Orders) -> None:
    await _no_110_seat_answers(pbx)
    call, first = await _answered_call(pbx, "12345")

    await pbx.press_key(first["Seat"], "*1")
    await _110_seat_rings(pbx)

    back = await pbx.seat_answered(CITIZEN, timeout=15)  # limit 3 s in the rig
    assert back["Seat"] == first["Seat"]
    assert back["ShownNum"] == CITIZEN
    # back in its own centre: the centre it came from, kept as it entered the 110 queue (and read there
    # before that step replaced it)
    assert back["Centre"] == "12345"
    order = await orders.one(call.handset_id, "returned")
    _assert_created_fields(order, source="12345", target="110", seat=first["Seat"], call=call)
    assert order.outcome_reason == "no_answer"
    assert order.returned_at is not None and order.created_at < order.returned_at
    assert order.returned_at - order.created_at >= timedelta(seconds=3)
    assert order.accepted_at is None and order.target_seat is None
    assert back["Handoff"] == order.id  # the seat's desktop pops the returned order

    await pbx.hang_up(call.handset_id)


async def test_when_citizen_hangs_up_while_waiting_then_order_abandoned_and_nothing_left(
        pbx: Pbx, orders: Orders) -> None:
    await _no_110_seat_answers(pbx)
    call, first = await _answered_call(pbx, "12345")

    await pbx.press_key(first["Seat"], "*1")
    await _110_seat_rings(pbx)
    # the order is pending: on the key's dialplan path its seat leg has written the handoff (it gives
    # way to the citizen for a few ms first, so the target can ring before; a citizen hanging up
    # before those writes leaves its order to the reconciler, its call gone); on Python's, the route did
    await orders.one(call.handset_id, "pending")
    await pbx.hang_up(call.handset_id)

    order = await orders.one(call.handset_id, "abandoned")
    _assert_created_fields(order, source="12345", target="110", seat=first["Seat"], call=call)
    assert order.outcome_reason == "citizen_hung_up"
    assert order.closed_at is not None and order.created_at <= order.closed_at
    assert order.accepted_at is None
    await pbx.assert_nothing_left()  # the holding seat was freed too


async def test_when_seat_transfers_to_120_then_its_route_sees_citizen_number(pbx: Pbx, orders: Orders) -> None:
    call, first = await _answered_call(pbx, "12345")

    await pbx.press_key(first["Seat"], f"{pbx.settings.handoff.to_key}120#")  # *8 120#

    reached = await pbx.events.wait_for(
        lambda e: e.get("UserEvent") == "HotlineDestinationAnswered", what="120's route answers")
    assert reached["Destination"] == "120"
    assert reached["ShownNum"] == CITIZEN
    order = await orders.one(call.handset_id, "accepted")
    assert reached["Handoff"] == order.id
    assert order.target == "120" and order.target_centre == "120" and order.target_seat is None
    assert order.direction == "12345->120"
    assert order.accepted_at is not None and order.created_at <= order.accepted_at

    await pbx.hang_up(call.handset_id)


async def test_when_destination_has_no_route_then_seat_hears_refusal_and_keeps_the_call(
        pbx: Pbx, orders: Orders) -> None:
    call, first = await _answered_call(pbx, "12345")

    await pbx.press_key(first["Seat"], f"{pbx.settings.handoff.to_key}119#")  # the rig routes 120 only

    await pbx.events.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "Playback"
                              and e.get("AppData") == "cannot-complete-as-dialed", what="the refusal prompt")
    leg = await pbx.channel_by_uniqueid(call.pbx_leg_id)
    member = await pbx.seat_member_leg(first["Seat"])
    assert leg is not None and member is not None and leg["BridgeId"] == member["BridgeId"]
    assert await orders.of_call(call.handset_id) == []

    await pbx.hang_up(call.handset_id)


async def test_when_key_is_pressed_twice_then_one_order(pbx: Pbx, orders: Orders) -> None:
    await _no_110_seat_answers(pbx)  # the target rings on: the seat is still there for the second press
    call, first = await _answered_call(pbx, "12345")

    await pbx.press_key(first["Seat"], "*1*1")

    await _110_seat_rings(pbx)
    order = await orders.one(call.handset_id, "pending")
    assert await pbx.seat_channel(first["Seat"]) is not None  # 成功转: the seat hears ringback
    await pbx.hang_up(call.handset_id)
    await orders.one(call.handset_id, "abandoned")
    await pbx.assert_nothing_left()
    assert [o.id for o in await orders.of_call(call.handset_id)] == [order.id]


async def test_when_no_110_seat_is_ready_then_citizen_back_with_seat_and_order_says_so(
        pbx: Pbx, orders: Orders) -> None:
    ifaces = [f"Local/{s}@hotline-seat-phones/n" for s in sorted(SEATS_110)]
    for iface in ifaces:
        await pbx.action(Action="QueuePause", Interface=iface, Queue="hotline-110-linkage", Paused="true")
    try:
        call, first = await _answered_call(pbx, "12345")
        await pbx.press_key(first["Seat"], "*1")

        back = await pbx.seat_answered(CITIZEN)
        assert back["Seat"] == first["Seat"]
        order = await orders.one(call.handset_id, "returned")
        assert order.outcome_reason == "no_seat_logged_in"
        await pbx.hang_up(call.handset_id)
    finally:
        for iface in ifaces:
            await pbx.action(Action="QueuePause", Interface=iface, Queue="hotline-110-linkage", Paused="false")


async def test_when_the_partner_queue_turns_citizens_away_at_once_then_every_press_ends_as_one_returned_order(
        pbx: Pbx, orders: Orders) -> None:
    """JOINEMPTY brings the citizen back within a millisecond of the move,
    while the key's seat leg writes the order's outbox record and state: the
    return path waits for them before it wakes that leg (waking it first cut
    its writes short now and then, and the order was never recorded)."""
    ifaces = [f"Local/{s}@hotline-seat-phones/n" for s in sorted(SEATS_110)]
    for iface in ifaces:
        await pbx.action(Action="QueuePause", Interface=iface, Queue="hotline-110-linkage", Paused="true")
    try:
        for n in range(6):
            number = f"1390013{n:04d}"
            call, first = await _answered_call(pbx, "12345", number)
            await pbx.press_key(first["Seat"], "*1")
            back = await pbx.seat_answered(number)
            assert back["Seat"] == first["Seat"]
            order = await orders.one(call.handset_id, "returned")
            assert (order.citizen_number, order.outcome_reason) == (number, "no_seat_logged_in")
            await pbx.hang_up(call.handset_id)
            await pbx.assert_nothing_left()
    finally:
        for iface in ifaces:
            await pbx.action(Action="QueuePause", Interface=iface, Queue="hotline-110-linkage", Paused="false")


async def test_when_centre_releases_at_once_then_seat_is_free_before_target_answers(
        pbx: Pbx, orders: Orders) -> None:
    # as `HOTLINE_RELEASE_MODES=12345:immediate` renders it, for the key's dialplan path and the route
    orders.service.settings = orders.service.settings.with_(handoff={"release_modes": {"12345": "immediate"}})
    await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_RELEASE_12345", "Value": "immediate"})
    try:
        await _no_110_seat_answers(pbx)
        call, first = await _answered_call(pbx, "12345")

        await pbx.press_key(first["Seat"], "*1")
        await _110_seat_rings(pbx)
        # well before the no-answer limit (3 s in the rig) could bring the citizen back
        await eventually(lambda: _no_seat_channel(pbx, first["Seat"]), timeout=1.5,
                         what="释放转: the seat is free at once")
        order = await orders.one(call.handset_id, "pending")
        assert order.release_mode == "immediate"
        await pbx.hang_up(call.handset_id)
        await orders.one(call.handset_id, "abandoned")
    finally:
        await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_HANDOFF_RELEASE_12345", "Value": "on_answer"})


# ------------------------------------------------------------------ the button

@pytest.fixture
async def desk(pbx: Pbx, orders: Orders, tmp_path: Path) -> AsyncIterator[TestClient]:
    """The web service wired like `hotline up`: the rig's handoff service and AMI."""
    async with seat_desk(pbx.settings, pbx.deps, orders.url, tmp_path / "web") as client:
        yield client


async def test_when_seat_clicks_transfer_button_then_110_seat_sees_citizen_number(
        pbx: Pbx, orders: Orders, desk: TestClient) -> None:
    call, first = await _answered_call(pbx, "12345")

    resp = await desk.post("/api/handoffs", json={"seat": first["Seat"], "target": "110", "note": "噪音扰民"})
    assert resp.status == 201, await resp.text()
    body = await resp.json()

    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Seat"] in SEATS_110
    assert answered["ShownNum"] == CITIZEN
    assert answered["Handoff"] == body["handoff_id"]
    order = await orders.one(call.handset_id, "accepted")
    assert order.id == body["handoff_id"]
    _assert_created_fields(order, source="12345", target="110", seat=first["Seat"], call=call)
    assert order.note == "噪音扰民" and order.target_seat == answered["Seat"]
    await eventually(lambda: _no_seat_channel(pbx, first["Seat"]), what="transferring seat freed")

    # the receiving desktop pops the order
    current = await (await desk.get(f"/api/seats/{answered['Seat']}/current")).json()
    assert current["handoff_id"] == order.id and current["order"]["status"] == "accepted"
    assert CITIZEN in {c["caller_number"] for c in current["channels"]}  # a seat sees the number in full
    got = await desk.get(f"/api/handoffs/{order.id}")
    assert got.status == 200 and (await got.json())["order"]["target_seat"] == answered["Seat"]

    # pressing the button again: the seat has no call any more
    again = await desk.post("/api/handoffs", json={"seat": first["Seat"], "target": "110"})
    assert again.status == 409
    await pbx.hang_up(call.handset_id)
    await orders.one(call.handset_id, "accepted")


@pytest.mark.parametrize("body, field", [
    ({"target": "110"}, "seat"),
    ({"seat": "1001", "channel": "Local/x", "target": "110"}, "seat"),
    ({"seat": "9999", "target": "110"}, "seat"),
    ({"seat": "1001"}, "target"),
    ({"seat": "1001", "target": "110\r\nAction: Hangup"}, "target"),
    ({"channel": "PJSIP/1001-01,evil", "target": "110"}, "channel"),
    ({"seat": "1001", "target": "110", "extra": 1}, "extra"),
])
async def test_when_button_input_is_bad_then_400_names_the_field(
        pbx: Pbx, orders: Orders, desk: TestClient, body: dict[str, Any], field: str) -> None:
    resp = await desk.post("/api/handoffs", json=body)
    assert resp.status == 400
    assert (await resp.json())["field"] == field


async def test_when_button_targets_own_centre_then_refused_and_call_stays(
        pbx: Pbx, orders: Orders, desk: TestClient) -> None:
    call, first = await _answered_call(pbx, "12345")

    resp = await desk.post("/api/handoffs", json={"seat": first["Seat"], "target": "12345"})
    assert resp.status == 409
    assert (await resp.json())["reason"] == "own_centre"
    leg = await pbx.channel_by_uniqueid(call.pbx_leg_id)
    member = await pbx.seat_member_leg(first["Seat"])
    assert leg is not None and member is not None and leg["BridgeId"] == member["BridgeId"]
    assert await orders.of_call(call.handset_id) == []
    await pbx.hang_up(call.handset_id)


# ------------------------------------------------------------------ one double-press guard

async def _seat_leg(pbx: Pbx, seat: str) -> tuple[str, str]:
    """(linkedid, uniqueid) of the seat's leg in the bridge with the citizen."""
    leg = await pbx.seat_member_leg(seat)
    assert leg is not None
    return str(leg["Linkedid"]), str(leg["Uniqueid"])


async def test_when_the_call_guard_names_the_seat_leg_then_key_and_button_refuse(
        pbx: Pbx, orders: Orders, desk: TestClient) -> None:
    """The guard the fast path sets is the one the route and the button claim:
    here another process's button has just claimed this seat leg's call."""
    call, first = await _answered_call(pbx, "12345")
    linkedid, leg = await _seat_leg(pbx, first["Seat"])
    telephony = AmiTelephony(pbx.ami, pbx.settings.site.centres)
    assert await telephony.claim_call(linkedid, leg)
    try:
        resp = await desk.post("/api/handoffs", json={"seat": first["Seat"], "target": "110"})
        assert resp.status == 409 and (await resp.json())["reason"] == "already_transferring"

        await pbx.press_key(first["Seat"], "*1")  # the fast path sees the guard and asks the route: refused
        await pbx.events.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "Playback"
                                  and e.get("AppData") == "beeperr", what="the already-transferring prompt")
        await _still_with_seat(pbx, call, first["Seat"])
        assert await orders.of_call(call.handset_id) == []
    finally:
        await telephony.release_call(linkedid)
    await pbx.hang_up(call.handset_id)


async def test_when_button_is_clicked_twice_at_once_then_one_handoff(
        pbx: Pbx, orders: Orders, desk: TestClient) -> None:
    await _no_110_seat_answers(pbx)  # the handoff stays pending
    call, first = await _answered_call(pbx, "12345")

    clicks = await asyncio.gather(*(desk.post("/api/handoffs", json={"seat": first["Seat"], "target": "110"})
                                    for _ in range(2)))

    assert sorted(c.status for c in clicks) == [201, 409]
    await _110_seat_rings(pbx)
    order = await orders.one(call.handset_id, "pending")
    await pbx.hang_up(call.handset_id)
    await orders.one(call.handset_id, "abandoned")
    await pbx.assert_nothing_left()
    assert [o.id for o in await orders.of_call(call.handset_id)] == [order.id]


async def test_when_two_processes_hand_the_same_call_over_one_after_the_other_then_the_second_is_refused(
        pbx: Pbx, orders: Orders) -> None:
    """Two web processes (each its own HandoffService, nothing shared but the
    PBX and the database): the guard in AstDB refuses the second.  Nothing
    moves here: each start is given up as a failed move would be."""
    call, first = await _answered_call(pbx, "12345")
    telephony = AmiTelephony(pbx.ami, pbx.settings.site.centres)
    found = await telephony.find_call(seat=first["Seat"])
    assert found is not None and found.seat_leg_id is not None
    request = HandoffRequest(seat_channel=found.seat_channel, citizen_channel=found.citizen_channel,
                             citizen_number=found.citizen_number, centre=found.centre, linkedid=found.linkedid,
                             via="button", seat_leg_id=found.seat_leg_id)
    other = HandoffService(orders.service.settings, OrderService(orders.sessions))

    first_process = await orders.service.start(request, telephony)
    assert first_process.ok and first_process.plan is not None and first_process.order is not None
    second_process = await other.start(request, telephony)
    assert second_process.refusal is not None and second_process.refusal.reason == "already_transferring"
    assert second_process.order is None

    await orders.service.move_failed(first_process.order.id, first_process.plan, "test_gave_up", telephony)
    again = await other.start(request, telephony)  # the failed move let the call go
    assert again.ok and again.plan is not None and again.order is not None
    await other.move_failed(again.order.id, again.plan, "test_gave_up", telephony)
    assert await telephony.claim_call(found.linkedid or "", found.seat_leg_id)  # nothing left claimed
    await telephony.release_call(found.linkedid or "")
    await pbx.hang_up(call.handset_id)


# ------------------------------------------------------------------ faults

async def _still_with_seat(pbx: Pbx, call: Any, seat: str) -> None:
    leg = await pbx.channel_by_uniqueid(call.pbx_leg_id)
    member = await pbx.seat_member_leg(seat)
    assert leg is not None and member is not None and leg["BridgeId"] == member["BridgeId"]


async def _seat_hears_failure_and_keeps_citizen(pbx: Pbx, call: Any, seat: str) -> None:
    await pbx.events.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("Application") == "Playback"
                              and e.get("AppData") == "please-try-again", what="the failure prompt")
    await _still_with_seat(pbx, call, seat)


@contextlib.asynccontextmanager
async def database_down(orders: Orders) -> AsyncIterator[None]:
    """The handoff service's order database is unreachable inside the block."""
    dead = db.create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    saved = orders.service.orders
    orders.service.orders = type(saved)(db.session_factory(dead))
    try:
        yield
    finally:
        orders.service.orders = saved
        await dead.dispose()


async def test_when_order_database_is_down_then_transfer_goes_ahead_and_order_is_recorded_when_it_is_back(
        pbx: Pbx, orders: Orders) -> None:
    """The key's dialplan path does not wait for the database: the citizen
    reaches 110 and the order waits in AstDB until the database is back."""
    async with database_down(orders):
        call, first = await _answered_call(pbx, "12345")
        await pbx.press_key(first["Seat"], "*1")
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Seat"] in SEATS_110 and answered["ShownNum"] == CITIZEN
        assert await orders.of_call(call.handset_id) == []
        assert await AmiAstDb(pbx.ami).keys(OUTBOX_FAMILY) == [answered["Handoff"]]
    # the journal's periodic sweep records it (run here rather than waited for)
    await sweep(AmiAstDb(pbx.ami), orders.service)
    order = await orders.one(call.handset_id, "pending")
    assert order.id == answered["Handoff"]
    _assert_created_fields(order, source="12345", target="110", seat=first["Seat"], call=call)
    await _hangup_makes_order_accepted(pbx, orders, call)


async def test_when_fastagi_server_is_down_then_seat_asking_for_a_destination_keeps_the_citizen(
        pbx: Pbx, orders: Orders) -> None:
    """A transfer the dialplan cannot decide (here: to 120) needs the
    `handoff_key` route; without it the seat hears so and keeps the call."""
    call, first = await _answered_call(pbx, "110")
    await pbx.agi.stop()
    try:
        await pbx.press_key(first["Seat"], f"{pbx.settings.handoff.to_key}120#")
        await _seat_hears_failure_and_keeps_citizen(pbx, call, first["Seat"])
        assert await orders.of_call(call.handset_id) == []
    finally:
        await pbx.agi.start()
    await pbx.hang_up(call.handset_id)
