"""AMI events -> live state: the pure translation, fed recorded Asterisk 22 events.

Transcripts are the ones the protocol tier replays
(tests/protocol/transcripts/*.ami, recorded from Asterisk 22.10.1).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ami_bridge.translate import (
    BadEvent, Directory, LiveModel, apply_event, diff, member_extension, model_from_status,
)
from core.centres import parse_centres

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "protocol" / "transcripts"
DIRECTORY = Directory(parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated")
NOW = 1_800_000_000.0


def transcript(name: str) -> list[dict[str, str]]:
    """The messages of a recorded transcript, as the AMI manager hands them out."""
    text = (TRANSCRIPTS / name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    messages: list[dict[str, str]] = []
    for block in "\n".join(lines).split("\n\n"):
        headers = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
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


def test_configured_seat_missing_from_every_queue_is_unavailable() -> None:
    directory = Directory(parse_centres("12345:1001-1003;110:2001"), seat_mode="sip")
    live, _ = model_from_status(transcript("queue_status_idle.ami"), directory, NOW)

    seat = live.seats["1003"].state()
    assert (seat.state, seat.queues, seat.interface) == ("unavailable", [], "PJSIP/1003")


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


def test_remote_seat_appears_on_add_and_disappears_on_remove() -> None:
    live = model("queue_status_idle.ami")
    events = transcript("events_remote_seat.ami")

    apply_event(live, events[0], DIRECTORY, NOW)  # QueueMemberAdded PJSIP/3001
    seat = live.seats["3001"].state()
    assert (seat.centre, seat.interface, seat.queues) == ("110", "PJSIP/3001", ["hotline-110"])

    changes = apply_event(live, events[1], DIRECTORY, NOW)  # QueueMemberRemoved
    assert "3001" in changes.seats and "3001" not in live.seats


def test_configured_seat_removed_from_its_queues_stays_listed_as_unavailable() -> None:
    live = model("queue_status_idle.ami")
    removed = {"Event": "QueueMemberRemoved", "Queue": "hotline-110", "MemberName": "2001",
               "Interface": "Local/2001@hotline-seat-phones/n"}

    apply_event(live, removed, DIRECTORY, NOW)

    assert live.seats["2001"].state().state == "unavailable"


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
    assert not apply_event(live, {"Event": "Newchannel", "Channel": "PJSIP/1-1"}, DIRECTORY, NOW)


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
    messages = transcript("queue_status_idle.ami") + [{"Event": "QueueEntry", "Queue": "hotline-110"}]

    live, problems = model_from_status(messages, DIRECTORY, NOW)

    assert len(problems) == 1 and "Channel" in str(problems[0])
    assert live.queues["hotline-110"].entries == []
