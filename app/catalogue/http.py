"""HTTP handlers for the diversion catalogue: search, read, admin edits (HTTP layer).

    GET   /api/catalogue?q=…            matching entries, best first (seat)
    GET   /api/catalogue/{code}         one entry (seat)
    POST  /api/catalogue                add an entry (admin)
    PATCH /api/catalogue/{code}         edit an entry (admin)

`jurisdiction` (query) defaults to the deployment's (`HOTLINE_JURISDICTION`);
both shipped catalogues stay readable.  Matching is `core.catalogue.search`.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from app.catalogue import store as catalogue_store
from app.orders.http import ORDERS
from app.orders.services import CHINA_TZ
from app.web.auth import principal, requires
from app.web.errors import BadInput, Conflict
from app.web.input import Field, boolean, json_body, line, parse_query, path_key
from app.web.keys import SESSIONS, SETTINGS
from core.catalogue import JURISDICTIONS, LINKAGES, search

routes = web.RouteTableDef()

SEARCH_FIELDS: dict[str, Field] = {
    "q": line("Words that must all appear (name, group, code, destination, handling)", 100),
    "jurisdiction": line("Which catalogue (default: the deployment's)", 32, enum=JURISDICTIONS),
    "include_disabled": boolean("Also list entries an admin disabled"),
}
ONE_FIELDS: dict[str, Field] = {"jurisdiction": SEARCH_FIELDS["jurisdiction"]}

ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": r"^[A-Z]{2,6}-[0-9A-Za-z]{1,4}-[0-9]{1,4}$"},
        "section": {"type": "string", "maxLength": 128, "minLength": 1},
        "group": {"type": "string", "maxLength": 128, "minLength": 1},
        "name": {"type": "string", "maxLength": 1000, "minLength": 1},
        "destinations": {"type": "array", "minItems": 1, "maxItems": 8,
                         "items": {"type": "string", "maxLength": 32, "minLength": 1}},
        "linkage": {"type": "string", "enum": list(LINKAGES)},
        "handling": {"type": "string", "maxLength": 500, "minLength": 1},
        "note": {"type": "string", "maxLength": 500, "nullable": True},
        "enabled": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def _jurisdiction(request: web.Request, fields: dict[str, Field]) -> tuple[str, dict[str, Any]]:
    query = parse_query(request.query, fields, CHINA_TZ)
    return query.get("jurisdiction", request.app[SETTINGS].orders.jurisdiction), query


@routes.get("/api/catalogue")
@requires("seat")
async def search_catalogue(request: web.Request) -> web.Response:
    jurisdiction, query = _jurisdiction(request, SEARCH_FIELDS)
    async with request.app[SESSIONS]() as session:
        items = await catalogue_store.all_items(session, jurisdiction)
    found = search(items, query.get("q"), include_disabled=query.get("include_disabled", False))
    return web.json_response({"jurisdiction": jurisdiction, "count": len(found),
                              "linkage_modes": LINKAGES, "entries": [i.as_dict() for i in found]})


@routes.get("/api/catalogue/{code}")
@requires("seat")
async def get_catalogue_entry(request: web.Request) -> web.Response:
    jurisdiction, _ = _jurisdiction(request, ONE_FIELDS)
    async with request.app[SESSIONS]() as session:
        entry = await catalogue_store.get_entry(session, jurisdiction, path_key(request, "code", 32))
        return web.json_response(_entry_view(jurisdiction, entry))


def _entry_view(jurisdiction: str, entry: Any) -> dict[str, Any]:
    view = catalogue_store.to_item(entry).as_dict()
    view.update(jurisdiction=jurisdiction, updated_by=entry.updated_by, updated_at=entry.updated_at.isoformat())
    return view


@routes.post("/api/catalogue")
@requires("admin")
async def add_catalogue_entry(request: web.Request) -> web.Response:
    jurisdiction, _ = _jurisdiction(request, ONE_FIELDS)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object")
    now = request.app[ORDERS].now()
    try:
        async with request.app[SESSIONS].begin() as session:
            entry = await catalogue_store.add_entry(session, jurisdiction, body, actor=principal(request).actor,
                                                    now=now)
            view = _entry_view(jurisdiction, entry)
    except IntegrityError:
        raise Conflict(f"catalogue entry {jurisdiction}/{body.get('code')} exists") from None
    return web.json_response(view, status=201)


@routes.patch("/api/catalogue/{code}")
@requires("admin")
async def edit_catalogue_entry(request: web.Request) -> web.Response:
    jurisdiction, _ = _jurisdiction(request, ONE_FIELDS)
    code = path_key(request, "code", 32)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object")
    now = request.app[ORDERS].now()
    async with request.app[SESSIONS].begin() as session:
        entry = await catalogue_store.edit_entry(session, jurisdiction, code, body,
                                                 actor=principal(request).actor, now=now)
        view = _entry_view(jurisdiction, entry)
    return web.json_response(view)
