"""The one-key transfer's plan (core.handoff) and its settings — pure, table-tested."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.handoff.telephony import find_seat_call
from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core import channel_vars as cv
from core.centres import parse_centres
from core.fast_path import ON_ARRIVAL, mset
from core.feature_keys import THREE_WAY_KEYS, prefix_conflicts
from core.handoff import (
    HandoffPlan,
    HandoffRequest,
    OutboxRecord,
    acceptance,
    outcome_of_end,
    parse_outbox,
    parse_release_modes,
    parse_routes,
    partner_centre,
    plan_handoff,
    return_reason,
    seat_interfaces,
    seat_of_channel,
)
from core.refusals import Refusal
from core.settings import Settings, SettingsError
from tests.support.dialplan import rendered_dialplan

CENTRES = parse_centres("12345:1001-1004;110:2001-2002")
SEAT_1001 = "Local/1001@hotline-seat-phones-0000000d;1"
SEAT_2001 = "Local/2001@hotline-seat-phones-0000001a;1"
CITIZEN_LEG = "Local/12345@hotline-inbound-0000000c;2"


def plan(**overrides: object) -> HandoffPlan | Refusal:
    fields: dict[str, object] = dict(seat_channel=SEAT_1001, citizen_channel=CITIZEN_LEG,
                                     citizen_number="13800138000", centre="12345")
    fields.update(overrides)
    routes = {"120": "Local/120@hotline-destination-phone/n"}
    return plan_handoff(HandoffRequest(**fields), centres=CENTRES, seat_mode="simulated",  # type: ignore[arg-type]
                        routes=routes, release_modes={"110": "immediate"}, timeout_s=30)


def test_when_12345_seat_presses_key_then_citizen_goes_to_110_linkage_queue_with_own_number() -> None:
    p = plan()
    assert isinstance(p, HandoffPlan)
    assert (p.source_centre, p.target, p.queue, p.dial) == ("12345", "110", "hotline-110-linkage", None)
    assert p.source_seat.extension == "1001" and p.citizen_number == "13800138000"
    assert p.release_mode == "on_answer" and p.timeout_s == 30
    variables = p.citizen_variables("h-1")
    assert variables[f"__{cv.HANDOFF_ID}"] == "h-1" and variables[f"__{cv.CENTRE}"] == "110"
    assert variables[cv.HANDOFF_QUEUE] == "hotline-110-linkage" and variables[cv.HANDOFF_DIAL] == ""
    assert variables[cv.RETURN_SEAT] == "1001"  # a citizen nobody answers comes back to seat 1001
    assert set(variables) - {f"__{cv.HANDOFF_ID}", f"__{cv.CENTRE}"} <= cv.ALL


def test_when_110_seat_presses_key_then_citizen_goes_to_12345_and_110_releases_at_once() -> None:
    p = plan(seat_channel=SEAT_2001, centre="110")
    assert isinstance(p, HandoffPlan)
    assert (p.target, p.queue, p.release_mode) == ("12345", "hotline-12345-linkage", "immediate")


def test_when_call_was_already_handed_over_then_the_current_centre_transfers_back() -> None:
    p = plan(seat_channel=SEAT_2001, centre="110")  # the citizen first dialled 12345
    assert isinstance(p, HandoffPlan) and p.target == "12345"


def test_when_sip_seat_hands_over_then_it_is_rung_back_on_its_endpoint() -> None:
    p = plan_handoff(HandoffRequest("PJSIP/1001-0000002f", CITIZEN_LEG, "13800138000", "12345"),
                     centres=CENTRES, seat_mode="sip", routes={}, release_modes={}, timeout_s=30)
    assert isinstance(p, HandoffPlan) and p.citizen_variables("h-1")[cv.RETURN_SEAT] == "1001"
    assert seat_interfaces("1001", "sip") == ("PJSIP/1001", "PJSIP/1001")
    assert seat_interfaces("1001", "simulated") == ("Local/1001@hotline-seat-phones/n",
                                                    "Local/1001@hotline-seat-phones")


@pytest.mark.parametrize("overrides, reason", [
    ({"citizen_channel": None}, "no_citizen"),
    ({"citizen_channel": ""}, "no_citizen"),
    ({"citizen_channel": "Local/x,evil"}, "no_citizen"),
    ({"citizen_channel": "Local/1002@hotline-seat-phones-00000001;2"}, "no_citizen"),  # seat-to-seat
    ({"seat_channel": CITIZEN_LEG}, "not_a_seat"),
    ({"seat_channel": "Local/9999@hotline-seat-phones-00000001;1"}, "not_a_seat"),
    ({"target": "12345"}, "own_centre"),
    ({"target": "119"}, "no_route"),
    ({"target": "water"}, "no_route"),
])
def test_when_transfer_cannot_go_ahead_then_refusal_names_reason_and_prompt(
        overrides: dict[str, object], reason: str) -> None:
    p = plan(**overrides)
    assert isinstance(p, Refusal) and p.reason == reason
    assert p.prompt and "$" not in p.prompt and "," not in p.prompt


def test_when_target_is_routed_destination_then_citizen_dials_its_route() -> None:
    p = plan(target="120", category="QZ-1-01")
    assert isinstance(p, HandoffPlan)
    assert (p.target, p.target_centre, p.queue, p.dial) == ("120", "120", None, "Local/120@hotline-destination-phone/n")
    assert f"__{cv.CENTRE}" not in p.citizen_variables("h")  # the call stays the source centre's
    assert p.category == "QZ-1-01"


def test_when_number_withheld_then_citizen_is_still_handed_over() -> None:
    p = plan(citizen_number="")
    assert isinstance(p, HandoffPlan) and p.citizen_number == ""  # no number: stored and shown empty, never "0"


def test_partner_centres() -> None:
    assert partner_centre(CENTRES, "12345").id == "110"  # type: ignore[union-attr]
    assert partner_centre(CENTRES, "110").id == "12345"  # type: ignore[union-attr]
    three = parse_centres("12345:1001;110:2001;119:3001")
    assert partner_centre(three, "119").id == "12345"  # type: ignore[union-attr]
    assert partner_centre(parse_centres("12345:1001"), "12345") is None


@pytest.mark.parametrize("channel, seat", [
    (SEAT_1001, "1001"), ("Local/2002@hotline-seat-phones-00a1;2", "2002"), ("PJSIP/1003-0000000a", "1003"),
    (CITIZEN_LEG, None), ("PJSIP/9999-0000000a", None), ("", None), (None, None),
])
def test_seat_of_channel(channel: str | None, seat: str | None) -> None:
    found = seat_of_channel(CENTRES, channel)
    assert (found.extension if found else None) == seat


@pytest.mark.parametrize("state, outcome", [("pending", "abandoned"), ("accepted", "accepted"),
                                            ("returned", "none"), ("", "none"), (None, "none")])
def test_outcome_when_citizen_channel_ends(state: str | None, outcome: str) -> None:
    assert outcome_of_end(state) == outcome


@pytest.mark.parametrize("status, reason", [("TIMEOUT", "no_answer"), ("JOINEMPTY", "no_seat_logged_in"),
                                            ("LEAVEEMPTY", "no_seat_logged_in"), ("BUSY", "destination_busy"),
                                            ("CHANUNAVAIL", "destination_unreachable"), (None, "no_answer")])
def test_return_reasons(status: str | None, reason: str) -> None:
    assert return_reason(status) == reason


def test_acceptance_names_the_answering_seat_and_wait() -> None:
    assert acceptance(CENTRES, SEAT_2001, 1234.7).target_seat == "2001"
    assert acceptance(CENTRES, SEAT_2001, 1234.7).wait_ms == 1234
    assert acceptance(CENTRES, "Local/120@hotline-destination-phone-0001;1", -3).target_seat is None
    assert acceptance(CENTRES, None, -3).wait_ms == 0


# ------------------------------------------------------------------ settings

def test_routes_and_release_modes_parse() -> None:
    assert parse_routes("120=PJSIP/120@city-trunk; water=Local/87654321@utility/n") == {
        "120": "PJSIP/120@city-trunk", "water": "Local/87654321@utility/n"}
    assert parse_release_modes("12345:on_answer;110:immediate", ("12345", "110")) == {
        "12345": "on_answer", "110": "immediate"}


@pytest.mark.parametrize("spec", ["120", "120=", "120=PJSIP/120@t,30", "120=PJSIP/${EVIL}", "120=PJSIP/1&PJSIP/2",
                                  "12 0=PJSIP/120@t", "120=PJSIP/120@t;120=PJSIP/x@t", "120=Console/dsp"])
def test_bad_routes_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_routes(spec)


@pytest.mark.parametrize("env, name", [
    ({"HOTLINE_DESTINATION_ROUTES": "120=PJSIP/120@t,30"}, "HOTLINE_DESTINATION_ROUTES"),
    ({"HOTLINE_DESTINATION_ROUTES": "120=PJSIP/120@t\r\nX"}, "HOTLINE_DESTINATION_ROUTES"),
    ({"HOTLINE_DESTINATION_ROUTES": "110=PJSIP/110@t"}, "HOTLINE_DESTINATION_ROUTES"),
    ({"HOTLINE_RELEASE_MODES": "12345:later"}, "HOTLINE_RELEASE_MODES"),
    ({"HOTLINE_RELEASE_MODES": "119:immediate"}, "HOTLINE_RELEASE_MODES"),
    ({"HOTLINE_HANDOFF_TIMEOUT": "0"}, "HOTLINE_HANDOFF_TIMEOUT"),
    ({"HOTLINE_HANDOFF_TIMEOUT": "601"}, "HOTLINE_HANDOFF_TIMEOUT"),
    ({"HOTLINE_HANDOFF_YIELD_MS": "51"}, "HOTLINE_HANDOFF_YIELD_MS"),
    ({"HOTLINE_HANDOFF_YIELD_MS": "-1"}, "HOTLINE_HANDOFF_YIELD_MS"),
    ({"HOTLINE_HANDOFF_YIELD_MS": "0.5"}, "HOTLINE_HANDOFF_YIELD_MS"),
    ({"HOTLINE_HANDOFF_TO_KEY": "*1"}, "HOTLINE_HANDOFF_TO_KEY"),
    ({"HOTLINE_HANDOFF_TO_KEY": "*12"}, "HOTLINE_HANDOFF_TO_KEY"),
    # issue 4's three-way keys and Asterisk's featuremap keys are taken
    ({"HOTLINE_HANDOFF_TO_KEY": "*2"}, "HOTLINE_HANDOFF_TO_KEY"),
    ({"HOTLINE_HANDOFF_TO_KEY": "*0"}, "HOTLINE_HANDOFF_TO_KEY"),
    ({"HOTLINE_HANDOFF_TO_KEY": "*91"}, "HOTLINE_HANDOFF_TO_KEY"),
    ({"HOTLINE_HANDOFF_KEY": "*3"}, "HOTLINE_HANDOFF_KEY"),
    ({"HOTLINE_HANDOFF_KEY": "#"}, "HOTLINE_HANDOFF_KEY"),
    ({"HOTLINE_HANDOFF_KEY": "#11"}, "HOTLINE_HANDOFF_KEY"),
])
def test_bad_transfer_settings_fail_loudly_with_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert err.value.name == name


def test_transfer_settings_defaults() -> None:
    s = Settings.from_env({})
    assert (s.handoff.key, s.handoff.to_key, s.handoff.timeout_s) == ("*1", "*8", 30)
    assert s.handoff.release_modes == {} and s.handoff.destination_routes == {}


def test_when_keys_are_rendered_then_no_feature_key_is_a_prefix_of_another(tmp_path: Path) -> None:
    """Every key a seat can press in a call fires: the transfer keys, Asterisk's
    featuremap keys as rendered into features.conf, and the keys reserved for
    the three-way call (issue 4) are pairwise prefix-free."""
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path)})
    render(s, load_or_create(s))
    section, rendered = "", dict[str, str]()
    for line in (s.paths.run_dir / "etc" / "features.conf").read_text().splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and section in ("featuremap", "applicationmap"):
            name, _, value = line.replace("=>", "=").partition("=")
            rendered[name.strip()] = value.split(",", 1)[0].strip()
    assert {name: rendered.get(name) for name in ("blindxfer", "atxfer", "hotline-handoff", "hotline-handoff-to")} \
        == {"blindxfer": "#1", "atxfer": "#2", "hotline-handoff": "*1", "hotline-handoff-to": "*8"}
    assert "disconnect" not in rendered  # *0* would shadow the three-way call's *0
    assert set(THREE_WAY_KEYS.values()) <= set(s.feature_keys.values())  # reserved, by default
    # no two features share a key, and no distinct key is a prefix of another
    assert prefix_conflicts(s.feature_keys) == []
    assert prefix_conflicts(rendered) == []
    distinct = set(rendered.values()) | set(s.feature_keys.values())
    assert prefix_conflicts({key: key for key in distinct}) == []


@pytest.mark.parametrize("keys, clash", [
    ({"disconnect": "*0*", "three_way_cancel": "*0"}, [("disconnect", "three_way_cancel")]),
    ({"a": "*1", "b": "*1"}, [("a", "b")]),
    ({"a": "*1", "b": "*12", "c": "#1"}, [("a", "b")]),
    ({"a": "*1", "b": "*2", "c": "#1"}, []),
])
def test_prefix_conflicts(keys: dict[str, str], clash: list[tuple[str, str]]) -> None:
    assert prefix_conflicts(keys) == clash


# ------------------------------------------------------------------ the button's call finder

def _chan(name: str, bridge: str = "", **extra: object) -> dict[str, object]:
    return {"Channel": name, "BridgeId": bridge, "Linkedid": "L1", "CallerIDNum": "13800138000", **extra}


def test_button_finds_seat_and_citizen_in_one_bridge() -> None:
    rows = [_chan(CITIZEN_LEG, "b1", ChanVariable=["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=13800138000"]),
            _chan(SEAT_1001, "b1"), _chan("Local/1001@hotline-seat-phones-0000000d;2"),
            _chan(SEAT_2001, "b2"), _chan("Local/110@hotline-inbound-00000001;2", "b2")]
    call = find_seat_call(rows, CENTRES, seat="1001")
    assert call is not None
    assert (call.seat_channel, call.citizen_channel, call.centre, call.citizen_number) == (
        SEAT_1001, CITIZEN_LEG, "12345", "13800138000")
    by_citizen = find_seat_call(rows, CENTRES, channel=CITIZEN_LEG)
    assert by_citizen is not None and by_citizen.seat_channel == SEAT_1001
    assert find_seat_call(rows, CENTRES, seat="1002") is None


def test_button_sees_no_citizen_in_a_three_party_bridge() -> None:
    rows = [_chan(CITIZEN_LEG, "b1"), _chan(SEAT_1001, "b1"), _chan(SEAT_2001, "b1")]
    call = find_seat_call(rows, CENTRES, seat="1001")
    assert call is not None and call.citizen_channel is None


# ------------------------------------------------------------------ the fast path's outbox

OUTBOX_ID = "1764077500.123"  # the transferring seat leg's uniqueid
OUTBOX_VALUE = ("v1|1764077501.123456|Local/1001@hotline-seat-phones-0000002a;1|"
                "Local/12345@hotline-inbound-00000029;2|13800138000|12345|1001|110|1764077500.40|on_answer")


def test_when_dialplan_wrote_outbox_record_then_it_reads_as_the_order_to_record() -> None:
    record = parse_outbox(OUTBOX_ID, OUTBOX_VALUE)
    assert record == OutboxRecord(
        handoff_id=OUTBOX_ID, pressed_at=1764077501.123456,
        seat_channel="Local/1001@hotline-seat-phones-0000002a;1",
        citizen_channel="Local/12345@hotline-inbound-00000029;2", citizen_number="13800138000",
        source_centre="12345", source_seat="1001", target_centre="110", linkedid="1764077500.40",
        release_mode="on_answer")


@pytest.mark.parametrize("handoff_id, value", [
    (OUTBOX_ID, ""),
    (OUTBOX_ID, OUTBOX_VALUE.replace("v1|", "v2|")),
    (OUTBOX_ID, OUTBOX_VALUE + "|extra"),
    (OUTBOX_ID, OUTBOX_VALUE.replace("1764077501.123456", "soon")),
    (OUTBOX_ID, OUTBOX_VALUE.replace("|1001|", "|x|")),
    (OUTBOX_ID, OUTBOX_VALUE.replace("on_answer", "later")),
    (OUTBOX_ID, OUTBOX_VALUE.replace("Local/12345@", "Local/12345,evil@")),
    ("not-an-id", OUTBOX_VALUE),
    ("1" * 20 + "-" + "x" * 20, OUTBOX_VALUE),  # longer than an order id (36)
])
def test_when_outbox_record_is_not_understood_then_it_is_not_recorded(handoff_id: str, value: str) -> None:
    assert parse_outbox(handoff_id, value) is None


def test_when_outbox_number_is_withheld_then_order_says_0() -> None:
    record = parse_outbox(OUTBOX_ID, OUTBOX_VALUE.replace("|13800138000|", "|anonymous|"))
    assert record is not None and record.citizen_number == ""


def test_when_dialplan_is_rendered_then_key_path_has_partner_globals_and_seat_table(tmp_path: Path) -> None:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": "simulated",
                           "HOTLINE_RELEASE_MODES": "110:immediate"})
    assert s.handoff.fast_path  # the default
    assert not Settings.from_env({"HOTLINE_HANDOFF_FAST_PATH": "no"}).handoff.fast_path
    render(s, load_or_create(s))
    dialplan = "\n".join(rendered_dialplan(s).values())
    lines = dialplan.splitlines()
    assert "HOTLINE_HANDOFF_FAST = yes" in lines
    for line in ("HOTLINE_HANDOFF_PARTNER_12345 = 110", "HOTLINE_HANDOFF_PARTNER_QUEUE_12345 = hotline-110-linkage",
                 "HOTLINE_HANDOFF_RELEASE_12345 = on_answer", "HOTLINE_HANDOFF_PARTNER_110 = 12345",
                 "HOTLINE_HANDOFF_PARTNER_QUEUE_110 = hotline-12345-linkage",
                 "HOTLINE_HANDOFF_RELEASE_110 = immediate"):
        assert line in lines, line
    # the configured seats as patterns, for the guard's "a seat of ours" (no global per seat)
    known = dialplan.split("[hotline-known-seats]", 1)[1].split("\n[", 1)[0]
    assert [line for line in known.splitlines() if line.startswith("exten")] == [
        "exten => _100[1-4],1,Return(12345)", "exten => _200[1-2],1,Return(110)"]
    assert "HOTLINE_HANDOFF_SEAT_" not in dialplan
    # the citizen's side: straight into the partner's linkage queue
    assert "exten => _to-110*X.,1,MSet(" in dialplan
    # nothing runs on the answering leg before the bridge (the journal wakes the seat on hold, 成功转)
    assert " same => n,Queue(hotline-110-linkage,trb(hotline-seat-leg^s^1),,,${HOTLINE_HANDOFF_TIMEOUT})" in lines
    # coming back: the seat named on the citizen, rung as core.handoff.seat_interfaces says; no parse of a channel
    assert (" same => n,MSet(HOTLINE_RETURN_DIAL=Local/${HOTLINE_RETURN_SEAT}@hotline-seat-phones/n,"
            "HOTLINE_RETURN_DEVICE=Local/${HOTLINE_RETURN_SEAT}@hotline-seat-phones)") in lines
    # (only the phone's own transfer reads a name: the seat leg's, BLINDTRANSFER, all it has of it)
    handoff_conf = rendered_dialplan(s)["hotline-handoff.conf"]
    phone_transfer = handoff_conf.split("[hotline-phone-transfer]", 1)[1].split("\n[", 1)[0]
    guard = next(line for line in handoff_conf.splitlines() if line.startswith(" same => n(guard),"))
    # (the key's: its own id; the citizen's first step after the move reads the move's destination, no name)
    arrival = mset(ON_ARRIVAL)
    assert arrival in handoff_conf and "CUT(EXTEN," in arrival
    assert "CUT(" not in handoff_conf.replace(phone_transfer, "").replace(guard, "").replace(arrival, "")


def test_when_outbox_record_leaves_the_seat_empty_then_it_comes_from_the_seat_channel() -> None:
    record = parse_outbox(OUTBOX_ID, OUTBOX_VALUE.replace("|12345|1001|", "|12345||"))
    assert record is not None and record.source_seat == "1001"
    bad = parse_outbox(OUTBOX_ID, OUTBOX_VALUE.replace("|12345|1001|", "|12345||").replace(
        "Local/1001@hotline-seat-phones-", "Local/x@elsewhere-"))
    assert bad is None


def test_when_fast_path_flag_is_not_yes_or_no_then_settings_fail_loudly() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"HOTLINE_HANDOFF_FAST_PATH": "sometimes"})
    assert err.value.name == "HOTLINE_HANDOFF_FAST_PATH"


@pytest.mark.parametrize("number", ["", "1380013|8000", "1+1138", "1" * 200, None])
def test_when_the_caller_id_is_not_a_number_then_the_plan_carries_none_and_never_another(number: str | None) -> None:
    p = plan(citizen_number=number, citizen_presented="1380013%7C8000")
    assert isinstance(p, HandoffPlan)
    assert (p.citizen_number, p.citizen_presented) == ("", "1380013%7C8000")
    assert isinstance(plan(citizen_presented="1380013|8000"), HandoffPlan)
    assert plan(citizen_presented="a|b").citizen_presented is None  # type: ignore[union-attr]  # not escaped: dropped
