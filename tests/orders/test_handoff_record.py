"""Recording the dialplan's handoffs (`HandoffService.record`) on SQLite and PostgreSQL:
one order per outbox record whichever process records it, and what follows
in the process that recorded it needs no read back."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.handoff.services import HandoffService
from app.orders.services import OrderService
from app.runtime import db
from core.centres import parse_centres
from core.handoff import OutboxRecord, Recent
from core.settings import Settings, SiteSettings
from tests.orders.conftest import Clock

SETTINGS = Settings(site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated"))


def outbox(clock: Clock, handoff_id: str = "1795609456.123", seconds_ago: float = 2.0) -> OutboxRecord:
    return OutboxRecord(
        handoff_id=handoff_id, pressed_at=clock().timestamp() - seconds_ago,
        seat_channel="Local/1001@hotline-seat-phones-0000aaaa;1",
        citizen_channel="Local/12345@hotline-inbound-0000bbbb;2", citizen_number="13800138000",
        source_centre="12345", source_seat="1001", target_centre="110", linkedid="1795609400.7",
        release_mode="on_answer")


@contextmanager
def selects(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SELECT statements run on `engine` inside the block."""
    seen: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


async def test_when_two_processes_record_one_outbox_record_then_one_order_and_one_number(
        engine: AsyncEngine, clock: Clock) -> None:
    first, second = (HandoffService(SETTINGS, OrderService(db.session_factory(engine), clock=clock))
                     for _ in range(2))
    record = outbox(clock)

    orders = await asyncio.gather(first.record(record), second.record(record), second.record(record))

    assert {o.id for o in orders} == {record.handoff_id}
    assert len({o.number for o in orders}) == 1
    # the losers' numbers were given back: the next order takes the one after
    later = await first.record(outbox(clock, handoff_id="1795609456.999"))
    assert int(later.number[-4:]) == int(orders[0].number[-4:]) + 1


async def test_when_this_process_recorded_the_handoff_then_its_answer_and_end_read_nothing_back(
        engine: AsyncEngine, clock: Clock) -> None:
    service = HandoffService(SETTINGS, OrderService(db.session_factory(engine), clock=clock))
    record = outbox(clock, seconds_ago=2.5)

    with selects(engine) as seen:
        await service.record(record)
        # the answer may come with the outbox record (still in AstDB when it was read)
        accepted = await service.answered(record.handoff_id, "Local/2001@hotline-seat-phones-0000cccc;1", record)
        await service.ended(record.handoff_id, "accepted", outbox=record)

    assert accepted is not None and accepted.status == "accepted"
    assert accepted.wait_ms == 2500  # from the key press, as if read from the order's created_at
    assert accepted.target_seat == "2001"
    # (the transition reads the order it locks in the same statement: UPDATE .. RETURNING)
    assert seen == []


async def test_when_another_process_recorded_the_handoff_then_the_answer_reads_the_order(
        engine: AsyncEngine, clock: Clock) -> None:
    recorder, answerer = (HandoffService(SETTINGS, OrderService(db.session_factory(engine), clock=clock))
                          for _ in range(2))
    record = outbox(clock, seconds_ago=1.5)
    await recorder.record(record)

    accepted = await answerer.answered(record.handoff_id, "Local/2001@hotline-seat-phones-0000cccc;1")

    assert accepted is not None and accepted.wait_ms == 1500


def test_recent_forgets_the_oldest_first() -> None:
    recent: Recent[int] = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    recent.put("a", 3)  # put again: the newest
    recent.put("c", 4)

    assert "b" not in recent
    assert (recent.get("a"), recent.get("c"), recent.get("b")) == (3, 4, None)
