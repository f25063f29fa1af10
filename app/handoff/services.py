"""Handoff use cases: one service behind the key and the button (service layer).

`HandoffService` is the single code path of a handoff (一键携号转接).  The
transfer key's AGI route (`handoff_key`, `app.handoff.agi`) and the desktop
button (`POST /api/handoffs`, `app.handoff.http`) both call `start`, which
asks `core.handoff.plan_handoff` for the plan and records the order
(`pending`) through the shared `OrderService` *before* anything moves; the
caller then applies the move (the dialplan's BlindTransfer for the key, AMI
Redirect for the button).  The dialplan reports what happened next through
the AGI routes, which call `answered` / `returned` / `ended` / `lost`.

It must not talk to Asterisk itself: what it asks the PBX (are seats logged
in at the target? is this seat leg handing the call over already?) goes
through the `Telephony` port the adapter passes in.  No HTTP here.

The fast path (settings.handoff.fast_path): the dialplan decides the common
transfer itself and moves the citizen at once, leaving the order in
Asterisk's AstDB outbox (`core.handoff.OutboxRecord`).  `record` inserts it
with the dialplan's id and key-press time, idempotently: the handoff journal
(`app.handoff.journal`: the `HotlineHandoffCreated` event, the answer's
`AgentConnect`, the outbox sweep) and any later report of the same handoff
through the AGI routes (returned, ended, lost — which may come first) all
call it, and one order results.

Pressing twice (or key and button together) makes one handoff: the one
double-press guard is the call's AstDB key `hotline-handoff-call/<linkedid>`
(`core.handoff.CALL_GUARD_FAMILY`) naming the seat leg that handed the call
over.  The fast path checks and sets it in the dialplan; `start` does the
same through the `Telephony` port (the AGI call for the key, AMI for the
button) before any order exists.  It stays while the handoff is under way
(the seat that accepted the citizen, on another leg, may hand it back); the
dialplan deletes it when the handoff ends (the citizen hangs up, comes back,
or was never moved), and `start` itself when it refuses after claiming.
Within one process the citizen's channel is claimed first (`ActiveHandoffs`):
two clicks handled at once cannot both pass between the guard's read and its
write.  Across processes that window stays (a read, then a write: AstDB has
no compare-and-set an AMI client may use); it is one AMI or AGI round trip
wide, and the fast path's is a few dialplan steps.
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from app.orders.calls import CallFinder, Started, desk_call, follow, move_error
from app.orders.services import OrderService
from app.web.errors import NotFound, Refused
from core.handoff import (
    RECENT_KEPT,
    ActiveHandoffs,
    HandoffPlan,
    HandoffRequest,
    OutboxRecord,
    PhoneHandoff,
    Recent,
    acceptance,
    is_linkedid,
    outcome_of_end,
    plan_handoff,
    return_reason,
)
from core.reconcile import OpenHandoff, split_end
from core.refusals import Refusal
from core.settings import Settings

log = logging.getLogger(__name__)


class Telephony(Protocol):
    """What the service asks the PBX; the AGI call or the AMI link answers."""

    async def seats_logged_in(self, queue: str) -> int | None:
        """Logged-in members of `queue`; None when it cannot be known."""

    async def claim_call(self, linkedid: str, seat_leg_id: str) -> bool:
        """Set the call guard (AstDB hotline-handoff-call/<linkedid>) to the seat
        leg's uniqueid unless it holds it already: False when this leg is
        handing the call over already."""

    async def release_call(self, linkedid: str) -> None:
        """Delete the call guard (a handoff this side claimed did not start)."""


class DesktopTelephony(Telephony, CallFinder, Protocol):
    """The button's port: find the seat's call, carry out the move (AMI)."""

    async def move(self, plan: HandoffPlan, handoff_id: str) -> None: ...


class HandoffService:
    def __init__(self, settings: Settings, orders: OrderService) -> None:
        self.settings = settings
        self.orders = orders
        self.active = ActiveHandoffs()
        self._started: dict[str, float] = {}  # handoff id -> monotonic time of the key press
        self._recording: dict[str, asyncio.Lock] = {}  # outbox records being inserted, by id
        # What this process wrote lately, so that what follows needs no read
        # back: outbox records it inserted (id -> key press, epoch seconds) and
        # handoffs it accepted.  Bounded; a forgotten id is read from SQL.
        self._inserted: Recent[float] = Recent(RECENT_KEPT)
        self._accepted: Recent[bool] = Recent(RECENT_KEPT)

    # ----------------------------------------------------------- the start

    async def start(self, request: HandoffRequest, telephony: Telephony | None) -> Started[HandoffPlan]:
        """Plan the handoff and record its order; nothing has moved yet.

        The caller must call `moved` (or `move_failed`) once it has tried the move.
        """
        s = self.settings
        t0 = time.monotonic()
        decision = plan_handoff(request, centres=s.site.centres, seat_mode=s.site.seat_mode,
                                routes=s.handoff.destination_routes, release_modes=s.handoff.release_modes,
                                timeout_s=s.handoff.timeout_s, remote=s.trunks.remote_centres)
        if isinstance(decision, Refusal):
            log.info("handoff refused (%s): seat channel %s, citizen channel %s, target %r via %s",
                     decision.reason, request.seat_channel, request.citizen_channel, request.target,
                     request.via)
            return Started(None, refusal=decision)
        plan = decision
        if not await self._claim(plan, telephony):
            log.info("handoff refused (already_transferring): citizen channel %s, call %s",
                     plan.citizen_channel, plan.linkedid)
            return Started(plan, refusal=Refusal("already_transferring"))
        try:
            logged_in = None
            if plan.queue is not None and telephony is not None:
                logged_in = await telephony.seats_logged_in(plan.queue)
            order = await self.orders.create(
                mode="transfer", source_centre=plan.source_centre, target_centre=plan.target_centre,
                citizen_number=plan.citizen_number, actor=f"seat:{plan.source_seat.extension}",
                target=plan.target, source_seat=plan.source_seat.extension, category=plan.category,
                note=plan.note, linkedid=plan.linkedid, channel=plan.citizen_channel,
                release_mode=plan.release_mode, citizen_presented=plan.citizen_presented,
            )
        except BaseException:
            await self._release(plan, telephony, call_guard=True)
            raise
        if logged_in == 0:
            # Nobody at the target could answer: the citizen stays with the seat.
            await self._release(plan, telephony, call_guard=True)
            order = await self.orders.transition(
                order.id, "returned", actor="system", event="no_seat_logged_in", outcome_reason="no_seat_logged_in",
                detail={"queue": plan.queue, "moved": False})
            log.info("handoff %s refused: nobody logged in at %s; citizen stays with seat %s",
                     order.id, plan.queue, plan.source_seat.extension)
            return Started(plan, order=order, refusal=Refusal("no_seat_logged_in"))
        self._started[order.id] = t0
        log.info("handoff %s started via %s: %s seat %s -> %s (%s), citizen %s on %s, order %s",
                 order.id, plan.via, plan.source_centre, plan.source_seat.extension, plan.target,
                 plan.queue or plan.dial, plan.citizen_number, plan.citizen_channel, order.number)
        # over a trunk, the header carries the order's number (order=)
        return Started(replace(plan, order_number=order.number), order=order)

    async def transfer_from_desktop(self, telephony: DesktopTelephony, *, seat: str | None,
                                    channel: str | None, target: str | None, category: str | None,
                                    note: str | None) -> Started[HandoffPlan]:
        """The desktop button: the same `start` as the key, the move done by AMI.

        Raises `Conflict` (409) when the seat has no call, `Refused` (409) when
        the transfer is refused; `Unavailable` (503) when AMI fails — in every
        case the citizen stays with the seat.
        """
        call = await desk_call(telephony, seat=seat, channel=channel, what=" to transfer")
        request = HandoffRequest(
            seat_channel=call.seat_channel, citizen_channel=call.citizen_channel,
            citizen_number=call.citizen_number, centre=call.centre, target=target,
            category=category, note=note, linkedid=call.linkedid, via="button",
            seat_leg_id=call.seat_leg_id)
        started = await self.start(request, telephony)
        if started.refusal is not None:
            raise Refused("transfer", started.refusal.reason, started.order)
        assert started.plan is not None and started.order is not None
        try:
            await telephony.move(started.plan, started.order.id)
        except Exception as exc:
            reason = getattr(exc, "reason", "ami_failed")
            await self.move_failed(started.order.id, started.plan, reason, telephony)
            raise move_error(reason, "transfer") from exc
        await self.moved(started.plan)
        return started

    async def moved(self, plan: HandoffPlan) -> None:
        """The citizen's channel is on its way: this process lets go of it (the
        call guard stays until the dialplan sees the handoff end)."""
        await self._release(plan, None, call_guard=False)

    async def move_failed(self, handoff_id: str, plan: HandoffPlan, reason: str,
                          telephony: Telephony | None = None) -> None:
        """The move did not happen (AMI down, channel gone): the citizen stays with
        the seat; the order is returned with the reason, and the call is free
        for another handoff."""
        await self._release(plan, telephony, call_guard=True)
        self._started.pop(handoff_id, None)
        await follow(self.orders, handoff_id, "returned", event="move_failed", actor="system",
                     outcome_reason=reason, detail={"moved": False})

    # ------------------------------------------------------------ the outbox

    async def record(self, outbox: OutboxRecord, *, read_back: bool = True) -> Any:
        """The order of a handoff the dialplan carried out (fast path): insert it
        with the dialplan's id and key-press time unless it exists.  Returns the
        order (None instead of reading back one this process inserted, when not
        `read_back`).  Safe to call any number of times, from any process; raises
        when the database cannot be reached (the outbox record then stays)."""
        # one insert at a time per handoff in this process; across processes the
        # primary key decides (the loser reads the winner's order)
        lock = self._recording.setdefault(outbox.handoff_id, asyncio.Lock())
        try:
            async with lock:
                if outbox.handoff_id in self._inserted:
                    return await self.orders.get(outbox.handoff_id) if read_back else None
                # no read first: the order is almost always new, and one that
                # exists (another process, a sweep after a restart) fails the
                # insert on its primary key
                try:
                    order = await self.orders.create(
                        mode="transfer", source_centre=outbox.source_centre,
                        target_centre=outbox.target_centre, citizen_number=outbox.citizen_number,
                        actor=f"seat:{outbox.source_seat}", target=outbox.target_centre,
                        source_seat=outbox.source_seat, linkedid=outbox.linkedid,
                        channel=outbox.citizen_channel, release_mode=outbox.release_mode,
                        order_id=outbox.handoff_id,
                        created_at=datetime.fromtimestamp(outbox.pressed_at, UTC))
                except IntegrityError:
                    return await self.orders.get(outbox.handoff_id)
                self._inserted.put(outbox.handoff_id, outbox.pressed_at)
        finally:
            if not lock.locked():
                self._recording.pop(outbox.handoff_id, None)
        log.info("handoff %s recorded from the outbox: %s seat %s -> %s, citizen %s on %s, order %s",
                 order.id, outbox.source_centre, outbox.source_seat, outbox.target_centre,
                 outbox.citizen_number, outbox.citizen_channel, order.number)
        return order

    async def phone_transferred(self, handoff: PhoneHandoff) -> Any:
        """A seat's phone completed an attended transfer to a seat of another
        centre (`core.handoff.phone_attended_handoff`): the order, created and
        accepted by that seat at once — the seat stayed on the line until the
        target had answered (成功转).  Idempotent (the handoff id is the seat
        leg's uniqueid): a repeated event finds the order and leaves it."""
        try:
            return await self.orders.get(handoff.handoff_id)
        except NotFound:
            pass
        try:
            order = await self.orders.create(
                mode="transfer", source_centre=handoff.source_centre, target_centre=handoff.target_centre,
                citizen_number=handoff.citizen_number, actor=f"seat:{handoff.source_seat}",
                target=handoff.target_centre, source_seat=handoff.source_seat, linkedid=handoff.linkedid,
                channel=handoff.citizen_channel, release_mode="on_answer", order_id=handoff.handoff_id)
        except IntegrityError:
            return await self.orders.get(handoff.handoff_id)
        log.info("handoff %s by seat %s's phone (attended transfer): %s -> %s seat %s, citizen %s on %s, order %s",
                 order.id, handoff.source_seat, handoff.source_centre, handoff.target_centre, handoff.target_seat,
                 handoff.citizen_number, handoff.citizen_channel, order.number)
        return await follow(self.orders, order.id, "accepted", event="answered",
                            actor=f"seat:{handoff.target_seat}", target_seat=handoff.target_seat, wait_ms=0,
                            detail={"channel": handoff.target_channel, "via": "attended_transfer"})

    async def ended_while_away(self, handoff_id: str, state: str) -> Any | None:
        """A fast-path handoff ended while nobody could record it (the dialplan
        kept its end next to the outbox record): the order is made to say so."""
        name, status = split_end(state)
        if name == "lost":
            return await self.lost(handoff_id)
        if name == "returned":
            return await self.returned(handoff_id, status)
        return await self.ended(handoff_id, name)

    async def pending_handoffs(self) -> list[OpenHandoff]:
        """The handoff orders still `pending` (the reconciler's view of SQL)."""
        return [OpenHandoff(o.id, o.linkedid, o.channel, o.created_at.timestamp())
                for o in await self.orders.in_status("transfer", "pending")]

    async def calls_of(self, handoff_ids: list[str]) -> dict[str, str]:
        """The call (linkedid) of each of these handoffs that has an order with one."""
        calls = {}
        for handoff_id in handoff_ids[:1000]:
            try:
                order = await self.orders.get(handoff_id)
            except NotFound:
                continue
            if order.linkedid:
                calls[handoff_id] = order.linkedid
        return calls

    async def settle(self, handoff_id: str, state: str, outcome: str, reason: str | None) -> Any | None:
        """The reconciler found this handoff's call gone and nobody reported its
        end (Asterisk restarted, a hangup report was cut off): its order ends
        as AstDB last said (`state`), else abandoned with `reason`
        (`core.reconcile.outcome_of`).  An order past pending keeps its outcome."""
        self._started.pop(handoff_id, None)
        log.info("handoff %s: call gone, settled by the reconciler as %s (AstDB state %r)",
                 handoff_id, outcome, state)
        if outcome == "accepted":
            return await self.answered(handoff_id, None)
        if outcome == "returned":
            return await self.returned(handoff_id, split_end(state)[1])
        return await follow(self.orders, handoff_id, "abandoned", event="settled", actor="system",
                            outcome_reason=reason or "settled_after_restart",
                            detail={"state": state, "by": "reconciler"})

    async def _recorded(self, outbox: OutboxRecord | None) -> None:
        # an order this process inserted (or is inserting) is there: nothing to read back
        if outbox is not None:
            await self.record(outbox, read_back=False)

    # ------------------------------------------------------- what followed

    async def answered(self, handoff_id: str, answering_channel: str | None,
                       outbox: OutboxRecord | None = None) -> Any | None:
        """A target answered: the order is accepted (accepting seat, wait in ms).

        `outbox`: the handoff's outbox record if it was still there (fast path,
        the order maybe not inserted yet) — every report below takes it."""
        await self._recorded(outbox)
        waited_ms = await self._waited_ms(handoff_id)
        acc = acceptance(self.settings.site.centres, answering_channel, waited_ms)
        actor = f"seat:{acc.target_seat}" if acc.target_seat else "destination"
        order = await follow(self.orders, handoff_id, "accepted", event="answered", actor=actor,
                             target_seat=acc.target_seat, wait_ms=acc.wait_ms, detail={"channel": answering_channel})
        if order is not None:
            self._accepted.put(handoff_id, True)
        return order

    async def returned(self, handoff_id: str, status: str | None,
                       outbox: OutboxRecord | None = None) -> Any | None:
        """Nobody answered within the limit (or nobody could): back to the seat."""
        await self._recorded(outbox)
        self._started.pop(handoff_id, None)
        reason = return_reason(status)
        return await follow(self.orders, handoff_id, "returned", event="returned", actor="system",
                            outcome_reason=reason, detail={"status": status or ""})

    async def ended(self, handoff_id: str, state: str | None, channel: str | None = None,
                    outbox: OutboxRecord | None = None) -> Any | None:
        """The citizen's channel ended inside hotline-handoff."""
        await self._recorded(outbox)
        outcome = outcome_of_end(state)
        if outcome == "abandoned":
            self._started.pop(handoff_id, None)
            return await follow(self.orders, handoff_id, "abandoned", event="ended", actor="citizen",
                                outcome_reason="citizen_hung_up", detail={"state": state})
        if outcome == "accepted" and handoff_id not in self._accepted:
            order = await self.orders.get(handoff_id)
            if order.status == "pending":  # the answer hook failed: make the order right
                return await self.answered(handoff_id, None)
        self._started.pop(handoff_id, None)
        return None

    async def lost(self, handoff_id: str, outbox: OutboxRecord | None = None) -> Any | None:
        """The citizen hung up between the key press and the move."""
        await self._recorded(outbox)
        self._started.pop(handoff_id, None)
        return await follow(self.orders, handoff_id, "abandoned", event="lost", actor="citizen",
                            outcome_reason="citizen_hung_up", detail={"moved": False})

    # ----------------------------------------------------------- internals

    async def _claim(self, plan: HandoffPlan, telephony: Telephony | None) -> bool:
        """One handoff per seat leg at a time: this process, then the call guard
        in AstDB that the dialplan's fast path and every process see."""
        if not self.active.claim(plan.citizen_channel):
            return False
        if telephony is None or not (is_linkedid(plan.linkedid) and is_linkedid(plan.seat_leg_id)):
            log.warning("handoff of call %s (citizen channel %s): no call guard to claim; in-process guard only",
                        plan.linkedid, plan.citizen_channel)
            return True
        try:
            claimed = await telephony.claim_call(plan.linkedid or "", plan.seat_leg_id or "")
        except BaseException:
            self.active.release(plan.citizen_channel)
            raise
        if not claimed:
            self.active.release(plan.citizen_channel)
        return claimed

    async def _release(self, plan: HandoffPlan, telephony: Telephony | None, *, call_guard: bool) -> None:
        self.active.release(plan.citizen_channel)
        if call_guard and telephony is not None and is_linkedid(plan.linkedid):
            try:
                await telephony.release_call(plan.linkedid or "")
            except Exception:  # the channel is gone (AGI) or AMI is down: the dialplan's end clears it
                log.exception("handoff of call %s: call guard not released", plan.linkedid)

    async def _waited_ms(self, handoff_id: str) -> float:
        t0 = self._started.pop(handoff_id, None)
        if t0 is not None:
            return (time.monotonic() - t0) * 1000
        pressed_at = self._inserted.get(handoff_id)
        if pressed_at is not None:  # the order's created_at: the move, just after the key press
            return max(0.0, self.orders.now().timestamp() - pressed_at) * 1000
        order = await self.orders.get(handoff_id)  # another process started it
        return (self.orders.now() - order.created_at).total_seconds() * 1000

