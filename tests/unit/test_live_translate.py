"""AMI events -> live state: the pure translation, fed recorded Asterisk 22 events.

Transcripts are the ones the protocol tier replays
(tests/protocol/transcripts/*.ami, recorded from Asterisk 22.10.1).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ami_bridge.translate import (
    BadEvent,
    Directory,
    LiveModel,
    apply_event,
    channel_variables,
    diff,
    member_extension,
    model_from_status,
)
from core.centres import parse_centres

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "protocol" / "transcripts"
DIRECTORY = Directory(parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated")
NOW = 1_800_000_000.0


def transcript(name: str) -> list[dict[str, Any]]:
    """The messages of a recorded transcript, as the AMI manager hands them out
    (a repeated header, such as ChanVariable, as a list)."""
    text = (TRANSCRIPTS / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    messages: list[dict[str, Any]] = []
    for block in "\n".join(lines).split("\n\n"):
        headers: dict[str, Any] = {}
        for key, value in (line.split(": ", 1) for line in block.splitlines() if ": " in line):
            if key not in headers:
                headers[key] = value
            elif isinstance(headers[key], list):
                headers[key].append(value)
            else:
                headers[key] = [headers[key], value]
        if headers:
            messages.append(headers)
    return messages


def model(status: str = "queue_status_idle.ami") -> LiveModel:
    built, problems = model_from_status(transcript(status), DIRECTORY, NOW)
    assert problems == []
    return built


def replay(live: LiveModel, name: str, now: float = NOW + 10) -> set[str]:
    touched: set[str] = set()
    for event in transcript(name):
        changes = apply_event(live, event, DIRECTORY, now)
        touched |= {f"queue:{q}" for q in changes.queues} | {f"seat:{s}" for s in changes.seats}
    return touched


@pytest.mark.parametrize(("interface", "name", "extension"), [
    ("PJSIP/1001", "", "1001"),
    ("Local/1001@hotline-seat-phones/n", "1001", "1001"),
    ("PJSIP/3001@remote-pbx", "", "3001"),
    ("SIP/2001", "agent", "2001"),
    ("", "1002", "1002"),
    ("Agent/", "Zhang", None),
    ("", "", None),
])
def test_member_interface_maps_to_seat_extension(interface: str, name: str, extension: str | None) -> None:
    assert member_extension(interface, name) == extension


def test_when_queue_status_is_read_then_queues_map_to_centres_and_seats_to_extensions() -> None:
    live = model("queue_status_idle.ami")

    assert {(q.name, q.centre, q.kind) for q in live.queues.values()} == {
        ("hotline-12345", "12345", "public"),
        ("hotline-12345-linkage", "12345", "linkage"),
        ("hotline-110", "110", "public"),
    }
    seats = {ext: s.state() for ext, s in live.seats.items()}
    assert seats["1001"].state == "idle"
    assert seats["1001"].queues == ["hotline-12345", "hotline-12345-linkage"]
    assert seats["1001"].interface == "Local/1001@hotline-seat-phones/n"
    assert seats["1002"].state == "paused" and seats["1002"].paused
    assert seats["2001"].centre == "110" and seats["2001"].state == "idle"


def test_when_a_caller_waits_then_the_queue_lists_the_citizen_number() -> None:
    live = model("queue_status_caller_waiting.ami")

    queue = live.queues["hotline-12345"]
    assert queue.waiting == 1
    entry = queue.entries[0]
    assert (entry.caller_number, entry.position, entry.uniqueid) == ("13800138000", 1, "1795609447.1")
    assert entry.channel == "Local/12345@citizen-00000000;2"
    assert entry.joined_at == NOW  # Wait: 0


def test_seat_paused_in_one_queue_only_is_not_shown_paused() -> None:
    live = model("queue_status_caller_waiting.ami")  # 1001 paused in 12345, not in linkage

    assert live.seats["1001"].state().state == "idle"
    assert live.seats["1001"].state().paused is False


def test_configured_seat_missing_from_every_queue_is_signed_out() -> None:
    directory = Directory(parse_centres("12345:1001-1003;110:2001"), seat_mode="sip")
    live, _ = model_from_status(transcript("queue_status_idle.ami"), directory, NOW)

    seat = live.seats["1003"].state()
    assert (seat.state, seat.queues, seat.interface) == ("signed_out", [], "PJSIP/1003")


def test_when_citizen_joins_then_entry_appears_with_number_and_position() -> None:
    live = model("queue_status_idle.ami")

    touched = replay(live, "events_caller_joins.ami")

    assert "queue:hotline-12345" in touched
    [entry] = live.queues["hotline-12345"].entries
    assert (entry.caller_number, entry.position) == ("13800138000", 1)
    assert entry.joined_at == NOW + 10


def test_when_seat_answers_then_it_is_in_call_with_the_citizen_and_the_queue_empties() -> None:
    live = model("queue_status_caller_waiting.ami")

    replay(live, "events_seat_answers.ami")

    seat = live.seats["1001"].state()
    assert seat.state == "in_call"
    assert seat.talking_to == "13800138000"
    assert live.queues["hotline-12345"].entries == []


def test_when_seat_is_called_then_it_rings_with_the_caller_number() -> None:
    live = model("queue_status_caller_waiting.ami")
    events = transcript("events_seat_answers.ami")
    upto = next(i for i, e in enumerate(events) if e["Event"] == "AgentCalled")

    for event in events[: upto + 1]:
        apply_event(live, event, DIRECTORY, NOW)

    seat = live.seats["1001"].state()
    assert (seat.state, seat.talking_to) == ("ringing", "13800138000")


def test_when_call_completes_then_seat_is_idle_again_and_completed_counts() -> None:
    live = model("queue_status_caller_waiting.ami")
    replay(live, "events_seat_answers.ami")

    touched = replay(live, "events_call_completes.ami")

    seat = live.seats["1001"].state()
    assert (seat.state, seat.talking_to) == ("idle", None)
    assert live.queues["hotline-12345"].completed == 1
    assert {"seat:1001", "queue:hotline-12345"} <= touched


def test_ring_no_answer_clears_ringing() -> None:
    live = model("queue_status_idle.ami")
    called = {"Event": "AgentCalled", "Queue": "hotline-12345", "Interface": "Local/1001@hotline-seat-phones/n",
              "MemberName": "1001", "CallerIDNum": "13800138000", "Uniqueid": "1.1"}
    apply_event(live, called, DIRECTORY, NOW)
    assert live.seats["1001"].state().state == "ringing"

    apply_event(live, {**called, "Event": "AgentRingNoAnswer", "RingTime": "15"}, DIRECTORY, NOW)

    assert (live.seats["1001"].state().state, live.seats["1001"].state().talking_to) == ("idle", None)


def test_when_caller_hangs_up_in_queue_then_entry_goes_and_abandoned_counts_once() -> None:
    live = model("queue_status_idle.ami")

    replay(live, "events_caller_abandons.ami")

    queue = live.queues["hotline-12345"]
    assert queue.entries == []
    assert queue.abandoned == 1
    assert live.seats["1001"].state().state == "paused"  # paused in both its queues


def _abandon_of_a_peer_handoff(live: Any) -> None:
    """A peer platform's handoff leaves the linkage queue unanswered (app_queue's
    QueueCallerAbandon, as it sends one for a timeout too), then app_queue's
    counters arrive in a QueueParams with it among the Abandoned."""
    base = {"Queue": "hotline-12345-linkage", "Channel": "PJSIP/peer-110-00000001", "Uniqueid": "1796069970.5",
            "CallerIDNum": "13800138000", "Position": "1"}
    peer = ["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=13800138000", "HOTLINE_HANDOFF_ID=",
            "HOTLINE_PEER_HANDOFF=1796069957.2"]
    apply_event(live, {"Event": "QueueCallerJoin", **base, "Count": "1", "ChanVariable": peer}, DIRECTORY, NOW)
    apply_event(live, {"Event": "QueueCallerAbandon", **base, "OriginalPosition": "1", "HoldTime": "30",
                       "ChanVariable": peer}, DIRECTORY, NOW)
    apply_event(live, {"Event": "QueueCallerLeave", **base, "Count": "0", "ChanVariable": peer}, DIRECTORY, NOW)


def test_when_a_peer_platform_s_handoff_leaves_unanswered_then_it_is_no_abandoned_citizen_call() -> None:
    live = model("queue_status_idle.ami")
    before = live.queues["hotline-12345-linkage"].abandoned

    _abandon_of_a_peer_handoff(live)

    queue = live.queues["hotline-12345-linkage"]
    assert (queue.abandoned, queue.peer_unanswered, queue.entries) == (before, 1, [])
    apply_event(live, {"Event": "QueueParams", "Queue": "hotline-12345-linkage", "Completed": "0",
                       "Abandoned": str(before + 1), "Holdtime": "0"}, DIRECTORY, NOW)
    assert (queue.abandoned, queue.peer_unanswered) == (before, 1)  # app_queue counted it: split off again


def test_a_resync_keeps_the_peer_s_unanswered_handoffs_apart_until_app_queue_s_counters_reset() -> None:
    live = model("queue_status_idle.ami")
    _abandon_of_a_peer_handoff(live)
    status = [dict(m) for m in transcript("queue_status_idle.ami")]
    for message in status:
        if message.get("Event") == "QueueParams" and message.get("Queue") == "hotline-12345-linkage":
            message["Abandoned"] = str(int(message.get("Abandoned", "0")) + 1)
    resynced, _ = model_from_status(status, DIRECTORY, NOW, previous=live)
    queue = resynced.queues["hotline-12345-linkage"]
    assert (queue.abandoned, queue.peer_unanswered) == (live.queues["hotline-12345-linkage"].abandoned, 1)

    restarted, _ = model_from_status(transcript("queue_status_idle.ami"), DIRECTORY, NOW, previous=resynced)
    assert restarted.queues["hotline-12345-linkage"].peer_unanswered == 0  # Asterisk's counters were reset


def test_remote_seat_appears_on_add_and_disappears_on_remove() -> None:
    live = model("queue_status_idle.ami")
    events = transcript("events_remote_seat.ami")

    apply_event(live, events[0], DIRECTORY, NOW)  # QueueMemberAdded PJSIP/3001
    seat = live.seats["3001"].state()
    assert (seat.centre, seat.interface, seat.queues) == ("110", "PJSIP/3001", ["hotline-110"])

    changes = apply_event(live, events[1], DIRECTORY, NOW)  # QueueMemberRemoved
    assert "3001" in changes.seats and "3001" not in live.seats


def test_configured_seat_removed_from_its_queues_stays_listed_as_signed_out_since_then() -> None:
    live = model("queue_status_idle.ami")
    removed = {"Event": "QueueMemberRemoved", "Queue": "hotline-110", "MemberName": "2001",
               "Interface": "Local/2001@hotline-seat-phones/n"}

    apply_event(live, removed, DIRECTORY, NOW)

    seat = live.seats["2001"].state()
    assert (seat.state, seat.since, seat.pause_reason) == ("signed_out", NOW, None)


@pytest.mark.parametrize("event", [
    {"Event": "QueueCallerJoin", "Channel": "PJSIP/x-1", "Position": "1"},                 # no Queue
    {"Event": "QueueCallerJoin", "Queue": "hotline-110", "Channel": "PJSIP/x-1", "Position": "first"},
    {"Event": "QueueMemberStatus", "Queue": "hotline-110", "Interface": "PJSIP/2001", "Status": "busy"},
    {"Event": "QueueMemberStatus", "Queue": "hotline-110", "Status": "1"},                  # no member
    {"Event": "QueueMemberPause", "Queue": "hotline-110", "Interface": "PJSIP/2001", "Paused": "maybe"},
    {"Event": "QueueCallerLeave", "Queue": "hotline-110"},                                  # no channel
    {"Event": "AgentConnect", "Interface": "PJSIP/2001"},                                   # no Queue
])
def test_malformed_event_is_rejected_and_leaves_the_model_untouched(event: dict[str, str]) -> None:
    live = model("queue_status_caller_waiting.ami")
    before = {n: q.to_json() for n, q in live.queues.items()}, {e: s.state().to_json() for e, s in live.seats.items()}

    with pytest.raises(BadEvent):
        apply_event(live, event, DIRECTORY, NOW + 1)

    after = {n: q.to_json() for n, q in live.queues.items()}, {e: s.state().to_json() for e, s in live.seats.items()}
    assert after == before


def test_unrelated_events_change_nothing() -> None:
    live = model("queue_status_idle.ami")
    assert replay(live, "play_dtmf.ami") == set()
    assert not apply_event(live, {"Event": "VarSet", "Channel": "PJSIP/1-1", "Uniqueid": "1.1",
                                  "Variable": "X", "Value": "1"}, DIRECTORY, NOW)


def test_resync_after_restart_drops_stale_callers_and_calls() -> None:
    live = model("queue_status_caller_waiting.ami")
    replay(live, "events_seat_answers.ami")  # 1001 in a call

    fresh, _ = model_from_status(transcript("queue_status_idle.ami"), DIRECTORY, NOW + 60, previous=live)

    assert fresh.queues["hotline-12345"].entries == []
    assert fresh.seats["1001"].state().state == "idle"
    assert fresh.seats["1001"].state().talking_to is None
    assert "1001" in diff(live, fresh).seats


def test_light_resync_keeps_call_tracking_and_publishes_nothing_when_nothing_changed() -> None:
    live = model("queue_status_caller_waiting.ami")
    replay(live, "events_seat_answers.ami")
    live2, _ = model_from_status(transcript("queue_status_in_call.ami"), DIRECTORY, NOW + 20, previous=live)
    assert live2.seats["1001"].state().talking_to == "13800138000"

    live3, _ = model_from_status(transcript("queue_status_in_call.ami"), DIRECTORY, NOW + 35, previous=live2)

    assert not diff(live2, live3)
    assert live3.seats["1001"].updated_at == live2.seats["1001"].updated_at


def test_malformed_status_items_are_reported_and_skipped() -> None:
    messages = [*transcript("queue_status_idle.ami"), {"Event": "QueueEntry", "Queue": "hotline-110"}]

    live, problems = model_from_status(messages, DIRECTORY, NOW)

    assert len(problems) == 1 and "Channel" in str(problems[0])
    assert live.queues["hotline-110"].entries == []


# ---------------------------------------------------------------- channels

CALL_CHANNELS = {  # uniqueid -> channel, in tests/protocol/transcripts/*channels*.ami
    "citizen-500c84ba3a0b": "Local/12345@hotline-inbound-00000000;1",      # the citizen's handset
    "citizen-leg-7f1cb5d40a2c": "Local/12345@hotline-inbound-00000000;2",  # the call in the PBX
    "1795610200.2": "Local/1001@hotline-seat-phones-00000001;1",           # queue leg to seat 1001
    "1795610200.3": "Local/1001@hotline-seat-phones-00000001;2",           # seat 1001's phone
}
BRIDGE = "e4084898-30d8-4b37-9ffc-50218e0ec1ab"


def channels_model(listing: str = "core_show_channels_in_call.ami", now: float = NOW,
                   previous: LiveModel | None = None) -> LiveModel:
    built, problems = model_from_status(transcript("queue_status_idle.ami"), DIRECTORY, now,
                                        previous=previous, channels=transcript(listing))
    assert problems == []
    return built


def replay_channels(live: LiveModel, name: str, now: float = NOW + 10) -> set[str]:
    touched: set[str] = set()
    for event in transcript(name):
        touched |= apply_event(live, event, DIRECTORY, now).channels
    return touched


@pytest.mark.parametrize(("headers", "expected"), [
    ({"ChanVariable": ["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=13800138000", "HOTLINE_HANDOFF_ID="]},
     {"HOTLINE_CENTRE": "12345", "HOTLINE_CITIZEN": "13800138000", "HOTLINE_HANDOFF_ID": ""}),
    ({"ChanVariable": "HOTLINE_CENTRE=110"}, {"HOTLINE_CENTRE": "110"}),      # one channelvar: a string
    ({"ChanVariable": "X=a=b"}, {"X": "a=b"}),                                # value keeps its '='
    ({"ChanVariable": ["garbage", "=x"]}, {}),
    ({}, {}),
])
def test_chan_variable_headers_are_read_whether_single_or_repeated(
        headers: dict[str, Any], expected: dict[str, str]) -> None:
    assert channel_variables({"Event": "Newstate", **headers}) == expected


def test_when_resync_lists_channels_then_each_is_mirrored_with_its_centre_and_bridge() -> None:
    live = channels_model()

    assert {u: c.channel for u, c in live.channels.items()} == CALL_CHANNELS
    leg = live.channels["citizen-leg-7f1cb5d40a2c"]
    assert (leg.state, leg.caller_number, leg.connected_number) == ("Up", "13800138000", "13800138000")
    assert (leg.context, leg.exten, leg.linkedid) == ("hotline-route", "s", "citizen-500c84ba3a0b")
    assert (leg.centre, leg.bridge_id) == ("12345", BRIDGE)
    assert leg.created_at == NOW - 1  # Duration: 00:00:01
    assert live.channels["1795610200.2"].bridge_id == BRIDGE
    assert live.channels["1795610200.3"].bridge_id is None
    assert live.channels["citizen-500c84ba3a0b"].centre is None  # HOTLINE_CENTRE= (unset on the handset)


def test_when_citizen_calls_then_channel_events_build_what_a_resync_would_show() -> None:
    live = model("queue_status_idle.ami")

    touched = replay_channels(live, "events_channels_call_answered.ami")

    assert touched == set(CALL_CHANNELS)
    listed = channels_model().channels
    assert {u: c.to_json() for u, c in live.channels.items()} == {
        u: replace(c, created_at=NOW + 10).to_json() for u, c in listed.items()}


def test_newexten_refreshes_a_known_channel_in_memory_but_reports_no_change() -> None:
    live = channels_model()
    step = {"Event": "Newexten", "Channel": CALL_CHANNELS["1795610200.3"], "Uniqueid": "1795610200.3",
            "ChannelStateDesc": "Up", "CallerIDNum": "13800138000", "ConnectedLineNum": "13800138000",
            "Context": "hotline-seat-phones", "Exten": "1001", "Priority": "9",
            "Linkedid": "citizen-500c84ba3a0b", "Application": "Wait", "AppData": "1"}
    unknown = {**step, "Uniqueid": "9.9", "Channel": "PJSIP/9-00000009"}

    assert not apply_event(live, step, DIRECTORY, NOW)
    assert not apply_event(live, unknown, DIRECTORY, NOW)

    assert live.channels["1795610200.3"].exten == "1001"
    assert live.channels["1795610200.3"].centre == "12345"  # no ChanVariable headers: kept
    assert "9.9" not in live.channels


def test_when_the_call_hangs_up_then_every_channel_goes_and_bridges_are_left_first() -> None:
    live = channels_model()
    events = transcript("events_channels_call_hung_up.ami")
    leave = next(e for e in events if e["Event"] == "BridgeLeave")

    assert apply_event(live, leave, DIRECTORY, NOW).channels == {leave["Uniqueid"]}
    assert live.channels[leave["Uniqueid"]].bridge_id is None

    touched = replay_channels(live, "events_channels_call_hung_up.ami")

    assert touched == set(CALL_CHANNELS)
    assert live.channels == {}


def test_channel_event_that_changes_nothing_reports_nothing() -> None:
    live = model("queue_status_idle.ami")
    events = transcript("events_channels_call_answered.ami")
    replay_channels(live, "events_channels_call_answered.ami")
    bridged = next(e for e in events if e["Event"] == "BridgeEnter")

    assert not apply_event(live, bridged, DIRECTORY, NOW + 20)
    assert not apply_event(live, {"Event": "Hangup", "Uniqueid": "never.seen"}, DIRECTORY, NOW)


def test_channel_event_for_a_channel_missing_from_the_last_resync_adds_it() -> None:
    live = channels_model("core_show_channels_idle.ami")
    newstate = {"Event": "Newstate", "Channel": "PJSIP/1001-00000007", "ChannelStateDesc": "Ringing",
                "CallerIDNum": "<unknown>", "ConnectedLineNum": "13800138000", "Context": "hotline-seats",
                "Exten": "1001", "Uniqueid": "1795610300.7", "Linkedid": "1795610300.6",
                "ChanVariable": ["HOTLINE_CENTRE=110", "HOTLINE_CITIZEN=13800138000", "HOTLINE_HANDOFF_ID=h-1"]}

    assert apply_event(live, newstate, DIRECTORY, NOW).channels == {"1795610300.7"}

    channel = live.channels["1795610300.7"]
    assert (channel.state, channel.caller_number, channel.connected_number) == ("Ringing", "", "13800138000")
    assert (channel.centre, channel.created_at) == ("110", NOW)


def test_resync_replaces_every_channel_so_nothing_stale_survives() -> None:
    live = channels_model()
    replay_channels(live, "events_channels_call_answered.ami")

    fresh = channels_model("core_show_channels_idle.ami", NOW + 60, previous=live)

    assert fresh.channels == {}
    assert diff(live, fresh).channels == set(CALL_CHANNELS)


def test_light_resync_keeps_channel_creation_times_and_reports_nothing_when_nothing_changed() -> None:
    first = channels_model()
    again = channels_model(now=NOW + 15, previous=first)  # Duration says 00:00:01 again: ignored

    assert not diff(first, again)
    assert again.channels["citizen-leg-7f1cb5d40a2c"].created_at == NOW - 1


def test_resync_without_a_channel_list_keeps_the_channels_it_knew() -> None:
    live = channels_model()

    fresh, _ = model_from_status(transcript("queue_status_idle.ami"), DIRECTORY, NOW + 15, previous=live)

    assert set(fresh.channels) == set(CALL_CHANNELS)
    assert not diff(live, fresh).channels


@pytest.mark.parametrize("event", [
    {"Event": "Newchannel", "Channel": "PJSIP/1-1"},                                  # no Uniqueid
    {"Event": "Newstate", "Uniqueid": "1795610200.3"},                                # no Channel
    {"Event": "BridgeEnter", "Channel": "PJSIP/1-1", "Uniqueid": "1795610200.3"},     # no BridgeUniqueid
    {"Event": "Hangup", "Channel": "PJSIP/1-1"},                                      # no Uniqueid
])
def test_malformed_channel_event_is_rejected_and_leaves_channels_untouched(event: dict[str, str]) -> None:
    live = channels_model()
    before = {u: c.to_json() for u, c in live.channels.items()}

    with pytest.raises(BadEvent):
        apply_event(live, event, DIRECTORY, NOW + 1)

    assert {u: c.to_json() for u, c in live.channels.items()} == before


def test_malformed_channel_in_a_listing_is_reported_and_skipped() -> None:
    listing = [*transcript("core_show_channels_in_call.ami"), {"Event": "CoreShowChannel", "Channel": "PJSIP/x"}]

    live, problems = model_from_status(transcript("queue_status_idle.ami"), DIRECTORY, NOW, channels=listing)

    assert len(problems) == 1 and "Uniqueid" in str(problems[0])
    assert set(live.channels) == set(CALL_CHANNELS)


def test_manager_conf_sends_the_centre_and_only_shared_channel_variables() -> None:
    from core import channel_vars

    conf = (Path(__file__).resolve().parents[2] / "asterisk-conf" / "manager.conf.j2").read_text(encoding="utf-8")
    [line] = [ln for ln in conf.splitlines() if ln.replace(" ", "").startswith("channelvars=")]
    names = [n.strip() for n in line.split("=", 1)[1].split(",")]

    assert channel_vars.CENTRE in names
    assert set(names) <= channel_vars.ALL


def test_when_seat_is_paused_with_a_reason_then_state_says_paused_with_reason_and_since() -> None:
    live = model("queue_status_idle.ami")
    for queue in ("hotline-110", "hotline-110-linkage"):
        apply_event(live, {"Event": "QueueMemberPause", "Queue": queue, "MemberName": "2001",
                           "Interface": "Local/2001@hotline-seat-phones/n", "Status": "1", "Paused": "1",
                           "PausedReason": "培训", "LastPause": "1795609446", "InCall": "0"}, DIRECTORY, NOW)

    seat = live.seats["2001"].state()
    assert (seat.state, seat.pause_reason, seat.since) == ("paused", "培训", 1795609446.0)

    apply_event(live, {"Event": "QueueMemberPause", "Queue": "hotline-110", "MemberName": "2001",
                       "Interface": "Local/2001@hotline-seat-phones/n", "Status": "1", "Paused": "0",
                       "LastPause": "1795609446", "InCall": "0"}, DIRECTORY, NOW)
    seat = live.seats["2001"].state()
    assert (seat.state, seat.pause_reason, seat.since) == ("idle", None, None)


@pytest.mark.parametrize("case", [str.lower, str.upper])
def test_header_names_cased_otherwise_than_asterisk_spells_them_give_the_same_model(case: Any) -> None:
    """Lookups go by the name as Asterisk spells it first (events are many);
    a header named otherwise (a proxy, another version) is still read."""
    expected, recased = model(), model()
    for name in ("events_caller_joins.ami", "events_seat_answers.ami", "events_channels_call_answered.ami"):
        for event in transcript(name):
            apply_event(expected, event, DIRECTORY, NOW + 10)
            apply_event(recased, {case(k): v for k, v in event.items()}, DIRECTORY, NOW + 10)
    assert expected.channels and {u: c.to_json() for u, c in recased.channels.items()} == \
        {u: c.to_json() for u, c in expected.channels.items()}
    assert {e: s.state() for e, s in recased.seats.items()} == {e: s.state() for e, s in expected.seats.items()}
    assert {q: x.to_json() for q, x in recased.queues.items()} == {q: x.to_json() for q, x in expected.queues.items()}
