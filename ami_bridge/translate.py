"""AMI events -> live queue, seat and channel state (pure: no I/O, no clock, no logging).

The bridge keeps a `LiveModel` in memory; it is the source of truth for what
is written to Redis (`core.live` layout), so a Redis outage loses nothing and
a full rewrite is always possible.

* `model_from_status(...)` builds a fresh model from a `QueueStatus` answer
  (QueueParams / QueueMember / QueueEntry events) and, when given, a
  `CoreShowChannels` answer (CoreShowChannel events) -- the resync.
* `apply_event(model, event, ...)` applies one AMI event in place and returns
  the queues and seats it touched (`Changes`).  A malformed event raises
  `BadEvent` and leaves the model untouched; unknown events change nothing.
* `diff(old, new)` says which queues and seats differ, to publish updates.

Queues map to centres with `core.centres.centre_by_queue`; a queue member maps
to a seat extension through its interface (`PJSIP/1001`,
`Local/1001@hotline-seat-phones/n` -> 1001), falling back to its member name.
Device state (`Status`) is per device, so the latest member event for a seat
wins whichever queue it names; `paused` is per queue membership, and a seat
shows paused only when paused in every queue it belongs to.  Ringing and
talking come from the Agent* events, which carry the caller's number
(`talking_to`, set while ringing and while in the call).

Channels are keyed by Uniqueid.  Every Asterisk channel event carries the
channel's whole snapshot (name, ChannelStateDesc, caller and connected line,
context, exten, Linkedid, and one `ChanVariable: NAME=value` header per
manager.conf `channelvars` name), so each handled event simply refreshes the
channel: the latest snapshot wins, and an event for a channel the model does
not know (it appeared while a resync was pending) adds it.  BridgeEnter and
BridgeLeave set and clear `bridge_id`; Hangup removes the channel.  Newexten
comes at every dialplan step: it refreshes a known channel in memory only and
reports no change, so it is never written nor published on its own.  An
event that leaves a channel exactly as it was reports no change either.
"""
from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from core.centres import Centre, SeatMode, centre_by_queue, seat_by_extension
from core.channel_vars import CENTRE, CITIZEN, PEER_HANDOFF
from core.handoff import AttendedTransfer
from core.live import (
    ChannelState,
    QueueEntry,
    QueueState,
    SeatState,
    SeatStateName,
    seat_state_from_member,
)

QueueKind = Literal["public", "linkage", "other"]

# `<tech>/<ext>[@context][/n]` -> ext
_INTERFACE = re.compile(r"^[A-Za-z0-9_]+/([^@/]+)")
_EXTENSION = re.compile(r"^[A-Za-z0-9_.+\-]{1,64}$")
# What Asterisk puts in CallerIDNum when the caller ID is not valid.
_NO_NUMBER = frozenset({"", "unknown", "<unknown>"})

MEMBER_EVENTS = frozenset({
    "QueueMember", "QueueMemberStatus", "QueueMemberAdded", "QueueMemberPause",
    "QueueMemberPenalty", "QueueMemberRinginuse",
})
CHANNEL_EVENTS = frozenset({
    "Newchannel", "Newstate", "NewCallerid", "NewConnectedLine", "Newexten",
    "BridgeEnter", "BridgeLeave", "Hangup",
})
HANDLED_EVENTS = MEMBER_EVENTS | CHANNEL_EVENTS | {
    "QueueMemberRemoved", "QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon",
    "AgentCalled", "AgentConnect", "AgentComplete", "AgentRingNoAnswer", "QueueParams", "QueueEntry",
}


class BadEvent(ValueError):
    """An AMI event that cannot be applied; `event` is its name."""

    def __init__(self, event: str, reason: str) -> None:
        super().__init__(f"{event or '?'}: {reason}")
        self.event = event
        self.reason = reason


@dataclass(frozen=True)
class Directory:
    """What the translation needs to know about the deployment."""

    centres: tuple[Centre, ...]
    seat_mode: SeatMode = "sip"

    def queue_place(self, queue: str) -> tuple[str, QueueKind]:
        centre = centre_by_queue(self.centres, queue)
        if centre is None:
            return "", "other"
        return centre.id, ("linkage" if queue == centre.linkage_queue else "public")

    def seat_centre(self, extension: str, queue: str = "") -> str:
        seat = seat_by_extension(self.centres, extension)
        if seat is not None:
            return seat.centre
        return self.queue_place(queue)[0] if queue else ""

    def is_configured(self, extension: str) -> bool:
        return seat_by_extension(self.centres, extension) is not None


@dataclass
class SeatCall:
    """A queue call offered to or answered by a seat (from Agent* events)."""

    phase: Literal["ringing", "in_call"]
    caller_number: str
    queue: str
    uniqueid: str


@dataclass
class SeatModel:
    extension: str
    centre: str
    interface: str
    status: int = 0          # device state code, see core.live
    in_call_queues: set[str] = field(default_factory=set)  # queues whose InCall is 1
    memberships: dict[str, bool] = field(default_factory=dict)  # queue -> paused
    call: SeatCall | None = None
    updated_at: float = 0.0
    configured: bool = True      # one of our seats (signs in and out), not a remote member
    pause_reason: str | None = None
    paused_since: float | None = None      # app_queue's LastPause while paused
    signed_out_since: float | None = None  # when the model saw it leave its last queue

    @property
    def in_call(self) -> bool:
        # InCall is per queue: the seat's other queues report 0 meanwhile.
        return bool(self.in_call_queues)

    @property
    def paused(self) -> bool:
        return bool(self.memberships) and all(self.memberships.values())

    def base_state(self) -> SeatStateName:
        if not self.memberships:
            return "signed_out"  # in none of its queues (签出)
        return seat_state_from_member(self.status, self.paused, self.in_call)

    def state(self) -> SeatState:
        base = self.base_state()
        name: SeatStateName = base
        if self.call is not None:
            if self.call.phase == "in_call":
                name = "in_call"
            elif base in ("idle", "unknown", "paused"):
                name = "ringing"
        talking_to = None
        if self.call is not None and self.call.caller_number not in _NO_NUMBER:
            talking_to = self.call.caller_number
        since = self.paused_since if self.paused else self.signed_out_since if not self.memberships else None
        return SeatState(
            extension=self.extension, centre=self.centre, interface=self.interface,
            state=name, paused=self.paused, queues=sorted(self.memberships),
            talking_to=talking_to, updated_at=self.updated_at,
            pause_reason=self.pause_reason if self.paused else None, since=since,
        )


@dataclass
class LiveModel:
    queues: dict[str, QueueState] = field(default_factory=dict)
    seats: dict[str, SeatModel] = field(default_factory=dict)
    channels: dict[str, ChannelState] = field(default_factory=dict)  # by uniqueid


@dataclass(frozen=True)
class Changes:
    """Ids touched by an event; an id no longer in the model was removed."""

    queues: frozenset[str] = frozenset()
    seats: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.queues or self.seats or self.channels)

    def __or__(self, other: Changes) -> Changes:
        return Changes(self.queues | other.queues, self.seats | other.seats, self.channels | other.channels)


# ------------------------------------------------------------------ fields

_ABSENT = object()


class _Event:
    """Case-insensitive, typed access to an AMI event's headers."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        if not isinstance(raw, Mapping):
            raise BadEvent("", "not a header mapping")
        self._raw = raw
        self._folded: dict[builtins.str, Any] | None = None  # made only when a name is not as Asterisk spells it
        self.name = self.str("Event")

    def _get(self, key: builtins.str, default: Any = None) -> Any:
        """The header `key`, however its name is cased: as asked first (the
        headers are named as Asterisk spells them, and events are many)."""
        value = self._raw.get(key, _ABSENT)
        if value is not _ABSENT:
            return value
        if self._folded is None:
            self._folded = {str(k).lower(): v for k, v in self._raw.items()}
        return self._folded.get(key.lower(), default)

    def str(self, key: str, default: str = "") -> str:
        value = self._get(key, default)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else default
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        return value.strip()

    # `str` and `int` below are the methods above; annotations name the builtins
    def values(self, key: builtins.str) -> list[builtins.str]:
        """Every value of a header that may repeat (the manager hands a list)."""
        value = self._get(key)
        items = value if isinstance(value, (list, tuple)) else [] if value is None else [value]
        return [str(v).strip() for v in items if v is not None]

    def required(self, key: builtins.str) -> builtins.str:
        value = self.str(key)
        if not value:
            raise BadEvent(self.name, f"missing {key}")
        return value

    def int(self, key: builtins.str, default: builtins.int = 0) -> builtins.int:
        value = self.str(key)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise BadEvent(self.name, f"{key} is not a number: {value[:20]!r}") from None

    def flag(self, key: builtins.str) -> bool:
        value = self.str(key).lower()
        if value in ("", "0", "false", "no"):
            return False
        if value in ("1", "true", "yes"):
            return True
        raise BadEvent(self.name, f"{key} is not a flag: {value[:20]!r}")


def member_extension(interface: str, member_name: str = "") -> str | None:
    """The seat extension behind a queue member, or None if there is none.

    `PJSIP/1001` and `Local/1001@hotline-seat-phones/n` are seat 1001; a
    member whose interface says nothing usable falls back to its name when
    that looks like an extension.
    """
    match = _INTERFACE.match(interface or "")
    if match and _EXTENSION.match(match.group(1)):
        return match.group(1)
    name = (member_name or "").strip()
    if name.isdigit() and len(name) <= 32:
        return name
    return None


def _caller_number(ev: _Event, key: str = "CallerIDNum") -> str:
    number = ev.str(key)
    return "" if number in _NO_NUMBER else number


def channel_variables(event: Mapping[str, Any]) -> dict[str, str]:
    """The `ChanVariable: NAME=value` headers of a channel event, as a dict.

    Asterisk 12+ sends one header per manager.conf `channelvars` name, with an
    empty value when the variable is unset; the AMI manager hands a repeated
    header as a list and a single one as a string.
    """
    return _chan_vars(_Event(event))


def dest_channel_variables(event: Mapping[str, Any]) -> dict[str, str]:
    """The `DestChanVariable: NAME=value` headers (the other channel of a
    two-channel event: a queue member's leg in AgentConnect), as a dict."""
    return _chan_vars(_Event(event), "DestChanVariable")


def attended_transfer(event: Mapping[str, Any]) -> AttendedTransfer:
    """An `AttendedTransfer` event (a phone completed a consult-then-transfer:
    SIP REFER with Replaces) as core reads it.  Missing headers are empty:
    `core.handoff.phone_attended_handoff` refuses what it cannot use."""
    ev = _Event(event)
    transferee = _chan_vars(ev, "TransfereeChanVariable")
    return AttendedTransfer(
        result=ev.str("Result"), transferer_channel=ev.str("OrigTransfererChannel"),
        transferer_uniqueid=ev.str("OrigTransfererUniqueid"), consult_channel=ev.str("SecondTransfererChannel"),
        transferee_channel=ev.str("TransfereeChannel"), citizen_number=transferee.get(CITIZEN, ""),
        centre=transferee.get(CENTRE, ""), linkedid=ev.str("TransfereeLinkedid"),
        target_channel=ev.str("TransferTargetChannel"))


def _chan_vars(ev: _Event, header: str = "ChanVariable") -> dict[str, str]:
    out: dict[str, str] = {}
    for item in ev.values(header):
        name, sep, value = item.partition("=")
        if sep and name.strip():
            out[name.strip()] = value.strip()
    return out


def _duration_s(text: str) -> int:
    """CoreShowChannel `Duration` ("HH:MM:SS", hours may exceed 99) in seconds; 0 if unreadable."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0
    hours, minutes, seconds = (int(p) for p in parts)
    return hours * 3600 + minutes * 60 + seconds


def _channel_snapshot(ev: _Event, old: ChannelState | None, now: float) -> ChannelState:
    """The channel as this event shows it; what the event does not say is kept from `old`."""
    uniqueid = ev.required("Uniqueid")
    name = ev.required("Channel")
    variables = _chan_vars(ev)
    if CENTRE in variables:
        centre = variables[CENTRE] or None
    else:  # channelvars not configured on this Asterisk: keep what we knew
        centre = old.centre if old is not None else None
    return ChannelState(
        uniqueid=uniqueid,
        linkedid=ev.str("Linkedid") or (old.linkedid if old is not None else uniqueid),
        channel=name,
        state=ev.str("ChannelStateDesc") or (old.state if old is not None else ""),
        caller_number=_caller_number(ev),
        connected_number=_caller_number(ev, "ConnectedLineNum"),
        context=ev.str("Context"),
        exten=ev.str("Exten"),
        bridge_id=old.bridge_id if old is not None else None,
        centre=centre,
        created_at=old.created_at if old is not None else now,
    )


# ---------------------------------------------------------------- builders

def empty_model(directory: Directory, now: float) -> LiveModel:
    """Every configured seat, logged out; no queues (Asterisk lists those)."""
    model = LiveModel()
    for centre in directory.centres:
        for seat in centre.seats:
            model.seats[seat.extension] = SeatModel(
                seat.extension, seat.centre, seat.interface(directory.seat_mode), updated_at=now)
    return model


def _ensure_queue(model: LiveModel, directory: Directory, name: str) -> QueueState:
    queue = model.queues.get(name)
    if queue is None:
        centre, kind = directory.queue_place(name)
        queue = model.queues[name] = QueueState(name=name, centre=centre, kind=kind)
    return queue


def _member_seat(model: LiveModel, directory: Directory, ev: _Event, queue: str) -> SeatModel | None:
    interface = ev.str("Interface") or ev.str("Location")
    name = ev.str("MemberName") or ev.str("Name")
    extension = member_extension(interface, name)
    if extension is None:
        if not interface and not name:
            raise BadEvent(ev.name, "missing Interface/MemberName")
        return None  # a member that is not a seat (e.g. a trunk): not shown
    seat = model.seats.get(extension)
    if seat is None:
        seat = model.seats[extension] = SeatModel(
            extension, directory.seat_centre(extension, queue), interface,
            configured=directory.is_configured(extension))
    elif interface and not directory.is_configured(extension):
        seat.interface = interface
    return seat


def model_from_status(
    events: Iterable[Mapping[str, Any]],
    directory: Directory,
    now: float,
    previous: LiveModel | None = None,
    channels: Iterable[Mapping[str, Any]] | None = None,
) -> tuple[LiveModel, list[BadEvent]]:
    """A fresh model from the messages of a `QueueStatus` answer.

    `channels`, the messages of a `CoreShowChannels` answer, replaces every
    channel (nothing stale survives); without it the channels of `previous`
    are carried over unchanged.

    Call tracking (who a seat is talking to) is not in QueueStatus: it is
    carried over from `previous` while the seat still looks busy.  Waiting
    callers keep their `joined_at`, and unchanged seats their `updated_at`, so
    a periodic resync publishes nothing when nothing changed.
    Returns the model and the list of messages that were skipped as malformed.
    """
    model = empty_model(directory, now)
    problems: list[BadEvent] = []
    entries: list[tuple[str, QueueEntry]] = []
    for raw in events:
        try:
            ev = _Event(raw)
            if ev.name == "QueueParams":
                name = ev.required("Queue")
                queue = _ensure_queue(model, directory, name)
                queue.completed = ev.int("Completed")
                queue.abandoned = ev.int("Abandoned")  # all unanswered: the peer's split off in _carry_over
                queue.holdtime_s = ev.int("Holdtime")
            elif ev.name == "QueueMember":
                _apply_member(model, directory, ev, now)
            elif ev.name == "QueueEntry":
                name = ev.required("Queue")
                _ensure_queue(model, directory, name)
                entries.append((name, QueueEntry(
                    channel=ev.required("Channel"), uniqueid=ev.str("Uniqueid"),
                    position=ev.int("Position"), caller_number=_caller_number(ev),
                    joined_at=now - ev.int("Wait"))))
        except BadEvent as exc:
            problems.append(exc)
    for name, entry in entries:
        model.queues[name].entries.append(entry)
    for queue in model.queues.values():
        queue.entries.sort(key=lambda e: e.position)
    if previous is not None:
        _carry_over(previous, model)
    if channels is not None:
        model.channels = _channels_from_list(
            channels, now, previous.channels if previous is not None else {}, problems)
    elif previous is not None:
        model.channels = {u: replace(c) for u, c in previous.channels.items()}
    return model, problems


def _channels_from_list(events: Iterable[Mapping[str, Any]], now: float,
                        previous: Mapping[str, ChannelState], problems: list[BadEvent]) -> dict[str, ChannelState]:
    channels: dict[str, ChannelState] = {}
    for raw in events:
        try:
            ev = _Event(raw)
            if ev.name != "CoreShowChannel":
                continue  # the Response and CoreShowChannelsComplete around the list
            old = previous.get(ev.str("Uniqueid"))
            channel = _channel_snapshot(ev, old, now)
            channel.bridge_id = ev.str("BridgeId") or None
            # Duration has a one-second grain: a channel we already knew keeps
            # its created_at, so a periodic resync publishes nothing for it.
            channel.created_at = old.created_at if old is not None else now - _duration_s(ev.str("Duration"))
            channels[channel.uniqueid] = channel
        except BadEvent as exc:
            problems.append(exc)
    return channels


def _unanswered_counts(queue: QueueState, app_queue_abandoned: int, peer_unanswered: int) -> None:
    """Split app_queue's `Abandoned` (every caller who left unanswered) into
    this platform's abandoned calls and a peer platform's unanswered handoffs
    (counted from QueueCallerAbandon events).  Fewer in app_queue than we
    counted: its counters were reset (a restart, `queue reset stats`)."""
    if app_queue_abandoned < peer_unanswered:
        peer_unanswered = 0
    queue.peer_unanswered = peer_unanswered
    queue.abandoned = app_queue_abandoned - peer_unanswered


def _carry_over(previous: LiveModel, model: LiveModel) -> None:
    for name, queue in model.queues.items():
        old = previous.queues.get(name)
        if old is None:
            continue
        _unanswered_counts(queue, queue.abandoned, old.peer_unanswered)
        joined = {e.uniqueid: e.joined_at for e in old.entries if e.uniqueid}
        for entry in queue.entries:
            entry.joined_at = joined.get(entry.uniqueid, entry.joined_at)
    for ext, seat in model.seats.items():
        old_seat = previous.seats.get(ext)
        if old_seat is None:
            continue
        if old_seat.call is not None and seat.base_state() in ("ringing", "in_call"):
            seat.call = old_seat.call
        if not seat.memberships and not old_seat.memberships:
            seat.signed_out_since = old_seat.signed_out_since  # still signed out: since as before
        if _seat_key(old_seat.state()) == _seat_key(seat.state()):
            seat.updated_at = old_seat.updated_at


# ------------------------------------------------------------------ events

def apply_event(model: LiveModel, event: Mapping[str, Any], directory: Directory, now: float) -> Changes:
    """Apply one AMI event to `model` in place; return what it touched.

    Raises `BadEvent` (model unchanged) when a field it needs is missing or
    not a number.  Events this module does not handle return empty `Changes`.
    """
    ev = _Event(event)
    name = ev.name
    if name not in HANDLED_EVENTS:
        return Changes()
    if name in CHANNEL_EVENTS:
        return _channel_event(model, ev, now)
    if name in MEMBER_EVENTS:
        ext = _apply_member(model, directory, ev, now)
        return Changes(seats=frozenset({ext})) if ext is not None else Changes()
    if name == "QueueMemberRemoved":
        return _member_removed(model, directory, ev, now)
    if name in ("QueueCallerJoin", "QueueEntry"):
        return _caller_join(model, directory, ev, now)
    if name in ("QueueCallerLeave", "QueueCallerAbandon"):
        return _caller_leave(model, directory, ev)
    if name == "QueueParams":
        queue_name = ev.required("Queue")
        completed, abandoned, holdtime = ev.int("Completed"), ev.int("Abandoned"), ev.int("Holdtime")
        queue = _ensure_queue(model, directory, queue_name)
        queue.completed, queue.holdtime_s = completed, holdtime
        _unanswered_counts(queue, abandoned, queue.peer_unanswered)
        return Changes(queues=frozenset({queue_name}))
    return _agent_event(model, directory, ev, now)


def _apply_member(model: LiveModel, directory: Directory, ev: _Event, now: float) -> str | None:
    # Parse everything first: a bad field leaves the model untouched.
    queue = ev.required("Queue")
    status = ev.int("Status")
    paused = ev.flag("Paused")
    last_pause = ev.int("LastPause")
    in_call = ev.flag("InCall")
    interface = ev.str("Interface") or ev.str("Location")
    extension = member_extension(interface, ev.str("MemberName") or ev.str("Name"))
    if extension is None and not interface:
        raise BadEvent(ev.name, "missing Interface/MemberName")
    if extension is None:
        return None
    seat = _member_seat(model, directory, ev, queue)
    assert seat is not None
    seat.memberships[queue] = paused
    seat.signed_out_since = None
    if paused:
        seat.pause_reason = ev.str("PausedReason") or None
        seat.paused_since = float(last_pause) if last_pause > 0 else seat.paused_since or now
    elif not seat.paused:
        seat.pause_reason = seat.paused_since = None
    seat.status = status
    if in_call:
        seat.in_call_queues.add(queue)
    else:
        seat.in_call_queues.discard(queue)
    # A call that Asterisk no longer shows (ringall: another seat answered and
    # this one stopped ringing without an AgentRingNoAnswer) is forgotten.
    if seat.call is not None and not seat.in_call and seat.base_state() in ("idle", "paused", "unavailable"):
        seat.call = None
    seat.updated_at = now
    return extension


def _member_removed(model: LiveModel, directory: Directory, ev: _Event, now: float) -> Changes:
    queue = ev.required("Queue")
    interface = ev.str("Interface") or ev.str("Location")
    extension = member_extension(interface, ev.str("MemberName") or ev.str("Name"))
    if extension is None:
        if not interface:
            raise BadEvent(ev.name, "missing Interface/MemberName")
        return Changes()
    seat = model.seats.get(extension)
    if seat is None:
        return Changes()
    seat.memberships.pop(queue, None)
    seat.in_call_queues.discard(queue)
    if not seat.memberships:
        seat.signed_out_since = seat.signed_out_since or now
        seat.pause_reason = seat.paused_since = None
    if seat.call is not None and seat.call.queue == queue and seat.call.phase == "ringing":
        seat.call = None
    if not seat.memberships and not directory.is_configured(extension):
        del model.seats[extension]  # a remote seat that left its last queue
    return Changes(seats=frozenset({extension}))


def _caller_join(model: LiveModel, directory: Directory, ev: _Event, now: float) -> Changes:
    name = ev.required("Queue")
    channel = ev.required("Channel")
    uniqueid = ev.str("Uniqueid")
    position = ev.int("Position")
    wait = ev.int("Wait")
    number = _caller_number(ev)
    queue = _ensure_queue(model, directory, name)
    existing = next((e for e in queue.entries if _same_caller(e, uniqueid, channel)), None)
    if existing is not None:
        existing.caller_number = number or existing.caller_number
        existing.channel = channel
        return Changes(queues=frozenset({name}))
    if position <= 0:
        position = len(queue.entries) + 1
    for entry in queue.entries:  # Asterisk inserts by priority: the rest move down
        if entry.position >= position:
            entry.position += 1
    queue.entries.append(QueueEntry(channel=channel, uniqueid=uniqueid, position=position,
                                    caller_number=number, joined_at=now - wait))
    queue.entries.sort(key=lambda e: e.position)
    return Changes(queues=frozenset({name}))


def _caller_leave(model: LiveModel, directory: Directory, ev: _Event) -> Changes:
    name = ev.required("Queue")
    channel = ev.str("Channel")
    uniqueid = ev.str("Uniqueid")
    if not channel and not uniqueid:
        raise BadEvent(ev.name, "missing Channel/Uniqueid")
    queue = _ensure_queue(model, directory, name)
    if ev.name == "QueueCallerAbandon":
        # a peer platform's handoff (hotline-peer-in: checked header) is not
        # an abandoned citizen call here
        if _chan_vars(ev).get(PEER_HANDOFF):
            queue.peer_unanswered += 1
        else:
            queue.abandoned += 1
    queue.entries = [e for e in queue.entries if not _same_caller(e, uniqueid, channel)]
    for pos, entry in enumerate(sorted(queue.entries, key=lambda e: e.position), start=1):
        entry.position = pos
    queue.entries.sort(key=lambda e: e.position)
    return Changes(queues=frozenset({name}))


def _same_caller(entry: QueueEntry, uniqueid: str, channel: str) -> bool:
    if uniqueid and entry.uniqueid:
        return entry.uniqueid == uniqueid
    return bool(channel) and entry.channel == channel


def _agent_event(model: LiveModel, directory: Directory, ev: _Event, now: float) -> Changes:
    queue_name = ev.required("Queue")
    interface = ev.str("Interface")
    extension = member_extension(interface, ev.str("MemberName"))
    if extension is None:
        if not interface and not ev.str("MemberName"):
            raise BadEvent(ev.name, "missing Interface/MemberName")
        return Changes()
    uniqueid = ev.str("Uniqueid")
    number = _caller_number(ev)
    seat = model.seats.get(extension)
    changes = Changes(seats=frozenset({extension}))
    if ev.name == "AgentCalled":
        seat = seat or _member_seat(model, directory, ev, queue_name)
        assert seat is not None
        seat.call = SeatCall("ringing", number, queue_name, uniqueid)
    elif ev.name == "AgentConnect":
        seat = seat or _member_seat(model, directory, ev, queue_name)
        assert seat is not None
        seat.call = SeatCall("in_call", number, queue_name, uniqueid)
    elif ev.name == "AgentComplete":
        queue = _ensure_queue(model, directory, queue_name)
        queue.completed += 1
        changes = changes | Changes(queues=frozenset({queue_name}))
        if seat is not None and seat.call is not None and _same_call(seat.call, uniqueid):
            seat.call = None
    elif ev.name == "AgentRingNoAnswer":
        if seat is not None and seat.call is not None and seat.call.phase == "ringing" \
                and _same_call(seat.call, uniqueid):
            seat.call = None
    if seat is None:
        return Changes(queues=changes.queues)
    seat.updated_at = now
    return changes


def _same_call(call: SeatCall, uniqueid: str) -> bool:
    return not uniqueid or not call.uniqueid or call.uniqueid == uniqueid


def _channel_event(model: LiveModel, ev: _Event, now: float) -> Changes:
    uniqueid = ev.required("Uniqueid")
    if ev.name == "Hangup":
        if model.channels.pop(uniqueid, None) is None:
            return Changes()
        return Changes(channels=frozenset({uniqueid}))
    old = model.channels.get(uniqueid)
    if ev.name == "Newexten":
        if old is not None:  # memory only: written with the next change or resync
            model.channels[uniqueid] = _channel_snapshot(ev, old, now)
        return Changes()
    channel = _channel_snapshot(ev, old, now)
    if ev.name == "BridgeEnter":
        channel.bridge_id = ev.required("BridgeUniqueid")
    elif ev.name == "BridgeLeave":
        bridge = ev.str("BridgeUniqueid")
        if not bridge or channel.bridge_id == bridge:
            channel.bridge_id = None
    if channel == old:
        return Changes()
    model.channels[uniqueid] = channel
    return Changes(channels=frozenset({uniqueid}))


# -------------------------------------------------------------------- diff

def _seat_key(seat: SeatState) -> str:
    data = asdict(seat)
    data.pop("updated_at")
    return json.dumps(data, sort_keys=True)


def diff(old: LiveModel, new: LiveModel) -> Changes:
    """Queues, seats and channels whose published JSON differs (seat timestamps aside)."""
    queues = {
        name for name in old.queues.keys() | new.queues.keys()
        if (old.queues[name].to_json() if name in old.queues else None)
        != (new.queues[name].to_json() if name in new.queues else None)
    }
    seats = {
        ext for ext in old.seats.keys() | new.seats.keys()
        if (_seat_key(old.seats[ext].state()) if ext in old.seats else None)
        != (_seat_key(new.seats[ext].state()) if ext in new.seats else None)
    }
    channels = {
        uid for uid in old.channels.keys() | new.channels.keys()
        if old.channels.get(uid) != new.channels.get(uid)
    }
    return Changes(frozenset(queues), frozenset(seats), frozenset(channels))
