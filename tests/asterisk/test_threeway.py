"""Three-way call (三方通话) citizen + 12345 + 110 — on the real Asterisk.

Key presses are AMI PlayDTMF on the seat phone's own channel: the start key
reaches the seat's leg in the two-party bridge (features.conf), the keys in
the conference reach the ConfBridge menu.  Every test asserts who is in the
conference (ConfbridgeList) and who is bridged to whom, the number the 110
seat's phone shows, and the order's outcome and rule (SQLite; a few on
PostgreSQL too, marker `postgres`); the `pbx` fixture then checks that no
channel and no conference is left.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.inbound import plugin as inbound
from app.orders import plugin as orders
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.features import Dependencies, setup_features
from app.runtime.models import Order, OrderEvent
from app.threeway import plugin as threeway_feature
from app.threeway.http import THREEWAY
from app.threeway.services import ThreeWayService
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY
from core.threeway import conference_name
from tests.support.desk import seat_desk
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx
from tests.support.threeway_wait import SEAT_WAIT, assert_woken, described, exten, steps_until
from tests.support.waiting import eventually

CITIZEN = "13900139000"
SEATS_110 = {"2001", "2002"}
SEATS_12345 = {"1001", "1002", "1003", "1004"}
TIMEOUT_S = 3  # the rig's no-answer limit


# ------------------------------------------------------------------ fixtures

@dataclass
class ThreeWayRig:
    pbx: Pbx
    service: ThreeWayService
    sessions: async_sessionmaker[AsyncSession]
    url: str
    deps: Dependencies

    async def order(self, linkedid: str, status: str | None = None, timeout: float = 15.0) -> Order:
        return await OrderReader(self.sessions).one(linkedid, status, timeout)

    async def events(self, order_id: str) -> list[OrderEvent]:
        return await OrderReader(self.sessions).events(order_id)

    async def kinds(self, order_id: str) -> list[tuple[str, str | None]]:
        return [(e.kind, (e.detail or {}).get("role")) for e in await self.events(order_id)]

    async def members(self, conference: str) -> list[str]:
        reply = await self.pbx.ami.send({"Action": "ConfbridgeList", "Conference": conference})
        msgs = reply if isinstance(reply, list) else [reply]
        return sorted(m["Channel"] for m in msgs if m.get("Event") == "ConfbridgeList")

    async def wait_members(self, conference: str, *expected_prefixes: str, timeout: float = 10.0) -> list[str]:
        """The conference's members are exactly one channel per expected prefix."""
        async def check() -> list[str]:
            members = await self.members(conference)
            assert len(members) == len(expected_prefixes), f"members {members}, expected {expected_prefixes}"
            for prefix in expected_prefixes:
                assert any(m.startswith(prefix) for m in members), f"no {prefix} in {members}"
            return members
        return await eventually(check, timeout=timeout, what=f"{conference} holding {expected_prefixes}")

    async def bridged_to_seat(self, channel_prefix: str, seat: str) -> bool:
        """The channel starting with `channel_prefix` is bridged to `seat`'s leg."""
        chans = await self.pbx.channels()
        ours = next((c for c in chans if c["Channel"].startswith(channel_prefix)), None)
        leg = await self.pbx.seat_member_leg(seat)
        assert ours is not None and leg is not None, f"{channel_prefix} or seat {seat} gone"
        assert ours.get("BridgeId") and ours["BridgeId"] == leg.get("BridgeId"), \
            f"{ours['Channel']} not bridged to seat {seat}"
        return True


async def _rig(pbx: Pbx, url: str) -> AsyncIterator[ThreeWayRig]:
    # wired as every process is: the three-way feature's routes over the rig's FastAGI and AMI
    deps = await pbx.wire(url, settings=pbx.settings.with_(threeway={"timeout_s": TIMEOUT_S}),
                          features=(inbound, orders, threeway_feature))
    assert deps is not None
    try:
        yield ThreeWayRig(pbx, deps.get(THREEWAY), deps.sessions, url, deps)
        await pbx.assert_nothing_left()
        await pbx.agi.routes.drain()
    finally:
        await pbx.wire(None)


@pytest.fixture
async def threeway(pbx: Pbx, sqlite_url: str) -> AsyncIterator[ThreeWayRig]:
    async for rig in _rig(pbx, sqlite_url):
        yield rig


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def threeway_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture
async def threeway_db(pbx: Pbx, threeway_url: str) -> AsyncIterator[ThreeWayRig]:
    """The same, on SQLite and on PostgreSQL."""
    async for rig in _rig(pbx, threeway_url):
        yield rig


# ------------------------------------------------------------------ helpers

@dataclass
class Joined:
    call: Any
    first: dict[str, Any]      # the initiator's HotlineSeatAnswered
    invited: dict[str, Any]    # the invited seat's HotlineSeatAnswered
    order: Order
    conference: str


async def _answered_call(pbx: Pbx, centre: str) -> tuple[Any, dict[str, Any]]:
    call = await pbx.citizen_dials(centre, CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    pbx.events.clear()
    return call, first


def _citizen_prefix(centre: str) -> str:
    return f"Local/{centre}@hotline-inbound-"


def _seat_prefix(seat: str) -> str:
    return f"Local/{seat}@hotline-seat-phones-"


RING = "Local/t"


async def _start_and_join(tw: ThreeWayRig, source: str = "12345", target_seats: set[str] = SEATS_110) -> Joined:
    call, first = await _answered_call(tw.pbx, source)
    await tw.pbx.press_key(first["Seat"], "*2")
    invited = await tw.pbx.seat_answered(CITIZEN)
    order = await tw.order(call.handset_id)
    conference = conference_name(order.id)
    await tw.wait_members(conference, _citizen_prefix(source), _seat_prefix(first["Seat"]), RING)
    return Joined(call, first, invited, order, conference)


# ------------------------------------------------------------------ start and join

async def test_when_12345_seat_presses_three_way_then_110_seat_sees_citizen_number_and_all_three_talk(
        threeway_db: ThreeWayRig) -> None:
    tw = threeway_db
    call, first = await _answered_call(tw.pbx, "12345")

    await tw.pbx.press_key(first["Seat"], "*2")

    invited = await tw.pbx.seat_answered(CITIZEN)
    assert invited["Seat"] in SEATS_110
    assert invited["ShownNum"] == CITIZEN          # the citizen's number, not the 12345 seat's
    assert invited["Centre"] == "110"
    order = await tw.order(call.handset_id)
    conference = conference_name(order.id)
    members = await tw.wait_members(conference, _citizen_prefix("12345"), _seat_prefix(first["Seat"]), RING)
    # the conference's third member is the Local channel bridged to the 110 seat
    ring = next(m for m in members if m.startswith(RING))
    await eventually(lambda: tw.bridged_to_seat(ring[:-2] + ";2", invited["Seat"]), what="110 seat on the ring leg")
    assert order.mode == "three_way" and order.status == "pending"
    assert order.direction == "12345->110" and order.source_seat == first["Seat"]
    assert order.citizen_number == CITIZEN
    await eventually(lambda: _has(tw, order.id, ("joined", "invited")), what="join recorded")
    assert (await tw.order(call.handset_id)).target_seat == invited["Seat"]

    await tw.pbx.hang_up(call.handset_id)
    # the citizen hanging up ends the conference for all: first contact decides (12345 received it)
    order = await tw.order(call.handset_id, "accepted")
    assert order.handoff_rule == "first_contact" and order.target_centre == "12345"
    await tw.pbx.assert_nothing_left()


async def _has(tw: ThreeWayRig, order_id: str, kind: tuple[str, str | None]) -> bool:
    kinds = await tw.kinds(order_id)
    assert kind in kinds, f"{kind} not in {kinds}"
    return True


# ------------------------------------------------------------------ leave

async def test_when_12345_seat_leaves_then_110_seat_keeps_the_citizen_and_accepts(threeway_db: ThreeWayRig) -> None:
    tw = threeway_db
    j = await _start_and_join(tw)

    await tw.pbx.press_key(j.first["Seat"], "*3")

    await tw.wait_members(j.conference, _citizen_prefix("12345"), RING)
    await eventually(lambda: _no_seat(tw.pbx, j.first["Seat"]), what="the 12345 seat is free")
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "agreed"
    assert order.target_centre == "110" and order.target_seat == j.invited["Seat"]
    assert order.direction == "12345->110"
    assert order.accepted_at is not None and order.created_at <= order.accepted_at
    kinds = await tw.kinds(order.id)
    assert ("left", "initiator") in kinds and ("joined", "invited") in kinds

    await tw.pbx.hang_up(j.call.handset_id)
    await tw.pbx.assert_nothing_left()
    assert (await tw.order(j.call.handset_id)).handoff_rule == "agreed"  # the agreement stands


async def test_when_110_seat_leaves_then_12345_seat_keeps_the_case(threeway: ThreeWayRig) -> None:
    tw = threeway
    j = await _start_and_join(tw)

    await tw.pbx.press_key(j.invited["Seat"], "*3")

    await tw.wait_members(j.conference, _citizen_prefix("12345"), _seat_prefix(j.first["Seat"]))
    await eventually(lambda: _no_seat(tw.pbx, j.invited["Seat"]), what="the 110 seat is free")
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "agreed"
    assert order.target_centre == "12345" and order.target_seat == j.first["Seat"]
    assert ("left", "invited") in await tw.kinds(order.id)

    await tw.pbx.hang_up(j.call.handset_id)


async def _no_seat(pbx: Pbx, seat: str) -> bool:
    assert await pbx.seat_channel(seat) is None, f"seat {seat} still has a channel"
    return True


# ------------------------------------------------------------------ cancel / no answer

async def test_when_initiator_cancels_then_110_seat_is_dropped_and_call_is_two_party(
        threeway_db: ThreeWayRig) -> None:
    tw = threeway_db
    j = await _start_and_join(tw)

    await tw.pbx.press_key(j.first["Seat"], "*0")

    await tw.wait_members(j.conference, _citizen_prefix("12345"), _seat_prefix(j.first["Seat"]))
    await eventually(lambda: _no_seat(tw.pbx, j.invited["Seat"]), what="the 110 seat is dropped")
    order = await tw.order(j.call.handset_id, "returned")
    assert order.outcome_reason == "cancelled" and order.handoff_rule is None
    assert order.target_centre == "110"

    await tw.pbx.hang_up(j.call.handset_id)


async def test_when_invited_seat_presses_cancel_then_nothing_changes(threeway: ThreeWayRig) -> None:
    tw = threeway
    j = await _start_and_join(tw)

    await tw.pbx.press_key(j.invited["Seat"], "*0")  # only the initiator may cancel

    await tw.pbx.events.wait_for(lambda e: e.get("Event") == "Newexten" and e.get("AppData") == "beeperr",
                                 what="the refusal")
    await tw.wait_members(j.conference, _citizen_prefix("12345"), _seat_prefix(j.first["Seat"]), RING)
    assert (await tw.order(j.call.handset_id)).status == "pending"
    await tw.pbx.hang_up(j.call.handset_id)


async def test_when_110_does_not_answer_within_limit_then_citizen_is_back_with_initiator(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    for seat in SEATS_110:
        await tw.pbx.set_phone(seat, "noanswer")
    call, first = await _answered_call(tw.pbx, "12345")

    await tw.pbx.press_key(first["Seat"], "*2")
    await tw.pbx.events.wait_for(lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110-linkage"
                                 and e.get("CallerIDNum") == CITIZEN, what="a 110 seat rings with the citizen's number")
    order = await tw.order(call.handset_id)
    conference = conference_name(order.id)
    # while it rings the citizen waits alone (music on hold); the seat hears ringback
    await tw.wait_members(conference, _citizen_prefix("12345"))

    members = await tw.wait_members(conference, _citizen_prefix("12345"), _seat_prefix(first["Seat"]),
                                    timeout=TIMEOUT_S + 10)
    order = await tw.order(call.handset_id, "returned")
    assert order.outcome_reason == "no_answer" and order.target_seat is None
    # the seat was woken by the no-answer, not by a round of the safety loop
    # reading the phase
    initiator = next(m for m in members if m.startswith(_seat_prefix(first["Seat"])))
    assert_woken(await steps_until(tw.pbx.events, "join", initiator), "join")
    assert order.returned_at is not None

    await tw.pbx.hang_up(call.handset_id)


# ------------------------------------------------------------------ hang-ups

async def test_when_citizen_hangs_up_while_110_rings_then_order_abandoned_and_nothing_left(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    for seat in SEATS_110:
        await tw.pbx.set_phone(seat, "noanswer")
    call, first = await _answered_call(tw.pbx, "12345")
    await tw.pbx.press_key(first["Seat"], "*2")
    await tw.pbx.events.wait_for(lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110-linkage",
                                 what="a 110 seat rings")

    await tw.pbx.hang_up(call.handset_id)

    order = await tw.order(call.handset_id, "abandoned")
    assert order.outcome_reason == "citizen_hung_up"
    await tw.pbx.assert_nothing_left()


async def test_when_citizen_hangs_up_in_the_conference_then_it_ends_for_all_by_first_contact(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    j = await _start_and_join(tw, source="110", target_seats=SEATS_12345)
    assert j.invited["Seat"] in SEATS_12345 and j.invited["ShownNum"] == CITIZEN

    await tw.pbx.hang_up(j.call.handset_id)

    await tw.pbx.assert_nothing_left()  # both seats dropped, conference gone
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "first_contact"
    assert order.target_centre == "110"  # the citizen dialled 110 first
    assert order.direction == "110->110" and order.target_seat is None


async def test_when_one_seat_hangs_up_then_the_other_two_keep_talking(threeway: ThreeWayRig) -> None:
    tw = threeway
    j = await _start_and_join(tw)

    leg = await tw.pbx.seat_channel(j.invited["Seat"])  # the 110 seat puts its phone down
    assert leg is not None
    await tw.pbx.action(Action="Hangup", Channel=leg["Channel"])

    await tw.wait_members(j.conference, _citizen_prefix("12345"), _seat_prefix(j.first["Seat"]))
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "agreed" and order.target_centre == "12345"
    left = [e for e in await tw.events(order.id) if e.kind == "left"]
    assert left and left[0].detail["how"] == "hung_up"

    await tw.pbx.hang_up(j.call.handset_id)


# ------------------------------------------------------------------ the initiator's wait: woken, not polling

async def _initiator_waits(tw: ThreeWayRig) -> tuple[Any, str, dict[str, Any]]:
    """Both 110 phones ring without answering; the 12345 seat presses the key.
    Returns the citizen's call, the initiator's leg and the AgentCalled of the
    110 seat ringing, once that leg waits (ringback)."""
    for seat in SEATS_110:
        await tw.pbx.set_phone(seat, "noanswer")
    call, first = await _answered_call(tw.pbx, "12345")
    leg = await tw.pbx.seat_member_leg(first["Seat"])
    assert leg is not None
    initiator = leg["Channel"]
    await tw.pbx.press_key(first["Seat"], "*2")
    ringing = await tw.pbx.events.wait_for(
        lambda e: e.get("Event") == "AgentCalled" and e.get("Queue") == "hotline-110-linkage",
        what="a 110 seat rings")
    await tw.pbx.events.wait_for(
        lambda e: e.get("Event") == "Newexten" and e.get("Channel") == initiator and e.get("Context") == SEAT_WAIT
        and e.get("Application") == "Wait", what="the initiator waiting")
    return call, initiator, ringing


async def _pick_up(tw: ThreeWayRig, ringing: dict[str, Any]) -> str:
    """The 110 seat whose phone rings (`ringing`: its AgentCalled) picks up; returns the seat."""
    seat = str(ringing["DestChannel"]).split("/", 1)[1].split("@", 1)[0]
    phone = await tw.pbx.seat_channel(seat)
    assert phone is not None
    await tw.pbx.set_phone(seat, "answer")
    await tw.pbx.action(Action="Redirect", Channel=phone["Channel"], Context="hotline-seat-phones",
                        Exten=seat, Priority="1")
    return seat


async def test_when_110_seat_answers_then_initiator_is_woken_into_the_conference_at_once(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    call, initiator, ringing = await _initiator_waits(tw)
    # the 110 seat lets its phone ring a while (a loop polling every 50 ms would
    # run a dozen rounds meanwhile), then picks up
    await asyncio.sleep(0.5)
    await _pick_up(tw, ringing)
    answered = time.monotonic()
    order = await tw.order(call.handset_id)
    conference = conference_name(order.id)

    async def initiator_in_conference() -> bool:
        assert initiator in await tw.members(conference), f"{initiator} not in {conference}"
        return True
    # woken by the answer: well within the safety loop's second
    await eventually(initiator_in_conference, timeout=0.5, interval=0.02, what="the initiator in the conference")
    assert time.monotonic() - answered < 0.6
    await tw.wait_members(conference, _citizen_prefix("12345"), initiator, RING)
    # ... and it waited without polling: ringback, a Wait interrupted by the
    # wake-up, then `join` — a handful of steps (at most one round of the
    # safety loop on a slow machine), not the dozens of a 50 ms loop
    steps = await steps_until(tw.pbx.events, "join", initiator)
    assert len(steps) <= 10, described(steps)
    assert_woken(steps, "join")
    assert not [e for e in steps if e.get("Application") == "Wait" and e.get("AppData") != "1"]

    await tw.pbx.hang_up(call.handset_id)
    await tw.order(call.handset_id, "accepted")


async def test_when_citizen_hangs_up_while_110_rings_then_initiator_is_freed_at_once(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    call, initiator, _ = await _initiator_waits(tw)

    await tw.pbx.hang_up(call.handset_id)
    gone = time.monotonic()

    async def initiator_gone() -> bool:
        chans = [c["Channel"] for c in await tw.pbx.channels()]
        assert initiator not in chans and initiator[:-1] + "2" not in chans, f"initiator still up: {chans}"
        return True
    # woken by the citizen's hangup: no waiting for the safety loop
    await eventually(initiator_gone, timeout=0.5, interval=0.02, what="the initiator's leg gone")
    assert time.monotonic() - gone < 0.6
    steps = await steps_until(tw.pbx.events, "gone", initiator)
    # gone: StopPlaytones, the mark that it was woken (its hangup is no leaving), Hangup
    assert [exten(e) for e in steps if exten(e) not in ("s", "h")] == ["gone"] * 3, described(steps)
    assert_woken(steps, "gone")
    order = await tw.order(call.handset_id, "abandoned")
    assert order.outcome_reason == "citizen_hung_up"
    await tw.pbx.assert_nothing_left()


async def test_when_the_three_way_state_is_lost_while_110_rings_then_the_initiator_joins_the_citizen_not_dropped(
        threeway: ThreeWayRig) -> None:
    """The initiator's safety loop finds no AstDB phase at all.  That also
    follows a citizen's hangup (its state cleared), when the seat is free;
    but with the citizen still in the conference the key was lost (deleted
    by hand, say): the seat joins the citizen instead of being hung up, and
    the 110 seat that answers joins them both."""
    tw = threeway
    call, initiator, ringing = await _initiator_waits(tw)
    order = await tw.order(call.handset_id)
    conference = conference_name(order.id)
    reply = await tw.pbx.action(Action="DBDel", Family=THREEWAY_FAMILY, Key=order.id)
    assert reply.get("Response") == "Success", reply

    # the safety loop's next round (within a second): with the citizen, not hung up
    await tw.wait_members(conference, _citizen_prefix("12345"), initiator)
    await _pick_up(tw, ringing)
    await tw.wait_members(conference, _citizen_prefix("12345"), initiator, RING)
    await eventually(lambda: _has(tw, order.id, ("joined", "invited")), what="join recorded")

    await tw.pbx.hang_up(call.handset_id)
    order = await tw.order(call.handset_id, "accepted")
    assert order.handoff_rule == "first_contact"
    await tw.pbx.assert_nothing_left()


async def test_when_initiator_hangs_up_while_110_rings_and_nobody_answers_then_citizen_is_queued_at_its_centre(
        threeway: ThreeWayRig) -> None:
    """Nobody would take the citizen back: it leaves the conference for the
    front of 12345's queue, and a 12345 seat gets it."""
    tw = threeway
    call, initiator, _ = await _initiator_waits(tw)
    order = await tw.order(call.handset_id)

    await tw.pbx.action(Action="Hangup", Channel=initiator)

    await eventually(lambda: _has(tw, order.id, ("left", "initiator")), what="the initiator's leaving recorded")
    back = await tw.pbx.seat_answered(CITIZEN, timeout=TIMEOUT_S + 10)  # a 12345 seat, after the 110 limit
    assert back["Seat"] in SEATS_12345 and back["ShownNum"] == CITIZEN
    order = await tw.order(call.handset_id, "returned")
    assert order.outcome_reason == "no_answer"
    assert ("joined", "initiator") not in await tw.kinds(order.id)  # nobody took it back in the conference
    assert await tw.members(conference_name(order.id)) == []

    await tw.pbx.hang_up(call.handset_id)
    await tw.pbx.assert_nothing_left()


async def test_when_initiator_hangs_up_while_110_rings_then_the_110_seat_that_answers_accepts(
        threeway: ThreeWayRig) -> None:
    tw = threeway
    call, initiator, ringing = await _initiator_waits(tw)
    order = await tw.order(call.handset_id)
    await tw.pbx.action(Action="Hangup", Channel=initiator)
    await eventually(lambda: _has(tw, order.id, ("left", "initiator")), what="the initiator's leaving recorded")

    seat = await _pick_up(tw, ringing)

    await tw.wait_members(conference_name(order.id), _citizen_prefix("12345"), RING)
    order = await tw.order(call.handset_id, "accepted")
    assert (order.handoff_rule, order.outcome_reason) == ("agreed", "initiator_left")
    assert order.target_centre == "110" and order.target_seat == seat
    kinds = await tw.kinds(order.id)
    assert ("joined", "invited") in kinds and ("joined", "initiator") not in kinds

    await tw.pbx.hang_up(call.handset_id)
    await tw.pbx.assert_nothing_left()
    assert (await tw.order(call.handset_id)).handoff_rule == "agreed"  # the citizen's hangup changes nothing


# ------------------------------------------------------------------ emergency

async def test_when_seat_marks_emergency_then_110_accepts_and_dispatches_first(threeway_db: ThreeWayRig) -> None:
    tw = threeway_db
    j = await _start_and_join(tw)

    await tw.pbx.press_key(j.first["Seat"], "*9")

    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "emergency" and order.emergency is True
    assert order.target_centre == "110" and order.target_seat == j.invited["Seat"]
    marked = [e for e in await tw.events(order.id) if e.kind == "marked"]
    assert len(marked) == 1 and marked[0].at is not None
    # all three still talk
    await tw.wait_members(j.conference, _citizen_prefix("12345"), _seat_prefix(j.first["Seat"]), RING)
    # a leave after the mark is audited; the emergency rule stands
    await tw.pbx.press_key(j.first["Seat"], "*3")
    await tw.wait_members(j.conference, _citizen_prefix("12345"), RING)
    await eventually(lambda: _has(tw, order.id, ("left", "initiator")), what="leave recorded")
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "emergency" and order.target_centre == "110"

    await tw.pbx.hang_up(j.call.handset_id)


# ------------------------------------------------------------------ the desktop buttons

@pytest.fixture
async def desk(threeway: ThreeWayRig, tmp_path: Path) -> AsyncIterator[TestClient]:
    async with seat_desk(threeway.pbx.settings, threeway.deps, threeway.url, tmp_path / "web") as client:
        yield client


async def test_when_seats_use_the_buttons_then_same_three_way_as_the_keys(
        threeway: ThreeWayRig, desk: TestClient) -> None:
    tw = threeway
    call, first = await _answered_call(tw.pbx, "12345")

    resp = await desk.post("/api/threeway", json={"seat": first["Seat"]})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    threeway_id = body["threeway_id"]
    invited = await tw.pbx.seat_answered(CITIZEN)
    assert invited["Seat"] in SEATS_110 and invited["ShownNum"] == CITIZEN
    conference = conference_name(threeway_id)
    assert body["conference"] == conference
    await tw.wait_members(conference, _citizen_prefix("12345"), _seat_prefix(first["Seat"]), RING)

    resp = await desk.post(f"/api/threeway/{threeway_id}/emergency", json={"seat": invited["Seat"]})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["order"]["handoff_rule"] == "emergency"

    resp = await desk.post(f"/api/threeway/{threeway_id}/cancel", json={"seat": invited["Seat"]})
    assert resp.status == 409 and (await resp.json())["reason"] == "not_initiator"

    resp = await desk.post(f"/api/threeway/{threeway_id}/leave", json={"seat": first["Seat"]})
    assert resp.status == 200, await resp.text()
    await tw.wait_members(conference, _citizen_prefix("12345"), RING)
    await eventually(lambda: _no_seat(tw.pbx, first["Seat"]), what="the 12345 seat is free")

    resp = await desk.get(f"/api/threeway/{threeway_id}")
    state = await resp.json()
    assert state["present"] == ["citizen", "invited"] and state["invited_seat"] == invited["Seat"]
    order = await tw.order(call.handset_id, "accepted")
    assert order.handoff_rule == "emergency" and order.emergency and order.target_centre == "110"

    await tw.pbx.hang_up(call.handset_id)


# ------------------------------------------------------------------ the split layout

@asynccontextmanager
async def _web_process(tw: ThreeWayRig, state_dir: Path) -> AsyncIterator[TestClient]:
    """The desktop buttons served by a process of their own (`hotline web` beside
    `hotline agi`, as the service units run them): its own three-way service on
    its own engine over the same database, and an AMI link for the moves."""
    engine = db.create_engine(tw.url)
    sessions = db.session_factory(engine)
    deps = setup_features(Dependencies(tw.deps.settings, engine, sessions, OrderService(sessions),
                                       frozenset({"web"}), ami=tw.pbx.ami), (orders, threeway_feature))
    assert deps.get(THREEWAY) is not tw.service
    try:
        async with seat_desk(tw.pbx.settings, deps, tw.url, state_dir) as client:
            yield client
    finally:
        await engine.dispose()


async def test_when_keys_and_buttons_are_served_by_separate_processes_then_both_act_on_the_one_call(
        threeway: ThreeWayRig, tmp_path: Path) -> None:
    """A call started by the key (the FastAGI process) is found, marked and
    left from the desk (the web process); the key process then sees the
    citizen hang up on that same call: the emergency rule the desk set
    stands, where a process that knew only its own view decided
    first_contact over it."""
    tw = threeway
    j = await _start_and_join(tw)
    initiator, invited = j.first["Seat"], j.invited["Seat"]
    async with _web_process(tw, tmp_path / "web") as desk:
        resp = await desk.get("/api/threeway", params={"seat": initiator})
        assert resp.status == 200, await resp.text()
        found = (await resp.json())["threeway"]
        assert found is not None, "the web process does not see the call the key started"
        assert found["threeway_id"] == j.order.id
        assert found["present"] == ["citizen", "initiator", "invited"] and found["invited_seat"] == invited

        resp = await desk.post(f"/api/threeway/{j.order.id}/emergency", json={"seat": invited})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["order"]["handoff_rule"] == "emergency"

        resp = await desk.post(f"/api/threeway/{j.order.id}/leave", json={"seat": initiator})
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["present"] == ["citizen", "invited"]
        # the initiator's leg, which this process never saw, is hung up
        await tw.wait_members(j.conference, _citizen_prefix("12345"), RING)
        await eventually(lambda: _no_seat(tw.pbx, initiator), what="the 12345 seat is free")

    await tw.pbx.hang_up(j.call.handset_id)
    await tw.pbx.assert_nothing_left()

    async def citizen_left() -> list[tuple[str, str | None]]:
        kinds = await tw.kinds(j.order.id)
        assert ("left", "citizen") in kinds, kinds
        return kinds
    await eventually(citizen_left, what="the key process recording the citizen's hangup")
    order = await tw.order(j.call.handset_id, "accepted")
    assert order.handoff_rule == "emergency" and order.emergency and order.target_centre == "110"


async def test_when_the_citizen_hangs_up_before_the_answer_is_recorded_then_it_still_ends_by_first_contact(
        threeway: ThreeWayRig) -> None:
    """A busy machine: the seat of 110 answered and all three talked, but the
    answer's report never reached the order before the citizen hung up.  The
    phase Asterisk had (joined) comes with the hangup, so the order says
    first contact — not abandoned, as if nobody had answered."""
    tw = threeway

    async def unreported(call: Any) -> None:
        return None  # the answer's report lost on the way

    real = tw.pbx.agi.routes.replace("threeway_answered", unreported)
    try:
        j = await _start_and_join(tw)
        assert (await tw.service.state(j.order.id)).phase == "ringing"  # Python never heard the answer
        await tw.pbx.hang_up(j.call.handset_id)
        await tw.pbx.assert_nothing_left()
    finally:
        tw.pbx.agi.routes.replace("threeway_answered", real)
    order = await tw.order(j.call.handset_id, "accepted")
    assert (order.handoff_rule, order.outcome_reason, order.target_centre) == ("first_contact", "undecided", "12345")
    assert ("joined", "invited") in await tw.kinds(j.order.id)

