"""HTTP handlers of the one-key transfer's desktop side (HTTP layer).

    POST /api/handoffs               the transfer button: {seat | channel, target, category?, note?}
    GET  /api/handoffs/{id}          the handoff's order (what the receiving desktop pops)
    GET  /api/seats/{seat}/current   the seat's call now, with the handoff id its channel carries

The button goes through the same `HandoffService.start` as the handoff key;
the move is AMI's (`app.handoff.telephony.AmiTelephony`).  Input is checked
here (400 naming the field); refusals answer 409 with the reason; AMI down
answers 503 — the citizen stays with the seat in every case.
"""
from __future__ import annotations

import logging
import re
from typing import Any, AsyncIterator, Callable

from aiohttp import web

from app.handoff.services import DesktopTelephony, HandoffService, Refused
from app.orders.http import ORDERS, order_view
from app.web.auth import principal, requires
from app.web.errors import BadInput, Unavailable
from app.web.input import json_body, line, parse_body, path_key, text
from app.web.keys import SETTINGS
from core.centres import seat_by_extension
from core.handoff import is_channel_name
from core.privacy import shown_number

log = logging.getLogger(__name__)

HANDOFFS = web.AppKey("handoffs", HandoffService)
TELEPHONY: web.AppKey[DesktopTelephony | None] = web.AppKey("telephony")

routes = web.RouteTableDef()

_DESTINATION = r"^[A-Za-z0-9_]{1,32}$"
BUTTON_FIELDS = {
    "seat": line("The transferring seat's extension (or give channel)", 32, pattern=r"^[0-9]{1,32}$"),
    "channel": line("A channel of the call: the seat's leg or the citizen's (or give seat)", 128),
    "target": line("The other centre (12345, 110) or a catalogue destination (120, 119, 12315, ...)", 32,
                   pattern=_DESTINATION),
    "category": line("Catalogue code of the matter (GET /api/catalogue)", 32),
    "note": text("What the receiving seat should know", 4000),
}


def handoffs_ctx(handoffs: HandoffService | None, telephony: DesktopTelephony | None) -> Any:
    """The app's `HandoffService`: the one given (shared with the FastAGI server
    by `app.runtime.stack`), else one over the app's `OrderService` (the
    double-press guard is the call's, in Asterisk's AstDB: every process sees it)."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[HANDOFFS] = handoffs if handoffs is not None else HandoffService(app[SETTINGS], app[ORDERS])
        app[TELEPHONY] = telephony
        yield

    return ctx


def _telephony(request: web.Request) -> DesktopTelephony:
    telephony = request.app[TELEPHONY]
    if telephony is None:
        raise Unavailable("ami", "this web process has no AMI link (run it inside `hotline up`)")
    return telephony


def _view(request: web.Request, order: Any) -> dict[str, Any]:
    return order_view(order, role=principal(request).role, settings=request.app[SETTINGS],
                      now=request.app[ORDERS].now())


@routes.post("/api/handoffs")
@requires("seat")
async def create_handoff(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = parse_body(await json_body(request), BUTTON_FIELDS, frozenset({"target"}))
    seat, channel = body.get("seat"), body.get("channel")
    if (seat is None) == (channel is None):
        raise BadInput("seat", "give exactly one of seat or channel")
    if seat is not None and seat_by_extension(settings.centres, seat) is None:
        raise BadInput("seat", f"{seat!r} is not a configured seat")
    if channel is not None and not is_channel_name(channel):
        raise BadInput("channel", "not a channel name")
    handoffs = request.app[HANDOFFS]
    try:
        started = await handoffs.transfer_from_desktop(
            _telephony(request), seat=seat, channel=channel, target=body["target"],
            category=body.get("category"), note=body.get("note"))
    except Refused as exc:
        payload: dict[str, Any] = {"error": str(exc), "reason": exc.refusal}
        if exc.order is not None:
            payload["order"] = _view(request, exc.order)
        return web.json_response(payload, status=409)
    plan, order = started.plan, started.order
    assert plan is not None and order is not None
    log.info("transfer button by %s: handoff %s seat %s -> %s", principal(request).actor, order.id,
             plan.source_seat.extension, plan.target)
    return web.json_response({
        "handoff_id": order.id, "target": plan.target, "queue": plan.queue,
        "release_mode": plan.release_mode, "order": _view(request, order),
    }, status=201, headers={"Location": f"/api/handoffs/{order.id}"})


@routes.get("/api/handoffs/{handoff_id}")
@requires("seat")
async def get_handoff(request: web.Request) -> web.Response:
    handoff_id = path_key(request, "handoff_id")
    order = await request.app[ORDERS].get(handoff_id)
    return web.json_response({"handoff_id": order.id, "order": _view(request, order)})


@routes.get("/api/seats/{seat}/current")
@requires("seat")
async def seat_current(request: web.Request) -> web.Response:
    """The seat's call now: its channels and the handoff id they carry (the
    order to pop on the desktop)."""
    seat = request.match_info["seat"]
    if not re.match(r"^[0-9]{1,32}$", seat) or seat_by_extension(request.app[SETTINGS].centres, seat) is None:
        raise BadInput("seat", f"{seat[:32]!r} is not a configured seat")
    rows = await _telephony(request).seat_channels(seat)  # type: ignore[attr-defined]
    handoff_id = next((r["variables"].get("HOTLINE_HANDOFF_ID") for r in rows
                       if r["variables"].get("HOTLINE_HANDOFF_ID")), None)
    order = None
    if handoff_id:
        order = _view(request, await request.app[ORDERS].get(handoff_id))
    shown = _number_shower(request)
    return web.json_response({
        "seat": seat, "in_call": bool(rows), "handoff_id": handoff_id, "order": order,
        "channels": [{"channel": r.get("Channel"), "caller_number": shown(r.get("CallerIDNum")),
                      "connected_number": shown(r.get("ConnectedLineNum")), "state": r.get("ChannelStateDesc"),
                      "linkedid": r.get("Linkedid")} for r in rows],
    })


def _number_shower(request: web.Request) -> Callable[[str | None], str | None]:
    """Citizens' numbers masked for roles without the privilege (保护隐私);
    seat extensions and centre numbers are not personal data and stay."""
    settings = request.app[SETTINGS]
    ours = {c.id for c in settings.centres} | {s.extension for c in settings.centres for s in c.seats}
    role = principal(request).role

    def shown(number: str | None) -> str | None:
        if not number or number in ours:
            return number
        return shown_number(number, role, settings.unmasked_roles)
    return shown
