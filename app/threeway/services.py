"""Three-way call use cases: one service behind the keys and the desktop buttons (service layer).

`ThreeWayService` is the single code path of a three-way call (三方通话).
The start key's AGI route and `POST /api/threeway` both call `start`, which
asks `core.threeway.plan_start` for the plan and records the order (mode
`three_way`, `pending`) before anything moves; `bring_in` then has the
telephony port move the parties and ring the other centre.  The conference
keys (ConfBridge menu → AGI routes) and the buttons call `leave`, `cancel`
and `mark_emergency`; the dialplan reports `answered`, `no_answer`,
`citizen_gone` and `seat_gone`.  Each event goes through the call's
`core.threeway.ThreeWay` state; when it decides the outcome the order is
moved (accepted with its rule / returned / abandoned); every join, leave
and mark is an audit event (`OrderService.note`).

The call's state is its order's audit trail (`core.threeway.replay`): each
action reads the order and its events and writes what changed as notes, so
the keys' process and the desk's (`hotline agi` and `hotline web` apart, as
the service units run them), or one restarted since, act on the same call.
Within a process the actions on one call take turns.  A call whose end nobody
reported (Asterisk killed, the FastAGI server away at the citizen's hangup)
is settled by the handoff journal's reconciler (`core.reconcile`): this
service gives it the open orders (`open_threeways`) and ends them
(`settle_threeway`).  No HTTP and no AMI here: the
`ThreeWayTelephony` port does the moves.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from app.orders.calls import CallFinder, Started, desk_call, follow, move_error
from app.orders.services import Note, OrderService
from app.runtime.models import Order
from app.web.errors import NotFound, Refused, Unavailable
from core.reconcile import OpenThreeWay, SettleThreeWay
from core.refusals import Refusal
from core.settings import Settings
from core.threeway import (
    JOINED,
    LEFT,
    MARKED,
    Outcome,
    ThreeWay,
    ThreeWayPlan,
    ThreeWayRequest,
    conference_name,
    plan_start,
    replay,
    start_detail,
    started_with,
)

log = logging.getLogger(__name__)


class ThreeWayTelephony(CallFinder, Protocol):
    async def seats_logged_in(self, queue: str) -> int | None: ...

    async def bring_in(self, plan: ThreeWayPlan, threeway_id: str, *, from_feature: bool) -> None: ...

    async def drop_ring(self, threeway_id: str) -> None: ...

    async def hang_up(self, channel: str) -> None: ...

    async def forget(self, threeway_id: str) -> None: ...


# how far back the desk looks for a seat's three-way call in progress
ACTIVE_WITHIN = timedelta(hours=12)


@dataclass(frozen=True)
class Loaded:
    """A three-way call as its order records it."""

    call: ThreeWay
    order: Order
    channels: dict[str, str]  # role -> channel: the citizen's, the initiator's leg


class _Turn:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # actions holding or waiting for it


class ThreeWayService:
    def __init__(self, settings: Settings, orders: OrderService, telephony: ThreeWayTelephony | None = None) -> None:
        self.settings = settings
        self.orders = orders
        self.telephony = telephony
        self._citizens: set[str] = set()                # citizen channels with a three-way being set up
        self._turns: dict[str, _Turn] = {}              # id -> the lock its actions take turns on

    # ----------------------------------------------------------- the start

    async def start(self, request: ThreeWayRequest) -> Started[ThreeWayPlan]:
        """Plan the three-way call and record its order; nothing has moved yet."""
        s = self.settings
        decision = plan_start(request, centres=s.site.centres, timeout_s=s.threeway.timeout_s,
                              remote=s.trunks.remote_centres)
        if isinstance(decision, Refusal):
            log.info("three-way refused (%s): seat channel %s, citizen channel %s via %s", decision.reason,
                     request.seat_channel, request.citizen_channel, request.via)
            return Started(None, refusal=decision)
        plan = decision
        if plan.citizen_channel in self._citizens:
            return Started(plan, refusal=Refusal("already_three_way"))
        self._citizens.add(plan.citizen_channel)
        try:
            # a remote centre (over its trunk) has no queue here: its platform answers for it
            logged_in = await self.telephony.seats_logged_in(plan.queue) if self.telephony and plan.queue else None
            order = await self.orders.create(
                mode="three_way", source_centre=plan.source_centre, target_centre=plan.target_centre,
                citizen_number=plan.citizen_number, actor=f"seat:{plan.initiator.extension}",
                source_seat=plan.initiator.extension, linkedid=plan.linkedid, channel=plan.citizen_channel,
                citizen_presented=plan.citizen_presented, detail=start_detail(plan))
        except BaseException:
            self._citizens.discard(plan.citizen_channel)
            raise
        if logged_in == 0:
            self._citizens.discard(plan.citizen_channel)
            returned = await follow(self.orders, order.id, "returned", event="no_seat_logged_in", actor="system",
                                    outcome_reason="no_seat_logged_in", detail={"moved": False})
            return Started(plan, order=returned, refusal=Refusal("no_seat_logged_in"))
        log.info("three-way %s started via %s: %s seat %s brings in %s (%s), citizen %s on %s, order %s",
                 order.id, plan.via, plan.source_centre, plan.initiator.extension, plan.target_centre,
                 plan.queue, plan.citizen_number, plan.citizen_channel, order.number)
        # over a trunk, the header carries the order's number (order=)
        return Started(replace(plan, order_number=order.number), order=order)

    async def bring_in(self, started: Started[ThreeWayPlan], *, from_feature: bool) -> None:
        """Move the parties and ring the other centre (the telephony port); on
        failure the citizen stays with the seat and the order says why."""
        plan, order = started.plan, started.order
        assert plan is not None and order is not None and self.telephony is not None
        try:
            await self.telephony.bring_in(plan, order.id, from_feature=from_feature)
        except Exception as exc:
            reason = getattr(exc, "reason", "ami_failed")
            log.warning("three-way %s: could not bring the other centre in (%s)", order.id, reason)
            await self.telephony.forget(order.id)
            status = "abandoned" if reason == "citizen_gone" else "returned"
            await follow(self.orders, order.id, status, event="move_failed", actor="system",
                         outcome_reason=reason, detail={"moved": False})
            raise
        finally:
            self._citizens.discard(plan.citizen_channel)
        await self._note(order.id, "seat:" + plan.initiator.extension, "ringing",
                         {"queue": plan.queue, "conference": conference_name(order.id)})
        if plan.emergency:
            await self.mark_emergency(order.id, "initiator")

    async def start_from_desktop(self, *, seat: str | None, channel: str | None,
                                 emergency: bool) -> Started[ThreeWayPlan]:
        """The desktop button: the same `start` as the key; the moves by AMI.

        Raises `Conflict` (409) when the seat has no call, `Refused` (409) when
        the three-way call is refused; `Unavailable` (503) when AMI fails — in
        every case the citizen stays with the seat.
        """
        call = await desk_call(self._telephony(), seat=seat, channel=channel)
        request = ThreeWayRequest(
            seat_channel=call.seat_channel, citizen_channel=call.citizen_channel,
            citizen_number=call.citizen_number, centre=call.centre,
            first_centre=getattr(call, "first_centre", None), linkedid=call.linkedid,
            emergency=emergency, via="button")
        started = await self.start(request)
        if started.refusal is not None:
            raise Refused("three-way", started.refusal.reason, started.order)
        try:
            await self.bring_in(started, from_feature=False)
        except Exception as exc:
            raise move_error(getattr(exc, "reason", "ami_failed"), "three-way call") from exc
        return started

    # ------------------------------------------------------- what followed

    async def answered(self, threeway_id: str, seat_channel: str | None) -> None:
        """A seat of the other centre answered: it and the initiator join the citizen."""
        from core.handoff import seat_of_channel

        async with self._turn(threeway_id):
            call = await self._call(threeway_id)
            if call.phase != "ringing":
                return
            seat = seat_of_channel(self.settings.site.centres, seat_channel)
            await self._joined(call, seat.extension if seat else None)

    async def _joined(self, call: ThreeWay, seat: str | None) -> ThreeWay:
        """The answer recorded: the seats there joined, one write for their
        events.  An initiator that hung up before does not join: the answering
        seat then has the citizen alone and accepts (`ThreeWay.answered`)."""
        call, outcome = call.answered(seat)
        notes = [Note(f"seat:{call.invited_seat or '?'}", JOINED,
                      {"role": "invited", "seat": call.invited_seat, "centre": call.target_centre},
                      {"target_seat": call.invited_seat})]
        if "initiator" in call.present:
            notes.append(Note(f"seat:{call.initiator_seat}", JOINED,
                              {"role": "initiator", "seat": call.initiator_seat, "centre": call.source_centre}))
        order = await self._notes(call.id, notes)
        await self._settle(call.id, call, outcome, actor=f"seat:{call.invited_seat or '?'}", order=order)
        return call

    async def no_answer(self, threeway_id: str) -> None:
        async with self._turn(threeway_id):
            call = await self._call(threeway_id)
            if call.phase != "ringing":
                return
            call, outcome = call.no_answer()
            await self._settle(threeway_id, call, outcome, actor="system")
            if "initiator" in call.present:  # else the dialplan queued the citizen at its centre
                await self._note(threeway_id, f"seat:{call.initiator_seat}", JOINED,
                                 {"role": "initiator", "seat": call.initiator_seat, "back": True})

    async def leave(self, threeway_id: str, role: str, *, hang_up: bool = False) -> Refusal | None:
        """A seat leaves and hands the citizen to the other seat (key or button).
        `hang_up`: the button — the service drops the seat's leg itself."""
        async with self._turn(threeway_id):
            loaded = await self._load(threeway_id)
            call = loaded.call
            refusal = call.can_leave(role)
            if refusal is not None:
                log.info("three-way %s: %s may not leave (%s)", threeway_id, role, refusal.reason)
                return refusal
            seat = call.seat_of(role)
            call, outcome = call.left(role)
            order = await self._note(threeway_id, f"seat:{seat}", LEFT, {"role": role, "seat": seat, "how": "key"})
            await self._settle(threeway_id, call, outcome, actor=f"seat:{seat}", order=order)
        if hang_up:
            await self._drop(loaded, role)
        return None

    async def cancel(self, threeway_id: str, role: str) -> Refusal | None:
        """The initiator cancels: the invited seat is dropped, two-party again."""
        async with self._turn(threeway_id):
            loaded = await self._load(threeway_id)
            call = loaded.call
            refusal = call.can_cancel(role)
            if refusal is not None:
                return refusal
            dropped = call.invited_seat
            call, outcome = call.cancel(role)
            await self._settle(threeway_id, call, outcome, actor=f"seat:{call.initiator_seat}")
            await self._note(threeway_id, f"seat:{call.initiator_seat}", LEFT,
                             {"role": "invited", "seat": dropped, "how": "cancelled"})
        await self._drop(loaded, "invited")
        return None

    async def mark_emergency(self, threeway_id: str, role: str) -> Any | None:
        """A seat marks the case as endangering life or property: 110 accepts, dispatch first."""
        async with self._turn(threeway_id):
            call = await self._call(threeway_id)
            seat = call.seat_of(role)
            order = await self._note(threeway_id, f"seat:{seat}", MARKED,
                                     {"role": role, "seat": seat, "mark": "emergency"}, emergency=True)
            call, outcome = call.emergency(self.settings.site.centres)
            return await self._settle(threeway_id, call, outcome, actor=f"seat:{seat}", order=order)

    async def citizen_gone(self, threeway_id: str, *, joined: bool = False) -> None:
        """The citizen hung up: the conference ends for all (the seats are
        end_marked users); a ringing leg is dropped.  `joined`: Asterisk had
        the call joined (a seat answered) — when that answer's report is not
        recorded yet, it is first, so the call does not end as abandoned."""
        async with self._turn(threeway_id):
            call = await self._call(threeway_id)
            if "citizen" not in call.present:
                return  # reported already
            if joined and call.phase == "ringing":
                log.info("three-way %s: the citizen hung up after an answer not yet recorded", threeway_id)
                call = await self._joined(call, None)
            ringing = call.phase == "ringing"
            call, outcome = call.citizen_gone()
            order = await self._note(threeway_id, "citizen", LEFT, {"role": "citizen"})
            await self._settle(threeway_id, call, outcome, actor="citizen", order=order)
        if ringing and self.telephony is not None:
            await self.telephony.drop_ring(threeway_id)
        if self.telephony is not None:
            await self.telephony.forget(threeway_id)

    async def seat_gone(self, threeway_id: str, role: str) -> None:
        """A seat hung up: in the conference (the other two keep talking), or
        the initiator while the other centre rang (`hotline-threeway-seat`)."""
        async with self._turn(threeway_id):
            try:
                call = await self._call(threeway_id)
            except NotFound:
                return
            if role not in call.present:
                return
            seat = call.seat_of(role)
            call, outcome = call.left(role)
            order = await self._note(threeway_id, f"seat:{seat}", LEFT,
                                     {"role": role, "seat": seat, "how": "hung_up"})
            await self._settle(threeway_id, call, outcome, actor=f"seat:{seat}", order=order)

    # ------------------------------------------------ the reconciler's side

    async def open_threeways(self, threeway_ids: list[str]) -> list[OpenThreeWay]:
        """Every three-way order still `pending`, and the orders (any status) of
        `threeway_ids` (those with an AstDB phase key left)."""
        found = {o.id: o for o in await self.orders.in_status("three_way", "pending")}
        for threeway_id in threeway_ids[:1000]:
            if threeway_id in found:
                continue
            try:
                order = await self.orders.get(threeway_id)
            except NotFound:
                continue
            if order.mode == "three_way":
                found[order.id] = order
        out = []
        for order in found.values():
            start = started_with((e.kind, e.detail or {}) for e in await self.orders.events(order.id))
            out.append(OpenThreeWay(order.id, order.status, order.linkedid, order.channel,
                                    order.created_at.timestamp(), joined=bool(order.target_seat),
                                    first_centre=str(start.get("first_centre") or order.source_centre)))
        return out

    async def settle_threeway(self, item: SettleThreeWay) -> Any | None:
        """The reconciler found this three-way call gone and nobody reported its
        end: its order ends as `core.reconcile.threeway_outcome` said (an order
        past pending keeps its outcome)."""
        log.info("three-way %s: call gone, settled by the reconciler as %s %s (AstDB phase %r)",
                 item.threeway_id, item.status, item.rule or item.reason, item.phase)
        fields: dict[str, Any] = {"outcome_reason": item.reason}
        if item.status == "accepted":
            fields.update(handoff_rule=item.rule, target_centre=item.centre)
        return await follow(self.orders, item.threeway_id, item.status, event="settled", actor="system",
                            detail={"phase": item.phase, "by": "reconciler", "rule": item.rule,
                                    "centre": item.centre}, **fields)

    async def state(self, threeway_id: str) -> ThreeWay:
        """The call as its order records it, once the actions on it under way
        in this process are done; raises `NotFound` (no such three-way call)."""
        async with self._turn(threeway_id):
            return await self._call(threeway_id)

    async def active_for_seat(self, seat: str) -> str | None:
        """The id of the three-way call `seat` is in now (with the citizen
        still there), for the desk to find its buttons again after a reload;
        the latest one when, oddly, there are several."""
        since = self.orders.now() - ACTIVE_WITHIN
        for order in await self.orders.of_seat("three_way", seat, since):
            call = (await self._load(order.id)).call
            if call.phase != "ended" and "citizen" in call.present and call.role_of(seat) in call.present:
                return order.id
        return None

    # ----------------------------------------------------------- internals

    def _telephony(self) -> ThreeWayTelephony:
        if self.telephony is None:
            raise Unavailable("ami", "no AMI link for three-way calls in this process")
        return self.telephony

    async def _drop(self, loaded: Loaded, role: str) -> None:
        telephony = self._telephony()
        if role == "invited":
            await telephony.drop_ring(loaded.order.id)
        else:
            channel = loaded.channels.get(role)
            if channel:
                await telephony.hang_up(channel)

    @asynccontextmanager
    async def _turn(self, threeway_id: str) -> AsyncIterator[None]:
        """The actions on one call in this process, one at a time: each reads
        the call and writes what changed before the next reads it."""
        turn = self._turns.setdefault(threeway_id, _Turn())
        turn.users += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.users -= 1
            if not turn.users:
                del self._turns[threeway_id]

    async def _load(self, threeway_id: str) -> Loaded:
        """The call rebuilt from its order and the order's events; raises `NotFound`."""
        order, events = await self.orders.with_events(threeway_id)
        if order.mode != "three_way":
            raise NotFound("three-way call", threeway_id)
        recorded = [(e.kind, e.detail or {}) for e in events]
        call = replay(order.id, source_centre=order.source_centre, target_centre=order.target_centre,
                      initiator_seat=order.source_seat or "", events=recorded, centres=self.settings.site.centres)
        channels = {"citizen": order.channel or ""}
        initiator = started_with(recorded).get("initiator_channel")
        if isinstance(initiator, str) and initiator:
            channels["initiator"] = initiator
        return Loaded(call, order, channels)

    async def _call(self, threeway_id: str) -> ThreeWay:
        return (await self._load(threeway_id)).call

    async def _settle(self, threeway_id: str, call: ThreeWay, outcome: Outcome | None, *, actor: str,
                      order: Any | None = None) -> Any | None:
        """With an `outcome`, the order takes it.  `order`: the order as the
        note just before wrote it (read again when not given)."""
        if outcome is None:
            return None
        fields: dict[str, Any] = {"outcome_reason": outcome.reason}
        if outcome.status == "accepted":
            fields.update(handoff_rule=outcome.rule, target_seat=outcome.seat, emergency=outcome.emergency)
        detail = {"rule": outcome.rule, "centre": outcome.centre, "seat": outcome.seat}
        if order is None:
            order = await self.orders.get(threeway_id)
        if order.status == outcome.status:  # an emergency overriding an agreement
            return await self.orders.note(threeway_id, actor=actor, kind="outcome", detail=detail,
                                          target_centre=outcome.centre, **fields)
        log.info("three-way %s decided: %s %s (%s accepts, seat %s)", threeway_id, outcome.status,
                 outcome.rule or outcome.reason, outcome.centre, outcome.seat)
        return await follow(self.orders, threeway_id, outcome.status, event=outcome.rule or outcome.reason or "decided",
                            actor=actor, detail=detail, target_centre=outcome.centre, **fields)

    async def _note(self, threeway_id: str, actor: str, kind: str, detail: dict[str, Any],
                    **fields: Any) -> Any | None:
        """The note on the three-way call's order; returns the order (None when there is none)."""
        return await self._notes(threeway_id, [Note(actor, kind, detail, fields)])

    async def _notes(self, threeway_id: str, notes: list[Note]) -> Any | None:
        try:
            return await self.orders.note_all(threeway_id, notes)
        except NotFound:
            log.warning("three-way %s: no such order for %s", threeway_id, ", ".join(n.kind for n in notes))
            return None
