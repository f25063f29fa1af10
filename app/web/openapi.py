"""The OpenAPI 3.0 document of the service, served at GET /api/openapi.json (HTTP layer).

Built from the same field tables the handlers validate with
(`app.web.input`), per app because the centre ids come from settings.
Public: it describes the API, holds no data.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from app.catalogue import http as catalogue_api
from app.federation import http as federation_api
from app.handoff import http as handoffs_api
from app.orders import http as orders_api
from app.orders import reports
from app.overflow import http as overflow_api
from app.runtime.models import CatalogueEntry
from app.seats import http as seats_api
from app.threeway import http as threeway_api
from app.web import tokens as tokens_api
from app.web.input import KEY_PATTERN, TOKEN, query_parameters, schema_of
from app.web.keys import SESSIONS, SETTINGS
from core.handoff import CHANNEL_NAME_MAX, CHANNEL_NAME_PATTERN
from core.orders import STATUSES
from core.seats import DEFAULT_PAUSE_REASON
from core.settings import Settings

routes = web.RouteTableDef()

ERROR = {"$ref": "#/components/schemas/Error"}
JSON_OBJECT = {"type": "object", "additionalProperties": True}


def _responses(ok: int, description: str, *extra: int, content: str = "application/json") -> dict[str, Any]:
    responses: dict[str, Any] = {str(ok): {"description": description,
                                          "content": {content: {"schema": JSON_OBJECT if content ==
                                                                "application/json" else {"type": "string"}}}}}
    for status, text in ((400, "Bad input: the field and the reason"), (401, "Missing or unknown token"),
                         (403, "Role too low (or, with field, a parameter the role may not use)"),
                         (404, "Not found"), (409, "Conflict / illegal transition / a final order"),
                         (415, "The body was not sent as application/json"), (503, "A backing service is down")):
        if status in extra or status in (400, 401, 403, 404, 409, 415, 503):
            responses[str(status)] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
    return responses


def _path_param(name: str, description: str, max_len: int = 64, pattern: str = KEY_PATTERN) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": pattern}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _action_operation(action: str) -> str:
    return "order" + action.replace("-", " ").title().replace(" ", "")


def _order_links() -> dict[str, Any]:
    """From a created order to every operation on it (lets fuzzers walk the lifecycle)."""
    operations = ["getOrder", "updateOrder", "orderEvents", "orderReopen",
                  *(_action_operation(a) for a in orders_api.ACTIONS)]
    return {op[0].upper() + op[1:]: {"operationId": op, "parameters": {"order_id": "$response.body#/id"}}
            for op in operations}


def _with_links(responses: dict[str, Any], status: str, links: dict[str, Any]) -> dict[str, Any]:
    responses[status]["links"] = links
    return responses


def _with_schema(responses: dict[str, Any], status: str, schema: dict[str, Any]) -> dict[str, Any]:
    responses[status]["content"]["application/json"]["schema"] = schema
    return responses


def _exact(paths: dict[str, Any], settings: Settings, codes: tuple[str, ...] | None) -> None:
    """Tighten the document to what the handlers check against this
    deployment's configuration, so a request the document allows is one the
    API takes: a `seat` is a configured seat, a `channel` a channel name,
    exactly one of them names a call, a `category` is a code of the
    deployment's catalogue (`codes`, when known), an online order goes from
    one centre to another, an overflow group belongs to a configured centre
    and opens on at least one threshold."""
    seats = [seat.extension for centre in settings.site.centres for seat in centre.seats]
    local, every = list(settings.site.centre_ids), list(settings.site.centre_ids + settings.federation.peer_centres)

    def tighten(schema: dict[str, Any], operation: str) -> None:
        props = schema.get("properties", {})
        if "seat" in props:
            props["seat"] = {"type": "string", "enum": seats, "description": props["seat"].get("description", "")}
        if "channel" in props:
            props["channel"] = {**props["channel"], "pattern": CHANNEL_NAME_PATTERN, "maxLength": CHANNEL_NAME_MAX}
        if "seat" in props and "channel" in props:
            schema["oneOf"] = [{"required": ["seat"]}, {"required": ["channel"]}]
        if "category" in props and codes is not None and operation in ("createOrder", "updateOrder",
                                                                       "startHandoff"):
            props["category"] = {"type": "string", "enum": list(codes),
                                 "description": props["category"].get("description", "")}
        if operation == "createOrder":
            schema["allOf"] = [{"not": {"required": ["source_centre", "target_centre"],
                                        "properties": {"source_centre": {"enum": [c]}, "target_centre": {"enum": [c]}}}}
                               for c in local]
            props["source_centre"]["enum"] = local
            props["target_centre"]["enum"] = every
        if operation in ("createGroup", "updateGroup"):
            props["centre"] = {**props["centre"], "enum": local}
        if operation == "createGroup":
            schema["anyOf"] = [{"required": ["min_waiting"], "properties": {"min_waiting": {"type": "integer"}}},
                               {"required": ["max_wait_s"], "properties": {"max_wait_s": {"type": "integer"}}},
                               {"required": ["when_no_local_free"],
                                "properties": {"when_no_local_free": {"enum": [True]}}}]
        if operation == "updateGroup":
            schema["properties"] = {k: v for k, v in props.items() if k != "name"}

    for path, item in paths.items():
        for method, op in item.items():
            name = op.get("operationId") or f"{method} {path}"
            if path == "/api/overflow/groups" and method == "post":
                name = "createGroup"
            if path == "/api/overflow/groups/{name}" and method == "patch":
                name = "updateGroup"
            for param in op.get("parameters", []):
                if param["name"] == "seat":
                    param["schema"] = {"type": "string", "enum": seats}
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                op["requestBody"]["content"]["application/json"]["schema"] = body = json.loads(json.dumps(body))
                tighten(body, name)


def build(settings: Settings, codes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The document; `codes`: the enabled catalogue codes of the deployment's
    jurisdiction (the categories orders may name), when the caller read them."""
    order_id = _path_param("order_id", "Order id or number (12345-20261125-0001)")
    code = _path_param("code", "Catalogue code (QZ-1-04, PL-3-12)", 32, catalogue_api.CODE.pattern)
    paths: dict[str, Any] = {
        "/api/health": {"get": {"summary": "Whether the database, Redis, the AMI link and FastAGI are up "
                                           "(503 names what is down)", "security": [],
                                "responses": {"200": {"description": "healthy"},
                                              "503": {"description": "degraded"}}}},
        "/api/live": {"get": {"summary": "Live queues and seats of every centre",
                              "responses": _responses(200, "live view")}},
        "/api/orders": {
            "post": {"summary": "Online transfer (互联网渠道在线转交): create an accepted order",
                     "operationId": "createOrder",
                     "requestBody": _body(schema_of(orders_api.create_fields(settings), orders_api.CREATE_REQUIRED)),
                     "responses": _with_links(_responses(201, "the new order"), "201", _order_links())},
            "get": {"summary": "List orders; overdue=true lists orders past a time limit (督办)",
                    "operationId": "listOrders",
                    "parameters": query_parameters(orders_api.LIST_FIELDS),
                    "responses": _responses(200, "a page of orders")},
        },
        "/api/orders/{order_id}": {
            "get": {"summary": "One order", "operationId": "getOrder", "parameters": [order_id],
                    "responses": _responses(200, "order", 404)},
            "patch": {"summary": "Edit an order's fields", "operationId": "updateOrder", "parameters": [order_id],
                      "requestBody": _body({**schema_of(orders_api.UPDATE_FIELDS), "minProperties": 1}),
                      "responses": _responses(200, "order", 404)},
        },
        "/api/orders/{order_id}/events": {
            "get": {"summary": "The order's audit trail", "operationId": "orderEvents", "parameters": [order_id],
                    "responses": _responses(200, "events", 404)}},
        "/api/catalogue": {
            "get": {"summary": "Find the catalogue entries for what a citizen said (ranked, safety first, "
                               "each with why it matched)",
                    "parameters": query_parameters(catalogue_api.SEARCH_FIELDS),
                    "responses": _with_schema(_responses(200, "matching entries"), "200",
                                              catalogue_api.SEARCH_RESULT)},
            "post": {"summary": "Add a catalogue entry (admin)",
                     "parameters": query_parameters(catalogue_api.ONE_FIELDS),
                     "requestBody": _body({**catalogue_api.ENTRY_SCHEMA,
                                           "required": ["code", "section", "group", "name", "destinations",
                                                        "linkage", "handling"]}),
                     "responses": _responses(201, "the entry", 409)},
        },
        "/api/catalogue/{code}": {
            "get": {"summary": "One catalogue entry", "parameters": [code, *query_parameters(
                catalogue_api.ONE_FIELDS)], "responses": _responses(200, "entry", 404)},
            "patch": {"summary": "Edit a catalogue entry (admin)",
                      "parameters": [code, *query_parameters(catalogue_api.ONE_FIELDS)],
                      "requestBody": _body(catalogue_api.EDIT_SCHEMA),
                      "responses": _responses(200, "entry", 404)},
        },
        "/api/reports/summary": {
            "get": {"summary": "Counts by direction, category, outcome; disputed categories (supervisor)",
                    "parameters": query_parameters(reports.PERIOD_FIELDS, reports.PERIOD_REQUIRED),
                    "responses": _responses(200, "report")}},
        "/api/reports/summary.csv": {
            "get": {"summary": "The same report as CSV (supervisor)",
                    "parameters": query_parameters(reports.PERIOD_FIELDS, reports.PERIOD_REQUIRED),
                    "responses": _responses(200, "CSV", content="text/csv")}},
    }
    group = _path_param("name", "Remote seat group name", 32, r"^[A-Za-z0-9_.\-]{1,32}$")
    paths["/api/overflow/groups"] = {
        "get": {"summary": "Remote seat groups (远程话务座席) of every centre (supervisor)",
                "responses": _responses(200, "groups")},
        "post": {"summary": "Add a remote seat group (admin)",
                 "requestBody": _body({**overflow_api.GROUP_SCHEMA, "required": ["name", "centre", "members"]}),
                 "responses": _responses(201, "the group", 409)},
    }
    paths["/api/overflow/groups/{name}"] = {
        "get": {"summary": "One remote seat group", "parameters": [group], "responses": _responses(200, "group", 404)},
        "patch": {"summary": "Change a group's members, priority, thresholds or enabled (admin)",
                  "parameters": [group], "requestBody": _body({**overflow_api.GROUP_SCHEMA, "minProperties": 1}),
                  "responses": _responses(200, "group", 404)},
        "delete": {"summary": "Delete a group: no new call overflows to it (admin)", "parameters": [group],
                   "responses": {"204": {"description": "deleted"}, **{k: v for k, v in _responses(
                       200, "", 404).items() if k != "200"}}},
    }
    paths["/api/overflow/surges"] = {
        "get": {"summary": "Surge open/close events of the remote seat groups (supervisor)",
                "parameters": query_parameters(overflow_api.SURGE_QUERY),
                "responses": _responses(200, "events")}}
    token_name = _path_param("name", "Token holder's name", 64, TOKEN)
    paths["/api/whoami"] = {"get": {"summary": "The caller's token name and role",
                                    "responses": _responses(200, "name, role, sees_numbers")}}
    paths["/api/tokens"] = {
        "get": {"summary": "API tokens, active and revoked, without secrets (admin)",
                "responses": _responses(200, "tokens")},
        "post": {"summary": "Create an API token; the secret is shown once (admin)",
                 "requestBody": _body(schema_of(tokens_api.CREATE_FIELDS, tokens_api.CREATE_REQUIRED)),
                 "responses": _responses(201, "the token", 409)},
    }
    paths["/api/tokens/{name}"] = {
        "delete": {"summary": "Revoke the active token of that name (admin)", "parameters": [token_name],
                   "responses": _responses(200, "revoked", 404)}}
    # 三方通话 buttons: they move calls over AMI, so a process without the
    # three-way service (plain `hotline web`) answers 503 — documented here,
    # and declared as expected for these paths by the fuzz test.
    threeway_id = {**_path_param("threeway_id", "The three-way call's id (its order id)", 36),
                   "schema": {"type": "string", "pattern": "^[0-9a-f-]{8,36}$"}}
    paths["/api/threeway"] = {
        "post": {"summary": "Start a three-way call (三方通话) from the seat's call; the other centre sees the "
                            "citizen's number", "operationId": "startThreeWay",
                 "requestBody": _body(schema_of(threeway_api.START_FIELDS)),
                 "responses": _responses(201, "the three-way call's state", 409)},
        "get": {"summary": "The three-way call the seat is in now ({\"threeway\": state or null})",
                "operationId": "activeThreeWay",
                "parameters": query_parameters(threeway_api.SEAT_FIELDS, frozenset({"seat"})),
                "responses": _responses(200, "the seat's active three-way call, or null")},
    }
    paths["/api/threeway/{threeway_id}"] = {
        "get": {"summary": "A three-way call's state (who is present) and its order", "operationId": "getThreeWay",
                "parameters": [threeway_id], "responses": _responses(200, "state", 404)}}
    for action, summary, required in (
            ("leave", "That seat leaves; the other seat keeps the citizen (agreed)", frozenset({"seat"})),
            ("cancel", "The initiator drops the invited seat: two-party again", frozenset()),
            ("emergency", "Life or property at risk: 110 accepts and dispatches first", frozenset())):
        paths[f"/api/threeway/{{threeway_id}}/{action}"] = {"post": {
            "summary": summary, "operationId": f"threeWay{action.title()}", "parameters": [threeway_id],
            "requestBody": _body(schema_of(threeway_api.SEAT_FIELDS, required)),
            "responses": _responses(200, "state", 404, 409)}}
    # 一键携号转接 button: also moves the call over AMI (503 without it).
    handoff_id = {**_path_param("handoff_id", "The handoff's id (its order id)", 36),
                  "schema": {"type": "string", "pattern": "^[0-9A-Za-z-]{8,36}$"}}
    paths["/api/handoffs"] = {
        "post": {"summary": "One-key transfer from a seat's call (一键携号转接): the citizen's own channel moves to "
                            "the target, which sees the citizen's number; the order is created pending",
                 "operationId": "startHandoff",
                 "requestBody": _body(schema_of(handoffs_api.BUTTON_FIELDS, frozenset({"target"}))),
                 "responses": _responses(201, "the handoff and its order", 409)}}
    paths["/api/handoffs/{handoff_id}"] = {
        "get": {"summary": "A handoff and its order", "operationId": "getHandoff",
                "parameters": [handoff_id], "responses": _responses(200, "the handoff", 404)}}
    seat = {**_path_param("seat", "A configured seat extension", 32),
            "schema": {"type": "string", "pattern": "^[0-9]{1,32}$"}}
    paths["/api/seats/{seat}/current"] = {
        "get": {"summary": "The seat's call now and the handoff order it came with (for the desktop to pop)",
                "operationId": "seatCurrent", "parameters": [seat],
                "responses": _responses(200, "the seat's channels and handoff")}}
    # 签入/签出, 示忙/示闲 (app.seats): a seat token acts on its own seat (its name
    # ends in the extension), a supervisor on any; 503 without an AMI link.
    seat_state = {"type": "object", "properties": {
        "seat": {"type": "string"}, "centre": {"type": "string"},
        "state": {"type": "string", "enum": ["signed_in", "paused", "signed_out"]},
        "signed_in": {"type": "boolean"}, "paused": {"type": "boolean"},
        "reason": {"type": "string", "nullable": True},
        "paused_since": {"type": "number", "nullable": True, "description": "epoch seconds"}}}
    paths["/api/seats/pause-reasons"] = {
        "get": {"summary": "The pause reason codes and names, the seat keys, auto-pause's threshold",
                "operationId": "pauseReasons", "responses": _responses(200, "reasons")}}
    paths["/api/seats/{seat}/status"] = {
        "get": {"summary": "The seat signed in or out, paused and why, since when (from Asterisk)",
                "operationId": "seatStatus", "parameters": [seat],
                "responses": _with_schema(_responses(200, "the seat's state", 404), "200", seat_state)}}
    for action, summary in (("signin", "签入: the seat joins both queues of its centre"),
                            ("signout", "签出: the seat leaves both queues; no queue rings it"),
                            ("pause", "示忙: the seat stays a member but is not rung; the reason is a code or name"),
                            ("unpause", "示闲: the seat is rung again")):
        operation: dict[str, Any] = {
            "summary": summary, "operationId": f"seat{action.title()}", "parameters": [seat],
            "responses": _with_schema(_responses(200, "the seat's state afterwards", 404, 409), "200", seat_state)}
        if action == "pause":
            body = schema_of(seats_api.PAUSE_FIELDS)
            # exactly what core.seats.pause_reason takes: nothing, a code, a name
            reasons = settings.seats.pause_reasons
            body["properties"]["reason"]["enum"] = ["", *reasons, *reasons.values(), DEFAULT_PAUSE_REASON]
            operation["requestBody"] = _body(body, required=False)
        paths[f"/api/seats/{{seat}}/{action}"] = {"post": operation}
    # 工单⇄警单 between platforms (app.federation): the peers' routes are signed
    # per peer (HMAC, headers below), not bearer tokens.
    signed: list[dict[str, list[str]]] = [{"peerSignature": []}]
    peer_order = _path_param("order_id", "The sending peer's own order id", 64)
    peer_responses = {**_responses(200, "our order: id, number, status"),
                      "401": {"description": "Unsigned, unknown peer, bad signature, stale time or replayed nonce",
                              "content": {"application/json": {"schema": ERROR}}},
                      "403": {"description": "The peer is not party to that order",
                              "content": {"application/json": {"schema": ERROR}}}}
    paths["/api/federation/orders"] = {"post": {
        "summary": "A peer platform hands an order over (12345 工单 → 110 警单 or back); keyed by (peer, its "
                   "order id): re-sending gives the same order (201 new, 200 already here)",
        "operationId": "federationReceiveOrder", "security": signed,
        "requestBody": _body(federation_api.ORDER_DOCUMENT_SCHEMA), "responses": peer_responses}}
    paths["/api/federation/orders/{order_id}/status"] = {"post": {
        "summary": "A peer reports its order's status: signed (签收), on_site, feedback (反馈: handling, result), "
                   "returned (退单: reason), closed (办结); or, from the sender, dispatched again / voided. "
                   "Applied as the next of the order's sequence; a replay changes nothing (outcome duplicate), "
                   "a gap is 409 with expected_seq",
        "operationId": "federationReceiveStatus", "security": signed, "parameters": [peer_order],
        "requestBody": _body(federation_api.STATUS_DOCUMENT_SCHEMA),
        "responses": {**peer_responses, "409": {"description": "An earlier document is missing (expected_seq)",
                                                "content": {"application/json": {"schema": ERROR}}}}}}
    paths["/api/federation/peers/{peer}/orders"] = {"post": {
        "summary": "A foreign peer (a 110 command-centre system that does not run hotline-link) hands over its "
                   "接警单 in its own field names, as its mapping says (data/federation/<mapping>.json, named in "
                   "HOTLINE_PEERS); signed with the mapping's header names; answered in its names too",
        "operationId": "federationReceiveForeignOrder", "security": [],
        "parameters": [_path_param("peer", "The peer's name as declared here", 64)],
        "requestBody": _body({"type": "object", "description": "the peer's 接警单 (JJDBH, BJDH, BJSJ, BJNR, ...)"}),
        "responses": peer_responses}}
    paths["/api/federation/outbox"] = {"get": {
        "summary": "Documents to push to peers, pushed and failed (supervisor)",
        "parameters": query_parameters(federation_api.OUTBOX_QUERY), "responses": _responses(200, "items")}}
    paths["/api/federation/outbox/retry"] = {"post": {
        "summary": "Every failed item gets fresh tries (admin)", "responses": _responses(200, "retried ids")}}
    paths["/api/federation/outbox/{item_id}/retry"] = {"post": {
        "summary": "A failed item gets fresh tries (admin)",
        "parameters": [_path_param("item_id", "Outbox item id", 9, federation_api.ITEM_ID_PATTERN)],
        "responses": _responses(200, "retried id", 404)}}
    paths["/api/federation/status"] = {"get": {
        "summary": "Per peer: push queue depth, failed items, oldest unsent item, last error (supervisor)",
        "responses": _responses(200, "link health")}}
    # GET /api/live/stream (server-sent events, app.live.stream) is left out on
    # purpose: an answer that never ends would hang a fuzzer.
    for action, (status, fields, required, _) in orders_api.ACTIONS.items():
        paths[f"/api/orders/{{order_id}}/{action}"] = {"post": {
            "summary": f"Move the order to {status}",
            "operationId": _action_operation(action),
            "parameters": [order_id],
            "requestBody": _body(schema_of(fields, required), required=bool(required)),
            "responses": _responses(200, "the order", 404, 409)}}
    paths["/api/orders/{order_id}/reopen"] = {"post": {
        "summary": "Reopen a final order (closed, abandoned, voided): back to the status it had before; the audit "
                   "event keeps the old values (supervisor)",
        "operationId": "orderReopen", "parameters": [order_id],
        "requestBody": _body(schema_of(orders_api.REOPEN_FIELDS, orders_api.REOPEN_REQUIRED)),
        "responses": _responses(200, "the order", 404, 409)}}
    _exact(paths, settings, codes)
    return {
        "openapi": "3.0.3",
        "info": {"title": "hotline-link", "version": "0.1.0",
                 "description": "12345 ↔ 110 linkage: work orders (工单), diversion catalogue, live view. "
                                f"Statuses: {', '.join(STATUSES)}."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "created with `hotline token create`"},
                                "peerSignature": {
                                    "type": "apiKey", "in": "header", "name": "X-Hotline-Signature",
                                    "description": "v1=<hex HMAC-SHA256 with the peer's shared secret> over "
                                                   "METHOD\\nPATH\\nX-Hotline-Timestamp\\nX-Hotline-Nonce\\n"
                                                   "sha256(body); with X-Hotline-Peer (the sender's name)"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}, "field": {"type": "string"},
                                                 "current_status": {"type": "string"}}}},
        },
        "paths": paths,
    }


@routes.get("/api/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    async with request.app[SESSIONS]() as session:
        codes = tuple(await session.scalars(
            select(CatalogueEntry.code).where(CatalogueEntry.jurisdiction == settings.orders.jurisdiction,
                                              CatalogueEntry.enabled.is_(True)).order_by(CatalogueEntry.code)))
    return web.json_response(build(settings, codes))
