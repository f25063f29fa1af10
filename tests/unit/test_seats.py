"""Signing in and pausing, the pure parts: reason codes, auto-pause counting, paused time, who may act."""
from __future__ import annotations

import pytest

from core.roles import may_act_on_seat, token_seat
from core.seats import (
    AUTO_PAUSE_REASON,
    DEFAULT_PAUSE_REASON,
    MissedRings,
    ReasonError,
    SeatEvent,
    parse_pause_reasons,
    pause_reason,
    paused_seconds,
)
from core.settings import Settings, SettingsError

REASONS = {"1": "小休", "2": "培训", "3": "会议", "4": "就餐"}


def test_when_reasons_are_configured_then_codes_map_to_names() -> None:
    assert parse_pause_reasons("1=小休, 2=培训,3 = lunch break") == {"1": "小休", "2": "培训", "3": "lunch break"}


@pytest.mark.parametrize("spec,why", [
    ("1=a;b", "a reason name"),          # `;` splits app_queue's persistent member string
    ("1=a|b", "a reason name"),
    ("1=a,b", "expected CODE=NAME"),    # `,` splits the list (and a dialplan argument)
    ("1=${X}", "a reason name"),
    ("x=a", "expected CODE=NAME"),
    ("123=a", "expected CODE=NAME"),
    ("1=a,1=b", "listed twice"),
    ("1=a,2=a", "listed twice"),
    ("1=no answer", "built-in"),
    ("1=a,12=b", "prefix"),              # *61 would be ambiguous
    ("1=" + "长" * 17, "a reason name"),
])
def test_when_a_reason_list_is_unsafe_or_ambiguous_then_it_is_refused(spec: str, why: str) -> None:
    with pytest.raises(ReasonError, match=why):
        parse_pause_reasons(spec)


def test_when_a_seat_gives_a_code_a_name_or_nothing_then_the_reason_is_its_name() -> None:
    assert pause_reason("2", REASONS) == "培训"
    assert pause_reason("会议", REASONS) == "会议"
    assert pause_reason(None, REASONS) == pause_reason("", REASONS) == DEFAULT_PAUSE_REASON
    with pytest.raises(ReasonError, match="not a pause reason"):
        pause_reason("9", REASONS)
    with pytest.raises(ReasonError):
        pause_reason(AUTO_PAUSE_REASON, REASONS)  # only auto-pause says that


def test_when_a_seat_misses_n_rings_in_a_row_then_it_is_to_be_paused_and_an_answer_starts_again() -> None:
    rings = MissedRings.every(3)
    assert [rings.missed("1001"), rings.missed("1001")] == [False, False]
    rings.reset("1001")  # answered
    assert [rings.missed("1001"), rings.missed("1002"), rings.missed("1001"), rings.missed("1001")] == \
        [False, False, False, True]
    assert rings.missed("1001") is False  # counting again after the pause


def test_when_autopause_is_zero_then_no_number_of_misses_pauses() -> None:
    rings = MissedRings.every(0)
    assert not any(rings.missed("1001") for _ in range(50))


def test_when_seats_pause_and_resume_then_paused_time_is_counted_per_reason_within_the_window() -> None:
    events = [
        SeatEvent("1001", 100, True, True, "小休"),
        SeatEvent("1001", 160, True, False),
        SeatEvent("1001", 200, True, True, "培训"),
        SeatEvent("1001", 260, True, True, "会议"),    # reason changed while paused
        SeatEvent("1001", 300, False, False),          # signing out ends the pause
        SeatEvent("1002", 950, True, True, None),      # still paused at the end
        SeatEvent("1003", 5000, True, True, "小休"),   # after the window
    ]
    before = {"2001": SeatEvent("2001", 10, True, True, "就餐"), "2002": SeatEvent("2002", 10, True, False)}
    assert paused_seconds(events, 50, 1000, before) == {
        "1001": {"小休": 60.0, "培训": 60.0, "会议": 40.0},
        "1002": {DEFAULT_PAUSE_REASON: 50.0},
        "2001": {"就餐": 950.0},
    }


def test_when_a_token_names_a_seat_then_it_acts_on_that_seat_only() -> None:
    assert token_seat("seat-1001") == token_seat("1001") == token_seat("zhang-1001") == "1001"
    assert token_seat("wall-screen") is None
    assert may_act_on_seat("seat", "seat-1001", "1001")
    assert not may_act_on_seat("seat", "seat-1001", "1002")
    assert not may_act_on_seat("seat", "ops", "1001")
    assert may_act_on_seat("supervisor", "wall-screen", "1002") and may_act_on_seat("admin", "x", "2001")


def test_when_seat_settings_are_read_then_defaults_hold_and_bad_values_name_the_variable() -> None:
    seats = Settings.from_env({}).seats
    assert (seats.signin_key, seats.pause_key, dict(seats.pause_reasons), seats.signed_in_at_start,
            seats.ring_timeout_s, seats.autopause_after) == ("*5", "*6", REASONS, True, 15, 3)
    for env, name in (({"HOTLINE_PAUSE_KEY": "*5"}, "HOTLINE_PAUSE_KEY"),
                      ({"HOTLINE_PAUSE_KEY": "6"}, "HOTLINE_PAUSE_KEY"),
                      ({"HOTLINE_SIGNIN_KEY": "*5#"}, "HOTLINE_SIGNIN_KEY"),
                      ({"HOTLINE_PAUSE_REASONS": "1=a|b"}, "HOTLINE_PAUSE_REASONS"),
                      ({"HOTLINE_AUTOPAUSE_AFTER": "21"}, "HOTLINE_AUTOPAUSE_AFTER"),
                      ({"HOTLINE_AUTOPAUSE_AFTER": "-1"}, "HOTLINE_AUTOPAUSE_AFTER"),
                      ({"HOTLINE_SEAT_RING_TIMEOUT": "0"}, "HOTLINE_SEAT_RING_TIMEOUT"),
                      ({"HOTLINE_SEATS_SIGNED_IN_AT_START": "maybe"}, "HOTLINE_SEATS_SIGNED_IN_AT_START")):
        with pytest.raises(SettingsError) as err:
            Settings.from_env(env)
        assert err.value.name == name
    assert Settings.from_env({"HOTLINE_PAUSE_REASONS": "", "HOTLINE_AUTOPAUSE_AFTER": "0"}).seats.pause_reasons == {}
