"""Inbound routing decisions (pure)."""
from __future__ import annotations

from core.centres import Seat, centres_spec, parse_centres
from core.routing import decide_inbound
from core.safety import is_number

CENTRES = parse_centres("12345:1001-1002;110:2001")


def test_when_citizen_dials_12345_then_plan_is_the_12345_public_queue() -> None:
    plan = decide_inbound(CENTRES, "12345", "13800138000")
    assert plan.status == "OK"
    assert plan.variables == {"HOTLINE_QUEUE": "hotline-12345", "HOTLINE_ROUTE_STATUS": "OK"}


def test_when_number_is_withheld_then_call_is_still_queued() -> None:
    plan = decide_inbound(CENTRES, "110", "")
    assert plan.variables["HOTLINE_QUEUE"] == "hotline-110"
    assert "withheld" in plan.reason


def test_when_centre_is_unknown_then_plan_takes_safe_path() -> None:
    plan = decide_inbound(CENTRES, "119", "13800138000")
    assert plan.status == "FALLBACK"
    assert plan.variables == {"HOTLINE_ROUTE_STATUS": "FALLBACK"}


def test_seat_interfaces_per_mode() -> None:
    seat = Seat("1001", "12345")
    assert seat.interface("sip") == "PJSIP/1001"
    assert seat.interface("simulated") == "Local/1001@hotline-seat-phones/n"


def test_centres_spec_round_trips() -> None:
    assert parse_centres(centres_spec(CENTRES)) == CENTRES


def test_is_number() -> None:
    assert is_number("+8613800138000") and is_number("110")
    assert not is_number("") and not is_number("12a") and not is_number("1\n2")
