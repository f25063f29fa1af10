"""AMI events -> live queue and seat state (pure: no I/O, no clock, no logging).

The bridge keeps a `LiveModel` in memory; it is the source of truth for what
is written to Redis (`core.live` layout), so a Redis outage loses nothing and
a full rewrite is always possible.

* `model_from_status(...)` builds a fresh model from a `QueueStatus` answer
  (QueueParams / QueueMember / QueueEntry events) -- the resync.
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
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from core.centres import Centre, SeatMode, centre_by_queue, seat_by_extension
from core.live import QueueEntry, QueueState, SeatState, SeatStateName, seat_state_from_member

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
HANDLED_EVENTS = MEMBER_EVENTS | {
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

    @property
    def in_call(self) -> bool:
        # InCall is per queue: the seat's other queues report 0 meanwhile.
        return bool(self.in_call_queues)

    @property
    def paused(self) -> bool:
        return bool(self.memberships) and all(self.memberships.values())

    def base_state(self) -> SeatStateName:
        if not self.memberships:
            return "unavailable"  # logged out of every queue
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
        return SeatState(
            extension=self.extension, centre=self.centre, interface=self.interface,
            state=name, paused=self.paused, queues=sorted(self.memberships),
            talking_to=talking_to, updated_at=self.updated_at,
        )


@dataclass
class LiveModel:
    queues: dict[str, QueueState] = field(default_factory=dict)
    seats: dict[str, SeatModel] = field(default_factory=dict)


@dataclass(frozen=True)
class Changes:
    """Ids touched by an event; an id no longer in the model was removed."""

    queues: frozenset[str] = frozenset()
    seats: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.queues or self.seats)

    def __or__(self, other: "Changes") -> "Changes":
        return Changes(self.queues | other.queues, self.seats | other.seats)


# ------------------------------------------------------------------ fields

class _Event:
    """Case-insensitive, typed access to an AMI event's headers."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        if not isinstance(raw, Mapping):
            raise BadEvent("", "not a header mapping")
        self._h = {str(k).lower(): v for k, v in raw.items()}
        self.name = self.str("event")

    def str(self, key: str, default: str = "") -> str:
        value = self._h.get(key.lower(), default)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else default
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        return value.strip()

    def required(self, key: str) -> str:
        value = self.str(key)
        if not value:
            raise BadEvent(self.name, f"missing {key}")
        return value

    def int(self, key: str, default: int = 0) -> int:
        value = self.str(key)
        if value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise BadEvent(self.name, f"{key} is not a number: {value[:20]!r}") from None

    def flag(self, key: str) -> bool:
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


def _caller_number(ev: _Event) -> str:
    number = ev.str("CallerIDNum")
    return "" if number in _NO_NUMBER else number


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
            extension, directory.seat_centre(extension, queue), interface)
    elif interface and not directory.is_configured(extension):
        seat.interface = interface
    return seat


def model_from_status(
    events: Iterable[Mapping[str, Any]],
    directory: Directory,
    now: float,
    previous: LiveModel | None = None,
) -> tuple[LiveModel, list[BadEvent]]:
    """A fresh model from the messages of a `QueueStatus` answer.

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
                queue.abandoned = ev.int("Abandoned")
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
    return model, problems


def _carry_over(previous: LiveModel, model: LiveModel) -> None:
    for name, queue in model.queues.items():
        old = previous.queues.get(name)
        if old is None:
            continue
        joined = {e.uniqueid: e.joined_at for e in old.entries if e.uniqueid}
        for entry in queue.entries:
            entry.joined_at = joined.get(entry.uniqueid, entry.joined_at)
    for ext, seat in model.seats.items():
        old_seat = previous.seats.get(ext)
        if old_seat is None:
            continue
        if old_seat.call is not None and seat.base_state() in ("ringing", "in_call"):
            seat.call = old_seat.call
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
    if name in MEMBER_EVENTS:
        ext = _apply_member(model, directory, ev, now)
        return Changes(seats=frozenset({ext})) if ext is not None else Changes()
    if name == "QueueMemberRemoved":
        return _member_removed(model, directory, ev)
    if name in ("QueueCallerJoin", "QueueEntry"):
        return _caller_join(model, directory, ev, now)
    if name in ("QueueCallerLeave", "QueueCallerAbandon"):
        return _caller_leave(model, directory, ev)
    if name == "QueueParams":
        queue_name = ev.required("Queue")
        completed, abandoned, holdtime = ev.int("Completed"), ev.int("Abandoned"), ev.int("Holdtime")
        queue = _ensure_queue(model, directory, queue_name)
        queue.completed, queue.abandoned, queue.holdtime_s = completed, abandoned, holdtime
        return Changes(queues=frozenset({queue_name}))
    return _agent_event(model, directory, ev, now)


def _apply_member(model: LiveModel, directory: Directory, ev: _Event, now: float) -> str | None:
    # Parse everything first: a bad field leaves the model untouched.
    queue = ev.required("Queue")
    status = ev.int("Status")
    paused = ev.flag("Paused")
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


def _member_removed(model: LiveModel, directory: Directory, ev: _Event) -> Changes:
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


# -------------------------------------------------------------------- diff

def _seat_key(seat: SeatState) -> str:
    data = asdict(seat)
    data.pop("updated_at")
    return json.dumps(data, sort_keys=True)


def diff(old: LiveModel, new: LiveModel) -> Changes:
    """Queues and seats whose published JSON differs (seat timestamps aside)."""
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
    return Changes(frozenset(queues), frozenset(seats))
