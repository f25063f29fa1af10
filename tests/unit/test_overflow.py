"""Remote-seat overflow (core/overflow.py): group validation and surge detection, table-tested."""
from __future__ import annotations

from typing import Any

import pytest

from core.centres import parse_centres
from core.live import QueueEntry, QueueState, SeatState
from core.overflow import (
    CentreLoad,
    SurgeState,
    Thresholds,
    centre_load,
    desired_members,
    parse_member,
    surge_step,
    validate_group,
)
from core.safety import UnsafeValue

CENTRES = parse_centres("12345:1001-1002;110:2001")
GOOD: dict[str, Any] = {"name": "gx-remote", "centre": "12345",
                        "members": ["PJSIP/nn-7", "PJSIP/13800138000@gx-trunk", "Local/9001@remote-phones"],
                        "priority": 2, "min_waiting": 3}


def test_when_a_group_is_valid_then_members_are_parsed_and_local_channels_get_n() -> None:
    group = validate_group(GOOD, CENTRES)
    assert [(m.interface, m.name) for m in group.members] == [
        ("PJSIP/nn-7", "nn-7"),
        ("PJSIP/13800138000@gx-trunk", "13800138000@gx-trunk"),
        ("Local/9001@remote-phones/n", "9001"),
    ]
    assert (group.penalty, group.thresholds, group.enabled) == (2, Thresholds(min_waiting=3), True)


@pytest.mark.parametrize("change, field", [
    ({"centre": "119"}, "centre"),
    ({"centre": None}, "centre"),
    ({"members": []}, "members"),
    ({"members": "PJSIP/nn-7"}, "members"),
    ({"members": ["PJSIP/nn-7", "PJSIP/nn-7"]}, "members"),
    ({"members": ["SIP/nn-7"]}, "members"),
    ({"members": ["PJSIP/nn 7"]}, "members"),
    ({"members": ["PJSIP/nn-7\r\nAction: Originate"]}, "members"),
    ({"members": ["Local/9001@hotline-inbound"]}, "members"),
    ({"members": ["Local/1001@hotline-seat-phones/n"]}, "members"),
    ({"members": ["PJSIP/2001"]}, "members"),
    ({"members": ["PJSIP/x,y"]}, "members"),
    ({"members": [7]}, "members"),
    ({"members": [f"PJSIP/r{i}" for i in range(65)]}, "members"),
    ({"min_waiting": -1}, "min_waiting"),
    ({"min_waiting": 0}, "min_waiting"),
    ({"min_waiting": 100000}, "min_waiting"),
    ({"min_waiting": "3"}, "min_waiting"),
    ({"min_waiting": True}, "min_waiting"),
    ({"max_wait_s": -5}, "max_wait_s"),
    ({"max_wait_s": 86400 * 7}, "max_wait_s"),
    ({"priority": 0}, "priority"),
    ({"priority": 1000}, "priority"),
    ({"when_no_local_free": "yes"}, "when_no_local_free"),
    ({"min_waiting": None}, "min_waiting"),  # no threshold left: never opens
    ({"name": "bad name"}, "name"),
    ({"name": "x\ny"}, "name"),
    ({"name": ""}, "name"),
    ({"colour": "red"}, "colour"),
])
def test_when_a_group_is_invalid_then_the_error_names_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(UnsafeValue) as error:
        validate_group({**GOOD, **change}, CENTRES)
    assert error.value.field == field


@pytest.mark.parametrize("member", [
    "Local/x@hotline-threeway-ring",      # would queue the citizen at the other centre's linkage queue
    "Local/x@hotline-threeway-ring/n",
    "Local/x@HOTLINE-threeway-ring",      # case makes no difference
    "Local/s@hotline-threeway-join",
    "Local/key@hotline-transfer",
    "Local/12345@hotline-inbound",
])
def test_when_a_member_dials_into_the_hotlines_own_call_flow_then_it_is_refused(member: str) -> None:
    with pytest.raises(UnsafeValue) as error:
        parse_member(member, 0, CENTRES)
    assert error.value.field == "members" and "own call flow" in error.value.reason


@pytest.mark.parametrize("member, interface", [
    ("Local/9001@remote-phones", "Local/9001@remote-phones/n"),
    ("Local/9001@hotline-seat-phones", "Local/9001@hotline-seat-phones/n"),  # a simulated phone, not a seat
    ("Local/9001@hotlines", "Local/9001@hotlines/n"),                        # outside the `hotline-` namespace
])
def test_when_a_member_dials_a_phone_outside_the_call_flow_then_it_is_accepted(member: str, interface: str) -> None:
    assert parse_member(member, 0, CENTRES).interface == interface


def _load(waiting: int = 0, longest: float = 0.0, free: int = 1) -> CentreLoad:
    return CentreLoad(waiting=waiting, longest_wait_s=longest, local_free=free, local_seats=2)


def test_when_waiting_reaches_n_for_open_after_then_the_group_opens_once() -> None:
    th = Thresholds(min_waiting=3)
    state, change = surge_step(SurgeState(), th, _load(3), 100.0, open_after_s=2, clear_after_s=30)
    assert change is None and state.pending_since == 100.0
    state, change = surge_step(state, th, _load(3), 102.0, open_after_s=2, clear_after_s=30)
    assert change is not None and (change.kind, change.reason) == ("open", "waiting 3 >= 3")
    assert state.open and state.since == 102.0
    state, change = surge_step(state, th, _load(9), 103.0, open_after_s=2, clear_after_s=30)
    assert change is None and state.open


def test_when_a_trigger_lapses_before_open_after_then_nothing_opens() -> None:
    th = Thresholds(min_waiting=3)
    state, _ = surge_step(SurgeState(), th, _load(3), 100.0, open_after_s=2, clear_after_s=30)
    state, _ = surge_step(state, th, _load(1), 101.0, open_after_s=2, clear_after_s=30)
    state, change = surge_step(state, th, _load(3), 102.5, open_after_s=2, clear_after_s=30)
    assert change is None and not state.open


def test_when_the_queue_empties_for_a_moment_then_the_group_does_not_flap() -> None:
    th = Thresholds(min_waiting=2)
    state = SurgeState(open=True, since=0.0)
    state, change = surge_step(state, th, _load(0), 10.0, open_after_s=0, clear_after_s=30)
    assert change is None and state.open
    state, change = surge_step(state, th, _load(2), 20.0, open_after_s=0, clear_after_s=30)  # back: timer resets
    state, change = surge_step(state, th, _load(0), 45.0, open_after_s=0, clear_after_s=30)
    assert change is None and state.open
    state, change = surge_step(state, th, _load(0), 75.0, open_after_s=0, clear_after_s=30)
    assert change is not None and change.kind == "close" and not state.open


@pytest.mark.parametrize("th, load, reason", [
    (Thresholds(max_wait_s=20), _load(1, 20.0), "longest wait 20s >= 20s"),
    (Thresholds(when_no_local_free=True), _load(1, 0.0, free=0), "no local seat free"),
])
def test_each_trigger_opens_on_its_own(th: Thresholds, load: CentreLoad, reason: str) -> None:
    _state, change = surge_step(SurgeState(), th, load, 1.0, open_after_s=0, clear_after_s=30)
    assert change is not None and change.reason == reason


def test_when_no_local_seat_is_free_but_nobody_waits_then_nothing_opens() -> None:
    state, change = surge_step(SurgeState(), Thresholds(when_no_local_free=True), _load(0, free=0), 1.0,
                               open_after_s=0, clear_after_s=30)
    assert change is None and not state.open


def test_when_a_group_is_disabled_then_an_open_surge_closes_at_once() -> None:
    _state, change = surge_step(SurgeState(open=True, since=0), Thresholds(min_waiting=1), _load(5), 1.0,
                               open_after_s=0, clear_after_s=30, enabled=False)
    assert change is not None and (change.kind, change.reason) == ("close", "group disabled")


def test_load_counts_only_idle_unpaused_local_seats_and_the_public_queue() -> None:
    queue = QueueState("hotline-12345", "12345", "public",
                       entries=[QueueEntry("c1", "u1", 1, "1380", 90.0), QueueEntry("c2", "u2", 2, "1390", 95.0)])
    linkage = QueueState("hotline-12345-linkage", "12345", "linkage", entries=[QueueEntry("c3", "u3", 1, "1", 0.0)])
    seats = {"1001": SeatState("1001", "12345", "PJSIP/1001", "idle"),
             "1002": SeatState("1002", "12345", "PJSIP/1002", "paused", paused=True),
             "9001": SeatState("9001", "12345", "Local/9001@remote-phones/n", "idle")}
    load = centre_load(CENTRES[0], {q.name: q for q in (queue, linkage)}, seats, 100.0)
    assert load == CentreLoad(waiting=2, longest_wait_s=10.0, local_free=1, local_seats=2)


def test_only_open_enabled_groups_put_members_in_their_centres_public_queue() -> None:
    open_group = validate_group(GOOD, CENTRES)
    closed = validate_group({**GOOD, "name": "other", "members": ["PJSIP/x"]}, CENTRES)
    wanted = desired_members([open_group, closed], {"gx-remote": SurgeState(open=True)}, CENTRES)
    assert {q: sorted(m) for q, m in wanted.items()} == {
        "hotline-12345": ["Local/9001@remote-phones/n", "PJSIP/13800138000@gx-trunk", "PJSIP/nn-7"],
        "hotline-110": [],
    }
    assert {p for _, p in wanted["hotline-12345"].values()} == {2}


# ------------------------------------------------------------------ members over a trunk

def test_a_member_over_a_trunk_is_known_by_its_trunk() -> None:
    from core.overflow import member_trunk, trunk_state_interface

    assert member_trunk("PJSIP/110@peer-110") == "peer-110"
    assert member_trunk("PJSIP/remote-7") is None and member_trunk("Local/9001@remote-phones/n") is None
    assert trunk_state_interface("peer-110") == "Custom:hotline-trunk-peer-110"


@pytest.mark.parametrize(("reachable", "calls", "max_calls", "state"), [
    (True, 0, 2, "NOT_INUSE"),
    (True, 1, 2, "NOT_INUSE"),     # one call: the member still takes another (not one busy member per trunk)
    (True, 2, 2, "BUSY"),
    (True, 3, 2, "BUSY"),
    (True, 50, None, "NOT_INUSE"),  # no max=: the far side's limit only
    (False, 0, 2, "UNAVAILABLE"),   # qualify: the trunk is down
])
def test_a_trunk_s_members_show_its_reachability_and_limit(reachable: bool, calls: int, max_calls: int | None,
                                                          state: str) -> None:
    from core.overflow import trunk_state

    assert trunk_state(reachable, calls, max_calls) == state


@pytest.mark.parametrize(("pai", "seat"), [
    ('"110 seat 2001" <sip:2001@10.0.0.2>', "2001"),
    ("<sip:2002@10.0.0.2;user=phone>", "2002"),
    ("<tel:+2003>", "2003"),
    ("", None),
    ("<sip:anonymous@anonymous.invalid>", None),
    ("<sip:2001;evil@x>", None),
])
def test_the_remote_seat_that_answered_is_read_from_the_200_ok_s_identity(pai: str, seat: str | None) -> None:
    from core.overflow import answering_seat

    assert answering_seat(pai) == seat
