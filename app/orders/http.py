"""HTTP handlers for work orders: online transfer, lifecycle actions, queries (HTTP layer).

    POST  /api/orders                      online transfer (互联网渠道在线转交): a new accepted order
                                           (to a peer platform's centre: dispatched, and pushed to it);
                                           `Idempotency-Key` makes a re-sent request give the same order
    GET   /api/orders                      list and filter (overdue=true: supervision list, 督办)
    GET   /api/orders/{order_id}           one order, by id or number
    PATCH /api/orders/{order_id}           edit fields (peer number, address, codes, ...)
    GET   /api/orders/{order_id}/events    the audit trail
    POST  /api/orders/{order_id}/{action}  accept, dispatch, sign, on-site, feedback, close, return, void
    POST  /api/orders/{order_id}/reopen    a final order back to where it was (supervisor; audited, old values kept)

A final order (closed, abandoned, voided) is immutable: PATCH and every
action answer 409 with its status until a supervisor reopens it.

Handlers validate input with `app.web.input` field tables (the same tables
feed the OpenAPI document), call `OrderService`, and shape answers here:
citizens' numbers are masked for roles without the privilege.  Errors are
raised and mapped once by `app.web.app`; an illegal transition is 409 with the
order's current status.
"""
from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from app.orders.repository import OrderFilter, list_orders
from app.orders.services import OrderService
from app.runtime.models import ORDER_MODES, Order, OrderEvent
from app.web.auth import principal, requires
from app.web.errors import BadInput, Conflict, Forbidden
from app.web.input import (
    DIVISION_CODE,
    ORG_CODE,
    PHONE,
    TOKEN,
    Field,
    boolean,
    integer,
    json_body,
    line,
    parse_body,
    parse_query,
    path_key,
    text,
    when,
)
from app.web.keys import SESSIONS, SETTINGS
from core.orders import STATUSES
from core.privacy import shown_number
from core.safety import INVALID_NUMBER_LABEL
from core.settings import Settings
from core.sla import CLASS_LABELS, ORDER_CLASSES, breaches

log = logging.getLogger(__name__)

ORDERS = web.AppKey("orders", OrderService)

routes = web.RouteTableDef()

MAX_CONTENT = 4000


def create_fields(settings: Settings) -> dict[str, Field]:
    centres = settings.site.centre_ids
    return {
        "source_centre": line("Centre handing the matter over (configured centre id)", 16, enum=centres),
        "target_centre": line("Centre receiving it (here, or a peer platform's: the order is pushed there)", 16,
                              enum=centres + settings.federation.peer_centres),
        "target": line("Destination when it is not the centre itself (a hotline or unit, from the catalogue)", 32),
        "citizen_number": line("The citizen's phone number", 32, pattern=PHONE),
        "citizen_name": line("The citizen's name", 64),
        "category": line("Catalogue code of the matter (GET /api/catalogue)", 32),
        "order_class": line("general (一般), urgent (紧急) or major (重大)", 10, enum=ORDER_CLASSES),
        "emergency": boolean("Life or property at risk"),
        "content": text("What the citizen reports (诉求内容)", MAX_CONTENT),
        "address": line("Where (事发地址)", 256),
        "division_code": line("Administrative-division code (行政区划代码), 6, 9 or 12 digits", 12,
                              pattern=DIVISION_CODE),
        "org_code": line("Organisation code (统一社会信用代码 or 组织机构代码)", 18, pattern=ORG_CODE),
        "peer_number": line("The other centre's order number (110 接警单编号 / 12345 工单编号)", 64),
        "handling_unit": line("Handling unit (承办单位)", 128),
        "source_seat": line("Seat that handed it over", 32, pattern=TOKEN),
        "note": text("Internal note", MAX_CONTENT),
    }


CREATE_REQUIRED = frozenset({"source_centre", "target_centre", "citizen_number", "content"})

UPDATE_FIELDS: dict[str, Field] = {
    "citizen_name": line("The citizen's name", 64),
    "category": line("Catalogue code", 32),
    "order_class": line("general, urgent or major", 10, enum=ORDER_CLASSES),
    "emergency": boolean("Life or property at risk"),
    "content": text("What the citizen reports", MAX_CONTENT),
    "address": line("Where", 256),
    "division_code": line("Administrative-division code", 12, pattern=DIVISION_CODE),
    "org_code": line("Organisation code", 18, pattern=ORG_CODE),
    "peer_number": line("The other centre's order number", 64),
    "handling_unit": line("Handling unit", 128),
    "note": text("Internal note", MAX_CONTENT),
}

NOTE = text("Why / what happened (kept in the audit trail)", 1000)

# action -> (status, body fields, required fields, {body field: order field})
ACTIONS: dict[str, tuple[str, dict[str, Field], frozenset[str], dict[str, str]]] = {
    "accept": ("accepted", {"target_seat": line("Seat that took it", 32, pattern=TOKEN), "note": NOTE},
               frozenset(), {"target_seat": "target_seat"}),
    "dispatch": ("dispatched", {"handling_unit": line("Handling unit (承办单位)", 128),
                                "order_class": line("Class, if it changes now", 10, enum=ORDER_CLASSES),
                                "note": NOTE},
                 frozenset({"handling_unit"}), {"handling_unit": "handling_unit", "order_class": "order_class"}),
    "sign": ("signed", {"note": NOTE}, frozenset(), {}),
    "on-site": ("on_site", {"note": NOTE}, frozenset(), {}),
    "feedback": ("feedback", {"result": text("Result of the handling (办理结果)", MAX_CONTENT), "note": NOTE},
                 frozenset({"result"}), {"result": "result"}),
    "close": ("closed", {"note": NOTE}, frozenset(), {}),
    "return": ("returned", {"reason": line("Why it is sent back (退单理由)", 256), "note": NOTE},
               frozenset({"reason"}), {"reason": "return_reason"}),
    "void": ("voided", {"reason": line("Why it is voided", 256), "note": NOTE},
             frozenset({"reason"}), {"reason": "outcome_reason"}),
}

LIST_FIELDS: dict[str, Field] = {
    "status": line("Status", 20, enum=STATUSES),
    "mode": line("How the order came", 20, enum=ORDER_MODES),
    "direction": line("e.g. 12345->110", 40),
    "category": line("Catalogue code", 32),
    "order_class": line("Class", 10, enum=ORDER_CLASSES),
    "source_centre": line("Source centre", 16),
    "target_centre": line("Target centre", 16),
    "citizen_number": line("Citizen number (exact); refused (403) for roles that see numbers masked", 32,
                           pattern=PHONE),
    "linkedid": line("Asterisk LinkedID of the call", 64),
    "from": when("Created at or after (YYYY-MM-DD: that day's start in the deployment's time zone, "
                 "or an RFC 3339 date-time with offset; years 1970-2999)"),
    "to": when("Created before (a period that ends before it starts lists nothing)"),
    "overdue": boolean("true: only orders past a time limit now (督办); false: only the others"),
    "limit": integer("Page size", 1, 500),
    "offset": integer("Rows to skip", 0, 1_000_000),
}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def number_label(number: str, presented: str | None) -> str | None:
    """What a seat was shown instead of a number: 无效号码 (not a number) or 未显示号码 (withheld)."""
    if number:
        return None
    return INVALID_NUMBER_LABEL if presented else WITHHELD_LABEL


WITHHELD_LABEL = "未显示号码"


def order_view(order: Order, *, role: str, settings: Settings, now: datetime) -> dict[str, Any]:
    """An order as the API shows it to `role` (citizen number masked unless privileged)."""
    return {
        "id": order.id,
        "number": order.number,
        "peer_number": order.peer_number,
        "peer": order.peer,
        "peer_side": order.peer_side,
        "peer_order_id": order.peer_order_id,
        "peer_status": order.peer_status,
        "peer_updated_at": _iso(order.peer_updated_at),
        "direction": order.direction,
        "mode": order.mode,
        "status": order.status,
        "order_class": order.order_class,
        "class_label": CLASS_LABELS.get(order.order_class),
        "emergency": order.emergency,
        "citizen_number": shown_number(order.citizen_number, role, settings.orders.unmasked_roles),
        # "" above: withheld, or a caller ID that is not a number (never turned into one); what
        # was presented is kept escaped for the audit, shown to roles that see numbers
        "citizen_number_label": number_label(order.citizen_number, order.citizen_presented),
        "citizen_presented": order.citizen_presented if role in settings.orders.unmasked_roles else None,
        "citizen_name": order.citizen_name,
        "category": order.category,
        "content": order.content,
        "address": order.address,
        "division_code": order.division_code,
        "org_code": order.org_code,
        "source_centre": order.source_centre,
        "target_centre": order.target_centre,
        "target": order.target,
        "source_seat": order.source_seat,
        "target_seat": order.target_seat,
        "handling_unit": order.handling_unit,
        "result": order.result,
        "return_reason": order.return_reason,
        "outcome_reason": order.outcome_reason,
        "handoff_rule": order.handoff_rule,
        "release_mode": order.release_mode,
        "wait_ms": order.wait_ms,
        "note": order.note,
        "linkedid": order.linkedid,
        "channel": order.channel,
        "created_at": _iso(order.created_at),
        "accepted_at": _iso(order.accepted_at),
        "dispatched_at": _iso(order.dispatched_at),
        "signed_at": _iso(order.signed_at),
        "on_site_at": _iso(order.on_site_at),
        "feedback_at": _iso(order.feedback_at),
        "returned_at": _iso(order.returned_at),
        "closed_at": _iso(order.closed_at),
        "updated_at": _iso(order.updated_at),
        "sign_due_at": _iso(order.sign_due_at),
        "on_site_due_at": _iso(order.on_site_due_at),
        "overdue": breaches(status=order.status, sign_due_at=order.sign_due_at,
                            on_site_due_at=order.on_site_due_at, now=now),
        "flagged_overdue": {"sign": _iso(order.sign_overdue_at), "on_site": _iso(order.on_site_overdue_at)},
    }


def event_view(event: OrderEvent) -> dict[str, Any]:
    return {"id": event.id, "at": _iso(event.at), "actor": event.actor, "kind": event.kind,
            "from_status": event.from_status, "to_status": event.to_status, "detail": event.detail}


def shown_order(request: web.Request, order: Order) -> dict[str, Any]:
    """The order as the caller may see it (its role decides what is masked).
    Every answer that carries an order shows it through here, 409s included."""
    service = request.app[ORDERS]
    return order_view(order, role=principal(request).role, settings=request.app[SETTINGS], now=service.now())


IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")


@routes.post("/api/orders")
@requires("seat")
async def create_order(request: web.Request) -> web.Response:
    """Online transfer: a matter received on the web handed to the other centre as an accepted order.

    To a centre of a peer platform it is created dispatched (the peer owes the
    sign-for) and pushed there (app.federation).  With `Idempotency-Key`, the
    same key from the same caller gives back the first order (200,
    `Idempotent-Replayed: true`); the same key with another body is 409."""
    settings = request.app[SETTINGS]
    raw = await json_body(request)
    body = parse_body(raw, create_fields(settings), CREATE_REQUIRED)
    if body["source_centre"] == body["target_centre"]:
        raise BadInput("target_centre", "must differ from source_centre")
    if body["source_centre"] not in settings.site.centre_ids:
        raise BadInput("source_centre", f"{body['source_centre']!r} is a peer platform's centre, not served here")
    who = principal(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise BadInput("Idempotency-Key", "1-128 visible ASCII characters")
    peer = settings.federation.peer_of_centre(body["target_centre"])
    fields = dict(body)
    kwargs: dict[str, Any] = dict(
        mode="online", status="dispatched" if peer is not None else "accepted", actor=who.actor,
        source_centre=fields.pop("source_centre"), target_centre=fields.pop("target_centre"),
        citizen_number=fields.pop("citizen_number"), target=fields.pop("target", None),
        source_seat=fields.pop("source_seat", None), category=fields.pop("category", None),
        note=fields.pop("note", None), **fields)
    if peer is not None:
        kwargs.setdefault("handling_unit", peer.name)
    service = request.app[ORDERS]
    if key is None:
        order, created = await service.create(**kwargs), True
    else:
        stored_key = hashlib.sha256(f"{who.actor}|{key}".encode()).hexdigest()
        order, created = await service.create_once({"idempotency_key": stored_key}, idempotency_key=stored_key,
                                                   **kwargs)
        if not created and _differs(order, body):
            raise Conflict("Idempotency-Key already used for another order body")
    headers = {"Location": f"/api/orders/{order.id}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return web.json_response(shown_order(request, order), status=201 if created else 200, headers=headers)


def _differs(order: Order, body: dict[str, Any]) -> bool:
    """Whether a request replayed under the same key asks for something else."""
    return any(getattr(order, name) != body.get(name)
               for name in ("source_centre", "target_centre", "citizen_number", "content"))


@routes.get("/api/orders")
@requires("seat")
async def list_orders_handler(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    query = parse_query(request.query, LIST_FIELDS, settings.orders.tz)
    if "citizen_number" in query and principal(request).role not in settings.orders.unmasked_roles:
        # a masked role would confirm a full number by filtering on it (保护隐私)
        raise Forbidden("citizen_number", f"role {principal(request).role} sees citizens' numbers masked and may "
                                          "not filter on them")
    flt = OrderFilter(
        status=query.get("status"), mode=query.get("mode"), direction=query.get("direction"),
        category=query.get("category"), order_class=query.get("order_class"),
        source_centre=query.get("source_centre"), target_centre=query.get("target_centre"),
        citizen_number=query.get("citizen_number"), linkedid=query.get("linkedid"),
        created_from=query.get("from"), created_to=query.get("to"), overdue=query.get("overdue"))
    service = request.app[ORDERS]
    now = service.now()
    async with request.app[SESSIONS]() as session:
        orders, total = await list_orders(session, flt, now=now, limit=query.get("limit", 50),
                                          offset=query.get("offset", 0))
    return web.json_response({"total": total, "orders": [shown_order(request, o) for o in orders]})


@routes.get("/api/orders/{order_id}")
@requires("seat")
async def get_order(request: web.Request) -> web.Response:
    order = await request.app[ORDERS].get(path_key(request, "order_id"))
    return web.json_response(shown_order(request, order))


@routes.patch("/api/orders/{order_id}")
@requires("seat")
async def update_order(request: web.Request) -> web.Response:
    order_id = path_key(request, "order_id")
    body = parse_body(await json_body(request), UPDATE_FIELDS)
    if not body:
        raise BadInput("body", "name at least one field to change")
    service = request.app[ORDERS]
    current = await service.get(order_id)
    order = await service.update(current.id, actor=principal(request).actor, **body)
    return web.json_response(shown_order(request, order))


@routes.get("/api/orders/{order_id}/events")
@requires("seat")
async def order_events(request: web.Request) -> web.Response:
    events = await request.app[ORDERS].events(path_key(request, "order_id"))
    return web.json_response({"events": [event_view(e) for e in events]})


def _action_handler(action: str) -> Any:
    status, fields, required, mapping = ACTIONS[action]

    @requires("seat")
    async def handler(request: web.Request) -> web.Response:
        order_id = path_key(request, "order_id")
        body = parse_body(await json_body(request, optional=True), fields, required)
        service = request.app[ORDERS]
        current = await service.get(order_id)
        changes = {mapping[k]: v for k, v in body.items() if k in mapping}
        detail = {"action": action}
        if "note" in body:
            detail["note"] = body["note"]
        order = await service.transition(current.id, status, actor=principal(request).actor, event=action,
                                         detail=detail, **changes)
        return web.json_response(shown_order(request, order))

    handler.__name__ = f"order_{action.replace('-', '_')}"
    handler.__doc__ = f"Move the order to {status}."
    return handler


for _action in ACTIONS:
    routes.post(f"/api/orders/{{order_id}}/{_action}")(_action_handler(_action))


REOPEN_FIELDS: dict[str, Field] = {"reason": line("Why the final order is reopened (kept in the audit trail)", 256)}
REOPEN_REQUIRED = frozenset({"reason"})


@routes.post("/api/orders/{order_id}/reopen")
@requires("supervisor")
async def order_reopen(request: web.Request) -> web.Response:
    """Reopen a final order (closed, abandoned, voided): it goes back to the
    status it had before; the audit event keeps its old values."""
    order_id = path_key(request, "order_id")
    body = parse_body(await json_body(request), REOPEN_FIELDS, REOPEN_REQUIRED)
    service = request.app[ORDERS]
    current = await service.get(order_id)
    order = await service.reopen(current.id, actor=principal(request).actor, reason=body["reason"])
    return web.json_response(shown_order(request, order))
