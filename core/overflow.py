"""Remote-seat overflow (远程话务座席支持): groups, member dial strings, surge detection (pure).

When an emergency leaves a centre's local seats severely short, seats of
other centres or regions take its calls remotely.  An admin defines *remote
seat groups* per centre: the members (a PJSIP endpoint, a trunk dial string
or a Local channel), a priority, and the thresholds that open the group.

How a citizen experiences it: while a group is *open* (a surge), its members
are dynamic members of the centre's public queue with a penalty equal to the
group's priority (local seats have penalty 0).  app_queue offers a call to a
higher-penalty member only when no lower-penalty member can take it, so a
free local seat always wins; callers keep their place (FIFO): the ones
waiting longest — the callers already waiting when the surge opened — are
offered the remote seats first, new callers after them.  The remote seat sees
the citizen's own number (the queue presents CALLERID, which the entry
context set to the citizen's number).  When the surge clears, the members
leave the queue: calls they are talking to are not touched.

Surge detection (`surge_step`) opens a group when any of its thresholds holds
for `open_after_s` — waiting callers >= `min_waiting`, longest wait >=
`max_wait_s`, or (`when_no_local_free`) callers waiting and no local seat
free — and closes it only after none has held for `clear_after_s`
(hysteresis: a queue that empties for a moment does not flap the group).

Nothing here does I/O; `app.overflow.controller` applies the plans over AMI.
Bad configuration raises `core.safety.UnsafeValue(field, reason)`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from core.centres import Centre, centre_by_id
from core.contexts import is_call_flow
from core.live import QueueState, SeatState
from core.safety import UnsafeValue, check_line

MAX_MEMBERS = 64
PRIORITY_RANGE = (1, 99)
MIN_WAITING_RANGE = (1, 1000)
MAX_WAIT_RANGE = (1, 3600)
NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")

_PJSIP_ENDPOINT = re.compile(r"^PJSIP/([A-Za-z0-9_.+\-]{1,64})$")
_PJSIP_TRUNK = re.compile(r"^PJSIP/(\+?[0-9*#]{1,32})@([A-Za-z0-9_.+\-]{1,64})$")
_LOCAL = re.compile(r"^Local/([A-Za-z0-9*#+_\-]{1,32})@([A-Za-z0-9_\-]{1,64})(/n)?$")

GROUP_FIELDS = ("name", "centre", "members", "priority", "min_waiting", "max_wait_s",
                "when_no_local_free", "enabled")


class Clash(UnsafeValue):
    """Well-formed input that clashes with the configuration: a member that is
    a local seat or the hotline's own call flow, one given twice, a group
    left with no threshold.  The API answers 409 (the input is fine; the
    state it meets is not)."""


# Every dial string a member may be, as the API document states it.
MEMBER_PATTERN = (r"^(PJSIP/[A-Za-z0-9_.+\-]{1,64}|PJSIP/\+?[0-9*#]{1,32}@[A-Za-z0-9_.+\-]{1,64}"
                  r"|Local/[A-Za-z0-9*#+_\-]{1,32}@[A-Za-z0-9_\-]{1,64}(/n)?)$")


@dataclass(frozen=True)
class RemoteMember:
    """One remote seat as app_queue dials it.

    `interface` is the queue member's interface (`PJSIP/remote-7`,
    `PJSIP/13800138000@gx-trunk`, `Local/9001@remote-phones/n`); `name` the
    MemberName it carries in the queue, events and orders.
    """

    interface: str
    name: str


def parse_member(value: object, index: int, centres: tuple[Centre, ...]) -> RemoteMember:
    """Check one member dial string; raise `UnsafeValue("members", ...)` naming the item.

    A Local channel is given `/n` (no optimisation) when it lacks it, so its
    far half stays the seat for the whole call, as the local seats' do.
    """
    where = f"item {index + 1}"
    if not isinstance(value, str):
        raise UnsafeValue("members", f"{where} must be a string")
    try:
        check_line("members", value, max_len=128)
    except UnsafeValue as exc:
        raise UnsafeValue("members", f"{where} {exc.reason}") from None
    if m := _PJSIP_ENDPOINT.match(value):
        member = RemoteMember(value, m.group(1))
    elif m := _PJSIP_TRUNK.match(value):
        member = RemoteMember(value, f"{m.group(1)}@{m.group(2)}")
    elif m := _LOCAL.match(value):
        context = m.group(2)
        # A remote seat is a person reached outside the hotline: a Local member
        # into the product's own call flow would run hotline logic on the
        # citizen's answered call (a queue again, an AGI route, a key's
        # handling) instead of ringing someone.  The whole `hotline-` namespace
        # is refused, so no context added later is missed; only the simulated
        # phones (test rig, demo) are telephones there.
        if is_call_flow(context):
            raise Clash("members", f"{where} {value!r}: context {context} is the hotline's own call "
                                         "flow (the citizen would loop back into it, not reach a remote seat)")
        member = RemoteMember(f"Local/{m.group(1)}@{context}/n", m.group(1))
    else:
        raise UnsafeValue("members", f"{where} {value!r} is not a dial string: expected PJSIP/<endpoint>, "
                                     "PJSIP/<number>@<trunk> or Local/<exten>@<context>[/n]")
    for centre in centres:
        for seat in centre.seats:
            if member.interface in (seat.interface("sip"), seat.interface("simulated")):
                raise Clash("members", f"{where} {value!r} is local seat {seat.extension} of centre "
                                             f"{centre.id}, not a remote seat")
    return member


@dataclass(frozen=True)
class Thresholds:
    """What opens a group; None / False: that trigger is off."""

    min_waiting: int | None = None
    max_wait_s: int | None = None
    when_no_local_free: bool = False


@dataclass(frozen=True)
class OverflowGroup:
    name: str
    centre: str
    members: tuple[RemoteMember, ...]
    priority: int = 1
    thresholds: Thresholds = Thresholds()
    enabled: bool = True

    @property
    def penalty(self) -> int:
        """The members' queue penalty: above the local seats' 0, lower first."""
        return self.priority

    def as_fields(self) -> dict[str, Any]:
        """The group as the API and the database hold it."""
        return {"name": self.name, "centre": self.centre, "members": [m.interface for m in self.members],
                "priority": self.priority, "min_waiting": self.thresholds.min_waiting,
                "max_wait_s": self.thresholds.max_wait_s,
                "when_no_local_free": self.thresholds.when_no_local_free, "enabled": self.enabled}


def _whole(data: Mapping[str, object], name: str, bounds: tuple[int, int], *, optional: bool) -> int | None:
    value = data.get(name)
    if value is None:
        if optional:
            return None
        raise UnsafeValue(name, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnsafeValue(name, "must be a whole number")
    lo, hi = bounds
    if value < lo:
        raise UnsafeValue(name, f"{value} is below {lo}")
    if value > hi:
        raise UnsafeValue(name, f"{value} is absurd: at most {hi}")
    return value


def _flag(data: Mapping[str, object], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise UnsafeValue(name, "must be true or false")
    return value


def validate_group(data: Mapping[str, object], centres: tuple[Centre, ...]) -> OverflowGroup:
    """A whole group from API/CLI input, or `UnsafeValue(field, reason)` for the first bad field.

    Checks everything before anything is stored: unknown fields, the name,
    the centre, every member (non-empty, at most `MAX_MEMBERS`, no
    duplicates, no local seat), the priority and thresholds (whole numbers in
    range, at least one trigger).
    """
    for key in data:
        if key not in GROUP_FIELDS:
            raise UnsafeValue(str(key)[:64], "not a field of an overflow group")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise UnsafeValue("name", "is required")
    check_line("name", name, max_len=32)
    if not NAME.match(name):
        raise UnsafeValue("name", "must match [A-Za-z0-9_.-]{1,32}")
    centre = data.get("centre")
    if not isinstance(centre, str) or not centre:
        raise UnsafeValue("centre", "is required")
    check_line("centre", centre, max_len=16)
    if centre_by_id(centres, centre) is None:
        raise UnsafeValue("centre", f"{centre!r} is not a configured centre ({', '.join(c.id for c in centres)})")
    raw_members = data.get("members")
    if not isinstance(raw_members, (list, tuple)):
        raise UnsafeValue("members", "must be a list of dial strings")
    if not raw_members:
        raise UnsafeValue("members", "an empty group would take no call: give at least one member")
    if len(raw_members) > MAX_MEMBERS:
        raise UnsafeValue("members", f"at most {MAX_MEMBERS} members per group")
    members: list[RemoteMember] = []
    for index, raw in enumerate(raw_members):
        member = parse_member(raw, index, centres)
        if any(m.interface == member.interface for m in members):
            raise Clash("members", f"item {index + 1} {member.interface!r} is listed twice")
        members.append(member)
    priority = _whole(data, "priority", PRIORITY_RANGE, optional=True) or 1
    thresholds = Thresholds(
        min_waiting=_whole(data, "min_waiting", MIN_WAITING_RANGE, optional=True),
        max_wait_s=_whole(data, "max_wait_s", MAX_WAIT_RANGE, optional=True),
        when_no_local_free=_flag(data, "when_no_local_free", False),
    )
    if thresholds == Thresholds():
        raise Clash("min_waiting", "no threshold set: give min_waiting, max_wait_s or "
                                         "when_no_local_free, or the group never opens")
    return OverflowGroup(name=name, centre=centre, members=tuple(members), priority=priority,
                         thresholds=thresholds, enabled=_flag(data, "enabled", True))


def shared_members(group: OverflowGroup, others: Iterable[OverflowGroup]) -> tuple[str, str] | None:
    """(interface, other group's name) when a member is already in another
    group of the same centre — one queue member cannot carry two penalties."""
    for other in others:
        if other.name == group.name or other.centre != group.centre:
            continue
        mine = {m.interface for m in group.members}
        for member in other.members:
            if member.interface in mine:
                return member.interface, other.name
    return None


# ------------------------------------------------------------------ surge


@dataclass(frozen=True)
class CentreLoad:
    """A centre's public queue and local seats, as the live state shows them."""

    waiting: int
    longest_wait_s: float
    local_free: int
    local_seats: int

    def as_dict(self) -> dict[str, Any]:
        return {"waiting": self.waiting, "longest_wait_s": round(self.longest_wait_s, 1),
                "local_free": self.local_free, "local_seats": self.local_seats}


def centre_load(centre: Centre, queues: Mapping[str, QueueState], seats: Mapping[str, SeatState],
                now: float) -> CentreLoad:
    """Waiting callers and longest wait in the public queue; local seats free
    (idle, not paused) among the centre's configured seats.  Remote seats
    never count as local."""
    queue = queues.get(centre.queue)
    free = sum(1 for s in centre.seats
               if (state := seats.get(s.extension)) is not None and state.state == "idle" and not state.paused)
    return CentreLoad(
        waiting=queue.waiting if queue else 0,
        longest_wait_s=max(queue.longest_wait_s(now), 0.0) if queue else 0.0,
        local_free=free,
        local_seats=len(centre.seats),
    )


def triggers(thresholds: Thresholds, load: CentreLoad) -> list[str]:
    """The thresholds that hold now, worded for the surge event."""
    held: list[str] = []
    if thresholds.min_waiting is not None and load.waiting >= thresholds.min_waiting:
        held.append(f"waiting {load.waiting} >= {thresholds.min_waiting}")
    if thresholds.max_wait_s is not None and load.longest_wait_s >= thresholds.max_wait_s:
        held.append(f"longest wait {load.longest_wait_s:.0f}s >= {thresholds.max_wait_s}s")
    if thresholds.when_no_local_free and load.waiting > 0 and load.local_free == 0:
        held.append("no local seat free")
    return held


@dataclass(frozen=True)
class SurgeState:
    """One group's surge: open or not, since when, and the pending change.

    `pending_since` is when the condition for the *other* state was first
    seen (a trigger while closed, all clear while open); it resets whenever
    that condition lapses.
    """

    open: bool = False
    since: float | None = None
    pending_since: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class SurgeChange:
    kind: Literal["open", "close"]
    at: float
    reason: str


def surge_step(state: SurgeState, thresholds: Thresholds, load: CentreLoad, now: float, *,
               open_after_s: float, clear_after_s: float,
               enabled: bool = True) -> tuple[SurgeState, SurgeChange | None]:
    """The group's next surge state from the load now, and the change if any.

    Opens once a trigger has held for `open_after_s`; closes once no trigger
    has held for `clear_after_s`, or at once when the group is disabled.
    """
    held = triggers(thresholds, load) if enabled else []
    if not state.open:
        if not held:
            return (state if state.pending_since is None else replace(state, pending_since=None)), None
        pending = state.pending_since if state.pending_since is not None else now
        if now - pending >= open_after_s:
            reason = "; ".join(held)
            return SurgeState(open=True, since=now, reason=reason), SurgeChange("open", now, reason)
        return replace(state, pending_since=pending), None
    if not enabled:
        return SurgeState(open=False, since=now), SurgeChange("close", now, "group disabled")
    if held:
        return replace(state, pending_since=None), None
    pending = state.pending_since if state.pending_since is not None else now
    if now - pending >= clear_after_s:
        reason = f"no threshold held for {clear_after_s:g}s"
        return SurgeState(open=False, since=now), SurgeChange("close", now, reason)
    return replace(state, pending_since=pending), None


def desired_members(groups: Iterable[OverflowGroup], states: Mapping[str, SurgeState],
                    centres: tuple[Centre, ...]) -> dict[str, dict[str, tuple[RemoteMember, int]]]:
    """What each centre's public queue should hold besides its local seats:
    queue -> interface -> (member, penalty), for the open groups."""
    wanted: dict[str, dict[str, tuple[RemoteMember, int]]] = {c.queue: {} for c in centres}
    for group in groups:
        state = states.get(group.name)
        centre = centre_by_id(centres, group.centre)
        if centre is None or state is None or not state.open or not group.enabled:
            continue
        for member in group.members:
            wanted[centre.queue][member.interface] = (member, group.penalty)
    return wanted


# ------------------------------------------------------------------ over a trunk

# A remote seat behind a declared trunk (`PJSIP/<number>@<trunk>`, HOTLINE_TRUNKS)
# is one queue member that may take several calls at once — the number is
# often the far platform's own queue (`PJSIP/110@peer-110`: any free 110 seat
# there).  Its device state is not its own (chan_pjsip knows no device
# `PJSIP/110@peer-110`: INVALID, never rung) nor the trunk's endpoint's (in use
# after one call: with ringinuse=no the whole trunk would be one busy
# member).  So the member rings in use (app_queue ringinuse=yes) and its state
# interface is a Custom device state per trunk that the product keeps
# (`trunk_state`): unavailable while the trunk is down (qualify), busy at its
# `max=` (HOTLINE_TRUNKS), else not in use.  The limit itself is held by the
# dialplan, not by that state: each leg to such a member joins the trunk's
# group (`TRUNK_CALL_GROUP`, GROUP()) in its pre-dial handler and a leg over
# the limit is hung up before it is dialled (app_queue counts it busy and
# tries again), whatever Python is doing.
TRUNK_STATE_PREFIX = "Custom:hotline-trunk-"
TRUNK_CALL_GROUP = "hotline-trunk-overflow"

TrunkState = Literal["NOT_INUSE", "BUSY", "UNAVAILABLE"]


def member_trunk(interface: str) -> str | None:
    """The trunk of a `PJSIP/<number>@<trunk>` member (None for other members)."""
    m = _PJSIP_TRUNK.match(interface)
    return m.group(2) if m else None


def trunk_state_interface(trunk: str) -> str:
    return TRUNK_STATE_PREFIX + trunk


def trunk_state(reachable: bool, calls: int, max_calls: int | None) -> TrunkState:
    """The state the trunk's members show app_queue: UNAVAILABLE when the
    trunk is down, BUSY when `calls` (its remote-overflow legs, ringing or
    talking) reach `max_calls`, else NOT_INUSE."""
    if not reachable:
        return "UNAVAILABLE"
    if max_calls is not None and calls >= max_calls:
        return "BUSY"
    return "NOT_INUSE"


_PAI_SEAT = re.compile(r"<(?:sips?|tel):\+?([0-9]{1,32})(?:@[^>]*)?>")


def answering_seat(pai: str | None) -> str | None:
    """The remote seat that answered, from the P-Asserted-Identity of the far
    platform's 200 OK (`"110 seat 2001" <sip:2001@10.0.0.2>`): its number, or
    None when there is none usable."""
    m = _PAI_SEAT.search(pai or "")
    return m.group(1) if m else None
