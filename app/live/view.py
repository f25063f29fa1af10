"""Shapes the live dashboard answer from settings and live state (pure).

`live_snapshot` is the whole of `GET /api/live`'s body: every configured
centre with its public and linkage queue and every seat, overlaid with what
the AMI bridge reported, and how many live Asterisk channels carry the
centre (HOTLINE_CENTRE; one call is several channels).  Nothing here does I/O
or reads a clock: the caller passes `now` (epoch seconds).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from core.centres import Centre, SeatMode
from core.live import ChannelState, QueueState, SeatState
from core.settings import Settings


def _number_or_text(value: str | None) -> float | str | None:
    """AMI status fields are epoch seconds as text; pass anything else through."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


def ami_view(ami: Mapping[str, str]) -> dict[str, Any]:
    return {
        "connected": ami.get("connected") == "1",
        "since": _number_or_text(ami.get("since")),
        "resynced_at": _number_or_text(ami.get("resynced_at")),
        "last_event_at": _number_or_text(ami.get("last_event_at")),
        "asterisk_version": ami.get("asterisk_version") or None,
    }


def queue_view(name: str, kind: str, state: QueueState | None, now: float) -> dict[str, Any]:
    entries = sorted(state.entries, key=lambda e: e.position) if state else []
    return {
        "name": name,
        "kind": kind,
        "waiting": len(entries),
        "longest_wait_s": round(max(state.longest_wait_s(now), 0.0), 1) if state else 0.0,
        "completed": state.completed if state else 0,
        "abandoned": state.abandoned if state else 0,
        "peer_unanswered": state.peer_unanswered if state else 0,
        "holdtime_s": state.holdtime_s if state else 0,
        "entries": [
            {
                "channel": e.channel,
                "caller_number": e.caller_number,
                "position": e.position,
                "waited_s": round(max(now - e.joined_at, 0.0), 1),
            }
            for e in entries
        ],
    }


def seat_view(extension: str, default_interface: str, state: SeatState | None) -> dict[str, Any]:
    """One seat: its state (idle, ringing, in_call, paused, signed_out,
    unavailable, unknown), and while paused or signed out the reason and since
    when (epoch seconds; `since` of a pause is app_queue's own, reset by a
    restart of Asterisk)."""
    if state is None:
        return {"extension": extension, "state": "unknown", "paused": False,
                "interface": default_interface, "talking_to": None, "queues": [],
                "pause_reason": None, "since": None}
    return {"extension": extension, "state": state.state, "paused": state.paused,
            "interface": state.interface or default_interface, "talking_to": state.talking_to,
            "queues": list(state.queues), "pause_reason": state.pause_reason, "since": state.since}


def surge_block(view: Mapping[str, Any] | None) -> dict[str, Any]:
    """Remote-seat overflow of a centre (远程话务座席支持), as the overflow
    controller last published it: open or not, and each group's state."""
    if not view:
        return {"open": False, "groups": [], "updated_at": None}
    return {"open": bool(view.get("open")), "groups": list(view.get("groups") or []),
            "updated_at": view.get("updated_at")}


def centre_view(centre: Centre, seat_mode: SeatMode, queues: Mapping[str, QueueState],
                seats: Mapping[str, SeatState], now: float, channels: int = 0,
                surge: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": centre.id,
        "name": centre.name,
        "channels": channels,
        "surge": surge_block(surge),
        "queues": [
            queue_view(centre.queue, "public", queues.get(centre.queue), now),
            queue_view(centre.linkage_queue, "linkage", queues.get(centre.linkage_queue), now),
        ],
        "seats": [seat_view(s.extension, s.interface(seat_mode), seats.get(s.extension))
                  for s in centre.seats],
    }


def live_snapshot(settings: Settings, queues: Mapping[str, QueueState],
                  seats: Mapping[str, SeatState], ami: Mapping[str, str],
                  now: float, channels: Mapping[str, ChannelState] | None = None,
                  surge: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The `/api/live` body.  Queues and seats Redis holds but settings do not
    configure are left out: the dashboard shows the configured centres."""
    per_centre = Counter(c.centre for c in (channels or {}).values() if c.centre)
    return {
        "ami": ami_view(ami),
        "centres": [centre_view(c, settings.site.seat_mode, queues, seats, now, per_centre[c.id],
                                (surge or {}).get(c.id))
                    for c in settings.site.centres],
    }


def masked(body: dict[str, Any], mask: Callable[[str | None], str | None]) -> dict[str, Any]:
    """The `/api/live` body with every citizen number passed through `mask`
    (保护隐私: roles without the privilege see `138****8000`)."""
    for centre in body["centres"]:
        for queue in centre["queues"]:
            for entry in queue["entries"]:
                entry["caller_number"] = mask(entry["caller_number"])
        for seat in centre["seats"]:
            seat["talking_to"] = mask(seat["talking_to"])
    return body
