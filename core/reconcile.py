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


@dataclass(frozen=True)
class Settle:
    handoff_id: str
    state: str          # accepted / returned / lost / pending (what AstDB kept; "" nothing)
    outcome: str        # accepted / returned / abandoned
    reason: str | None  # the outcome_reason given when nothing else says


@dataclass(frozen=True)
class ReconcilePlan:
    record: tuple[OutboxRecord, ...] = ()         # outbox records to insert first
    settle: tuple[Settle, ...] = ()               # orders to end (when still pending)
    delete: tuple[tuple[str, str], ...] = ()      # AstDB (family, key), after the above
    bad_records: tuple[str, ...] = ()             # outbox keys not understood (left, logged)
    live: int = 0                                 # handoffs still under way (left alone)
    by_handoff: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    """The keys of `delete` per handoff id: deleted only once its order is settled."""

    @property
    def empty(self) -> bool:
        return not (self.record or self.settle or self.delete)


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
    return ReconcilePlan(tuple(to_record), tuple(settle), tuple(delete), tuple(sorted(bad)), n_live, by_handoff)
