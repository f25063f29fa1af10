"""HTTP handlers of the one-key transfer's desktop side (HTTP layer).

    POST /api/handoffs               the transfer button: {seat | channel, target, category?, note?}
    GET  /api/handoffs/{id}          the handoff's order (what the receiving desktop pops)
    GET  /api/seats/{seat}/current   the seat's call now, with the handoff id its channel carries

The button goes through the same `HandoffService.start` as the handoff key;
the move is AMI's (`app.handoff.telephony.AmiTelephony`).  Input is checked
here (400 naming the field); a refusal is `app.web.errors.Refused`, 409 with
the reason; AMI down answers 503 — the citizen stays with the seat in every case.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aiohttp import web

from app.handoff.services import DesktopTelephony, HandoffService
from app.orders.calls import seat_or_channel
from app.orders.http import ORDERS, shown_order
from app.web.auth import principal, requires
from app.web.errors import BadInput, HotlineError, Unavailable
from app.web.input import json_body, line, parse_body, path_key, text
from app.web.keys import SETTINGS
from core.centres import seat_by_extension
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


def _telephony(request: web.Request) -> DesktopTelephony:
    telephony = request.app[TELEPHONY]
    if telephony is None:
        raise Unavailable("ami", "this process has no AMI link to move the call with")
    return telephony


@routes.post("/api/handoffs")
@requires("seat")
async def create_handoff(request: web.Request) -> web.Response:
    body = parse_body(await json_body(request), BUTTON_FIELDS, frozenset({"target"}))
    seat, channel = seat_or_channel(request.app[SETTINGS].site.centres, body.get("seat"), body.get("channel"))
    started = await request.app[HANDOFFS].transfer_from_desktop(
        _telephony(request), seat=seat, channel=channel, target=body["target"],
        category=body.get("category"), note=body.get("note"))
    plan, order = started.plan, started.order
    assert plan is not None and order is not None
    log.info("transfer button by %s: handoff %s seat %s -> %s", principal(request).actor, order.id,
             plan.source_seat.extension, plan.target)
    return web.json_response({
        "handoff_id": order.id, "target": plan.target, "queue": plan.queue,
        "release_mode": plan.release_mode, "order": shown_order(request, order),
    }, status=201, headers={"Location": f"/api/handoffs/{order.id}"})


@routes.get("/api/handoffs/{handoff_id}")
@requires("seat")
async def get_handoff(request: web.Request) -> web.Response:
    handoff_id = path_key(request, "handoff_id")
    order = await request.app[ORDERS].get(handoff_id)
    return web.json_response({"handoff_id": order.id, "order": shown_order(request, order)})


@routes.get("/api/seats/{seat}/current")
@requires("seat")
async def seat_current(request: web.Request) -> web.Response:
    """The seat's call now: its channels and the handoff id they carry (the
    order to pop on the desktop)."""
    seat = request.match_info["seat"]
    if not re.match(r"^[0-9]{1,32}$", seat) or seat_by_extension(request.app[SETTINGS].site.centres, seat) is None:
        raise BadInput("seat", f"{seat[:32]!r} is not a configured seat")
    try:
        rows = await _telephony(request).seat_channels(seat)  # type: ignore[attr-defined]
    except HotlineError:
        raise
    except Exception as exc:  # the AMI link is down or broke: say so (503), never a 500
        raise Unavailable("ami", str(exc) or type(exc).__name__) from exc
    handoff_id = next((r["variables"].get("HOTLINE_HANDOFF_ID") for r in rows
                       if r["variables"].get("HOTLINE_HANDOFF_ID")), None)
    order = None
    if handoff_id:
        order = shown_order(request, await request.app[ORDERS].get(handoff_id))
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
    ours = {c.id for c in settings.site.centres} | {s.extension for c in settings.site.centres for s in c.seats}
    role = principal(request).role

    def shown(number: str | None) -> str | None:
        if not number or number in ours:
            return number
        return shown_number(number, role, settings.orders.unmasked_roles)
    return shown
