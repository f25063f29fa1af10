"""AGI routes: one function per route, registered under the route's name (I/O).

A route's name is the path in `AGI(agi://host/<name>)` and the argument of
the classic script (`AGI(hotline-agi,<name>)`).  Each asks `core` (or the
service built on it) for a plan and applies it; it never decides anything
itself.  Any failure is logged and leaves the route's status variable not OK,
so the dialplan takes its safe path.  Every route receives the call and the
`RouteContext` (settings, services).
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from agi.call import AgiCall
from agi.context import RouteContext
from app.handoff import journal as outboxes
from core import channel_vars as cv
from core.handoff import CALL_GUARD_FAMILY, OUTBOX_FAMILY, HandoffRequest, OutboxRecord, is_channel_name
from core.routing import decide_inbound
from core.safety import check_line

log = logging.getLogger(__name__)

Route = Callable[[AgiCall, RouteContext], Awaitable[None]]


async def inbound(call: AgiCall, ctx: RouteContext) -> None:
    """A citizen dialled a centre: choose the queue they wait in."""
    centre = await call.get_variable(cv.CENTRE)
    citizen = await call.get_variable(cv.CITIZEN)
    plan = decide_inbound(ctx.settings.centres, centre, citizen)
    for name, value in plan.variables.items():
        await call.set_variable(name, value)
    log.info("inbound channel=%s centre=%s citizen=%s status=%s %s",
             call.headers.get("agi_channel"), centre, citizen, plan.status, plan.reason)


# ------------------------------------------------------------------ transfer


class AgiTelephony:
    """The handoff service's `Telephony` port over the seat leg's AGI session."""

    def __init__(self, call: AgiCall) -> None:
        self.call = call

    async def seats_logged_in(self, queue: str) -> int | None:
        value = await self.call.read_function(f"QUEUE_MEMBER({queue},logged)")
        return int(value) if value and value.isdigit() else None

    async def claim_call(self, linkedid: str, seat_leg_id: str) -> bool:
        """The call guard, as the fast path checks and sets it (DB() read, then written)."""
        if await self.call.read_function(f"DB({CALL_GUARD_FAMILY}/{linkedid})") == seat_leg_id:
            return False
        await self.call.write_function(f"DB({CALL_GUARD_FAMILY}/{linkedid})", seat_leg_id)
        return True

    async def release_call(self, linkedid: str) -> None:
        await self.call.read_function(f"DB_DELETE({CALL_GUARD_FAMILY}/{linkedid})")


async def handoff_key(call: AgiCall, ctx: RouteContext) -> None:
    """The seat pressed the handoff key (runs on the seat's leg, in the bridge).

    Records the order (pending) and, if the transfer goes ahead, sets the
    handoff's variables on the citizen's channel (EXPORT) and
    HOTLINE_HANDOFF_STATUS=OK on the seat's leg; the dialplan then moves the
    citizen's own channel.  Otherwise HOTLINE_HANDOFF_PROMPT names what the
    seat hears, and nothing moves.
    """
    channel = call.headers.get("agi_channel", "")
    handoffs = ctx.handoffs
    if handoffs is None:
        log.error("handoff key on %s: no handoff service wired; the seat keeps the call", channel)
        await call.set_variable(cv.HANDOFF_PROMPT, "please-try-again")
        return
    # one round trip for what the key needs to know (values cannot hold `|`:
    # channel names and FILTERed numbers)
    names = (cv.HANDOFF_PEER, cv.CITIZEN, cv.CENTRE, cv.HANDOFF_TARGET, "CHANNEL(linkedid)")
    packed = await call.read_function("|".join(f"${{{n}}}" for n in names)) or ""
    values = (packed.split("|") + [""] * len(names))[:len(names)]
    peer, citizen, centre, target, linkedid = values
    request = HandoffRequest(
        seat_channel=channel,
        citizen_channel=peer if is_channel_name(peer) else None,
        citizen_number=citizen or None,
        centre=centre or None,
        target=target or None,
        linkedid=linkedid or None,
        via="key",
        seat_leg_id=call.headers.get("agi_uniqueid") or None,
    )
    telephony = AgiTelephony(call)
    started = await handoffs.start(request, telephony)
    if not started.ok:
        assert started.refusal is not None
        await call.set_variable(cv.HANDOFF_STATUS, "REFUSED")
        await call.set_variable(cv.HANDOFF_REFUSAL, started.refusal.reason)
        await call.set_variable(cv.HANDOFF_PROMPT, started.refusal.prompt)
        return
    plan, order = started.plan, started.order
    assert plan is not None
    try:
        for name, value in plan.citizen_variables(order.id).items():
            await call.write_function(f"EXPORT({plan.citizen_channel},{name})", value)
        await call.set_variable(cv.HANDOFF_ID, order.id)
        await call.set_variable(cv.RELEASE_MODE, plan.release_mode)
        await call.set_variable(cv.HANDOFF_STATUS, "OK")
    except BaseException:
        await handoffs.move_failed(order.id, plan, "agi_failed", telephony)
        raise
    await handoffs.moved(plan)
    log.info("handoff key: handoff %s seat channel %s moves citizen channel %s to %s",
             order.id, channel, plan.citizen_channel, plan.queue or plan.dial)


class AgiAstDb:
    """The outbox's `AstDb` port over an AGI session (DB, DB_KEYS, DB_DELETE)."""

    def __init__(self, call: AgiCall) -> None:
        self.call = call

    async def keys(self, family: str) -> list[str]:
        value = await self.call.read_function(f"DB_KEYS({family})") or ""
        return [k for k in value.split(",") if k]

    async def get(self, family: str, key: str) -> str | None:
        return await self.call.read_function(f"DB({family}/{key})")

    async def delete(self, family: str, key: str) -> None:
        await self.call.read_function(f"DB_DELETE({family}/{key})")


async def _outbox(call: AgiCall, handoff_id: str) -> OutboxRecord | None:
    """The handoff's outbox record if its order may not be recorded yet (fast path)."""
    return await outboxes.read(AgiAstDb(call), handoff_id)


async def _recorded(call: AgiCall, outbox: OutboxRecord | None) -> None:
    """The order of `outbox` is in SQL and up to date: its record can go."""
    if outbox is not None:
        await AgiAstDb(call).delete(OUTBOX_FAMILY, outbox.handoff_id)


async def _handoff_id(call: AgiCall) -> str | None:
    value = await call.get_variable(cv.HANDOFF_ID)
    if not value:
        return None
    check_line(cv.HANDOFF_ID, value, max_len=36)
    return value


async def handoff_answered(call: AgiCall, ctx: RouteContext) -> None:
    """A target answered (pre-bridge handler on its leg): the order is accepted.

    The citizen and the target are connected as soon as this route returns;
    the order is written right after, off the call path (`RouteContext.later`).
    Should that write be lost, the citizen's hangup hook (`handoff_ended`)
    finds the handoff accepted and the order still pending, and accepts it.
    """
    handoff_id = await _handoff_id(call)
    if handoff_id is None or ctx.handoffs is None:
        return
    outbox = await _outbox(call, handoff_id)
    ctx.later(ctx.handoffs.answered(handoff_id, call.headers.get("agi_channel"), outbox),
              f"accept handoff {handoff_id}")


async def handoff_returned(call: AgiCall, ctx: RouteContext) -> None:
    """Nobody answered within the limit: the citizen is on its way back."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None or ctx.handoffs is None:
        return
    outbox = await _outbox(call, handoff_id)
    await ctx.handoffs.returned(handoff_id, await call.get_variable(cv.HANDOFF_OUTCOME), outbox)
    await _recorded(call, outbox)


async def handoff_ended(call: AgiCall, ctx: RouteContext) -> None:
    """The citizen's channel ended inside hotline-handoff (hangup extension)."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None or ctx.handoffs is None:
        return
    outbox = await _outbox(call, handoff_id)
    await ctx.handoffs.ended(handoff_id, await call.get_variable(cv.HANDOFF_STATE),
                             call.headers.get("agi_channel"), outbox)
    await _recorded(call, outbox)


async def handoff_lost(call: AgiCall, ctx: RouteContext) -> None:
    """The citizen hung up between the key press and the move."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None or ctx.handoffs is None:
        return
    outbox = await _outbox(call, handoff_id)
    await ctx.handoffs.lost(handoff_id, outbox)
    await _recorded(call, outbox)


# ------------------------------------------------------------------ three-way call


async def threeway_start(call: AgiCall, ctx: RouteContext) -> None:
    """The seat pressed the three-way key (its leg, in the two-party bridge).

    Records the order (pending) and answers at once with
    HOTLINE_THREEWAY_STATUS=OK; the parties are moved by the service's
    telephony (AMI) once this leg is back in its bridge (`RouteContext.later`).
    Otherwise HOTLINE_THREEWAY_PROMPT names what the seat hears; nothing moves.
    """
    from core.threeway import ThreeWayRequest

    channel = call.headers.get("agi_channel", "")
    service = ctx.threeway
    if service is None or service.telephony is None:
        log.error("three-way key on %s: no three-way service wired; the call stays two-party", channel)
        await call.set_variable(cv.THREEWAY_PROMPT, "please-try-again")
        return
    names = (cv.THREEWAY_PEER, cv.CITIZEN, cv.CENTRE, cv.FIRST_CENTRE, "CHANNEL(linkedid)")
    packed = await call.read_function("|".join(f"${{{n}}}" for n in names)) or ""
    peer, citizen, centre, first, linkedid = (packed.split("|") + [""] * len(names))[:len(names)]
    request = ThreeWayRequest(seat_channel=channel, citizen_channel=peer if is_channel_name(peer) else None,
                              citizen_number=citizen or None, centre=centre or None,
                              first_centre=first or None, linkedid=linkedid or None, via="key")
    started = await service.start(request)
    if not started.ok:
        assert started.refusal is not None
        await call.set_variable(cv.THREEWAY_STATUS, "REFUSED")
        await call.set_variable(cv.THREEWAY_PROMPT, started.refusal.prompt)
        return
    assert started.order is not None
    await call.set_variable(cv.THREEWAY_STATUS, "OK")
    ctx.later(service.bring_in(started, from_feature=True), f"three-way {started.order.id}: bring in")


async def _threeway(call: AgiCall, ctx: RouteContext) -> tuple[str, str] | None:
    """(three-way id, role of this channel) from the channel's variables."""
    from core.threeway import is_threeway_id

    if ctx.threeway is None:
        return None
    packed = await call.read_function(f"${{{cv.THREEWAY_ID}}}|${{{cv.THREEWAY_ROLE}}}") or ""
    threeway_id, _, role = packed.partition("|")
    if not is_threeway_id(threeway_id):
        log.warning("three-way route on %s: no three-way id", call.headers.get("agi_channel"))
        return None
    return threeway_id, role


async def threeway_answered(call: AgiCall, ctx: RouteContext) -> None:
    """A seat of the other centre answered (Queue's pre-bridge gosub on its leg)."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    ctx.later(ctx.threeway.answered(found[0], call.headers.get("agi_channel")), f"three-way {found[0]}: answered")


async def threeway_no_answer(call: AgiCall, ctx: RouteContext) -> None:
    """Nobody answered within the limit: the initiator takes the citizen back."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    await ctx.threeway.no_answer(found[0])


async def _refused(call: AgiCall, refusal: object | None) -> None:
    if refusal is None:
        await call.set_variable(cv.THREEWAY_STATUS, "OK")
    else:
        await call.set_variable(cv.THREEWAY_STATUS, "REFUSED")
        await call.set_variable(cv.THREEWAY_PROMPT, refusal.prompt)  # type: ignore[attr-defined]


async def threeway_leave(call: AgiCall, ctx: RouteContext) -> None:
    """The seat pressed the leave key: it hands the citizen to the other seat."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        await call.set_variable(cv.THREEWAY_STATUS, "OK")  # nothing to keep it for
        return
    await _refused(call, await ctx.threeway.leave(*found))


async def threeway_cancel(call: AgiCall, ctx: RouteContext) -> None:
    """The initiator pressed cancel: the invited seat is dropped."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    await _refused(call, await ctx.threeway.cancel(*found))


async def threeway_emergency(call: AgiCall, ctx: RouteContext) -> None:
    """A seat marked the case as endangering life or property."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    await ctx.threeway.mark_emergency(*found)
    await call.set_variable(cv.THREEWAY_STATUS, "OK")


async def threeway_citizen_gone(call: AgiCall, ctx: RouteContext) -> None:
    """The citizen's channel ended in the conference (hangup extension)."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    await ctx.threeway.citizen_gone(found[0])


async def threeway_seat_gone(call: AgiCall, ctx: RouteContext) -> None:
    """A seat hung up in the conference: it left."""
    found = await _threeway(call, ctx)
    if found is None or ctx.threeway is None:
        return
    await ctx.threeway.seat_gone(*found)


ROUTES: dict[str, Route] = {
    "inbound": inbound,
    "handoff_key": handoff_key,
    "handoff_answered": handoff_answered,
    "handoff_returned": handoff_returned,
    "handoff_ended": handoff_ended,
    "handoff_lost": handoff_lost,
    "threeway_start": threeway_start,
    "threeway_answered": threeway_answered,
    "threeway_no_answer": threeway_no_answer,
    "threeway_leave": threeway_leave,
    "threeway_cancel": threeway_cancel,
    "threeway_emergency": threeway_emergency,
    "threeway_citizen_gone": threeway_citizen_gone,
    "threeway_seat_gone": threeway_seat_gone,
}
