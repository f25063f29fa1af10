"""HTTP handlers of seats signing in and pausing (签入/签出, 示忙/示闲) (HTTP layer).

    GET  /api/seats/pause-reasons      the configured reason codes and names
    GET  /api/seats/{seat}/status      signed in or out, paused, reason, since when
    POST /api/seats/{seat}/signin      签入: the seat joins both queues of its centre
    POST /api/seats/{seat}/signout     签出: the seat leaves them (no queue rings it)
    POST /api/seats/{seat}/pause       示忙: {"reason": "2" | "培训"} (optional: 示忙)
    POST /api/seats/{seat}/unpause     示闲

A `seat` token acts on its own seat only (its name ends in the extension:
`seat-1001`; `core.roles.may_act_on_seat`), a supervisor or admin on any.
The same as the `*5` / `*6` keys (app/seats/services.py); Asterisk keeps
the state.  400 names the field; 404 an unknown seat; 409 a pause while
signed out; 503 when this process has no AMI link.
"""
from __future__ import annotations

from typing import Any, get_args

from aiohttp import web

from app.seats.services import SeatService
from app.web.auth import principal, requires
from app.web.errors import BadInput, NotFound, Unavailable
from app.web.input import json_body, line, parse_body
from app.web.keys import SETTINGS
from core.centres import seat_by_extension
from core.roles import may_act_on_seat
from core.seats import (
    AUTO_PAUSE_REASON,
    DEFAULT_PAUSE_REASON,
    ReasonError,
    SeatAction,
    pause_reason,
)

SEATS: web.AppKey[SeatService | None] = web.AppKey("seats")

routes = web.RouteTableDef()

PAUSE_FIELDS = {
    "reason": line("A pause reason: its code (2) or its name (培训); none: 示忙 (GET /api/seats/pause-reasons)", 32),
}


def _seat(request: web.Request) -> str:
    """The path's seat: a configured extension the caller may act on."""
    raw = request.match_info.get("seat", "")
    if not raw.isdigit() or len(raw) > 32:
        raise BadInput("seat", "must be a seat extension (digits)")
    if seat_by_extension(request.app[SETTINGS].site.centres, raw) is None:
        raise NotFound("seat", raw)
    who = principal(request)
    if not may_act_on_seat(who.role, who.name, raw):
        raise web.HTTPForbidden(reason=f"a seat token acts on its own seat only (token {who.name!r}, seat {raw})")
    return raw


def _service(request: web.Request) -> SeatService:
    service = request.app[SEATS]
    if service is None:
        raise Unavailable("ami", "this process has no AMI link to sign seats in and out with")
    return service


async def _act(request: web.Request, action: SeatAction) -> web.Response:
    seat = _seat(request)
    reason = None
    if action == "pause":
        reason = parse_body(await json_body(request, optional=True), PAUSE_FIELDS).get("reason")
        try:  # checked before anything moves (the service checks it again)
            pause_reason(reason, request.app[SETTINGS].seats.pause_reasons)
        except ReasonError as exc:
            raise BadInput("reason", str(exc)) from None
    status = await _service(request).act(seat, action, reason, actor=principal(request).actor)
    return web.json_response(status.as_dict())


@routes.get("/api/seats/pause-reasons")
@requires("seat")
async def pause_reasons(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS].seats
    return web.json_response({
        "reasons": [{"code": code, "name": name} for code, name in settings.pause_reasons.items()],
        "default": DEFAULT_PAUSE_REASON, "auto": AUTO_PAUSE_REASON,
        "autopause_after": settings.autopause_after,
        "keys": {"signin": settings.signin_key, "pause": settings.pause_key}})


@routes.get("/api/seats/{seat}/status")
@requires("seat")
async def seat_status(request: web.Request) -> web.Response:
    seat = _seat(request)
    return web.json_response((await _service(request).state(seat)).as_dict())


def _action_handler(action: SeatAction) -> Any:
    """POST /api/seats/{seat}/<action>: one handler body for the four (as the order actions)."""

    @requires("seat")
    async def handler(request: web.Request) -> web.Response:
        return await _act(request, action)

    handler.__name__ = action
    return handler


for _action in get_args(SeatAction):  # signin, signout, pause, unpause
    routes.post(f"/api/seats/{{seat}}/{_action}")(_action_handler(_action))
