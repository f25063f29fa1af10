"""Live state of queues, seats and channels: the model and its Redis layout (pure).

The AMI bridge is the only writer; the web service and the AGI routes read.
Layout (every key starts with `Settings.redis.prefix`, `hotline:` by default):

    {p}live:queues   hash  queue name -> QueueState JSON
    {p}live:seats    hash  seat extension -> SeatState JSON
    {p}live:channels hash  channel uniqueid -> ChannelState JSON (every live
                           Asterisk channel; rebuilt from CoreShowChannels)
    {p}live:ami      hash  connected "1"/"0", since, last_event_at, resynced_at,
                           asterisk_version
    {p}live:updates  pub/sub channel; one message per write, a JSON object of
                           what it changed, by kind ("queue", "seat",
                           "channel", "ami", "surge") -> ids (`change_notice`)
    {p}overflow:surge hash centre id -> surge view JSON {"open", "groups": [{"name",
                           "open", "since", "reason", "priority", "members",
                           "enabled"}], "load", "updated_at"}; written by the
                           overflow controller (app/overflow/controller.py)

The bridge rewrites the whole state on every (re)connection (resync), then
keeps it current from events, so a restart of Asterisk or of the bridge never
leaves stale entries behind.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

# signed_out: a configured seat in none of its queues (签出, core/seats.py);
# unavailable: signed in, but its phone is not reachable (not registered).
SeatStateName = Literal["idle", "ringing", "in_call", "paused", "signed_out", "unavailable", "unknown"]

QUEUES_KEY = "live:queues"
SEATS_KEY = "live:seats"
CHANNELS_KEY = "live:channels"
AMI_KEY = "live:ami"
UPDATES_CHANNEL = "live:updates"
SURGE_KEY = "overflow:surge"
# Qualify state of each declared SIP trunk (app.federation.health.TrunkWatch):
# trunk name -> {"status": Reachable|Unreachable|..., "rtt_ms", "at"}
TRUNKS_KEY = "live:trunks"

NoticeKind = Literal["queue", "seat", "channel", "ami", "surge"]


def change_notice(changed: dict[NoticeKind, Iterable[str]]) -> str:
    """The message published on `UPDATES_CHANNEL` for one write: what it
    changed, by kind, each kind's ids sorted, kinds with none left out —
    e.g. `{"channel": ["1733.12", "1733.13"], "seat": ["1001"]}`.  One
    message per write, not per thing changed: at 20 calls/s the AMI bridge
    writes ten times a second, a few dozen things each time, and every
    PUBLISH is a command Redis queues and answers inside the transaction."""
    return json.dumps({kind: sorted(ids) for kind, ids in sorted(changed.items()) if ids},
                      ensure_ascii=False, separators=(",", ":"))


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields by name, in order: for these flat classes the JSON
    of `dataclasses.asdict`, without its recursive deep copy (it showed in the
    AMI bridge's profile: every write encodes the queues/seats/channels changed)."""
    names = _FIELD_NAMES.get(type(obj))
    if names is None:
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {name: getattr(obj, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


@dataclass
class QueueEntry:
    """A caller waiting in a queue."""

    channel: str
    uniqueid: str
    position: int
    caller_number: str
    joined_at: float  # epoch seconds


@dataclass
class QueueState:
    name: str
    centre: str
    kind: Literal["public", "linkage", "other"]
    entries: list[QueueEntry] = field(default_factory=list)
    completed: int = 0
    # Callers who left unanswered, as app_queue counts them (it counts every
    # unanswered exit: hang-up, timeout, leave-empty), less `peer_unanswered`.
    abandoned: int = 0
    holdtime_s: int = 0
    # Handoffs from a peer platform (HOTLINE_PEER_HANDOFF: a trusted trunk's
    # X-Hotline-Handoff) that left unanswered: the sending platform took its
    # citizen back (or its citizen hung up there): not this platform's
    # abandoned citizen calls.
    peer_unanswered: int = 0

    @property
    def waiting(self) -> int:
        return len(self.entries)

    def longest_wait_s(self, now: float) -> float:
        return max((now - e.joined_at for e in self.entries), default=0.0)

    def to_json(self) -> str:
        data = _fields(self)
        data["entries"] = [_fields(entry) for entry in self.entries]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> QueueState:
        data = json.loads(raw)
        data["entries"] = [QueueEntry(**e) for e in data.get("entries", [])]
        return cls(**data)


@dataclass
class SeatState:
    extension: str
    centre: str
    interface: str
    state: SeatStateName = "unknown"
    paused: bool = False
    queues: list[str] = field(default_factory=list)
    talking_to: str | None = None  # caller number while in a call
    updated_at: float = 0.0
    pause_reason: str | None = None  # while paused (示忙): the reason app_queue holds
    since: float | None = None       # epoch seconds: paused (app_queue LastPause) or signed out since

    def to_json(self) -> str:
        return json.dumps(_fields(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> SeatState:
        data = json.loads(raw)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class ChannelState:
    """One live Asterisk channel, as the latest channel event showed it.

    `state` is Asterisk's ChannelStateDesc (Down, Ring, Ringing, Up, Busy...).
    Numbers are "" when Asterisk has none (`<unknown>`).  `centre` is the
    channel's HOTLINE_CENTRE (manager.conf `channelvars`), None until the
    dialplan sets it.  `context`/`exten` follow the dialplan lazily: the
    bridge does not ask for Newexten, so they may lag until the channel's
    next change or the next resync.
    """

    uniqueid: str
    linkedid: str
    channel: str
    state: str
    caller_number: str = ""
    connected_number: str = ""
    context: str = ""
    exten: str = ""
    bridge_id: str | None = None
    centre: str | None = None
    created_at: float = 0.0  # epoch seconds; from Duration after a resync

    def to_json(self) -> str:
        return json.dumps(_fields(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str | bytes) -> ChannelState:
        return cls(**json.loads(raw))


# Asterisk device-state codes as reported in QueueMember/QueueMemberStatus `Status`.
_DEVICE_STATE: dict[int, SeatStateName] = {
    0: "unknown",      # AST_DEVICE_UNKNOWN
    1: "idle",         # NOT_INUSE
    2: "in_call",      # INUSE
    3: "in_call",      # BUSY
    4: "unavailable",  # INVALID
    5: "unavailable",  # UNAVAILABLE
    6: "ringing",      # RINGING
    7: "ringing",      # RINGINUSE
    8: "in_call",      # ONHOLD
}


def seat_state_from_member(status: int, paused: bool, in_call: bool = False) -> SeatStateName:
    """Seat state for the dashboard from a queue member's device status.

    A paused seat shows `paused` unless it is still in a call; a member marked
    in a call by the queue (`InCall: 1`) is `in_call` whatever the device says.
    """
    state = _DEVICE_STATE.get(status, "unknown")
    if in_call and state in ("idle", "unknown"):
        state = "in_call"
    if paused and state in ("idle", "unknown", "unavailable"):
        return "paused"
    return state
