"""Seats signing in and pausing (签入/签出, 示忙/示闲) — on the real Asterisk.

The module runs its own Asterisk: 12345 with seats 1001 and 1002, 110 with
2001; a seat rings 2 s before the queue tries another, and two missed rings
in a row pause it.  The keys are dialled as a seat's phone dials them (a
channel into `hotline-seats` carrying the seat, as the SIP endpoint sets it;
`*5` from a real SIP phone is in test_sip_seats.py); the REST API runs on the
rig's wired features, the seat journal records into SQLite.  Every test
leaves every seat signed in and unpaused, and no channel behind.
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.handoff.journal import AmiAstDb
from app.inbound import plugin as inbound
from app.orders import plugin as orders
from app.runtime.models import SeatEventRow, utcnow
from app.seats import plugin as seats
from app.seats.http import SEATS
from app.seats.journal import SeatJournal
from app.seats.services import SeatService
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.seats import AUTO_PAUSE_REASON, SEAT_FAMILY
from tests.support.desk import seat_desk
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

SEATS_ALL = ("1001", "1002", "2001")


@pytest.fixture(scope="module")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    """This module's own Asterisk (the `pbx` fixture runs on it)."""
    pbx = await Pbx.start(tmp_path_factory.mktemp("seats"), HOTLINE_CENTRES="12345:1001-1002;110:2001",
                          HOTLINE_SEAT_RING_TIMEOUT="2", HOTLINE_AUTOPAUSE_AFTER="2")
    try:
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture
async def desk(pbx: Pbx, tmp_path: Path) -> AsyncIterator[Pbx]:
    """The rig with the seats feature wired (journal, auto-pause) over a fresh SQLite file;
    afterwards every seat signed in and unpaused again."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'seats.db'}"
    await pbx.wire(url, features=(inbound, orders, seats))
    try:
        yield pbx
    finally:
        service = _service(pbx)
        for seat in SEATS_ALL:
            await service.act(seat, "signin")
            if (await service.state(seat)).paused:
                await service.act(seat, "unpause")
        await pbx.wire(None)


def _service(pbx: Pbx) -> SeatService:
    assert pbx.deps is not None
    service = pbx.deps.get(SEATS)
    assert service is not None
    return service


def _journal(pbx: Pbx) -> SeatJournal:
    assert pbx.deps is not None
    return next(w for w in pbx.deps.workers if isinstance(w, SeatJournal))


async def _member(pbx: Pbx, queue: str, seat: str) -> dict[str, Any] | None:
    members = await pbx.members(queue)
    return members.get(f"Local/{seat}@hotline-seat-phones/n")


async def _answered_by(pbx: Pbx, number: str, timeout: float = 15.0) -> str:
    return str((await pbx.seat_answered(number, timeout=timeout))["Seat"])


async def _waiting(pbx: Pbx, queue: str, count: int) -> bool:
    reply = await pbx.ami.send({"Action": "QueueStatus", "Queue": queue})
    return sum(1 for m in (reply if isinstance(reply, list) else [reply]) if m.get("Event") == "QueueEntry") == count


async def test_when_seat_pauses_then_queue_does_not_ring_it(desk: Pbx) -> None:
    pbx = desk
    await pbx.dial_key("1001", "*62")  # 示忙, reason code 2
    await eventually(lambda: _paused(pbx, "1001", "培训"), what="1001 paused by *62 with the reason 培训")

    first = await pbx.citizen_dials("12345", "13800138001")
    assert await _answered_by(pbx, "13800138001") == "1002"  # the one seat not paused
    second = await pbx.citizen_dials("12345", "13800138002")
    # 1002 is busy, 1001 paused: the second citizen waits and nobody rings
    await eventually(lambda: _waiting(pbx, "hotline-12345", 1), what="the second citizen waiting")
    member = await _member(pbx, "hotline-12345", "1001")
    assert member is not None and member["Paused"] == "1" and member["InCall"] == "0"
    assert not pbx.events.find(lambda e: e.get("Event") == "AgentCalled" and e.get("MemberName") == "1001")

    await pbx.dial_key("1001", "*6")  # 示闲: the waiting citizen reaches 1001 at once
    assert await _answered_by(pbx, "13800138002") == "1001"
    for call in (first, second):
        await pbx.hang_up(call.handset_id)


async def _paused(pbx: Pbx, seat: str, reason: str | None) -> bool:
    for queue in ("hotline-12345", "hotline-12345-linkage"):
        member = await _member(pbx, queue, seat)
        assert member is not None, f"{seat} is not in {queue}"
        assert member["Paused"] == "1" and member.get("PausedReason") == reason, member
    return True


async def test_when_seat_signs_out_then_it_leaves_both_queues_and_signs_in_again(desk: Pbx) -> None:
    pbx = desk
    await pbx.dial_key("1002", "*5")
    await eventually(lambda: _gone(pbx, "1002"), what="1002 out of both queues")
    assert await AmiAstDb(pbx.ami).get(SEAT_FAMILY, "1002") == "out"
    await pbx.dial_key("1002", "*6")  # a pause while signed out changes nothing
    await pbx.events.wait_for(lambda e: e.get("Event") == "Hangup" and "*6@hotline-seats" in str(e.get("Channel")),
                              what="the refused pause key's call ended")
    assert await _member(pbx, "hotline-12345", "1002") is None

    call = await pbx.citizen_dials("12345", "13800138003")
    assert await _answered_by(pbx, "13800138003") == "1001"
    await pbx.hang_up(call.handset_id)
    await pbx.dial_key("1002", "*5")
    await eventually(lambda: _member(pbx, "hotline-12345-linkage", "1002"), what="1002 signed in again")


async def _gone(pbx: Pbx, seat: str) -> bool:
    return all([await _member(pbx, q, seat) is None for q in ("hotline-12345", "hotline-12345-linkage")])


async def test_when_a_key_comes_from_no_seat_then_nothing_changes(desk: Pbx) -> None:
    pbx = desk
    await pbx.dial_key("9999", "*5")   # not a configured seat
    await pbx.dial_key("1001", "*69")  # no reason 9
    for digits in ("*5", "*69"):
        await pbx.events.wait_for(lambda e: e.get("Event") == "Hangup"
                                  and f"{digits}@hotline-seats" in str(e.get("Channel")),  # noqa: B023 - awaited here
                                  what=f"{digits} ended")
    member = await _member(pbx, "hotline-12345", "1001")
    assert member is not None and member["Paused"] == "0"
    assert await AmiAstDb(pbx.ami).get(SEAT_FAMILY, "9999") is None


async def test_when_asterisk_restarts_then_pause_and_sign_out_are_kept(desk: Pbx) -> None:
    pbx = desk
    service = _service(pbx)
    await service.act("1001", "pause", "会议")
    await service.act("2001", "signout")
    await pbx.restart_asterisk()
    status = await service.state("1001")
    assert status.signed_in and status.paused and status.reason == "会议"
    assert await _paused(pbx, "1001", "会议")
    assert not (await service.state("2001")).signed_in
    assert await _member(pbx, "hotline-110-linkage", "2001") is None
    assert (await service.state("1002")).signed_in  # the others as they were


async def test_when_seat_misses_n_rings_then_it_is_paused_automatically(desk: Pbx) -> None:
    pbx = desk
    journal = _journal(pbx)
    await _service(pbx).act("1002", "pause", "1")  # only 1001 can ring
    await pbx.set_phone("1001", "noanswer")
    call = await pbx.citizen_dials("12345", "13800138004")
    # two missed rings of 2 s each: paused with the reason "no answer"
    await eventually(lambda: _paused(pbx, "1001", AUTO_PAUSE_REASON), timeout=20,
                     what="1001 paused automatically after 2 missed rings")
    misses = pbx.events.find(lambda e: e.get("Event") == "AgentRingNoAnswer" and e.get("MemberName") == "1001")
    assert len(misses) >= 2
    assert journal.autopaused == 1
    await pbx.hang_up(call.handset_id)
    await eventually(lambda: _row(pbx, "1001", AUTO_PAUSE_REASON), what="the auto-pause in seat_events")


async def _row(pbx: Pbx, seat: str, reason: str) -> bool:
    assert pbx.deps is not None
    async with pbx.deps.sessions() as session:
        rows = (await session.execute(select(SeatEventRow).where(SeatEventRow.seat == seat))).scalars().all()
    return any(r.paused and r.reason == reason for r in rows)


async def test_when_seat_pauses_through_the_api_then_its_status_and_the_journal_say_so(
        desk: Pbx, tmp_path: Path) -> None:
    pbx = desk
    assert pbx.deps is not None
    async with seat_desk(pbx.settings, pbx.deps, f"sqlite+aiosqlite:///{tmp_path / 'seats.db'}",
                         tmp_path) as client:
        token = await create_token(client.app[SESSIONS], role="seat", name="seat-1001", now=utcnow())
        client.session.headers["Authorization"] = f"Bearer {token}"
        resp = await client.post("/api/seats/1001/pause", json={"reason": "4"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["state"] == "paused" and body["reason"] == "就餐" and body["paused_since"] > 0
        assert await _paused(pbx, "1001", "就餐")
        # a seat acts on itself only
        assert (await client.post("/api/seats/1002/pause", json={})).status == 403
        resp = await client.post("/api/seats/1001/unpause")
        assert (await resp.json())["state"] == "signed_in"
        resp = await client.post("/api/seats/1001/signout")
        assert (await resp.json())["state"] == "signed_out"
        assert (await client.post("/api/seats/1001/pause", json={})).status == 409  # signed out
        resp = await client.post("/api/seats/1001/signin")
        assert (await resp.json())["state"] == "signed_in"
    await eventually(lambda: _journal(pbx).recorded >= 4, what="four changes journalled")
    assert await _row(pbx, "1001", "就餐")


async def test_when_seats_start_signed_out_then_nobody_rings_until_star5(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """HOTLINE_SEATS_SIGNED_IN_AT_START=no: a new deployment's seats are in no queue until they sign in."""
    pbx = await Pbx.start(tmp_path_factory.mktemp("seats-out"), HOTLINE_CENTRES="12345:1001;110:2001",
                          HOTLINE_SEATS_SIGNED_IN_AT_START="no")
    try:
        assert await pbx.members("hotline-12345") == {} and await pbx.members("hotline-110-linkage") == {}
        assert await AmiAstDb(pbx.ami).get(SEAT_FAMILY, "1001") == "out"
        await pbx.dial_key("1001", "*5")
        await eventually(lambda: _member(pbx, "hotline-12345-linkage", "1001"), what="1001 signed in by *5")
        assert await pbx.members("hotline-110") == {}  # the other seat still out
        await pbx.assert_nothing_left()
    finally:
        await pbx.stop()
