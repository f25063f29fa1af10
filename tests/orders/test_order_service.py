"""`OrderService` on SQLite and PostgreSQL: numbers, lifecycle, audit trail, races."""
from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from app.orders.calls import follow
from app.orders.services import Note, OrderService
from app.runtime.models import Order
from app.web.errors import BadInput, NotFound
from core.orders import FinalOrder, IllegalTransition
from tests.orders.conftest import Clock


async def new_transfer(service: OrderService, **overrides: Any) -> Order:
    fields: dict[str, Any] = dict(mode="transfer", source_centre="12345", target_centre="110",
                                  citizen_number="13800138000", actor="seat:1001", source_seat="1001",
                                  linkedid="1764043200.17", channel="Local/110@hotline-in-00000001;2")
    fields.update(overrides)
    return await service.create(**fields)


async def test_when_orders_are_created_then_numbers_count_per_centre_and_beijing_day(
    service: OrderService, clock: Clock
) -> None:
    first = await new_transfer(service)
    second = await new_transfer(service)
    other_centre = await new_transfer(service, source_centre="110", target_centre="12345")
    clock.advance(hours=15)  # 00:30 on 26 November in Beijing, still the 25th in UTC
    next_day = await new_transfer(service)
    assert [o.number for o in (first, second, other_centre, next_day)] == [
        "12345-20261125-0001", "12345-20261125-0002", "110-20261125-0001", "12345-20261126-0001"]


async def test_when_many_orders_are_created_at_once_then_every_number_is_distinct(service: OrderService) -> None:
    orders = await asyncio.gather(*(new_transfer(service) for _ in range(20)))
    numbers = sorted(o.number for o in orders)
    assert numbers == [f"12345-20261125-{n:04d}" for n in range(1, 21)]


async def test_when_a_handoff_is_answered_then_the_order_is_accepted_with_time_and_audit(
    service: OrderService, clock: Clock
) -> None:
    order = await new_transfer(service, target="110", order_id="handoff-0001")
    assert (order.id, order.status, order.order_class, order.emergency, order.target) == (
        "handoff-0001", "pending", "general", False, "110")
    clock.advance(seconds=7)
    accepted = await service.transition("handoff-0001", "accepted", actor="ami", target_seat="2001", wait_ms=6800,
                                        detail={"uniqueid": "1764043200.19"})
    assert (accepted.status, accepted.target_seat, accepted.wait_ms) == ("accepted", "2001", 6800)
    assert accepted.accepted_at == clock.now
    read = await service.get("12345-20261125-0001")
    assert (read.id, read.status, read.accepted_at) == ("handoff-0001", "accepted", clock.now)
    events = await service.events("handoff-0001")
    assert [(e.kind, e.actor, e.from_status, e.to_status) for e in events] == [
        ("created", "seat:1001", None, "pending"), ("transition", "ami", "pending", "accepted")]
    assert events[1].detail == {"uniqueid": "1764043200.19", "fields": {"target_seat": "2001", "wait_ms": 6800}}


async def test_when_the_caller_hangs_up_first_then_the_order_is_abandoned_and_closed(
    service: OrderService,
) -> None:
    order = await new_transfer(service)
    abandoned = await service.transition(order.id, "abandoned", actor="ami",
                                         outcome_reason="caller_hung_up", wait_ms=12000)
    assert (abandoned.status, abandoned.outcome_reason) == ("abandoned", "caller_hung_up")
    assert abandoned.closed_at is not None
    with pytest.raises(IllegalTransition) as error:
        await service.transition(order.id, "accepted", actor="ami")
    assert (error.value.current, error.value.wanted) == ("abandoned", "accepted")


async def test_when_two_seats_race_to_accept_then_exactly_one_wins(service: OrderService) -> None:
    order = await new_transfer(service)
    results = await asyncio.gather(
        *(service.transition(order.id, "accepted", actor=f"seat:200{i}") for i in range(5)),
        return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, IllegalTransition) and r.current == "accepted"
               for r in results if isinstance(r, Exception))
    events = await service.events(order.id)
    assert [e.to_status for e in events] == ["pending", "accepted"]


async def test_when_an_urgent_order_is_dispatched_then_the_seed_deadlines_are_set(
    service: OrderService, clock: Clock
) -> None:
    order = await new_transfer(service, status="accepted", order_class="urgent")
    dispatched = await service.transition(order.id, "dispatched", actor="seat:2001",
                                          handling_unit="钦南区应急联动队")
    assert dispatched.sign_due_at == clock.now + timedelta(minutes=30)
    assert dispatched.on_site_due_at == clock.now + timedelta(hours=2)
    general = await new_transfer(service, status="accepted")
    general = await service.transition(general.id, "dispatched", actor="seat:2001")
    assert (general.sign_due_at, general.on_site_due_at) == (None, None)


async def test_when_input_is_bad_then_create_and_transition_name_the_field(service: OrderService) -> None:
    cases: list[dict[str, Any]] = [
        dict(mode="fax"), dict(citizen_number="138 0013"), dict(status="closed"),
        dict(order_class="critical"), dict(colour="red"), dict(content="x" * 4001),
        dict(wait_ms=-1), dict(emergency="yes"), dict(address="a\r\nb")]
    fields = ["mode", "citizen_number", "status", "order_class", "colour", "content", "wait_ms", "emergency",
              "address"]
    for case, field in zip(cases, fields, strict=True):
        with pytest.raises(BadInput) as error:
            await new_transfer(service, **case)
        assert error.value.field == field, case
    order = await new_transfer(service)
    with pytest.raises(BadInput) as error:
        await service.transition(order.id, "teleported", actor="x")
    assert error.value.field == "status"
    with pytest.raises(NotFound):
        await service.transition("no-such-order", "accepted", actor="x")
    with pytest.raises(NotFound):
        await service.get("no-such-order")


async def test_when_overdue_is_queried_in_sql_then_it_agrees_with_the_core_rule(
    service: OrderService, clock: Clock, engine: object
) -> None:
    from app.orders import repository
    from app.runtime import db
    from core.sla import breaches

    ids = []
    for order_class in ("urgent", "general", "major"):
        for path in ([], ["dispatched"], ["dispatched", "signed"], ["dispatched", "signed", "on_site"],
                     ["dispatched", "returned"], ["dispatched", "voided"]):
            order = await new_transfer(service, status="accepted", order_class=order_class)
            for step in path:
                extra: dict[str, Any] = {"return_reason": "x"} if step == "returned" else {}
                order = await service.transition(order.id, step, actor="t", **extra)
            ids.append(order.id)
    sessions = db.session_factory(engine)  # type: ignore[arg-type]
    for minutes in (0, 29, 31, 119, 121, 10_000):
        now = clock.now + timedelta(minutes=minutes)
        async with sessions() as session:
            listed, _ = await repository.list_orders(session, repository.OrderFilter(overdue=True), now=now,
                                                     limit=500, offset=0)
            expected = {o.id for o in [await repository.get_order(session, i) for i in ids]
                        if breaches(status=o.status, sign_due_at=o.sign_due_at,
                                    on_site_due_at=o.on_site_due_at, now=now)}
        assert {o.id for o in listed} == expected, minutes
    assert expected  # the last round found some


async def test_when_a_call_reports_twice_then_the_first_outcome_stands_and_each_transition_is_logged(
    service: OrderService, caplog: pytest.LogCaptureFixture
) -> None:
    order = await new_transfer(service, order_id="handoff-0002")
    with caplog.at_level(logging.INFO, logger="app"):
        ended = await follow(service, "handoff-0002", "abandoned", event="ended", actor="citizen",
                             outcome_reason="citizen_hung_up")
        late = await follow(service, "handoff-0002", "accepted", event="answered", actor="seat:2001")
        unknown = await follow(service, "no-such-order", "accepted", event="answered", actor="seat:2001")
    assert ended is not None and (ended.status, ended.outcome_reason) == ("abandoned", "citizen_hung_up")
    assert late is None and unknown is None
    assert (await service.get(order.id)).status == "abandoned"
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("Transition: pending -> ended -> abandoned (order 12345-") for m in said), said
    assert any(m.startswith("Transition refused: abandoned -> answered -> accepted") for m in said), said


async def closed_order(service: OrderService, **overrides: object) -> object:
    order = await new_transfer(service, status="accepted", content="楼道灯坏了三天", **overrides)
    return await service.transition(order.id, "closed", actor="seat:1001",
                                    detail={"action": "close"})


@pytest.mark.parametrize("final", ["closed", "abandoned", "voided"])
async def test_when_an_order_is_final_then_editing_it_is_refused_and_nothing_changes(
    service: OrderService, final: str
) -> None:
    order = await new_transfer(service, content="原始诉求")
    extra: dict[str, Any] = {"outcome_reason": "x"} if final != "closed" else {}
    if final == "closed":
        await service.transition(order.id, "accepted", actor="t")
    await service.transition(order.id, final, actor="t", **extra)
    with pytest.raises(FinalOrder) as error:
        await service.update(order.id, actor="seat:1001", content="改过的诉求")
    assert error.value.current == final
    read = await service.get(order.id)
    assert (read.status, read.content) == (final, "原始诉求")
    assert [e.kind for e in await service.events(order.id)][-1] == "transition"


async def test_when_a_field_is_edited_then_the_audit_keeps_the_old_and_the_new_value(
    service: OrderService,
) -> None:
    order = await new_transfer(service, status="accepted", content="原始诉求", address="钦南区")
    await service.update(order.id, actor="seat:1001", content="改过的诉求", address="钦南区",
                         citizen_name="张三")
    event = (await service.events(order.id))[-1]
    assert (event.kind, event.actor, event.from_status, event.to_status) == ("updated", "seat:1001", "accepted",
                                                                            "accepted")
    assert event.detail == {"fields": {"content": "改过的诉求", "citizen_name": "张三"},
                            "old": {"content": "原始诉求", "citizen_name": None}}


async def test_when_a_final_order_is_reopened_then_it_returns_to_its_last_status_and_the_audit_keeps_the_old(
    service: OrderService, clock: Clock
) -> None:
    order = await new_transfer(service, status="accepted", content="原始诉求")
    await service.transition(order.id, "dispatched", actor="t", handling_unit="钦南区住建局")
    await service.transition(order.id, "signed", actor="t")
    await service.transition(order.id, "feedback", actor="t", result="已修复")
    closed = await service.transition(order.id, "closed", actor="t")
    closed_at = closed.closed_at
    assert closed_at is not None
    clock.advance(hours=1)
    with pytest.raises(BadInput) as error:
        await service.reopen(order.id, actor="supervisor:li", reason=" ")
    assert error.value.field == "reason"
    reopened = await service.reopen(order.id, actor="supervisor:li", reason="市民来电称未修复")
    assert (reopened.status, reopened.closed_at, reopened.result) == ("feedback", None, "已修复")
    event = (await service.events(order.id))[-1]
    assert (event.kind, event.actor, event.from_status, event.to_status) == ("reopened", "supervisor:li", "closed",
                                                                            "feedback")
    assert event.detail["reason"] == "市民来电称未修复"
    assert event.detail["old"]["status"] == "closed"
    assert event.detail["old"]["closed_at"] == closed_at.isoformat()
    assert event.detail["old"]["result"] == "已修复"
    edited = await service.update(order.id, actor="seat:1001", content="补充：仍漏水")
    assert edited.content == "补充：仍漏水"
    with pytest.raises(IllegalTransition):
        await service.reopen(order.id, actor="supervisor:li", reason="again")


async def test_when_an_abandoned_handoff_is_reopened_then_it_is_accepted_not_pending(service: OrderService) -> None:
    order = await new_transfer(service)
    await service.transition(order.id, "abandoned", actor="citizen",
                             outcome_reason="citizen_hung_up")
    reopened = await service.reopen(order.id, actor="admin:wang", reason="回拨市民，继续受理")
    assert (reopened.status, reopened.outcome_reason) == ("accepted", None)
    assert (await service.events(order.id))[-1].detail["old"]["outcome_reason"] == "citizen_hung_up"


async def test_when_the_class_changes_after_dispatch_then_the_deadlines_follow_the_new_class(
    service: OrderService, clock: Clock
) -> None:
    order = await new_transfer(service, status="accepted")
    dispatched_at = clock.now
    order = await service.transition(order.id, "dispatched", actor="t", handling_unit="钦南区")
    assert (order.sign_due_at, order.on_site_due_at) == (None, None)
    clock.advance(minutes=10)
    major = await service.update(order.id, actor="supervisor:li", order_class="major")
    assert major.sign_due_at == dispatched_at + timedelta(minutes=30)
    assert major.on_site_due_at == dispatched_at + timedelta(hours=2)
    event = (await service.events(order.id))[-1]
    assert event.detail["old"] == {"order_class": "general", "sign_due_at": None, "on_site_due_at": None}
    assert event.detail["fields"]["on_site_due_at"] == (dispatched_at + timedelta(hours=2)).isoformat()
    clock.advance(minutes=25)  # 35 minutes after dispatch: the sign-for limit of a major order has passed
    flagged = await service.flag_overdue()
    assert [(o.id, b) for o, b in flagged] == [(order.id, "sign")]
    general = await service.update(order.id, actor="supervisor:li", order_class="general")
    assert (general.sign_due_at, general.on_site_due_at, general.sign_overdue_at) == (None, None, None)


async def test_when_several_notes_are_written_together_then_they_follow_in_order_or_none_is_written(
    service: OrderService
) -> None:
    """`note_all`: the two seats of a three-way call joining at one answer."""
    order = await new_transfer(service, mode="three_way", order_id="tw-0001")

    noted = await service.note_all("tw-0001", [
        Note("seat:2001", "joined", {"role": "invited"}, {"target_seat": "2001"}),
        Note("seat:1001", "joined", {"role": "initiator"}, target_centre="110")])

    assert (noted.status, noted.target_seat) == (order.status, "2001")
    events = await service.events("tw-0001")
    assert [(e.kind, e.actor, e.from_status, e.to_status, e.detail) for e in events[1:]] == [
        ("joined", "seat:2001", "pending", "pending", {"role": "invited", "fields": {"target_seat": "2001"}}),
        ("joined", "seat:1001", "pending", "pending", {"role": "initiator"})]  # 110 already: no change
    with pytest.raises(BadInput) as refused:
        await service.note_all("tw-0001", [Note("seat:2001", "left", {"role": "invited"}),
                                           Note("seat:1001", "left\r\nx", {"role": "initiator"})])
    assert refused.value.field == "kind"
    assert len(await service.events("tw-0001")) == len(events)  # the good one was not written either
    with pytest.raises(NotFound):
        await service.note_all("tw-nope", [Note("seat:1001", "joined")])
