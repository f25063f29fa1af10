"""The three-way call's plan and outcome rules (core/threeway.py), table-tested."""
from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from core.centres import parse_centres
from core.refusals import Refusal
from core.settings import Settings, SettingsError
from core.threeway import (
    Outcome,
    ThreeWay,
    ThreeWayRequest,
    conference_name,
    is_threeway_id,
    plan_start,
    replay,
    start_detail,
)

CENTRES = parse_centres("12345:1001-1004;110:2001-2002")
SEAT_1001 = "Local/1001@hotline-seat-phones-0000001a;1"
CITIZEN_LEG = "Local/12345@hotline-inbound-00000019;2"
ID = "9c1483e6-98a4-4c3a-a090-1612ef78956f"


def _request(**changes: object) -> ThreeWayRequest:
    base: dict[str, Any] = dict(seat_channel=SEAT_1001, citizen_channel=CITIZEN_LEG, citizen_number="13800138000",
                centre="12345", first_centre="12345", linkedid="citizen-1")
    base.update(changes)
    return ThreeWayRequest(**base)


def test_when_12345_seat_starts_then_110_linkage_queue_rings_with_citizen_number() -> None:
    plan = plan_start(_request(), centres=CENTRES, timeout_s=30)
    assert not isinstance(plan, Refusal)
    assert plan.target_centre == "110" and plan.queue == "hotline-110-linkage"
    assert plan.initiator.extension == "1001" and plan.first_centre == "12345"
    ring = plan.ring_variables(ID)
    assert ring["__HOTLINE_CITIZEN"] == "13800138000" and ring["__HOTLINE_CENTRE"] == "110"
    assert ring["HOTLINE_THREEWAY_ROLE"] == "invited" and ring["HOTLINE_THREEWAY_CONF"] == conference_name(ID)
    assert plan.citizen_variables(ID)["HOTLINE_THREEWAY_ROLE"] == "citizen"
    assert plan.seat_variables(ID)["HOTLINE_THREEWAY_PEER"] == CITIZEN_LEG


def test_the_initiators_leg_is_named_to_every_channel_that_wakes_it() -> None:
    # the citizen's hangup and the answering seat's leg (inherited from the
    # ring channel) wake the initiator's leg waiting while the other centre rings
    plan = plan_start(_request(), centres=CENTRES, timeout_s=30)
    assert not isinstance(plan, Refusal)
    assert plan.citizen_variables(ID)["HOTLINE_THREEWAY_INITIATOR"] == SEAT_1001
    assert plan.ring_variables(ID)["__HOTLINE_THREEWAY_INITIATOR"] == SEAT_1001


@pytest.mark.parametrize("changes, reason", [
    ({"seat_channel": "Local/9999@elsewhere-1;1"}, "not_a_seat"),
    ({"citizen_channel": None}, "no_citizen"),
    ({"citizen_channel": "Local/2001@hotline-seat-phones-0000001b;1"}, "no_citizen"),  # seat-to-seat
    ({"citizen_channel": "PJSIP/x,y"}, "no_citizen"),
])
def test_when_nothing_to_bring_in_then_refused(changes: dict[str, object], reason: str) -> None:
    assert plan_start(_request(**changes), centres=CENTRES, timeout_s=30) == Refusal(reason)


def test_withheld_number_is_presented_as_zero() -> None:
    plan = plan_start(_request(citizen_number="anonymous"), centres=CENTRES, timeout_s=30)
    assert not isinstance(plan, Refusal) and plan.citizen_number == ""


def _joined(first: str = "12345") -> ThreeWay:
    call = ThreeWay(ID, "12345", "110", first, "1001")
    call, outcome = call.answered("2001")
    assert outcome is None and call.phase == "joined"
    return call


@pytest.mark.parametrize("leaver, centre, seat", [("initiator", "110", "2001"), ("invited", "12345", "1001")])
def test_when_one_seat_leaves_then_the_other_accepts_by_agreement(leaver: str, centre: str, seat: str) -> None:
    call, outcome = _joined().left(leaver)
    assert outcome == Outcome("accepted", rule="agreed", centre=centre, seat=seat, reason=f"{leaver}_left")
    assert leaver not in call.present
    # the last seat may not leave the citizen alone; the citizen hanging up changes nothing
    assert call.can_leave("invited" if leaver == "initiator" else "initiator") == Refusal("last_seat")
    assert call.citizen_gone()[1] is None


@pytest.mark.parametrize("first", ["12345", "110"])
def test_when_citizen_hangs_up_undecided_then_first_contact_centre_accepts(first: str) -> None:
    _, outcome = _joined(first).citizen_gone()
    assert outcome == Outcome("accepted", rule="first_contact", centre=first, reason="undecided")


def test_when_citizen_hangs_up_while_ringing_then_abandoned() -> None:
    _, outcome = ThreeWay(ID, "12345", "110", "12345", "1001").citizen_gone()
    assert outcome == Outcome("abandoned", reason="citizen_hung_up")


def test_when_nobody_answers_then_returned_and_a_late_answer_changes_nothing() -> None:
    call, outcome = ThreeWay(ID, "12345", "110", "12345", "1001").no_answer()
    assert outcome == Outcome("returned", reason="no_answer")
    assert call.answered("2001") == (call, None)


def test_when_the_initiator_hung_up_before_the_answer_then_the_invited_seat_accepts() -> None:
    """The seat that called the other centre in put its phone down while that
    centre rang (or before its answer was recorded): the seat that answers has
    the citizen alone, and takes the case as if the initiator had left it."""
    ringing, outcome = ThreeWay(ID, "12345", "110", "12345", "1001").left("initiator")
    assert outcome is None and ringing.present == {"citizen"}
    call, outcome = ringing.answered("2001")
    assert outcome == Outcome("accepted", rule="agreed", centre="110", seat="2001", reason="initiator_left")
    assert call.phase == "joined" and call.present == {"citizen", "invited"}
    assert call.citizen_gone()[1] is None  # the acceptance stands
    # nobody answers instead: returned, and the citizen goes to its centre's queue (the dialplan)
    assert ringing.no_answer()[1] == Outcome("returned", reason="no_answer")


def test_only_the_initiator_cancels_and_only_when_joined() -> None:
    ringing = ThreeWay(ID, "12345", "110", "12345", "1001")
    assert ringing.can_cancel("initiator") == Refusal("not_joined")
    joined = _joined()
    assert joined.can_cancel("invited") == Refusal("not_initiator")
    call, outcome = joined.cancel("initiator")
    assert outcome == Outcome("returned", reason="cancelled") and call.present == {"citizen", "initiator"}


def test_emergency_gives_the_case_to_110_even_after_an_agreement() -> None:
    call, outcome = _joined().emergency(CENTRES)
    assert outcome == Outcome("accepted", rule="emergency", centre="110", seat="2001",
                              reason="life_or_property_at_risk", emergency=True)
    assert call.left("invited")[1] is None  # the mark stands
    agreed, _ = _joined().left("invited")  # 12345 kept it...
    _, outcome = agreed.emergency(CENTRES)  # ...then life is at risk: 110 dispatches first
    assert outcome is not None and outcome.centre == "110" and outcome.seat is None


def test_ids_and_conference_names() -> None:
    assert is_threeway_id(ID) and not is_threeway_id("x;y") and not is_threeway_id(None)
    assert conference_name(ID) == f"hotline-3w-{ID}"


def test_three_way_keys_are_settings_and_must_stay_prefix_free() -> None:
    s = Settings.from_env({"HOTLINE_THREEWAY_START_KEY": "*4", "HOTLINE_THREEWAY_TIMEOUT": "5"})
    assert s.threeway.start_key == "*4" and s.threeway.timeout_s == 5
    assert s.feature_keys["three_way_start"] == "*4"
    with pytest.raises(SettingsError) as exc:
        Settings.from_env({"HOTLINE_EMERGENCY_KEY": "*3"})
    assert exc.value.name == "HOTLINE_EMERGENCY_KEY"
    with pytest.raises(SettingsError):
        Settings.from_env({"HOTLINE_THREEWAY_START_KEY": "*1"})  # the transfer key
    with pytest.raises(SettingsError):
        Settings.from_env({"HOTLINE_THREEWAY_LEAVE_KEY": "3a"})


# ------------------------------------------------- the call from its order's audit trail

Event = tuple[str, dict[str, Any]]
# each action as the service carries it out: the live methods' new state, and
# the notes it writes on the order (kind, detail) — None when it does nothing
Action = Callable[[ThreeWay], tuple[ThreeWay, list[Event]] | None]


def _answered(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
    if call.phase != "ringing":
        return None
    call, _ = call.answered("2001")
    return call, [("joined", {"role": "invited", "seat": "2001"}), ("joined", {"role": "initiator"})]


def _no_answer(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
    if call.phase != "ringing":
        return None
    call, _ = call.no_answer()
    return call, [("transition", {"rule": None}), ("joined", {"role": "initiator", "back": True})]


def _leave(role: str) -> Action:
    def act(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
        if call.can_leave(role) is not None:
            return None
        call, _ = call.left(role)
        return call, [("left", {"role": role, "how": "key"})]
    return act


def _cancel(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
    if call.can_cancel("initiator") is not None:
        return None
    call, _ = call.cancel("initiator")
    return call, [("transition", {}), ("left", {"role": "invited", "how": "cancelled"})]


def _emergency(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
    call, _ = call.emergency(CENTRES)
    return call, [("marked", {"role": "initiator", "mark": "emergency"})]


def _citizen_gone(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
    if "citizen" not in call.present:
        return None
    call, _ = call.citizen_gone()
    return call, [("left", {"role": "citizen"})]


def _seat_hung_up(role: str) -> Action:
    def act(call: ThreeWay) -> tuple[ThreeWay, list[Event]] | None:
        if role not in call.present:
            return None
        call, _ = call.left(role)
        return call, [("left", {"role": role, "how": "hung_up"})]
    return act


ACTIONS: dict[str, Action] = {
    "answered": _answered, "no_answer": _no_answer, "initiator_leaves": _leave("initiator"),
    "invited_leaves": _leave("invited"), "cancel": _cancel, "emergency": _emergency,
    "citizen_gone": _citizen_gone, "invited_hangs_up": _seat_hung_up("invited"),
}


def test_every_course_of_a_call_rebuilt_from_its_notes_is_the_call_the_actions_made() -> None:
    """What every process rebuilds from the order (`replay`) is, for every
    sequence of up to four actions, the state and the outcome the live
    methods reached — the first centre and the invited centre from the
    start's facts, not from the order's fields (an emergency moves its target)."""
    plan = plan_start(_request(seat_channel="Local/2001@hotline-seat-phones-0000001a;1", centre="110",
                               first_centre="12345"), centres=CENTRES, timeout_s=30)
    assert not isinstance(plan, Refusal) and plan.first_centre == "12345"
    created: Event = ("created", {"number": "110-20261202-0001", **start_detail(plan)})
    checked = 0
    for length in range(1, 5):
        for names in itertools.product(ACTIONS, repeat=length):
            live = ThreeWay(ID, "110", "12345", "12345", "2001")
            events: list[Event] = [created]
            for name in names:
                done = ACTIONS[name](live)
                if done is not None:
                    live, written = done
                    events += written
            # the order's target says 110 (where an emergency would have moved it): the start's facts win
            rebuilt = replay(ID, source_centre="110", target_centre="110", initiator_seat="2001",
                             events=events, centres=CENTRES)
            assert rebuilt == live, names
            checked += 1
    assert checked == sum(len(ACTIONS) ** n for n in range(1, 5))


def test_when_a_move_failed_or_the_reconciler_settled_it_then_the_call_is_over() -> None:
    for detail in ({"moved": False}, {"phase": "gone", "by": "reconciler"}):
        call = replay(ID, source_centre="12345", target_centre="110", initiator_seat="1001",
                      events=[("created", {}), ("transition", detail)], centres=CENTRES)
        assert (call.phase, call.present, call.first_centre) == ("ended", frozenset(), "12345")
