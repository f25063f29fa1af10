"""Work-order use cases: create, move through the lifecycle, read (service layer).

`OrderService` is what the HTTP API, the one-key transfer, the three-way call
and the overflow code call to record a handoff or a matter as a work order
(工单).  It owns the transaction of each use case, asks `core.orders` whether
a transition is legal and `core.sla` when an order falls due, and writes one
audit event per change.  No HTTP here, no Redis, no SQL text (queries live in
`app.orders.repository`).

Concurrency: a transition first *touches* the order's row (an UPDATE), which
takes PostgreSQL's row lock and SQLite's write lock before the current status
is read, so two seats racing on one order are serialised and the loser gets
`IllegalTransition` with the status the winner left.  Order numbers come from
one upsert on `order_counters`, never from counting rows.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.orders import repository
from app.runtime.models import ORDER_MODES, CatalogueEntry, Order, OrderEvent, utcnow
from app.web.errors import BadInput, Conflict
from core.orders import (
    INITIAL,
    STAMPS,
    STATUSES,
    IllegalTransition,
    check_editable,
    check_transition,
    direction,
    reopen_status,
)
from core.safety import UnsafeValue, check_line, check_number, check_token, is_presented
from core.sla import ORDER_CLASSES, TimeLimits, breaches, deadlines

__all__ = ["CHINA_TZ", "IllegalTransition", "OrderChange", "OrderObserver", "OrderService"]

log = logging.getLogger(__name__)

CHINA_TZ = ZoneInfo("Asia/Shanghai")

# Fields a caller may set on create or with a transition, and their limits.
# (text fields: maximum length; None: not a string)
SETTABLE: dict[str, int | None] = {
    "target_seat": 32,
    "order_class": None,
    "emergency": None,
    "wait_ms": None,
    "release_mode": 32,
    "outcome_reason": 256,
    "handoff_rule": 32,
    "peer_number": 64,
    "citizen_name": 64,
    "content": 4000,
    "address": 256,
    "division_code": 12,
    "org_code": 18,
    "handling_unit": 128,
    "result": 4000,
    "return_reason": 256,
    "note": 4000,
    # the order's counterpart on a peer platform (app.federation sets these)
    "peer": 64,
    "peer_side": 3,
    "peer_order_id": 64,
    "peer_status": 20,
    "peer_seq": None,
    "peer_updated_at": None,
    "idempotency_key": 200,
    # what a call brings to an order first recorded from a peer's push (app.federation merge)
    "source_seat": 32,
    "linkedid": 64,
    "channel": 128,
    # a caller ID that is not a number, as presented (URI-escaped), for the audit
    "citizen_presented": 600,
}
MULTILINE = frozenset({"content", "result", "note"})


def _check_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate `fields` (names and values); raise `BadInput` naming the field."""
    for name, value in fields.items():
        if name not in SETTABLE:
            raise BadInput(name, "not a settable order field")
        if value is None:
            continue
        if name == "order_class":
            if value not in ORDER_CLASSES:
                raise BadInput(name, f"{value!r}: expected one of {', '.join(ORDER_CLASSES)}")
        elif name == "emergency":
            if not isinstance(value, bool):
                raise BadInput(name, "must be true or false")
        elif name == "peer_seq":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput(name, "must be a whole number")
        elif name == "peer_updated_at":
            if not isinstance(value, datetime) or value.tzinfo is None:
                raise BadInput(name, "must be a timezone-aware time")
        elif name == "citizen_presented":
            if not is_presented(value):
                raise BadInput(name, "must be the caller ID as presented, URI-escaped")
        elif name == "wait_ms":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 86_400_000:
                raise BadInput(name, "must be a whole number of milliseconds from 0 to 86400000")
        else:
            limit = SETTABLE[name]
            assert limit is not None
            if not isinstance(value, str):
                raise BadInput(name, "must be a string")
            if name in MULTILINE:
                if len(value) > limit:
                    raise BadInput(name, f"longer than {limit} characters")
                if any(c in value for c in "\x00\x7f"):
                    raise BadInput(name, "contains a control character")
            else:
                try:
                    check_line(name, value, max_len=limit)
                except UnsafeValue as exc:
                    raise BadInput(name, exc.reason) from None
    return fields


@dataclass(frozen=True)
class OrderChange:
    """What an observer is told: the order was created (`from_status` None)
    or moved from `from_status` to `to_status` by `actor`; `detail` is the
    audit event's."""

    from_status: str | None
    to_status: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    """One audit event that changes no status (`OrderService.note_all`):
    who, what, its detail, and the fields set with it."""

    actor: str
    kind: str
    detail: dict[str, Any] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    target_centre: str | None = None


class OrderObserver(Protocol):
    """Told of every created order and every transition, inside the
    transaction that writes it (`changed`: may write in `session`, e.g. an
    outbox item, and may fail the change), then once it is committed."""

    async def changed(self, session: AsyncSession, order: Order, change: OrderChange) -> None: ...

    def committed(self, order: Order, change: OrderChange) -> None: ...


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` as an audit event's detail can hold them (times as ISO 8601)."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


def log_fields(order: Order) -> dict[str, str]:
    """The order's fields for a structured log line (`core.log_context`):
    its number, and for a call handed over its handoff id (the order's id),
    seat and citizen channel."""
    fields = {"order": order.number}
    if order.mode in ("transfer", "three_way"):
        fields["handoff_id"] = order.id
    if order.source_seat:
        fields["seat"] = order.source_seat
    if order.channel:
        fields["channel"] = order.channel
    return fields
def _olds(order: Order, names: Any) -> dict[str, Any]:
    """The order's current values of `names` (before a change), for the audit event."""
    return _jsonable({name: getattr(order, name) for name in names})


# What an audit event keeps of a change: `fields` the new values, `old` the
# values they replace — text included, so an edit never loses the original.
# Columns a reopen clears are kept under `old` too.
REOPEN_CLEARS: tuple[str, ...] = ("closed_at", "outcome_reason")


def _check_category(entry: CatalogueEntry | None, category: str, jurisdiction: str) -> CatalogueEntry:
    """An order names an entry of the deployment's catalogue: `BadInput` for
    a code it does not have, `Conflict` (409) for one an admin has disabled;
    the entry when it is usable."""
    if entry is None:
        raise BadInput("category", f"{category!r} is not in the {jurisdiction} catalogue")
    if not entry.enabled:
        raise Conflict(f"{category!r} is disabled in the {jurisdiction} catalogue", "category")
    return entry


# Statuses in which the class's time limits run (see `core.sla`).
CLOCK_RUNS = frozenset({"dispatched", "signed", "on_site"})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class OrderService:
    """Create work orders and move them through `core.orders`' state machine.

    `clock` gives "now" (timezone-aware UTC); tests pass a controllable one.
    `limits` are the per-class time limits applied when an order is
    dispatched; `number_tz` is the zone whose calendar day goes into the
    order number (China Standard Time by default); `jurisdiction`, when set,
    makes `create` check a named category against that catalogue.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = utcnow,
        limits: TimeLimits | None = None,
        number_tz: tzinfo = CHINA_TZ,
        jurisdiction: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._limits = limits if limits is not None else TimeLimits()
        self._tz = number_tz
        self._jurisdiction = jurisdiction
        self._observers: list[OrderObserver] = []

    def observe(self, observer: OrderObserver) -> None:
        """Tell `observer` of every creation and transition (in their transactions)."""
        self._observers.append(observer)

    async def _changed(self, session: AsyncSession, order: Order, change: OrderChange) -> None:
        for observer in self._observers:
            await observer.changed(session, order, change)

    def _committed(self, order: Order, change: OrderChange) -> None:
        for observer in self._observers:
            try:
                observer.committed(order, change)
            except Exception:  # the change is committed; a nudge failing must not undo the answer
                log.exception("observer %r failed after order %s was committed", observer, order.number)

    @property
    def limits(self) -> TimeLimits:
        return self._limits

    def now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the order clock must return timezone-aware datetimes")
        return now.astimezone(UTC)

    async def create(
        self,
        *,
        mode: str,
        source_centre: str,
        target_centre: str,
        citizen_number: str,
        actor: str,
        status: str = "pending",
        target: str | None = None,
        source_seat: str | None = None,
        category: str | None = None,
        note: str | None = None,
        linkedid: str | None = None,
        channel: str | None = None,
        order_id: str | None = None,
        created_at: datetime | None = None,
        numbered_by: str | None = None,
        detail: dict[str, Any] | None = None,
        **fields: Any,
    ) -> Order:
        """Record a new order with the next number of `source_centre` (or
        `numbered_by`: an order received from a peer platform takes the local
        centre's number) for today.

        `status` is `pending` or `accepted`, or `dispatched` for an order
        handed to or received from a peer platform (its sign-for limit runs
        from now).

        `created_at` (timezone-aware): when the order really began, if that was
        before now (an order recorded from the dialplan's outbox); its day
        gives the number.

        Writes a `created` audit event (with `detail`: what the caller keeps
        of how the order began, e.g. a three-way call's start).  Raises `BadInput` (field, reason) for
        an unknown mode, status, class or category, or a malformed value.
        """
        if mode not in ORDER_MODES:
            raise BadInput("mode", f"{mode!r}: expected one of {', '.join(ORDER_MODES)}")
        if status not in INITIAL | {"dispatched"}:
            raise BadInput("status", f"{status!r}: a new order starts as one of {', '.join(sorted(INITIAL))}")
        try:
            check_token("source_centre", source_centre)
            check_token("target_centre", target_centre)
            if citizen_number != "":  # "": withheld, or a caller ID that is not a number
                check_number("citizen_number", citizen_number)
            check_line("actor", actor, max_len=64)
            if numbered_by is not None:
                check_token("numbered_by", numbered_by)
            for name, value, limit in (("target", target, 32), ("source_seat", source_seat, 32),
                                       ("category", category, 32), ("linkedid", linkedid, 64),
                                       ("channel", channel, 128), ("order_id", order_id, 36)):
                if value is not None:
                    check_line(name, value, max_len=limit)
        except UnsafeValue as exc:
            raise BadInput(exc.field, exc.reason) from None
        _check_fields({"note": note, **fields})
        now = self.now()
        if created_at is not None:
            if created_at.tzinfo is None:
                raise BadInput("created_at", "must be timezone-aware")
            now = min(now, created_at.astimezone(UTC))
        if fields.get("order_class") is None:
            fields.pop("order_class", None)
        async with self._sessions.begin() as session:
            catalogue_detail: dict[str, Any] | None = None
            if category is not None and self._jurisdiction is not None:
                entry = _check_category(await repository.find_catalogue_entry(session, self._jurisdiction, category),
                                        category, self._jurisdiction)
                destinations = list(entry.destinations.get("list", []))
                catalogue_detail = {"code": entry.code, "destinations": destinations,
                                    "matches_target": (target or target_centre) in destinations}
            day = now.astimezone(self._tz).strftime("%Y%m%d")
            centre = numbered_by or source_centre
            serial = await repository.next_order_serial(session, centre, day)
            order = Order(
                number=f"{centre}-{day}-{serial:04d}",
                direction=direction(source_centre, target_centre),
                mode=mode,
                status=status,
                citizen_number=citizen_number,
                source_centre=source_centre,
                target_centre=target_centre,
                target=target or target_centre,
                source_seat=source_seat,
                category=category,
                note=note,
                linkedid=linkedid,
                channel=channel,
                created_at=now,
                updated_at=now,
                accepted_at=now if status == "accepted" else None,
                **fields,
            )
            if status == "dispatched":
                order.dispatched_at = now
                due = deadlines(order.order_class or "general", now, self._limits)
                order.sign_due_at, order.on_site_due_at = due.sign_due_at, due.on_site_due_at
            if order_id is not None:
                order.id = order_id
            await repository.add_order(session, order)
            detail = {**(detail or {}), "number": order.number, "mode": mode, "direction": order.direction}
            if catalogue_detail is not None:
                detail["catalogue"] = catalogue_detail
            await repository.add_event(session, order.id, actor=actor, kind="created",
                                       to_status=status, detail=detail, at=now)
            change = OrderChange(None, status, actor, detail)
            await self._changed(session, order, change)
        self._committed(order, change)
        log.info("order %s created: %s %s %s by %s (linkedid %s)", order.number, order.id,
                 order.direction, mode, actor, linkedid, extra=log_fields(order))
        return order

    async def create_once(self, match: dict[str, str], **kwargs: Any) -> tuple[Order, bool]:
        """`create(**kwargs)` unless an order with `match`'s column values (a
        unique key: `idempotency_key`, or `peer` and `peer_order_id`)
        exists; returns (order, created).  Two racing callers get one order."""
        existing = await self._find(match)
        if existing is not None:
            return existing, False
        try:
            return await self.create(**kwargs), True
        except IntegrityError:
            existing = await self._find(match)
            if existing is None:
                raise
            return existing, False

    async def _find(self, match: dict[str, str]) -> Order | None:
        async with self._sessions() as session:
            return (await session.scalars(select(Order).where(
                *(getattr(Order, k) == v for k, v in match.items())))).first()

    async def transition(
        self,
        order_id: str,
        to_status: str,
        *,
        actor: str,
        event: str | None = None,
        detail: dict[str, Any] | None = None,
        target_centre: str | None = None,
        guard: Callable[[Order], None] | None = None,
        **fields: Any,
    ) -> Order:
        """Move the order to `to_status` if `core.orders` allows it from its current status.

        `guard(order)`, when given, sees the order once it is locked and may
        raise to refuse the change (a peer's out-of-order document).

        `event`: what caused it, for the log (an API action such as `dispatch`,
        a call's report such as `answered`); every transition is logged here,
        `Transition: <from> -> <event> -> <to>`, and a refused one too.

        `target_centre`: the centre that takes the case after all (a three-way
        call's outcome); the order's direction follows.

        Stamps the status's time (`accepted_at`, `signed_at`, ...; `closed_at`
        for closed/abandoned/voided); on dispatch sets the class's deadlines
        and clears the previous round's milestones.  `fields` (e.g.
        `target_seat`, `wait_ms`, `handling_unit`, `result`,
        `return_reason`) are set in the same write.  Writes a `transition`
        audit event.  Raises `IllegalTransition` (current status kept),
        `NotFound`, `BadInput`.
        """
        if to_status not in STATUSES:
            raise BadInput("status", f"{to_status!r}: expected one of {', '.join(STATUSES)}")
        try:
            check_line("actor", actor, max_len=64)
        except UnsafeValue as exc:
            raise BadInput(exc.field, exc.reason) from None
        _check_fields(fields)
        if target_centre is not None:
            try:
                check_token("target_centre", target_centre)
            except UnsafeValue as exc:
                raise BadInput(exc.field, exc.reason) from None
        now = self.now()
        async with self._sessions.begin() as session:
            order = await repository.lock_order(session, order_id, now)
            if guard is not None:
                guard(order)
            from_status = order.status
            try:
                check_transition(from_status, to_status)
            except IllegalTransition:
                log.info("Transition refused: %s -> %s -> %s (order %s %s, by %s)", from_status,
                         event or "transition", to_status, order.number, order.id, actor,
                         extra=log_fields(order))
                raise
            old = _olds(order, fields)
            if target_centre is not None and target_centre != order.target_centre:
                old["target_centre"] = order.target_centre
            for name, value in fields.items():
                setattr(order, name, value)
            if target_centre is not None and target_centre != order.target_centre:
                order.target_centre = order.target = target_centre
                order.direction = direction(order.source_centre, target_centre)
                fields = {**fields, "target_centre": target_centre}
            stamp = STAMPS.get(to_status)
            if stamp is not None:
                setattr(order, stamp, now)
            if to_status == "dispatched":
                due = deadlines(order.order_class, now, self._limits)
                order.sign_due_at, order.on_site_due_at = due.sign_due_at, due.on_site_due_at
                order.signed_at = order.on_site_at = order.feedback_at = None
                order.sign_overdue_at = order.on_site_overdue_at = None
            order.status = to_status
            order.updated_at = now
            event_detail = dict(detail or {})
            changed = _jsonable(fields)
            if changed:
                event_detail.setdefault("fields", changed)
                replaced = {k: v for k, v in old.items() if v is not None and v != changed.get(k)}
                if replaced:
                    event_detail.setdefault("old", replaced)
            await repository.add_event(session, order.id, actor=actor, kind="transition",
                                       from_status=from_status, to_status=to_status,
                                       detail=event_detail, at=now)
            change = OrderChange(from_status, to_status, actor, event_detail)
            await self._changed(session, order, change)
        self._committed(order, change)
        log.info("Transition: %s -> %s -> %s (order %s %s, by %s)", from_status, event or "transition",
                 to_status, order.number, order.id, actor, extra=log_fields(order))
        return order

    async def update(self, order_id: str, *, actor: str, category: str | None = None, **fields: Any) -> Order:
        """Set fields without changing the status (e.g. the peer's order number); audited
        with the old and the new value of every changed field.

        A new `category` is checked against the jurisdiction's catalogue.  A
        new `order_class` on an order whose clock runs (dispatched, signed, on
        site) moves its deadlines to the new class's limits from the same
        dispatch time (general → major gains the 30-minute sign-for and the
        2-hour on-site limit); a breach flag of a moved deadline is cleared so
        the overdue checker judges it again.  An order in a final status is
        not edited: `FinalOrder` (409) — a supervisor reopens it first.
        """
        _check_fields(fields)
        now = self.now()
        if category is not None:
            try:
                check_line("category", category, max_len=32)
            except UnsafeValue as exc:
                raise BadInput(exc.field, exc.reason) from None
            fields["category"] = category
        async with self._sessions.begin() as session:
            order = await repository.lock_order(session, order_id, now)
            check_editable(order.status)
            if category is not None and self._jurisdiction is not None:
                entry = await repository.find_catalogue_entry(session, self._jurisdiction, category)
                _check_category(entry, category, self._jurisdiction)
            changes = {k: v for k, v in fields.items() if getattr(order, k) != v}
            old = _olds(order, changes)
            for name, value in changes.items():
                setattr(order, name, value)
            if "order_class" in changes and order.dispatched_at is not None and order.status in CLOCK_RUNS:
                due = deadlines(order.order_class, order.dispatched_at, self._limits)
                for column, value in (("sign_due_at", due.sign_due_at), ("on_site_due_at", due.on_site_due_at)):
                    if getattr(order, column) != value:
                        old[column] = _iso(getattr(order, column))
                        changes[column] = value
                        setattr(order, column, value)
                        flag = column.replace("_due_at", "_overdue_at")
                        if getattr(order, flag) is not None:
                            old[flag] = _iso(getattr(order, flag))
                            changes[flag] = None
                            setattr(order, flag, None)
            order.updated_at = now
            detail: dict[str, Any] = {"fields": _jsonable(changes), "old": old}
            await repository.add_event(session, order.id, actor=actor, kind="updated", from_status=order.status,
                                       to_status=order.status, detail=detail, at=now)
        log.info("order %s updated by %s: %s", order.number, actor, ", ".join(sorted(changes)) or "nothing changed")
        return order

    async def reopen(self, order_id: str, *, actor: str, reason: str) -> Order:
        """Bring a final order (closed, abandoned, voided) back to the status it
        had before it was finalised (`core.orders.reopen_status`) — a
        supervisor's decision, with `reason`.  The `reopened` audit event keeps
        what the order said when it was final (status, closing time, outcome
        reason, result); the closing time and outcome reason are cleared, the
        rest stays until it is edited (audited again).  Raises
        `IllegalTransition` (409) for an order that is not final, `NotFound`,
        `BadInput`."""
        try:
            check_line("actor", actor, max_len=64)
            check_line("reason", reason, max_len=256)
        except UnsafeValue as exc:
            raise BadInput(exc.field, exc.reason) from None
        if not reason.strip():
            raise BadInput("reason", "is required")
        now = self.now()
        async with self._sessions.begin() as session:
            order = await repository.lock_order(session, order_id, now)
            before = await repository.status_before(session, order.id, order.status)
            try:
                to_status = reopen_status(order.status, before)
            except IllegalTransition:
                log.info("Transition refused: %s -> reopen -> ? (order %s %s, by %s)", order.status,
                         order.number, order.id, actor)
                raise
            from_status = order.status
            old = _olds(order, ("status", *REOPEN_CLEARS, "result", "return_reason"))
            for name in REOPEN_CLEARS:
                setattr(order, name, None)
            order.status = to_status
            order.updated_at = now
            detail = {"action": "reopen", "reason": reason, "old": old}
            await repository.add_event(session, order.id, actor=actor, kind="reopened", from_status=from_status,
                                       to_status=to_status, detail=detail, at=now)
            change = OrderChange(from_status, to_status, actor, detail)
            await self._changed(session, order, change)
        self._committed(order, change)
        log.info("Transition: %s -> reopen -> %s (order %s %s, by %s: %s)", from_status, to_status,
                 order.number, order.id, actor, reason)
        return order

    async def note(self, order_id: str, *, actor: str, kind: str, detail: dict[str, Any] | None = None,
                   target_centre: str | None = None, guard: Callable[[Order], None] | None = None,
                   **fields: Any) -> Order:
        """An audit event that changes no status — a party joining or leaving a
        three-way call, an emergency mark, a peer platform's report — with
        `fields` set in the same write (`target_centre` and `guard` as in
        `transition`).  Raises `NotFound`, `BadInput`."""
        return await self.note_all(order_id, [Note(actor, kind, detail, fields, target_centre)], guard=guard)

    async def note_all(self, order_id: str, notes: Sequence[Note], *,
                       guard: Callable[[Order], None] | None = None) -> Order:
        """`note` for several events in one write, in their order (the two
        seats joining a three-way call at one answer).  All are checked
        before anything is written; none is written if one is refused.
        Raises `NotFound`, `BadInput`."""
        if not notes:
            raise BadInput("notes", "nothing to note")
        for item in notes:
            try:
                check_line("actor", item.actor, max_len=64)
                check_token("kind", item.kind)
                if item.target_centre is not None:
                    check_token("target_centre", item.target_centre)
            except UnsafeValue as exc:
                raise BadInput(exc.field, exc.reason) from None
            _check_fields(item.fields)
        now = self.now()
        async with self._sessions.begin() as session:
            order = await repository.lock_order(session, order_id, now)
            if guard is not None:
                guard(order)
            for item in notes:
                fields = dict(item.fields)
                for name, value in fields.items():
                    setattr(order, name, value)
                event_detail = dict(item.detail or {})
                if item.target_centre is not None and item.target_centre != order.target_centre:
                    order.target_centre = order.target = item.target_centre
                    order.direction = direction(order.source_centre, item.target_centre)
                    fields["target_centre"] = item.target_centre
                if fields:
                    event_detail.setdefault("fields", _jsonable(fields))
                order.updated_at = now
                await repository.add_event(session, order.id, actor=item.actor, kind=item.kind,
                                           from_status=order.status, to_status=order.status,
                                           detail=event_detail, at=now)
        for item in notes:
            log.info("order %s: %s by %s %s", order.number, item.kind, item.actor, item.detail or "")
        return order

    async def merge(self, order_id: str, *, actor: str, kind: str, detail: dict[str, Any] | None = None,
                    guard: Callable[[Order], None] | None = None, overwrite: frozenset[str] = frozenset(),
                    **fields: Any) -> tuple[Order, dict[str, Any]]:
        """Bring what a second source knows into an order made from the first
        (a peer's push and the call of the same handoff, whichever came
        first): each of `fields` is set where the order has none yet — or
        always, for those in `overwrite` — and nothing else changes.  A new
        class re-draws the sign-for and on-site limits from the dispatch.
        One audit event (`kind`) with what was filled; (order, filled).
        Raises `NotFound`, `BadInput`; `guard` as in `transition`."""
        try:
            check_line("actor", actor, max_len=64)
            check_token("kind", kind)
        except UnsafeValue as exc:
            raise BadInput(exc.field, exc.reason) from None
        _check_fields({k: v for k, v in fields.items()})
        now = self.now()
        async with self._sessions.begin() as session:
            order = await repository.lock_order(session, order_id, now)
            if guard is not None:
                guard(order)
            filled = {k: v for k, v in fields.items() if v is not None
                      and (getattr(order, k) in (None, "") or (k in overwrite and getattr(order, k) != v))}
            for name, value in filled.items():
                setattr(order, name, value)
            if "order_class" in filled and order.dispatched_at is not None and order.status == "dispatched":
                due = deadlines(order.order_class, order.dispatched_at, self._limits)
                order.sign_due_at, order.on_site_due_at = due.sign_due_at, due.on_site_due_at
            order.updated_at = now
            event_detail = dict(detail or {})
            event_detail["filled"] = _jsonable({k: v for k, v in filled.items() if k not in MULTILINE})
            await repository.add_event(session, order.id, actor=actor, kind=kind, from_status=order.status,
                                       to_status=order.status, detail=event_detail, at=now)
        log.info("order %s: %s by %s, filled %s", order.number, kind, actor, sorted(filled))
        return order, filled

    async def get(self, order_id: str) -> Order:
        """The order by id (or by its number); raises `NotFound`."""
        async with self._sessions() as session:
            return await repository.get_order_by_id_or_number(session, order_id)

    async def in_status(self, mode: str, status: str) -> list[Order]:
        """Orders of `mode` in `status`, oldest first (at most 5,000)."""
        async with self._sessions() as session:
            return await repository.orders_in_status(session, mode, status)

    async def with_events(self, order_id: str) -> tuple[Order, list[OrderEvent]]:
        """The order and its audit trail, oldest first, read together; raises `NotFound`."""
        async with self._sessions() as session:
            order = await repository.get_order_by_id_or_number(session, order_id)
            return order, await repository.list_events(session, order.id)

    async def of_seat(self, mode: str, seat: str, since: datetime, *, limit: int = 20) -> list[Order]:
        """Orders of `mode` created since `since` whose source or target seat
        is `seat`, newest first."""
        async with self._sessions() as session:
            return await repository.orders_of_seat(session, mode, seat, since, limit=limit)

    async def events(self, order_id: str) -> list[OrderEvent]:
        """The order's audit trail, oldest first; raises `NotFound` for an unknown order."""
        return (await self.with_events(order_id))[1]

    async def flag_overdue(self) -> list[tuple[Order, str]]:
        """Flag every breach not flagged yet, once: an `overdue` audit event per breach.

        Returns (order, breach) for each newly flagged breach ("sign" or
        "on_site").  A breach stays flagged until the order is re-dispatched.
        """
        now = self.now()
        async with self._sessions() as session:
            ids = await repository.unflagged_overdue_ids(session, now)
        flagged: list[tuple[Order, str]] = []
        for order_id in ids:
            async with self._sessions.begin() as session:
                order = await repository.lock_order(session, order_id, now)
                for breach in breaches(status=order.status, sign_due_at=order.sign_due_at,
                                       on_site_due_at=order.on_site_due_at, now=now):
                    column = f"{breach}_overdue_at"
                    if getattr(order, column) is not None:
                        continue
                    setattr(order, column, now)
                    due = order.sign_due_at if breach == "sign" else order.on_site_due_at
                    assert due is not None
                    await repository.add_event(session, order.id, actor="system:overdue", kind="overdue",
                                               from_status=order.status, to_status=order.status,
                                               detail={"breach": breach, "due_at": due.isoformat(),
                                                       "order_class": order.order_class}, at=now)
                    flagged.append((order, breach))
                    log.warning("order %s overdue: %s was due at %s (%s, %s)", order.number, breach,
                                due.isoformat(), order.order_class, order.handling_unit)
        return flagged
