"""AGI routes of the handoff (一键携号转接): the key, and what the dialplan reports after (adapter, I/O).

`handoff_key` runs on the seat's leg when the dialplan cannot carry the
handoff out by itself (a `*8` destination, the dialplan path turned off, a
case it leaves to Python); the others run when the citizen's handoff ends
one way or another (answered, returned, ended, lost).  Each asks
`HandoffService` (which asks `core.handoff`) and applies the answer; any
failure leaves the status variable not OK, so the seat keeps the citizen.
"""
from __future__ import annotations

import logging
from functools import partial

from agi.call import AgiCall
from agi.registry import AgiRoutes
from app.handoff import journal as outboxes
from app.handoff.services import HandoffService
from core import channel_vars as cv
from core.handoff import (
    CALL_GUARD_FAMILY,
    ENDED_FAMILY,
    OUTBOX_FAMILY,
    HandoffRequest,
    OutboxRecord,
    is_channel_name,
)
from core.safety import check_line

log = logging.getLogger(__name__)

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


async def handoff_key(call: AgiCall, handoffs: HandoffService, routes: AgiRoutes) -> None:
    """The seat pressed the handoff key (runs on the seat's leg, in the bridge).

    Records the order (pending) and, if the transfer goes ahead, sets the
    handoff's variables on the citizen's channel (EXPORT) and
    HOTLINE_HANDOFF_STATUS=OK on the seat's leg; the dialplan then moves the
    citizen's own channel.  Otherwise HOTLINE_HANDOFF_PROMPT names what the
    seat hears, and nothing moves.
    """
    channel = call.headers.get("agi_channel", "")
    # one round trip for what the key needs to know (values cannot hold `|`:
    # channel names, numbers checked by the entry context
    # and a caller ID that is no number, URI-escaped by the entry context)
    names = (cv.HANDOFF_PEER, cv.CITIZEN, cv.CENTRE, cv.HANDOFF_TARGET, "CHANNEL(linkedid)", cv.CITIZEN_PRESENTED)
    packed = await call.read_function("|".join(f"${{{n}}}" for n in names)) or ""
    values = (packed.split("|") + [""] * len(names))[:len(names)]
    peer, citizen, centre, target, linkedid, presented = values
    request = HandoffRequest(
        seat_channel=channel,
        citizen_channel=peer if is_channel_name(peer) else None,
        citizen_number=citizen or None,
        centre=centre or None,
        target=target or None,
        linkedid=linkedid or None,
        via="key",
        seat_leg_id=call.headers.get("agi_uniqueid") or None,
        citizen_presented=presented or None,
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
    assert plan is not None and order is not None
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


async def _end_recorded(call: AgiCall, handoff_id: str) -> None:
    """The order says how the handoff ended: the dialplan's copy of that end
    (`ENDED_FAMILY`, kept for the reconciler in case this route failed) can go."""
    await AgiAstDb(call).delete(ENDED_FAMILY, handoff_id)


async def _handoff_id(call: AgiCall) -> str | None:
    value = await call.get_variable(cv.HANDOFF_ID)
    if not value:
        return None
    check_line(cv.HANDOFF_ID, value, max_len=36)
    return value


async def handoff_answered(call: AgiCall, handoffs: HandoffService, routes: AgiRoutes) -> None:
    """A target answered (pre-bridge handler on its leg): the order is accepted.

    The citizen and the target are connected as soon as this route returns;
    the order is written right after, off the call path (`AgiRoutes.later`).
    Should that write be lost, the citizen's hangup hook (`handoff_ended`)
    finds the handoff accepted and the order still pending, and accepts it.
    """
    handoff_id = await _handoff_id(call)
    if handoff_id is None:
        return
    outbox = await _outbox(call, handoff_id)
    routes.later(handoffs.answered(handoff_id, call.headers.get("agi_channel"), outbox),
              f"accept handoff {handoff_id}")


async def handoff_returned(call: AgiCall, handoffs: HandoffService, routes: AgiRoutes) -> None:
    """Nobody answered within the limit: the citizen is on its way back."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None:
        return
    outbox = await _outbox(call, handoff_id)
    await handoffs.returned(handoff_id, await call.get_variable(cv.HANDOFF_OUTCOME), outbox)
    await _recorded(call, outbox)
    await _end_recorded(call, handoff_id)


async def handoff_ended(call: AgiCall, handoffs: HandoffService, routes: AgiRoutes) -> None:
    """The citizen's channel ended inside hotline-handoff (hangup extension)."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None:
        return
    outbox = await _outbox(call, handoff_id)
    await handoffs.ended(handoff_id, await call.get_variable(cv.HANDOFF_STATE),
                             call.headers.get("agi_channel"), outbox)
    await _recorded(call, outbox)
    await _end_recorded(call, handoff_id)


async def handoff_lost(call: AgiCall, handoffs: HandoffService, routes: AgiRoutes) -> None:
    """The citizen hung up between the key press and the move."""
    handoff_id = await _handoff_id(call)
    if handoff_id is None:
        return
    outbox = await _outbox(call, handoff_id)
    await handoffs.lost(handoff_id, outbox)
    await _recorded(call, outbox)


def register(routes: AgiRoutes, handoffs: HandoffService) -> None:
    for route in (handoff_key, handoff_answered, handoff_returned, handoff_ended, handoff_lost):
        routes.register(route.__name__, partial(route, handoffs=handoffs, routes=routes))
