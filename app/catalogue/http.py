"""HTTP handlers for the diversion catalogue: search, read, admin edits (HTTP layer).

    GET   /api/catalogue?q=…&limit=…    the entries for what the citizen said, best first (seat)
    GET   /api/catalogue/{code}         one entry (seat)
    POST  /api/catalogue                add an entry (admin)
    PATCH /api/catalogue/{code}         edit an entry (admin)

`jurisdiction` (query) defaults to the deployment's (`HOTLINE_JURISDICTION`);
both shipped catalogues stay readable.  Each result says why it matched
(`match`) and, when the query speaks of danger, which emergency service it
stands for (`emergency`, first); no match answers `matched: false` with the
closest groups.  Ranking is `app.catalogue.search`'s, through the
`CatalogueSearch` service (one index per catalogue).  Without `q`, every entry
in catalogue order, as before.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from app.catalogue import store as catalogue_store
from app.catalogue.search import MAX_LIMIT, Found
from app.catalogue.service import CatalogueSearch
from app.orders.http import ORDERS
from app.web.auth import principal, requires
from app.web.errors import BadInput, Conflict
from app.web.input import (
    Field,
    boolean,
    integer,
    json_body,
    line,
    parse_query,
    path_key,
)
from app.web.keys import SESSIONS, SETTINGS
from core.catalogue import (
    CODE,
    JURISDICTIONS,
    LIMITS,
    LINKAGES,
    MAX_ALIASES,
    TEXT_PATTERN,
)

CATALOGUE = web.AppKey("catalogue", CatalogueSearch)

routes = web.RouteTableDef()

SEARCH_FIELDS: dict[str, Field] = {
    "q": line("What the citizen said, in their words (下水道堵了, 有人晕倒了), keywords, a code (PL-3-01) "
              "or a destination (95598); without it, every entry in catalogue order", 100),
    "limit": integer("At most this many results (default 10 with q, every entry without); emergency services "
                     "put first for safety always come", 1, MAX_LIMIT),
    "jurisdiction": line("Which catalogue (default: the deployment's)", 32, enum=JURISDICTIONS),
    "include_disabled": boolean("Also list entries an admin disabled"),
}
ONE_FIELDS: dict[str, Field] = {"jurisdiction": SEARCH_FIELDS["jurisdiction"]}

def _text_schema(field: str) -> dict[str, Any]:
    return {"type": "string", "maxLength": LIMITS[field], "minLength": 1, "pattern": TEXT_PATTERN}


ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": CODE.pattern},
        "section": _text_schema("section"),
        "group": _text_schema("group"),
        "name": _text_schema("name"),
        "destinations": {"type": "array", "minItems": 1, "maxItems": 8, "uniqueItems": True,
                         "items": _text_schema("destination")},
        "linkage": {"type": "string", "enum": list(LINKAGES)},
        "handling": _text_schema("handling"),
        "note": {"type": "string", "maxLength": LIMITS["note"], "nullable": True,
                 "pattern": "^(" + TEXT_PATTERN[1:-1] + ")?$"},
        "enabled": {"type": "boolean"},
        "aliases": {"type": "array", "maxItems": MAX_ALIASES, "uniqueItems": True,
                    "description": "Everyday words for the matter (search); one differing only in case is kept once",
                    "items": _text_schema("alias")},
    },
    "additionalProperties": False,
}
# An edit names what changes; the code is the entry's identity (the path).
EDIT_SCHEMA: dict[str, Any] = {**ENTRY_SCHEMA, "properties": {k: v for k, v in ENTRY_SCHEMA["properties"].items()
                                                              if k != "code"}, "minProperties": 1}

_WHY = {"type": "object", "properties": {
    "term": {"type": "string", "description": "The query's words"},
    "matched": {"type": "string", "description": "What they met in the entry (an alias, a seed word, a synonym, "
                                                 "a homophone, a danger word)"},
    "field": {"type": "string", "enum": ["name", "aliases", "group", "code", "destinations", "emergency"]},
    "how": {"type": "string", "enum": ["alias", "phrase", "words", "synonym", "characters", "pinyin", "code",
                                       "destination", "emergency"]},
}}
SEARCH_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "jurisdiction": {"type": "string", "enum": list(JURISDICTIONS)},
        "query": {"type": "string", "description": "q as read (full-width folded, lower case)"},
        "count": {"type": "integer"},
        "matched": {"type": "boolean", "description": "false: nothing matches q (see closest_groups)"},
        "linkage_modes": {"type": "object", "additionalProperties": {"type": "string"}},
        "entries": {"type": "array", "items": {"type": "object", "properties": {
            **ENTRY_SCHEMA["properties"],
            "code": {"type": "string", "nullable": True,
                     "description": "null for a built-in emergency service (the catalogue names none that fits)"},
            "destination": {"type": "string", "description": "The primary destination (destinations[0])"},
            "match": {"type": "object", "nullable": True, "description": "Why it matched (null without q)",
                      "properties": {"score": {"type": "number"},
                                     "terms": {"type": "array", "items": {"type": "string"}},
                                     "why": {"type": "array", "items": _WHY}}},
            "emergency": {"type": "object", "nullable": True,
                          "description": "Set on results put first for safety: the service the query's danger "
                                         "words call for",
                          "properties": {"service": {"type": "string", "enum": ["110", "119", "120", "122"]},
                                         "cues": {"type": "array", "items": {"type": "string"}},
                                         "what": {"type": "array", "items": {"type": "string"}},
                                         "builtin": {"type": "boolean"}}},
        }}},
        "closest_groups": {"type": "array", "description": "When nothing matched: the nearest groups of entries",
                           "items": {"type": "object", "properties": {
                               "group": {"type": "string"}, "section": {"type": "string"},
                               "codes": {"type": "array", "items": {"type": "string"}},
                               "destinations": {"type": "array", "items": {"type": "string"}}}}},
        "message": {"type": "string", "nullable": True},
    },
}


def _jurisdiction(request: web.Request, fields: dict[str, Field]) -> tuple[str, dict[str, Any]]:
    query = parse_query(request.query, fields, request.app[SETTINGS].orders.tz)
    return query.get("jurisdiction", request.app[SETTINGS].orders.jurisdiction), query


@routes.get("/api/catalogue")
@requires("seat")
async def search_catalogue(request: web.Request) -> web.Response:
    jurisdiction, query = _jurisdiction(request, SEARCH_FIELDS)
    found = await request.app[CATALOGUE].search(jurisdiction, query.get("q"), limit=query.get("limit"),
                                                include_disabled=query.get("include_disabled", False))
    return web.json_response(search_view(jurisdiction, found))


def search_view(jurisdiction: str, found: Found) -> dict[str, Any]:
    entries = [h.as_dict() if found.query else {**h.as_dict(), "match": None} for h in found.hits]
    return {"jurisdiction": jurisdiction, "query": found.query, "count": len(entries), "matched": found.matched,
            "linkage_modes": LINKAGES, "entries": entries,
            "closest_groups": [g.as_dict() for g in found.closest_groups],
            "message": None if found.matched or not found.query else
            "没有找到匹配的事项，请看最接近的类别 · Nothing matches; the closest groups are listed"}


@routes.get("/api/catalogue/{code}")
@requires("seat")
async def get_catalogue_entry(request: web.Request) -> web.Response:
    jurisdiction, _ = _jurisdiction(request, ONE_FIELDS)
    async with request.app[SESSIONS]() as session:
        entry = await catalogue_store.get_entry(session, jurisdiction, path_key(request, "code", 32, CODE.pattern))
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
    request.app[CATALOGUE].changed(jurisdiction)
    return web.json_response(view, status=201)


@routes.patch("/api/catalogue/{code}")
@requires("admin")
async def edit_catalogue_entry(request: web.Request) -> web.Response:
    jurisdiction, _ = _jurisdiction(request, ONE_FIELDS)
    code = path_key(request, "code", 32, CODE.pattern)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise BadInput("body", "must be a JSON object")
    now = request.app[ORDERS].now()
    async with request.app[SESSIONS].begin() as session:
        entry = await catalogue_store.edit_entry(session, jurisdiction, code, body,
                                                 actor=principal(request).actor, now=now)
        view = _entry_view(jurisdiction, entry)
    request.app[CATALOGUE].changed(jurisdiction)
    return web.json_response(view)
