"""AGI routes of the three-way call (三方通话): the keys and the conference's reports (adapter, I/O).

Each asks `ThreeWayService` (which asks `core.threeway`) and applies the
answer; a refusal names the prompt the seat hears, any failure leaves the
status variable not OK and the call as it was.
"""
from __future__ import annotations

import logging
from functools import partial

from agi.call import AgiCall
from agi.registry import AgiRoutes
from app.threeway.services import ThreeWayService
from core import channel_vars as cv
from core.handoff import is_channel_name
from core.refusals import Refusal
from core.threeway import ThreeWayRequest, is_threeway_id

log = logging.getLogger(__name__)

async def threeway_start(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """The seat pressed the three-way key (its leg, in the two-party bridge).

    Records the order (pending) and answers at once with
    HOTLINE_THREEWAY_STATUS=OK; the parties are moved by the service's
    telephony (AMI) once this leg is back in its bridge (`AgiRoutes.later`).
    Otherwise HOTLINE_THREEWAY_PROMPT names what the seat hears; nothing moves.
    """
    channel = call.headers.get("agi_channel", "")
    if service.telephony is None:
        log.error("three-way key on %s: no AMI link in this process; the call stays two-party", channel)
        await call.set_variable(cv.THREEWAY_PROMPT, Refusal("error").prompt)
        return
    names = (cv.THREEWAY_PEER, cv.CITIZEN, cv.CENTRE, cv.FIRST_CENTRE, "CHANNEL(linkedid)", cv.CITIZEN_PRESENTED)
    packed = await call.read_function("|".join(f"${{{n}}}" for n in names)) or ""
    peer, citizen, centre, first, linkedid, presented = (packed.split("|") + [""] * len(names))[:len(names)]
    request = ThreeWayRequest(seat_channel=channel, citizen_channel=peer if is_channel_name(peer) else None,
                              citizen_number=citizen or None, centre=centre or None,
                              first_centre=first or None, linkedid=linkedid or None, via="key",
                              citizen_presented=presented or None)
    started = await service.start(request)
    if not started.ok:
        assert started.refusal is not None
        await call.set_variable(cv.THREEWAY_STATUS, "REFUSED")
        await call.set_variable(cv.THREEWAY_PROMPT, started.refusal.prompt)
        return
    assert started.order is not None
    await call.set_variable(cv.THREEWAY_STATUS, "OK")
    routes.later(service.bring_in(started, from_feature=True), f"three-way {started.order.id}: bring in")


async def _threeway(call: AgiCall) -> tuple[str, str] | None:
    """(three-way id, role of this channel) from the channel's variables."""
    packed = await call.read_function(f"${{{cv.THREEWAY_ID}}}|${{{cv.THREEWAY_ROLE}}}") or ""
    threeway_id, _, role = packed.partition("|")
    if not is_threeway_id(threeway_id):
        log.warning("three-way route on %s: no three-way id", call.headers.get("agi_channel"))
        return None
    return threeway_id, role


async def threeway_answered(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """A seat of the other centre answered (Queue's pre-bridge gosub on its leg)."""
    found = await _threeway(call)
    if found is None:
        return
    routes.later(service.answered(found[0], call.headers.get("agi_channel")), f"three-way {found[0]}: answered")


async def threeway_no_answer(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """Nobody answered within the limit: the initiator takes the citizen back."""
    found = await _threeway(call)
    if found is None:
        return
    await service.no_answer(found[0])


async def _refused(call: AgiCall, refusal: Refusal | None) -> None:
    if refusal is None:
        await call.set_variable(cv.THREEWAY_STATUS, "OK")
    else:
        await call.set_variable(cv.THREEWAY_STATUS, "REFUSED")
        await call.set_variable(cv.THREEWAY_PROMPT, refusal.prompt)


async def threeway_leave(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """The seat pressed the leave key: it hands the citizen to the other seat."""
    found = await _threeway(call)
    if found is None:
        await call.set_variable(cv.THREEWAY_STATUS, "OK")  # nothing to keep it for
        return
    await _refused(call, await service.leave(*found))


async def threeway_cancel(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """The initiator pressed cancel: the invited seat is dropped."""
    found = await _threeway(call)
    if found is None:
        return
    await _refused(call, await service.cancel(*found))


async def threeway_emergency(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """A seat marked the case as endangering life or property."""
    found = await _threeway(call)
    if found is None:
        return
    await service.mark_emergency(*found)
    await call.set_variable(cv.THREEWAY_STATUS, "OK")


async def threeway_citizen_gone(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """The citizen's channel ended in the conference (hangup extension), in the
    call's phase as Asterisk had it then."""
    found = await _threeway(call)
    if found is None:
        return
    phase = await call.get_variable(cv.THREEWAY_PHASE)
    await service.citizen_gone(found[0], joined=phase == "joined")


async def threeway_seat_gone(call: AgiCall, service: ThreeWayService, routes: AgiRoutes) -> None:
    """A seat hung up in the conference: it left."""
    found = await _threeway(call)
    if found is None:
        return
    await service.seat_gone(*found)


ROUTES = (threeway_start, threeway_answered, threeway_no_answer, threeway_leave, threeway_cancel,
          threeway_emergency, threeway_citizen_gone, threeway_seat_gone)


def register(routes: AgiRoutes, service: ThreeWayService) -> None:
    for route in ROUTES:
        routes.register(route.__name__, partial(route, service=service, routes=routes))
