"""HTTP handlers for API tokens: who am I, and the admin's token list (HTTP layer).

    GET    /api/whoami          the caller's name, role, and whether it sees numbers unmasked (seat)
    GET    /api/tokens          every token, active and revoked, never a secret (admin)
    POST   /api/tokens          {"name", "role"} -> the new token, shown once (admin)
    DELETE /api/tokens/{name}   revoke the active token of that name (admin)

The same functions as `hotline token create|list|revoke` (`app.web.auth`): the
same checks, the same audit log line, the secret stored hashed.
"""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from app.runtime.models import ApiToken, utcnow
from app.web.auth import create_token, list_tokens, principal, requires, revoke_token
from app.web.input import TOKEN, json_body, line, parse_body, path_key
from app.web.keys import SESSIONS, SETTINGS
from core.roles import ROLES

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

CREATE_FIELDS = {
    "name": line("Who holds the token (e.g. zhang-1001)", 64, pattern=TOKEN),
    "role": line("seat, supervisor or admin", 16, enum=ROLES),
}
CREATE_REQUIRED = frozenset(CREATE_FIELDS)


def token_view(token: ApiToken) -> dict[str, Any]:
    return {"id": token.id, "name": token.name, "role": token.role,
            "created_at": token.created_at.isoformat(),
            "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
            "active": token.revoked_at is None}


@routes.get("/api/whoami")
@requires("seat")
async def whoami(request: web.Request) -> web.Response:
    who = principal(request)
    return web.json_response({"name": who.name, "role": who.role,
                              "sees_numbers": who.role in request.app[SETTINGS].orders.unmasked_roles})


@routes.get("/api/tokens")
@requires("admin")
async def tokens(request: web.Request) -> web.Response:
    rows = await list_tokens(request.app[SESSIONS])
    return web.json_response({"tokens": [token_view(t) for t in reversed(rows)]})


@routes.post("/api/tokens")
@requires("admin")
async def add_token(request: web.Request) -> web.Response:
    body = parse_body(await json_body(request), CREATE_FIELDS, CREATE_REQUIRED)
    secret = await create_token(request.app[SESSIONS], role=body["role"], name=body["name"], now=utcnow())
    log.info("api token %s (%s) created by %s", body["name"], body["role"], principal(request).actor)
    return web.json_response({"name": body["name"], "role": body["role"], "token": secret}, status=201)


@routes.delete("/api/tokens/{name}")
@requires("admin")
async def remove_token(request: web.Request) -> web.Response:
    name = path_key(request, "name", 64, TOKEN)
    await revoke_token(request.app[SESSIONS], name=name, now=utcnow())
    log.info("api token %s revoked by %s", name, principal(request).actor)
    return web.json_response({"name": name, "revoked": True})
