"""Two platforms, one key: the handoff across PBXs linked by SIP trunks (issue 12).

Two (or three) of the project's own rigs on loopback (tests/support/platforms.py):
A serves only 12345, B only 110, each with its own Asterisk, state dir,
Redis prefix and database, linked by peer trunks told apart by port.  What
was really sent is read on the far side (PJSIP_HEADER(read) into a
HotlineTrunkReceived user event, the test rig), and every PBX ends with no
channel left.
"""
from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from app.handoff import plugin as handoff_feature
from app.inbound import plugin as inbound_feature
from app.orders import plugin as orders_feature
from app.orders.services import OrderService
from app.overflow.config import OverflowConfig
from app.overflow.controller import OverflowController
from app.runtime import db
from app.runtime.models import Order, utcnow
from app.threeway import plugin as threeway_feature
from app.tools.simulation import CitizenCall, clean_redis, originate_citizen
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from tests.support.desk import seat_desk
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx, free_port
from tests.support.platforms import (
    TRUNK_RECEIVED_EVENT,
    Platforms,
    received,
    start_platform,
    start_two_platforms,
    trunk_reachable,
    trunk_spec,
)
from tests.support.threeway_wait import assert_woken, steps_until
from tests.support.waiting import eventually

CITIZEN = "13800138000"


@pytest.fixture
async def platforms(tmp_path: Path) -> AsyncIterator[Platforms]:
    p = await start_two_platforms(tmp_path)
    try:
        yield p
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        await p.stop()


async def _answered_on(pbx: Pbx, centre: str) -> tuple[CitizenCall, str]:
    call = await pbx.citizen_dials(centre, CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    pbx.events.clear()
    return call, first["Seat"]


async def test_when_12345_seat_on_pbx_a_presses_transfer_then_110_seat_on_pbx_b_sees_citizen_number(
        platforms: Platforms) -> None:
    a, b = platforms.a, platforms.b
    call, seat = await _answered_on(a, "12345")
    await a.press_key(seat, "*1")

    got = await received(b, "110")
    assert got["Endpoint"] == "peer-12345" and got["TrunkContext"] == "hotline-peer-in"
    order = await platforms.orders_a.one(call.handset_id)
    assert got["Handoff"] == f"{order.id};src=12345;seat={seat}"
    assert f"<sip:{CITIZEN}@" in got["PAI"]
    assert f"<sip:{CITIZEN}@" in got["From"]
    assert got["Diversion"].startswith("<sip:12345@") and "reason=deflection" in got["Diversion"]

    answered = await b.seat_answered(CITIZEN)
    assert answered["Seat"] in {"2001", "2002"}
    assert answered["ShownNum"] == CITIZEN
    assert answered["Centre"] == "110"
    assert answered["PeerHandoff"] == order.id and answered["FirstCentre"] == "12345"
    assert answered["PeerOrder"] == ""  # the key's dialplan path: numbered after the move, keyed by its id
    accepted = await platforms.orders_a.one(call.handset_id, "accepted")
    assert accepted.target_centre == "110"
    await a.hang_up(call.handset_id)


async def test_when_a_peer_sends_refer_on_a_trunk_call_then_it_is_declined_and_the_citizen_stays(
        platforms: Platforms) -> None:
    """A trunk is no phone: a REFER arriving on it (a peer or carrier asking
    this platform to move its caller elsewhere) is declined (pjsip.conf
    allow_transfer = no on both trunk kinds)."""
    a, b = platforms.a, platforms.b
    call, seat = await _answered_on(a, "12345")
    await a.press_key(seat, "*1")
    await b.seat_answered(CITIZEN)
    b_leg = next(c["Channel"] for c in await b.channels() if c["Channel"].startswith("PJSIP/peer-12345-"))
    a_port = a.settings.network.sip_port
    await b.ami.send({"Action": "Setvar", "Channel": b_leg, "Variable": "RIG_REFER_TO",
                      "Value": f"sip:12345@127.0.0.1:{a_port}"})
    await b.ami.send({"Action": "Redirect", "Channel": b_leg, "Context": "hotline-rig-refer", "Exten": "s",
                      "Priority": "1"})
    referred = await b.events.wait_for(lambda e: e.get("UserEvent") == "HotlineRigReferred", timeout=10)
    assert referred["Status"] == "FAILURE", referred
    assert referred["Protocol"] == "603"  # Decline
    # the citizen was not moved on A: nothing runs the REFER's target (12345 in the trunk's context)
    assert not [c for c in await a.channels()
                if c.get("Context") == "hotline-peer-in" and c.get("Extension") == "12345"]
    await a.hang_up(call.handset_id)


async def test_when_110_seat_on_pbx_b_presses_transfer_then_12345_seat_on_pbx_a_sees_citizen_number(
        platforms: Platforms) -> None:
    a, b = platforms.a, platforms.b
    call, seat = await _answered_on(b, "110")
    await b.press_key(seat, "*1")
    got = await received(a, "12345")
    order = await platforms.orders_b.one(call.handset_id)
    assert got["Endpoint"] == "peer-110" and got["Handoff"] == f"{order.id};src=110;seat={seat}"
    answered = await a.seat_answered(CITIZEN)
    assert answered["Seat"] in {"1001", "1002"} and answered["ShownNum"] == CITIZEN
    assert answered["PeerHandoff"] == order.id and answered["FirstCentre"] == "110"
    await platforms.orders_b.one(call.handset_id, "accepted")
    await b.hang_up(call.handset_id)


async def test_when_12345_seat_on_pbx_a_clicks_transfer_button_then_110_seat_on_pbx_b_sees_citizen_number(
        platforms: Platforms, tmp_path: Path) -> None:
    a, b = platforms.a, platforms.b
    settings = a.settings.with_(paths={"state_dir": tmp_path / "web"},
                                database={"url": f"sqlite+aiosqlite:///{tmp_path / 'a' / 'orders.db'}"},
                                network={"http_port": 0})
    call, seat = await _answered_on(a, "12345")
    async with TestClient(TestServer(init_app(settings, deps=a.deps))) as desk:
        token = await create_token(desk.app[SESSIONS], role="seat", name=f"desk-{uuid.uuid4().hex[:8]}",
                                   now=utcnow())
        desk.session.headers["Authorization"] = f"Bearer {token}"
        resp = await desk.post("/api/handoffs", json={"seat": seat, "target": "110"})
        assert resp.status == 201, await resp.text()
        body = await resp.json()
    got = await received(b, "110")
    order = await platforms.orders_a.one(call.handset_id)
    # the order exists before the citizen moves: the header carries its number too
    assert got["Handoff"] == f"{body['handoff_id']};src=12345;seat={seat};order={order.number}"
    answered = await b.seat_answered(CITIZEN)
    assert answered["ShownNum"] == CITIZEN and answered["PeerHandoff"] == body["handoff_id"]
    assert answered["PeerOrder"] == order.number  # on B's channel, for the federation layer to key on
    await platforms.orders_a.one(call.handset_id, "accepted")
    await a.hang_up(call.handset_id)


async def test_threeway_across_trunk_then_leave_hands_citizen_to_pbx_b(platforms: Platforms, tmp_path: Path) -> None:
    a, b = platforms.a, platforms.b
    call, seat = await _threeway_pressed(platforms, tmp_path)
    got = await received(b, "110")
    pending = await platforms.orders_a.one(call.handset_id)
    assert got["Endpoint"] == "peer-12345"
    assert got["Handoff"] == f"{pending.id};src=12345;seat={seat};order={pending.number}"
    assert f"<sip:{CITIZEN}@" in got["PAI"] and got["Diversion"].startswith("<sip:12345@")
    answered = await b.seat_answered(CITIZEN)
    assert answered["ShownNum"] == CITIZEN and answered["FirstCentre"] == "12345"
    assert answered["PeerOrder"] == pending.number

    await a.press_key(seat, "*3")  # the 12345 seat leaves: the 110 seat on B keeps the citizen
    order = await platforms.orders_a.one(call.handset_id, "accepted")
    assert order.target_centre == "110" and order.handoff_rule == "agreed"
    await eventually(lambda: _no_seat_call(a, seat), what="the 12345 seat on A is free")
    assert await b.seat_channel(answered["Seat"]) is not None  # still talking to the citizen
    await a.hang_up(call.handset_id)


async def _threeway_pressed(platforms: Platforms, tmp_path: Path) -> tuple[CitizenCall, str]:
    """A's three-way key wired; a 12345 seat on A answers a citizen and presses *2 (110, on B)."""
    a = platforms.a
    await a.wire(f"sqlite+aiosqlite:///{tmp_path / 'a' / 'orders.db'}",
                 features=(inbound_feature, orders_feature, handoff_feature, threeway_feature))
    call, seat = await _answered_on(a, "12345")
    await a.press_key(seat, "*2")
    return call, seat


async def _no_seat_call(pbx: Pbx, seat: str) -> bool:
    return await pbx.seat_channel(seat) is None


async def _threeway_joined(platforms: Platforms, tmp_path: Path) -> tuple[CitizenCall, str, str, str]:
    """A 12345 seat on A brings 110 on B into a three-way call; returns (the
    call, A's seat, B's seat, A's conference) once all three are in it."""
    a, b = platforms.a, platforms.b
    call, seat = await _threeway_pressed(platforms, tmp_path)
    answered = await b.seat_answered(CITIZEN)
    order = await platforms.orders_a.one(call.handset_id)
    conference = f"hotline-3w-{order.id}"

    async def three_in_conference() -> bool:
        reply = await a.ami.send({"Action": "ConfbridgeList", "Conference": conference})
        members = [m for m in (reply if isinstance(reply, list) else [reply]) if m.get("Event") == "ConfbridgeList"]
        assert len(members) == 3, f"{len(members)} in {conference}"
        return True

    await eventually(three_in_conference, what="citizen, A's seat and the trunk leg to B in A's conference")
    # A's seat was woken into it by the answer over the trunk (A's trunk leg,
    # Dial's U(), inherited its leg's name), not by a round of the safety loop
    # reading the phase
    assert_woken(await steps_until(a.events, "join"), "join")
    return call, seat, answered["Seat"], conference


async def test_threeway_across_trunk_then_initiator_cancels_and_b_seat_is_dropped(
        platforms: Platforms, tmp_path: Path) -> None:
    a, b = platforms.a, platforms.b
    call, seat, seat_b, _conference = await _threeway_joined(platforms, tmp_path)

    await a.press_key(seat, "*0")  # in A's conference: the initiator cancels

    await eventually(lambda: _no_seat_call(b, seat_b), what="the 110 seat on B is dropped")
    order = await platforms.orders_a.one(call.handset_id, "returned")
    assert order.outcome_reason == "cancelled" and order.target_centre == "110"
    assert await a.seat_channel(seat) is not None  # the 12345 seat keeps the citizen
    assert not await b.channels()  # nothing left over the trunk on B
    await a.hang_up(call.handset_id)


async def test_threeway_across_trunk_when_110_seat_on_b_marks_emergency_then_a_records_110_dispatching_first(
        platforms: Platforms, tmp_path: Path) -> None:
    a, b = platforms.a, platforms.b
    call, seat, seat_b, _conference = await _threeway_joined(platforms, tmp_path)

    # the 110 seat on B presses *9: its digits cross the trunk (RFC 4733) into
    # the conference menu on A, where the trunk leg is the invited party
    await b.press_key(seat_b, "*9")

    order = await platforms.orders_a.one(call.handset_id, "accepted")
    assert order.handoff_rule == "emergency" and order.emergency is True
    assert order.target_centre == "110"
    marked = [e for e in await platforms.orders_a.events(order.id) if e.kind == "marked"]
    assert len(marked) == 1 and (marked[0].detail or {}).get("role") == "invited"  # B's seat marked it
    assert await b.seat_channel(seat_b) is not None and await a.seat_channel(seat) is not None  # all still talk
    # the 12345 seat then leaves: the 110 seat keeps the citizen, the emergency rule stands
    await a.press_key(seat, "*3")
    await eventually(lambda: _no_seat_call(a, seat), what="the 12345 seat on A is free")
    assert (await platforms.orders_a.one(call.handset_id, "accepted")).handoff_rule == "emergency"
    assert await b.seat_channel(seat_b) is not None
    await a.hang_up(call.handset_id)


async def _handed_to_b_not_answering(platforms: Platforms) -> tuple[CitizenCall, str]:
    """B's 110 seats do not answer; a 12345 seat on A presses *1 and the citizen reaches B."""
    a, b = platforms.a, platforms.b
    for seat_b in ("2001", "2002"):
        await b.set_phone(seat_b, "noanswer")
    call, seat = await _answered_on(a, "12345")
    await a.press_key(seat, "*1")
    await received(b, "110")
    return call, seat


async def test_when_pbx_b_does_not_answer_then_citizen_returns_to_seat_on_pbx_a(platforms: Platforms) -> None:
    a = platforms.a
    call, seat = await _handed_to_b_not_answering(platforms)

    back = await a.seat_answered(CITIZEN, timeout=20)
    assert back["Seat"] == seat and back["ShownNum"] == CITIZEN
    order = await platforms.orders_a.one(call.handset_id, "returned")
    assert order.outcome_reason == "no_answer"
    await a.hang_up(call.handset_id)


async def test_when_b_does_not_answer_a_peer_handoff_then_b_counts_no_abandoned_citizen_call(
        platforms: Platforms, tmp_path: Path) -> None:
    """The peer's unanswered handoff is not an abandoned citizen call on B.
    app_queue counts every caller who leaves unanswered as abandoned (a
    hang-up, a timeout, A cancelling alike); B's live view — what its
    dashboard and supervisors see — counts a handoff from a trusted peer
    (HOTLINE_PEER_HANDOFF on its channel) apart, as `peer_unanswered`.  And B
    makes no order of it (its order comes from the federation push)."""
    a, b = platforms.a, platforms.b
    bridge = b.live_mirror(resync_interval_s=0.5)  # B's live mirror, as `hotline up` runs it
    await bridge.start()
    try:
        call, seat = await _handed_to_b_not_answering(platforms)
        back = await a.seat_answered(CITIZEN, timeout=20)
        assert back["Seat"] == seat
        order = await platforms.orders_a.one(call.handset_id, "returned")
        assert order.outcome_reason == "no_answer"

        reply = await b.ami.send({"Action": "QueueStatus", "Queue": "hotline-110-linkage"})
        params = [m for m in (reply if isinstance(reply, list) else [reply]) if m.get("Event") == "QueueParams"]
        assert params and params[0].get("Abandoned") == "1", params  # app_queue's own count: every unanswered

        async with seat_desk(b.settings, None, f"sqlite+aiosqlite:///{tmp_path / 'b' / 'orders.db'}",
                             tmp_path / "web-b") as desk:
            async def left_b_s_queue() -> dict:
                resp = await desk.get("/api/live")
                assert resp.status == 200, await resp.text()
                centre = next(c for c in (await resp.json())["centres"] if c["id"] == "110")
                queues = {q["kind"]: q for q in centre["queues"]}
                assert queues["linkage"]["waiting"] == 0 and queues["linkage"]["peer_unanswered"] == 1
                return queues
            queues = await eventually(left_b_s_queue, what="B's live view: the handoff left its linkage queue")
            assert queues["linkage"]["abandoned"] == 0 and queues["public"]["abandoned"] == 0
            # the periodic resync (every 0.5 s here) reads app_queue's counters: still kept apart
            async def resynced_after(moment: float) -> bool:
                resp = await desk.get("/api/live")
                resynced_at = (await resp.json())["ami"]["resynced_at"]
                assert isinstance(resynced_at, (int, float)) and resynced_at > moment, resynced_at
                return True
            since = time.time()  # once: a resync after this moment
            await eventually(lambda: resynced_after(since), what="B's live state resynced")
            queues = await left_b_s_queue()
            assert queues["linkage"]["abandoned"] == 0
        assert await platforms.orders_b.of_call(call.handset_id) == []
        await a.hang_up(call.handset_id)
    finally:
        await bridge.stop()
        await clean_redis(b.settings)


async def test_when_nobody_is_logged_in_on_pbx_b_then_citizen_returns_at_once_and_order_says_rejected(
        platforms: Platforms) -> None:
    a, b = platforms.a, platforms.b
    for seat_b in ("2001", "2002"):
        reply = await b.action(Action="QueuePause", Queue="hotline-110-linkage", Paused="true",
                               Interface=f"Local/{seat_b}@hotline-seat-phones/n")
        assert reply.get("Response") == "Success", reply
    call, seat = await _answered_on(a, "12345")
    await a.press_key(seat, "*1")
    back = await a.seat_answered(CITIZEN, timeout=8)  # well before HOTLINE_HANDOFF_TIMEOUT + return
    assert back["Seat"] == seat
    order = await platforms.orders_a.one(call.handset_id, "returned")
    assert order.outcome_reason == "rejected"
    await a.hang_up(call.handset_id)


async def test_when_trunk_is_down_then_seat_keeps_citizen_and_order_says_unreachable(tmp_path: Path) -> None:
    dead = free_port(socket.SOCK_DGRAM)  # nothing answers there
    a = await start_platform(tmp_path / "a", "12345:1001-1002", free_port(socket.SOCK_DGRAM),
                             HOTLINE_TRUNKS=trunk_spec("peer-110", dead), HOTLINE_REMOTE_CENTRES="110=peer-110")
    try:
        url = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'orders.db'}"
        await a.use_database(url)
        engine = db.create_engine(url)
        orders = OrderReader(db.session_factory(engine))
        await trunk_reachable(a, "peer-110", want="Unavail")
        call, seat = await _answered_on(a, "12345")
        await a.press_key(seat, "*1")
        back = await a.seat_answered(CITIZEN, timeout=15)
        assert back["Seat"] == seat and back["ShownNum"] == CITIZEN
        order = await orders.one(call.handset_id, "returned")
        assert order.outcome_reason == "unreachable"
        await a.hang_up(call.handset_id)
        await a.assert_nothing_left()
        await engine.dispose()
    finally:
        await a.stop()


async def test_when_untrusted_endpoint_sends_handoff_header_then_it_is_ignored(tmp_path: Path) -> None:
    # C (on 127.0.0.3) believes B is its peer and sends the handoff's headers;
    # B knows C only as a carrier: nothing from it is trusted.
    b_port, c_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    b, c = await asyncio.gather(
        start_platform(tmp_path / "b", "110:2001-2002", b_port,
                       HOTLINE_TRUNKS=trunk_spec("carrier-c", c_port, host="127.0.0.3", kind="carrier",
                                                 match="127.0.0.3")),
        # the key through Python's route: the header carries the order's number too
        start_platform(tmp_path / "c", "12345:1001-1002", c_port, HOTLINE_BIND_HOST="127.0.0.3",
                       HOTLINE_TRUNKS=trunk_spec("peer-110", b_port), HOTLINE_REMOTE_CENTRES="110=peer-110",
                       HOTLINE_HANDOFF_FAST_PATH="no"))
    try:
        await c.use_database(f"sqlite+aiosqlite:///{tmp_path / 'c' / 'orders.db'}")
        await trunk_reachable(c, "peer-110")
        call, seat = await _answered_on(c, "12345")
        await c.press_key(seat, "*1")

        got = await received(b, "110")
        assert got["Endpoint"] == "carrier-c" and got["TrunkContext"] == "hotline-inbound"
        assert f";src=12345;seat={seat};order=12345-" in got["Handoff"]  # it was sent...
        answered = await b.seat_answered(CITIZEN)
        assert answered["PeerHandoff"] == "" and answered["PeerOrder"] == ""  # ...and ignored: a public call
        assert answered["FirstCentre"] == "110"
        assert answered["Handoff"] == ""
        await c.hang_up(call.handset_id)
        await asyncio.gather(b.assert_nothing_left(), c.assert_nothing_left())
    finally:
        await asyncio.gather(b.stop(), c.stop(), return_exceptions=True)


async def test_when_pbx_b_refuses_the_centre_then_citizen_returns_and_order_says_rejected(tmp_path: Path) -> None:
    # A believes 119 is served behind B too; B serves no 119 and refuses (404)
    p = await start_two_platforms(tmp_path, a_env={"HOTLINE_REMOTE_CENTRES": "110=peer-110;119=peer-110"})
    try:
        a = p.a
        call, seat = await _answered_on(a, "12345")
        await a.press_key(seat, "*8119#")
        back = await a.seat_answered(CITIZEN, timeout=15)
        assert back["Seat"] == seat
        order = await p.orders_a.one(call.handset_id, "returned")
        assert order.target_centre == "119" and order.outcome_reason == "rejected"
        await a.hang_up(call.handset_id)
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        await p.stop()


# A site file on A (kept in its state dir, #tryinclude'd: rendering never
# touches it) sends calls to B over the trusted trunk with a header of its
# choosing: what a buggy or hostile peer could send.
FORGE = """[hotline-test-forge]
exten => 110,1,Dial(PJSIP/110@peer-110,10,b(hotline-test-forge-header^s^1))
 same => n,Hangup()

[hotline-test-forge-header]
exten => s,1,Set(PJSIP_HEADER(add,X-Hotline-Handoff)={header})
 same => n,Return()
"""


@pytest.mark.parametrize("header", [
    "x" * 170 + "\\;src=12345\\;seat=1001",                    # too long
    "abc\\;src=12345\\;seat=1001\\;order=<sip:evil>",        # characters outside the pattern
    "abc\\;src=12345\\;seat=1001 OR 1\\;order=1",
    "abc\\;seat=1001\\;src=12345",                             # fields out of order
    "abc\\;src=12345\\;seat=1001\\;order=" + "1" * 41,          # an order number too long
    "abc\\;src=12345\\;seat=1001\\;order=",                    # an empty one
    "abc\\;src=12345\\;seat=1001\\;order=1\\;order=2",          # twice
])
async def test_when_trusted_peer_sends_a_bad_handoff_header_then_it_is_ignored(tmp_path: Path, header: str) -> None:
    site = tmp_path / "a" / "site"
    site.mkdir(parents=True)
    (site / "extensions.conf").write_text(FORGE.replace("{header}", header))
    p = await start_two_platforms(tmp_path)
    try:
        call = await originate_citizen(p.a.ami, "110", CITIZEN, context="hotline-test-forge")
        got = await received(p.b, "110")
        assert got["Endpoint"] == "peer-12345" and got["Handoff"]  # it arrived from the trusted peer...
        answered = await p.b.seat_answered(CITIZEN)
        assert answered["PeerHandoff"] == "" and answered["FirstCentre"] == "110"  # ...and was not believed
        assert answered["PeerOrder"] == ""
        await p.a.hang_up(call.handset_id)
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        await p.stop()


async def test_when_trusted_peer_sends_its_order_number_then_b_s_channel_carries_it(tmp_path: Path) -> None:
    site = tmp_path / "a" / "site"
    site.mkdir(parents=True)
    (site / "extensions.conf").write_text(
        FORGE.replace("{header}", "1796065443.2\\;src=12345\\;seat=1001\\;order=GD-20261130-0042"))
    p = await start_two_platforms(tmp_path)
    try:
        call = await originate_citizen(p.a.ami, "110", CITIZEN, context="hotline-test-forge")
        answered = await p.b.seat_answered(CITIZEN)
        assert answered["PeerHandoff"] == "1796065443.2" and answered["FirstCentre"] == "12345"
        assert answered["PeerOrder"] == "GD-20261130-0042"
        await p.a.hang_up(call.handset_id)
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        await p.stop()


# ------------------------------------------------------------------ overflow to a remote-seat PBX

@dataclass
class RemoteOverflow:
    platforms: Platforms
    sessions: Any

    async def overflow_orders(self, count: int) -> list[Order]:
        async def recorded() -> list[Order]:
            async with self.sessions() as session:
                orders = list(await session.scalars(select(Order).where(Order.mode == "overflow")))
            assert len(orders) == count, f"{len(orders)} overflow orders"
            return orders
        return await eventually(recorded, what=f"{count} overflow calls recorded on A")

    def sent_to_b(self) -> list[dict[str, Any]]:
        return self.platforms.b.events.find(lambda e: e.get("UserEvent") == TRUNK_RECEIVED_EVENT
                                            and e.get("TrunkContext") == "hotline-peer-in")


@asynccontextmanager
async def _overflow_to_b(tmp_path: Path, max_calls: int) -> AsyncIterator[RemoteOverflow]:
    """A's 12345 seats all paused; its remote group is B's 110 over the peer
    trunk (`PJSIP/110@peer-110`, the trunk's max=`max_calls`), open from one
    waiting citizen; A's live mirror and overflow controller run as in `hotline up`,
    except that the controller reads the live state from Redis (its other source;
    `tests/asterisk/test_overflow.py` runs the in-memory one)."""
    p = await start_two_platforms(tmp_path, a_max_calls=max_calls,
                                  a_env={"HOTLINE_OVERFLOW_CHECK_INTERVAL": "0.1",
                                         "HOTLINE_OVERFLOW_OPEN_AFTER": "0", "HOTLINE_OVERFLOW_CLEAR_AFTER": "1"})
    a = p.a
    bridge = a.live_mirror()
    await bridge.start()
    sessions = db.session_factory(p.engines[0])
    config = OverflowConfig(sessions, a.settings.site.centres)
    controller = OverflowController(a.settings, config, bridge.ami, OrderService(sessions))
    await controller.start()
    try:
        for seat in ("1001", "1002"):
            reply = await a.action(Action="QueuePause", Queue="hotline-12345", Paused="true",
                                   Interface=f"Local/{seat}@hotline-seat-phones/n")
            assert reply.get("Response") == "Success", reply
        await config.create({"centre": "12345", "name": "b-110", "members": ["PJSIP/110@peer-110"],
                             "priority": 5, "min_waiting": 1}, actor="test")
        yield RemoteOverflow(p, sessions)
        await asyncio.gather(*(pbx.assert_nothing_left() for pbx in p.all))
    finally:
        await controller.stop()
        await bridge.stop()
        await clean_redis(a.settings)
        await p.stop()


async def _trunk_member(pbx: Pbx) -> dict[str, Any]:
    """The remote group's member in A's public queue (the local seats may be dynamic members too)."""
    status = await pbx.ami.send({"Action": "QueueStatus", "Queue": "hotline-12345"})
    return next(m for m in (status if isinstance(status, list) else [status]) if m.get("Event") == "QueueMember"
                and "PJSIP/110@peer-110" in (m.get("Location"), m.get("Interface")))


async def test_when_surge_then_overflow_rings_remote_seats_over_trunk_with_citizen_number(tmp_path: Path) -> None:
    """Two citizens wait on A: both reach B's two free seats at once through
    one member (not one busy member per trunk), each seat sees its citizen's
    number (PAI and From as B received them), and A's orders name the remote
    seat that answered (the PAI of B's 200 OK)."""
    async with _overflow_to_b(tmp_path, max_calls=2) as ovf:
        a, b = ovf.platforms.a, ovf.platforms.b
        citizens = ("13900000001", "13900000002")
        calls = [await a.citizen_dials("12345", number) for number in citizens]

        answered = {n: await b.seat_answered(n, timeout=15) for n in citizens}
        assert {e["Seat"] for e in answered.values()} == {"2001", "2002"}
        assert all(e["ShownNum"] == n for n, e in answered.items())
        got = ovf.sent_to_b()
        assert len(got) == 2 and {e["Endpoint"] for e in got} == {"peer-12345"}
        for number in citizens:  # the citizen's number, in what B really received; no handoff header
            sent = next(e for e in got if f"<sip:{number}@" in e["From"])
            assert f"<sip:{number}@" in sent["PAI"] and sent["Handoff"] == ""

        member = await _trunk_member(a)  # the trunk's state interface, kept by the product: 2 of 2 in use
        assert member["StateInterface"] == "Custom:hotline-trunk-peer-110" and member["Status"] == "3"  # BUSY
        by_number = {o.citizen_number: o for o in await ovf.overflow_orders(2)}
        for number, event in answered.items():
            assert by_number[number].target_seat == f"{event['Seat']}@peer-110"  # the remote seat that answered
        for call in calls:
            await a.hang_up(call.handset_id)

        async def free_again() -> bool:
            assert (await _trunk_member(a))["Status"] == "1", "trunk member not free again"  # NOT_INUSE
            return True
        await eventually(free_again, what="the trunk's member free again")


async def test_when_the_trunk_is_at_its_limit_then_the_next_citizen_waits_on_a_until_a_call_ends(
        tmp_path: Path) -> None:
    async with _overflow_to_b(tmp_path, max_calls=1) as ovf:
        a, b = ovf.platforms.a, ovf.platforms.b
        first = await a.citizen_dials("12345", "13900000001")
        assert (await b.seat_answered(first.number, timeout=15))["ShownNum"] == first.number
        second = await a.citizen_dials("12345", "13900000002")
        with pytest.raises(AssertionError):  # B has a free seat, but the trunk carries one overflow call
            await b.seat_answered(second.number, timeout=1.5)
        assert len(ovf.sent_to_b()) == 1  # held on A: no INVITE over the limit

        await a.hang_up(first.handset_id)
        assert (await b.seat_answered(second.number, timeout=15))["ShownNum"] == second.number
        await a.hang_up(second.handset_id)
