"""HTTP handlers of remote-seat overflow (远程话务座席支持) configuration (HTTP layer).

    GET    /api/overflow/groups          every remote seat group (supervisor)
    POST   /api/overflow/groups          a new group (admin)                     201
    GET    /api/overflow/groups/{name}   one group (supervisor)
    PATCH  /api/overflow/groups/{name}   change members, priority, thresholds, enabled (admin)
    DELETE /api/overflow/groups/{name}   remove it: no new call overflows to it (admin)   204
    GET    /api/overflow/surges          surge open/close events, for reports (supervisor)

A group body: {"centre": "12345", "name": "nanning-remote", "members":
["PJSIP/nn-7", "PJSIP/13800138000@gx-trunk", "Local/9001@remote-phones"],
"priority": 1, "min_waiting": 5, "max_wait_s": 30, "when_no_local_free":
false, "enabled": true}.  Validation is `core.overflow.validate_group` on the
whole resulting group: 400 names the field, nothing is stored.  The surge
controller picks a change up at its next check (≤ HOTLINE_OVERFLOW_CHECK_INTERVAL).
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from app.overflow.config import OverflowConfig, event_view, group_view
from app.runtime.models import utcnow
from app.web.auth import principal, requires
from app.web.errors import BadInput
from app.web.input import Field, json_body, line, parse_query, path_key, when
from app.web.keys import SETTINGS
from core.overflow import GROUP_FIELDS, MEMBER_PATTERN

OVERFLOW = web.AppKey("overflow", OverflowConfig)

routes = web.RouteTableDef()

SURGE_QUERY: dict[str, Field] = {
    "centre": line("Only this centre's groups", 16, pattern=r"^[0-9]{1,16}$"),
    "from": when("Events at or after (YYYY-MM-DD or ISO 8601 with offset)"),
    "to": when("Events before (YYYY-MM-DD or ISO 8601 with offset)"),
}

# The OpenAPI schema of a group body (the checks themselves are core.overflow's).
GROUP_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,32}$", "description": "Unique group name"},
        "centre": {"type": "string", "maxLength": 16, "description": "The centre whose calls overflow (12345, 110)"},
        "members": {"type": "array", "minItems": 1, "maxItems": 64, "uniqueItems": True, "description":
                    "Dial strings: PJSIP/<endpoint>, PJSIP/<number>@<trunk>, Local/<exten>@<context>[/n]; a local "
                    "seat, a context of the hotline's own call flow or a member of another group is 409",
                    "items": {"type": "string", "maxLength": 128, "pattern": MEMBER_PATTERN}},
        "priority": {"type": "integer", "minimum": 1, "maximum": 99, "nullable": True,
                     "description": "Queue penalty of the members (local seats are 0); lower groups first"},
        "min_waiting": {"type": "integer", "minimum": 1, "maximum": 1000, "nullable": True,
                        "description": "Open when this many callers wait"},
        "max_wait_s": {"type": "integer", "minimum": 1, "maximum": 3600, "nullable": True,
                       "description": "Open when the longest wait reaches this (s)"},
        "when_no_local_free": {"type": "boolean", "nullable": True,
                               "description": "Open when callers wait and no local seat is free (null: false)"},
        "enabled": {"type": "boolean", "nullable": True, "description": "null: true"},
    },
}


async def _group_body(request: web.Request, *, required: tuple[str, ...]) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object")
    for key in body:
        if key not in GROUP_FIELDS:
            raise BadInput(str(key)[:64], "not a field of an overflow group")
    for key in required:
        if body.get(key) is None:
            raise BadInput(key, "is required")
    if not body and not required:
        raise BadInput("body", "give at least one field to change")
    return body


@routes.get("/api/overflow/groups")
@requires("supervisor")
async def list_groups(request: web.Request) -> web.Response:
    rows = await request.app[OVERFLOW].rows()
    return web.json_response({"groups": [group_view(r) for r in rows]})


@routes.post("/api/overflow/groups")
@requires("admin")
async def create_group(request: web.Request) -> web.Response:
    body = await _group_body(request, required=("name", "centre", "members"))
    row = await request.app[OVERFLOW].create(body, actor=principal(request).actor)
    return web.json_response(group_view(row), status=201)


@routes.get("/api/overflow/groups/{name}")
@requires("supervisor")
async def get_group(request: web.Request) -> web.Response:
    row = await request.app[OVERFLOW].get(path_key(request, "name", 32))
    return web.json_response(group_view(row))


@routes.patch("/api/overflow/groups/{name}")
@requires("admin")
async def update_group(request: web.Request) -> web.Response:
    name = path_key(request, "name", 32)
    body = await _group_body(request, required=())
    if "name" in body:
        raise BadInput("name", "a group cannot be renamed: create a new one and delete this one")
    row = await request.app[OVERFLOW].update(name, body, actor=principal(request).actor)
    return web.json_response(group_view(row))


@routes.delete("/api/overflow/groups/{name}")
@requires("admin")
async def delete_group(request: web.Request) -> web.Response:
    await request.app[OVERFLOW].delete(path_key(request, "name", 32), actor=principal(request).actor)
    return web.Response(status=204)


@routes.get("/api/overflow/surges")
@requires("supervisor")
async def surge_events(request: web.Request) -> web.Response:
    query = parse_query(request.query, SURGE_QUERY, request.app[SETTINGS].orders.tz)
    rows = await request.app[OVERFLOW].surge_events(centre=query.get("centre"), since=query.get("from"),
                                                    until=query.get("to"))
    return web.json_response({"events": [event_view(r) for r in rows], "generated_at": utcnow().isoformat()})
