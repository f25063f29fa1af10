"""HTTP handlers of the three-way call's desktop buttons (HTTP layer).

    POST /api/threeway                      start: {seat | channel, emergency?}  → 201
    GET  /api/threeway?seat=1001            {"threeway": the seat's active call's state, or null}
    GET  /api/threeway/{id}                 the call's state (who is present) and its order
    POST /api/threeway/{id}/leave           {seat}: that seat leaves, the other keeps the citizen
    POST /api/threeway/{id}/cancel          {seat}: the initiator drops the invited seat
    POST /api/threeway/{id}/emergency       {seat?}: life or property at risk — 110 accepts, dispatch first

The same `ThreeWayService` as the keys (`app.threeway.agi`); the moves
are AMI's (`app.threeway.telephony`).  Input is checked here (400
naming the field); a refusal is `app.web.errors.Refused`, 409 with the
`core.refusals` reason; AMI down answers 503.  The `{id}` is the three-way
call's order id.
"""
from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from aiohttp import web

from app.orders.calls import seat_or_channel
from app.orders.http import ORDERS, shown_order
from app.threeway.services import ThreeWayService
from app.web.auth import principal, requires
from app.web.errors import BadInput, NotFound, Refused, Unavailable
from app.web.input import boolean, json_body, line, parse_body, parse_query, path_key
from app.web.keys import SETTINGS
from core.centres import seat_by_extension
from core.threeway import conference_name, is_threeway_id

log = logging.getLogger(__name__)

THREEWAY = web.AppKey("threeway", ThreeWayService)

routes = web.RouteTableDef()

SEAT = line("The seat's extension", 32, pattern=r"^[0-9]{1,32}$")
START_FIELDS = {
    "seat": SEAT,
    "channel": line("A channel of the call: the seat's leg or the citizen's (or give seat)", 128),
    "emergency": boolean("Life or property at risk: 110 accepts and dispatches first"),
}
SEAT_FIELDS = {"seat": SEAT}


def _service(request: web.Request, *, moves: bool = False) -> ThreeWayService:
    """The app's service; `moves`: the request moves calls, which needs an AMI link."""
    service = request.app[THREEWAY]
    if moves and service.telephony is None:
        raise Unavailable("ami", "this process has no AMI link to move the call with")
    return service


def _seat(request: web.Request, seat: str | None) -> str | None:
    if seat is not None and seat_by_extension(request.app[SETTINGS].site.centres, seat) is None:
        raise BadInput("seat", f"{seat!r} is not a configured seat")
    return seat


def _id(request: web.Request) -> str:
    threeway_id = path_key(request, "threeway_id")
    if not is_threeway_id(threeway_id):
        raise BadInput("threeway_id", "not a three-way call id")
    return threeway_id


async def _state(request: web.Request, threeway_id: str) -> dict[str, Any]:
    service = _service(request)
    order = await request.app[ORDERS].get(threeway_id)
    if order.mode != "three_way":
        raise NotFound("three-way call", threeway_id)
    call = await service.state(order.id)
    return {
        "threeway_id": order.id, "conference": conference_name(order.id),
        "phase": call.phase, "present": sorted(call.present),
        "initiator_seat": call.initiator_seat or order.source_seat,
        "invited_seat": call.invited_seat or order.target_seat,
        "order": shown_order(request, order),
    }


async def _role(request: web.Request, threeway_id: str, body: dict[str, Any], *, default: str | None) -> str:
    seat = _seat(request, body.get("seat"))
    call = await _service(request).state(threeway_id)  # NotFound (404) for an unknown call
    if seat is None:
        if default is None:
            raise BadInput("seat", "required")
        return default
    role = call.role_of(seat)
    if role is None:
        raise BadInput("seat", f"seat {seat} is not in this three-way call")
    return role


@routes.post("/api/threeway")
@requires("seat")
async def start_threeway(request: web.Request) -> web.Response:
    body = parse_body(await json_body(request), START_FIELDS)
    seat, channel = seat_or_channel(request.app[SETTINGS].site.centres, body.get("seat"), body.get("channel"))
    started = await _service(request, moves=True).start_from_desktop(seat=seat, channel=channel,
                                                                     emergency=bool(body.get("emergency")))
    assert started.order is not None
    log.info("three-way button by %s: %s", principal(request).actor, started.order.id)
    return web.json_response(await _state(request, started.order.id), status=201,
                             headers={"Location": f"/api/threeway/{started.order.id}"})


@routes.get("/api/threeway")
@requires("seat")
async def active_threeway(request: web.Request) -> web.Response:
    """The three-way call the seat is in now: how the desk finds its Leave /
    Cancel / Emergency buttons again after a reload."""
    query = parse_query(request.query, SEAT_FIELDS, UTC, frozenset({"seat"}))
    seat = _seat(request, query["seat"])
    assert seat is not None
    threeway_id = await _service(request).active_for_seat(seat)
    return web.json_response({"seat": seat,
                              "threeway": await _state(request, threeway_id) if threeway_id else None})


@routes.get("/api/threeway/{threeway_id}")
@requires("seat")
async def get_threeway(request: web.Request) -> web.Response:
    return web.json_response(await _state(request, _id(request)))


@routes.post("/api/threeway/{threeway_id}/leave")
@requires("seat")
async def leave_threeway(request: web.Request) -> web.Response:
    threeway_id = _id(request)
    body = parse_body(await json_body(request), SEAT_FIELDS, frozenset({"seat"}))
    role = await _role(request, threeway_id, body, default=None)
    refusal = await _service(request, moves=True).leave(threeway_id, role, hang_up=True)
    if refusal is not None:
        raise Refused("three-way", refusal.reason)
    return web.json_response(await _state(request, threeway_id))


@routes.post("/api/threeway/{threeway_id}/cancel")
@requires("seat")
async def cancel_threeway(request: web.Request) -> web.Response:
    threeway_id = _id(request)
    body = parse_body(await json_body(request), SEAT_FIELDS)
    role = await _role(request, threeway_id, body, default="initiator")
    refusal = await _service(request, moves=True).cancel(threeway_id, role)
    if refusal is not None:
        raise Refused("three-way", refusal.reason)
    return web.json_response(await _state(request, threeway_id))


@routes.post("/api/threeway/{threeway_id}/emergency")
@requires("seat")
async def mark_threeway_emergency(request: web.Request) -> web.Response:
    threeway_id = _id(request)
    body = parse_body(await json_body(request), SEAT_FIELDS)
    role = await _role(request, threeway_id, body, default="initiator")
    await _service(request).mark_emergency(threeway_id, role)
    return web.json_response(await _state(request, threeway_id))
