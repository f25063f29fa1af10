"""The same AGI routes as classic process-per-call scripts (pyst2), on the real Asterisk."""
from __future__ import annotations

import pytest

from tests.support.pbx import Pbx


@pytest.fixture
async def classic_mode(pbx: Pbx):
    """Switch the dialplan's AGI mode (a global) to classic for this test."""
    await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_AGI_MODE", "Value": "classic"})
    try:
        yield
    finally:
        await pbx.ami.send({"Action": "Setvar", "Variable": "HOTLINE_AGI_MODE", "Value": "fast"})


async def test_when_agi_mode_is_classic_then_citizen_still_reaches_a_seat_through_the_agi_bin_script(
        pbx: Pbx, classic_mode: None) -> None:
    fast_requests = pbx.agi.requests
    call = await pbx.citizen_dials("110", "13500135000")
    answered = await pbx.seat_answered("13500135000")
    assert answered["Centre"] == "110" and answered["ShownNum"] == "13500135000"
    assert pbx.agi.requests == fast_requests  # the FastAGI server was not asked
    # the classic script ran and decided (no safe path taken)
    decided = pbx.events.find(lambda e: e.get("Event") == "VarSet" and e.get("Uniqueid") == call.pbx_leg_id
                              and e.get("Variable") == "HOTLINE_ROUTE_STATUS" and e.get("Value") == "OK")
    assert decided, "the classic script did not set HOTLINE_ROUTE_STATUS=OK on the citizen's channel"
    safe = pbx.events.find(lambda e: e.get("Event") == "Newexten" and e.get("Uniqueid") == call.pbx_leg_id
                           and e.get("Context") == "hotline-fallback")
    assert not safe, "the classic script did not decide; the safe path was taken"
    await pbx.hang_up(call.handset_id)


async def test_when_bench_context_runs_classic_route_then_it_decides_like_fastagi(pbx: Pbx) -> None:
    for mode in ("f", "c"):
        leg = f"bench-test-{mode}"
        await pbx.ami.send({"Action": "Originate", "Channel": f"Local/{mode}12345@hotline-bench",
                            "Context": "hotline-citizen-phone", "Exten": "talk", "Priority": "1",
                            "CallerID": '"" <13800138000>', "ChannelId": f"handset-{leg}", "OtherChannelId": leg,
                            "Async": "true"},
                           ack_only=True)
        event = await pbx.events.wait_for(lambda e: e.get("UserEvent") == "HotlineAgiBench"
                                          and e.get("Uniqueid") == leg,  # noqa: B023 - awaited here
                                          what=f"bench event ({mode})")
        assert event["Status"] == "OK" and event["Queue"] == "hotline-12345", event
        assert float(event["T1"]) > float(event["T0"])
