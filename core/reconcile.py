"""Settling handoffs nobody will report on any more (pure).

A handoff leaves traces in three places: Asterisk's AstDB (its state
`hotline-handoff/<id>`, the fast path's outbox record and kept end, the
call guard `hotline-handoff-call/<linkedid>`), Asterisk's live channels,
and its order in SQL.  Normally the dialplan and the AGI routes end a
handoff and clean its AstDB keys.  When Asterisk dies (kill -9, a crash,
`core restart now`), when the hangup handler's report is cut off (overload,
a locked database), or when Python was away, some are left: an order stuck
`pending`, AstDB keys nobody deletes.

`plan_reconcile` compares the three and says, as data, what makes every
handoff whose call is gone end as exactly one order in a final state for a
handoff (`accepted`, `returned`, `abandoned`) and leaves no stale key:

* a handoff is *live* while a channel of its call (its linkedid) exists.  Its
  call is known from its order, its outbox record or its call guard; failing
  those, its id (a seat leg's uniqueid, `<epoch>.<seq>`) says when it was
  made, and one made before this Asterisk started cannot be live (nor one
  older than any handoff waits);
* its call is known from its order whatever the order's status: a key kept
  next to an order already final (a hangup report that came late) goes as
  soon as the call is gone;
* a handoff not live: its outbox record (if any) is recorded first, then its
  order settled from what AstDB kept (`ENDED_FAMILY`, else the state):
  `accepted` → accepted, `returned` → returned, `lost` → abandoned (the citizen
  hung up before the move), anything else (`pending`, nothing known) →
  abandoned with the reason `settled_after_restart`; then its keys go;
* a call guard whose call is gone goes.

An order already past `pending` is left as it is (one order, one outcome).

Three-way calls (`*2`, `core.threeway`) are settled by the same plan.  Their
traces: the AstDB phase `hotline-threeway/<id>` (ringing, joined, no_answer,
gone), the conference `hotline-3w-<id>`, the Local channel ringing the other
centre (`Local/t<id>@hotline-threeway-ring`), and the order (mode
`three_way`).  A three-way call is *live* while its conference exists, its
ringing channel exists, or a channel of its call (the order's linkedid; the
citizen's channel) does; failing all those, an order made after this
Asterisk started is left for `unknown_after_s` (it may be starting now).
One not live and still `pending` ends as its phase says (`threeway_outcome`):
no_answer → returned (no_answer); gone (the citizen hung up, nobody reported
it) → as the citizen's hangup would have decided; joined → accepted by the
first-contact rule (首接负责: the two seats were both there and nothing was
agreed) with the reason `settled_after_restart`; ringing or nothing known →
abandoned, `settled_after_restart`.  Its phase key goes after the order is
settled, or at once when the order is past pending (or unknown).

Overflow orders (`app.overflow`) are recorded `accepted` when a remote seat
answers: they have no state tied to a live call and nothing to settle.

Nothing here reads AMI or SQL: `app.handoff.journal.HandoffJournal` gathers
the `Snapshot` (AstDB and orders first, channels last, so a handoff that
ended in between is seen as ended, never the reverse) and applies the plan.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.handoff import (
    ASTDB_FAMILY,
    CALL_GUARD_FAMILY,
    ENDED_FAMILY,
    OUTBOX_FAMILY,
    OutboxRecord,
    parse_outbox,
)
from core.threeway import ASTDB_FAMILY as THREEWAY_FAMILY
from core.threeway import conference_name, is_ring_channel

SETTLED_REASON = "settled_after_restart"
"""The order's outcome_reason when nothing says how its handoff ended."""

# `<systemname->epoch.seq`: Asterisk's uniqueid (and linkedid) format
_UNIQUEID = re.compile(r"^(?:[A-Za-z0-9_]+-)?([0-9]{9,12})[.][0-9]+$")


def epoch_of(uniqueid: str | None) -> float | None:
    """When Asterisk made the channel with this uniqueid (epoch seconds), None if
    it is not one."""
    match = _UNIQUEID.match(uniqueid or "")
    return float(match.group(1)) if match else None


@dataclass(frozen=True)
class LiveChannel:
    name: str
    uniqueid: str
    linkedid: str


@dataclass(frozen=True)
class OpenHandoff:
    """A handoff order still `pending`."""

    order_id: str
    linkedid: str | None
    channel: str | None
    created_at: float  # epoch seconds


@dataclass(frozen=True)
class OpenThreeWay:
    """A three-way call's order: every one still `pending`, and those (any
    status) whose AstDB phase key is still there."""

    order_id: str
    status: str
    linkedid: str | None
    channel: str | None          # the citizen's channel
    created_at: float            # epoch seconds
    joined: bool = False         # a seat of the other centre answered (the order names it)
    first_centre: str = ""       # the centre that first received the call (first-contact rule)


@dataclass(frozen=True)
class Snapshot:
    """What the reconciler saw: AstDB's handoff families, the pending orders,
    Asterisk's live channels, when Asterisk started, and the time."""

    states: dict[str, str]        # hotline-handoff/<id> -> pending / accepted / returned
    outbox: dict[str, str]        # hotline-handoff-outbox/<id> -> record
    ended: dict[str, str]         # hotline-handoff-ended/<id> -> state at the end / lost
    guards: dict[str, str]        # hotline-handoff-call/<linkedid> -> seat leg uniqueid
    pending: tuple[OpenHandoff, ...]
    channels: tuple[LiveChannel, ...]
    asterisk_started_at: float | None  # epoch seconds; None when unknown
    now: float
    calls: dict[str, str] = field(default_factory=dict)
    """The call (linkedid) of handoffs in AstDB whose order is past pending."""
    threeway_phases: dict[str, str] = field(default_factory=dict)  # hotline-threeway/<id> -> phase
    threeways: tuple[OpenThreeWay, ...] = ()
    conferences: tuple[str, ...] = ()   # ConfBridge conferences live now


@dataclass(frozen=True)
class Settle:
    handoff_id: str
    state: str          # accepted / returned / lost / pending (what AstDB kept; "" nothing)
    outcome: str        # accepted / returned / abandoned
    reason: str | None  # the outcome_reason given when nothing else says


@dataclass(frozen=True)
class SettleThreeWay:
    threeway_id: str
    phase: str           # what AstDB kept (ringing / joined / no_answer / gone; "" nothing)
    status: str          # accepted / returned / abandoned
    reason: str
    rule: str | None = None      # accepted: by which rule (first_contact)
    centre: str | None = None    # accepted: the accepting centre


@dataclass(frozen=True)
class ReconcilePlan:
    record: tuple[OutboxRecord, ...] = ()         # outbox records to insert first
    settle: tuple[Settle, ...] = ()               # orders to end (when still pending)
    delete: tuple[tuple[str, str], ...] = ()      # AstDB (family, key), after the above
    bad_records: tuple[str, ...] = ()             # outbox keys not understood (left, logged)
    live: int = 0                                 # handoffs still under way (left alone)
    by_handoff: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """The keys of `delete` per handoff id: deleted only once its order is settled."""
    settle_threeway: tuple[SettleThreeWay, ...] = ()  # three-way orders to end (when still pending)
    live_threeways: int = 0                           # three-way calls still under way (left alone)

    @property
    def empty(self) -> bool:
        return not (self.record or self.settle or self.delete or self.settle_threeway)


def split_end(state: str) -> tuple[str, str | None]:
    """What the dialplan kept about an ended handoff (`ENDED_FAMILY`): the state,
    and for `returned` the Queue/Dial status that brought the citizen back
    (`returned:TIMEOUT`), None when not kept."""
    name, _, status = state.partition(":")
    return name, (status or None) if name == "returned" else None


def outcome_of(state: str) -> tuple[str, str | None]:
    """(order status, outcome_reason or None) for what AstDB kept about an ended handoff."""
    state, _ = split_end(state)
    if state == "accepted":
        return "accepted", None
    if state == "returned":
        return "returned", None
    if state == "lost":
        return "abandoned", "citizen_hung_up"
    return "abandoned", SETTLED_REASON


def threeway_outcome(phase: str, call: OpenThreeWay) -> SettleThreeWay:
    """How a pending three-way order ends when its call is gone and nobody
    reported its end (see the module): what its AstDB phase last said."""
    if phase == "no_answer":
        return SettleThreeWay(call.order_id, phase, "returned", "no_answer")
    joined = call.joined or phase == "joined"
    if phase == "gone":  # the citizen hung up; its report never arrived
        if joined:
            return SettleThreeWay(call.order_id, phase, "accepted", "undecided", "first_contact", call.first_centre)
        return SettleThreeWay(call.order_id, phase, "abandoned", "citizen_hung_up")
    if joined:
        return SettleThreeWay(call.order_id, phase, "accepted", SETTLED_REASON, "first_contact", call.first_centre)
    return SettleThreeWay(call.order_id, phase, "abandoned", SETTLED_REASON)


def plan_threeways(snap: Snapshot, *, unknown_after_s: float = 120.0) -> tuple[
        tuple[SettleThreeWay, ...], tuple[tuple[str, str], ...], int]:
    """(orders to settle, AstDB keys to delete, calls still live) for the
    three-way calls in `snap` (see the module)."""
    live_linkedids = {c.linkedid for c in snap.channels}
    live_names = {c.name for c in snap.channels}
    conferences = set(snap.conferences)
    orders = {o.order_id: o for o in snap.threeways}

    def live(threeway_id: str) -> bool:
        if conference_name(threeway_id) in conferences:
            return True
        if any(is_ring_channel(threeway_id, name) for name in live_names):
            return True
        order = orders.get(threeway_id)
        if order is None:
            return False  # a phase key of no order: nothing else can end it
        if order.linkedid:
            return order.linkedid in live_linkedids
        if order.channel and order.channel in live_names:
            return True
        if snap.asterisk_started_at is not None and order.created_at < snap.asterisk_started_at:
            return False
        return snap.now - order.created_at < unknown_after_s

    settle: list[SettleThreeWay] = []
    delete: list[tuple[str, str]] = []
    n_live = 0
    for threeway_id in sorted(set(snap.threeway_phases) | set(orders)):
        if live(threeway_id):
            n_live += 1
            continue
        order = orders.get(threeway_id)
        if order is not None and order.status == "pending":
            settle.append(threeway_outcome(snap.threeway_phases.get(threeway_id, ""), order))
        if threeway_id in snap.threeway_phases:
            delete.append((THREEWAY_FAMILY, threeway_id))
    return tuple(settle), tuple(delete), n_live


def plan_reconcile(snap: Snapshot, *, unknown_after_s: float = 120.0) -> ReconcilePlan:
    """What settles every handoff in `snap` whose call is gone (see the module).

    `unknown_after_s`: a key nothing links to a call (no order, no record, no
    guard, not a uniqueid of this Asterisk's run) is stale after this long —
    longer than any handoff waits (the hold loop's bound)."""
    live_linkedids = {c.linkedid for c in snap.channels}
    live_uniqueids = {c.uniqueid for c in snap.channels}
    records: dict[str, OutboxRecord] = {}
    bad: list[str] = []
    for key, value in snap.outbox.items():
        record = parse_outbox(key, value)
        if record is None:
            bad.append(key)
        else:
            records[key] = record
    orders = {o.order_id: o for o in snap.pending}
    call_of: dict[str, str] = dict(snap.calls)
    for linkedid, leg in snap.guards.items():
        call_of.setdefault(leg, linkedid)
    for key, record in records.items():
        call_of[key] = record.linkedid
    for order in snap.pending:
        if order.linkedid:
            call_of[order.order_id] = order.linkedid

    def made_at(handoff_id: str) -> float | None:
        order = orders.get(handoff_id)
        if order is not None:
            return order.created_at
        record = records.get(handoff_id)
        if record is not None:
            return record.pressed_at
        return epoch_of(handoff_id)

    def live(handoff_id: str) -> bool:
        linkedid = call_of.get(handoff_id)
        if linkedid:
            return linkedid in live_linkedids
        order = orders.get(handoff_id)
        if order is not None and order.channel and any(c.name == order.channel for c in snap.channels):
            return True
        if handoff_id in live_uniqueids:
            return True
        made = made_at(handoff_id)
        if made is None:
            return snap.asterisk_started_at is None  # nothing to go by: leave it while unsure
        if snap.asterisk_started_at is not None and made < snap.asterisk_started_at:
            return False
        return snap.now - made < unknown_after_s

    ids = (set(snap.states) | set(records) | set(snap.ended) | set(orders)) - set(bad)
    to_record: list[OutboxRecord] = []
    settle: list[Settle] = []
    delete: list[tuple[str, str]] = []
    by_handoff: dict[str, tuple[tuple[str, str], ...]] = {}
    n_live = 0
    for handoff_id in sorted(ids):
        if live(handoff_id):
            n_live += 1
            continue
        if handoff_id in records:
            to_record.append(records[handoff_id])
        state = snap.ended.get(handoff_id) or snap.states.get(handoff_id) or ""
        if handoff_id in orders or handoff_id in records:
            outcome, reason = outcome_of(state)
            settle.append(Settle(handoff_id, state, outcome, reason))
        keys = tuple((family, handoff_id) for family, present in (
            (ASTDB_FAMILY, snap.states), (ENDED_FAMILY, snap.ended), (OUTBOX_FAMILY, records))
            if handoff_id in present)
        if keys:
            by_handoff[handoff_id] = keys
            delete.extend(keys)
    for linkedid in sorted(snap.guards):
        if linkedid not in live_linkedids:
            delete.append((CALL_GUARD_FAMILY, linkedid))
    settle_threeway, threeway_keys, live_threeways = plan_threeways(snap, unknown_after_s=unknown_after_s)
    for family, key in threeway_keys:
        by_handoff[key] = ((family, key),)
    delete.extend(threeway_keys)
    return ReconcilePlan(tuple(to_record), tuple(settle), tuple(delete), tuple(sorted(bad)), n_live, by_handoff,
                         settle_threeway, live_threeways)
