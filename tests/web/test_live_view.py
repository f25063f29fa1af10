"""`live_snapshot`: the pure shaping of /api/live from settings and live state."""
from __future__ import annotations

from pathlib import Path

from app.live.view import live_snapshot
from core.centres import parse_centres
from core.live import ChannelState, QueueEntry, QueueState, SeatState
from core.settings import PathSettings, Settings, SiteSettings

NOW = 1_764_043_300.0


def settings(seat_mode: str = "sip") -> Settings:
    return Settings(site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"),
                                      seat_mode=seat_mode),  # type: ignore[arg-type]
                    paths=PathSettings(state_dir=Path("/nonexistent")))


def test_when_nothing_is_live_then_every_configured_queue_is_empty_and_every_seat_unknown() -> None:
    body = live_snapshot(settings(), {}, {}, {}, NOW)
    assert body["ami"]["connected"] is False
    assert [(c["id"], [q["name"] for q in c["queues"]], [s["extension"] for s in c["seats"]])
            for c in body["centres"]] == [
        ("12345", ["hotline-12345", "hotline-12345-linkage"], ["1001", "1002"]),
        ("110", ["hotline-110", "hotline-110-linkage"], ["2001"]),
    ]
    assert body["centres"][0]["seats"][0]["interface"] == "PJSIP/1001"
    assert {s["state"] for c in body["centres"] for s in c["seats"]} == {"unknown"}


def test_when_a_queue_has_callers_then_entries_are_in_position_order_with_waits_from_now() -> None:
    queue = QueueState("hotline-12345", "12345", "public", entries=[
        QueueEntry("c2", "u2", 2, "13900139000", NOW - 3.24),
        QueueEntry("c1", "u1", 1, "13800138000", NOW - 42.0),
    ])
    view = live_snapshot(settings(), {queue.name: queue}, {}, {}, NOW)["centres"][0]["queues"][0]
    assert (view["waiting"], view["longest_wait_s"]) == (2, 42.0)
    assert [(e["position"], e["waited_s"]) for e in view["entries"]] == [(1, 42.0), (2, 3.2)]


def test_when_a_joined_at_is_in_the_future_then_the_wait_is_zero_not_negative() -> None:
    queue = QueueState("hotline-110", "110", "public", entries=[QueueEntry("c", "u", 1, "110", NOW + 5)])
    view = live_snapshot(settings(), {queue.name: queue}, {}, {}, NOW)["centres"][1]["queues"][0]
    assert (view["longest_wait_s"], view["entries"][0]["waited_s"]) == (0.0, 0.0)


def test_when_redis_holds_unconfigured_queues_and_seats_then_they_are_left_out() -> None:
    stray_queue = QueueState("remote-overflow", "999", "other")
    stray_seat = SeatState("9001", "999", "PJSIP/9001", "idle")
    body = live_snapshot(settings(), {stray_queue.name: stray_queue}, {"9001": stray_seat}, {}, NOW)
    names = [q["name"] for c in body["centres"] for q in c["queues"]]
    extensions = [s["extension"] for c in body["centres"] for s in c["seats"]]
    assert "remote-overflow" not in names and "9001" not in extensions


def test_when_seat_is_paused_then_the_view_says_so() -> None:
    seat = SeatState("2001", "110", "Local/2001@hotline-seat-phones/n", "paused", paused=True)
    view = live_snapshot(settings("simulated"), {}, {"2001": seat}, {}, NOW)["centres"][1]["seats"][0]
    assert (view["state"], view["paused"], view["interface"]) == ("paused", True, "Local/2001@hotline-seat-phones/n")


def test_when_ami_fields_are_epoch_text_then_they_become_numbers_and_connected_needs_exactly_1() -> None:
    ami = {"connected": "0", "since": "1764043200.5", "resynced_at": "", "asterisk_version": "22.10.1"}
    view = live_snapshot(settings(), {}, {}, ami, NOW)["ami"]
    assert view == {"connected": False, "since": 1764043200.5, "resynced_at": None,
                    "last_event_at": None, "asterisk_version": "22.10.1"}
    assert live_snapshot(settings(), {}, {}, {"connected": "1"}, NOW)["ami"]["connected"] is True


def test_each_centre_counts_the_live_channels_carrying_its_centre() -> None:
    def chan(uid: str, centre: str | None) -> ChannelState:
        return ChannelState(uid, "1.0", f"Local/x-{uid}", "Up", centre=centre)
    live = {c.uniqueid: c for c in (chan("1", "12345"), chan("2", "12345"), chan("3", "110"),
                                    chan("4", None), chan("5", "999"))}

    body = live_snapshot(settings(), {}, {}, {}, NOW, channels=live)

    assert [(c["id"], c["channels"]) for c in body["centres"]] == [("12345", 2), ("110", 1)]
    assert [c["channels"] for c in live_snapshot(settings(), {}, {}, {}, NOW)["centres"]] == [0, 0]
