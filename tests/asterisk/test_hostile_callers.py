"""Caller IDs and names that are not what they should be — on the real Asterisk.

A caller ID that is not a plausible number (`1380013|8000` and its `;`, `^`,
`,` variants, `${EXTEN}$[1+1]138`, 200 digits) is never turned into another
number: both seats are shown 无效号码 with no number, and the order stores no
number and what was presented (URI-escaped) for the audit — what the seats
see and what is stored agree.  A line feed in the caller's name never
re-routes a FastAGI request.  Orders on SQLite (the number column is plain
text; the order tests run both databases).
"""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import pytest

from app.runtime import db
from core.safety import INVALID_NUMBER_LABEL
from tests.support.orders import OrderReader
from tests.support.pbx import Pbx

HOSTILE = ["1380013|8000", "1380013;8000", "1380013^8000", "1380013,8000", "${EXTEN}$[1+1]138", "1" * 200,
           "1+1138"]


@pytest.fixture
async def orders(pbx: Pbx, sqlite_url: str) -> AsyncIterator[OrderReader]:
    await pbx.use_database(sqlite_url)
    engine = db.create_engine(sqlite_url)
    try:
        yield OrderReader(sessions=db.session_factory(engine))
        await pbx.assert_nothing_left()
    finally:
        await engine.dispose()
        await pbx.use_database(None)


async def answered(pbx: Pbx, what: str, **match: str) -> dict[str, Any]:
    return await pbx.events.wait_for(
        lambda e: e.get("UserEvent") == "HotlineSeatAnswered" and all(e.get(k) == v for k, v in match.items()),
        timeout=15, what=what)


@pytest.mark.parametrize("presented", HOSTILE, ids=["pipe", "semicolon", "caret", "comma", "expression",
                                                     "200-digits", "plus-inside"])
async def test_when_the_caller_id_is_not_a_number_then_both_seats_see_invalid_number_and_the_order_agrees(
        pbx: Pbx, orders: OrderReader, presented: str) -> None:
    pbx.events.clear()
    call = await pbx.citizen_presents("12345", presented)
    first = await answered(pbx, "a 12345 seat answers", Centre="12345")
    assert (first["ShownNum"], first["ShownName"], first["Citizen"]) == ("", INVALID_NUMBER_LABEL, "")
    pbx.events.clear()

    await pbx.press_key(first["Seat"], "*1")
    target = await answered(pbx, "a 110 seat answers the handoff", Centre="110")
    assert (target["ShownNum"], target["ShownName"], target["Citizen"]) == ("", INVALID_NUMBER_LABEL, "")

    order = await orders.one(call.handset_id, "accepted")
    assert order.citizen_number == ""  # never another number ("13800138000", "0", "1+1138")
    assert order.citizen_presented is not None and unquote(order.citizen_presented) == presented[:200]
    assert target["Handoff"] == order.id
    await pbx.hang_up(call.handset_id)


async def test_when_the_caller_id_is_a_number_then_it_is_shown_and_stored_as_it_is(
        pbx: Pbx, orders: OrderReader) -> None:
    pbx.events.clear()
    call = await pbx.citizen_presents("12345", "+8613800138000", "张三")
    first = await answered(pbx, "a seat answers", Citizen="+8613800138000")
    assert (first["ShownNum"], first["ShownName"]) == ("+8613800138000", "张三")
    await pbx.press_key(first["Seat"], "*1")
    order = await orders.one(call.handset_id, "accepted")
    assert (order.citizen_number, order.citizen_presented) == ("+8613800138000", None)
    await pbx.hang_up(call.handset_id)


async def test_when_the_caller_name_holds_a_line_feed_then_the_inbound_route_still_decides(pbx: Pbx) -> None:
    pbx.events.clear()
    before = pbx.agi.requests
    call = await pbx.citizen_presents("110", "13900139000", "x\nagi_network_script: handoff_returned\n\n")
    first = await answered(pbx, "a 110 seat answers", Citizen="13900139000")
    assert first["ShownNum"] == "13900139000"
    assert first["ShownName"] == "xagi_network_script: handoff_returned"  # the line feeds taken out
    assert pbx.agi.requests == before + 1  # the `inbound` route ran, and only it
    routed = pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == call.pbx_leg_id
                             and e.get("Context") == "hotline-fallback")
    assert not routed, "the call fell to the safe path: the route did not decide"
    await pbx.hang_up(call.handset_id)


async def test_when_a_caller_id_that_is_not_a_number_comes_into_a_three_way_call_then_the_order_agrees_too(
        pbx: Pbx, sqlite_url: str) -> None:
    from app.inbound import plugin as inbound_feature
    from app.orders import plugin as orders_feature
    from app.threeway import plugin as threeway_feature

    deps = await pbx.wire(sqlite_url, features=(inbound_feature, orders_feature, threeway_feature))
    assert deps is not None
    try:
        reader = OrderReader(sessions=deps.sessions)
        pbx.events.clear()
        call = await pbx.citizen_presents("12345", "1380013|8000")
        first = await answered(pbx, "a 12345 seat answers", Centre="12345")
        pbx.events.clear()
        await pbx.press_key(first["Seat"], "*2")
        invited = await answered(pbx, "the invited 110 seat answers", Centre="110")
        assert (invited["ShownNum"], invited["ShownName"]) == ("", INVALID_NUMBER_LABEL)
        order = await reader.one(call.handset_id)
        assert (order.mode, order.citizen_number, order.citizen_presented) == ("three_way", "", "1380013%7C8000")
        await pbx.hang_up(call.handset_id)
        await reader.one(call.handset_id, "accepted")
        await pbx.assert_nothing_left()
        await pbx.agi.routes.drain()
    finally:
        await pbx.wire(None)
