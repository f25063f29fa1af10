"""API tokens and roles: create, check, and the middleware that enforces them (HTTP edge).

Tokens are random (`hl_` + 43 URL-safe characters, 256 bits) and shown once,
when `hotline token create --role ROLE --name NAME` makes them; the database
keeps only their SHA-256 (a slow hash adds nothing for a secret this long).
No token is built in.  Every `/api/` route needs `Authorization: Bearer
<token>` (and so does `/metrics`, `TOKEN_PATHS`) except `PUBLIC_PATHS` and the peer platforms' routes, which check
their own HMAC signatures (`app.federation.http.peer_signed`); a route names the least role it needs with
`@requires("supervisor")` (default `seat`, see `core.roles`).  Missing or
unknown token: 401; role too low: 403 — both answered through
`app.web.app.error_middleware` as JSON.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime.models import ApiToken
from app.web.errors import BadInput, Conflict, NotFound
from app.web.keys import SESSIONS
from core.roles import ROLES, allows
from core.safety import UnsafeValue, check_token

log = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/api/health", "/api/openapi.json"})
# outside /api/ but behind a token all the same (Prometheus' scrape, app.metrics.http)
TOKEN_PATHS = frozenset({"/metrics"})
TOKEN_PREFIX = "hl_"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's name and role."""

    name: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit trail names this caller: `seat:zhang-1001`."""
        return f"{self.role}:{self.name}"


PRINCIPAL = web.RequestKey("principal", Principal)
TOKEN_HASH = web.RequestKey("token_hash", str)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def create_token(sessions: async_sessionmaker[AsyncSession], *, role: str, name: str,
                       now: datetime) -> str:
    """A new token for `name` with `role`; returns the secret (shown once, stored hashed)."""
    if role not in ROLES:
        raise BadInput("role", f"{role!r}: expected one of {', '.join(ROLES)}")
    try:
        check_token("name", name)
    except UnsafeValue as exc:
        raise BadInput(exc.field, exc.reason) from None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with sessions.begin() as session:
        active = (await session.scalars(select(ApiToken).where(ApiToken.name == name,
                                                               ApiToken.revoked_at.is_(None)))).first()
        if active is not None:
            raise Conflict(f"an active token named {name!r} exists; revoke it first")
        session.add(ApiToken(name=name, role=role, token_hash=hash_token(token), created_at=now))
    log.info("api token created: %s (%s)", name, role)
    return token


async def revoke_token(sessions: async_sessionmaker[AsyncSession], *, name: str, now: datetime) -> None:
    async with sessions.begin() as session:
        tokens = list(await session.scalars(select(ApiToken).where(ApiToken.name == name,
                                                                   ApiToken.revoked_at.is_(None))))
        if not tokens:
            raise NotFound("token", name)
        for token in tokens:
            token.revoked_at = now
    log.info("api token revoked: %s", name)


async def list_tokens(sessions: async_sessionmaker[AsyncSession]) -> list[ApiToken]:
    async with sessions() as session:
        return list(await session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


async def authenticate(sessions: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    """The active token's principal, or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    digest = hash_token(token)
    async with sessions() as session:
        row = (await session.scalars(select(ApiToken).where(ApiToken.token_hash == digest))).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(name=row.name, role=row.role)


async def token_active(sessions: async_sessionmaker[AsyncSession], digest: str) -> bool:
    """Whether the token with this SHA-256 is still active (not revoked, not deleted)."""
    async with sessions() as session:
        row = (await session.scalars(select(ApiToken).where(ApiToken.token_hash == digest))).first()
    return row is not None and row.revoked_at is None


class Revocations:
    """Tells long answers (the live stream) that some token was revoked —
    by any process: `hotline token revoke` or another web process — within
    `interval_s`.  One small query per interval however many streams ask;
    a stream whose token is among the revoked ends (`app.live.stream`)."""

    def __init__(self, sessions: Callable[[], async_sessionmaker[AsyncSession]], interval_s: float = 0.25) -> None:
        self._sessions = sessions
        self.interval_s = interval_s
        self._generation: tuple[int, Any] = (0, None)
        self._read_at = float("-inf")
        self._lock = asyncio.Lock()

    async def generation(self) -> tuple[int, Any]:
        """(number of revoked tokens, latest revocation time), at most `interval_s` old."""
        async with self._lock:
            if time.monotonic() - self._read_at >= self.interval_s:
                async with self._sessions()() as session:
                    row = (await session.execute(select(func.count(), func.max(ApiToken.revoked_at))
                                                 .where(ApiToken.revoked_at.is_not(None)))).one()
                self._generation = (int(row[0]), row[1])
                self._read_at = time.monotonic()
            return self._generation


REVOCATIONS = web.AppKey("revocations", Revocations)


def requires(role: str) -> Callable[[F], F]:
    """Mark a handler with the least role it needs."""
    assert role in ROLES, role

    def mark(handler: F) -> F:
        handler.__hotline_role__ = role  # type: ignore[attr-defined]
        return handler

    return mark


def principal(request: web.Request) -> Principal:
    """The caller, as set by `auth_middleware`."""
    return request[PRINCIPAL]


def _unauthorized(reason: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(reason=reason, headers={"WWW-Authenticate": 'Bearer realm="hotline"'})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid bearer token, 403 when the token's role is too low."""
    if (not request.path.startswith("/api/") and request.path not in TOKEN_PATHS) or request.path in PUBLIC_PATHS:
        return await handler(request)
    route = request.match_info.route
    if route.resource is None:  # unknown path or method: let the router answer 404/405
        return await handler(request)
    if getattr(route.handler, "__hotline_peer__", False):
        # a peer platform's route: signed per peer instead (app.federation.http.peer_signed)
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("missing bearer token")
    who = await authenticate(request.app[SESSIONS], token.strip())
    if who is None:
        raise _unauthorized("unknown or revoked token")
    needed = getattr(route.handler, "__hotline_role__", "seat")
    if not allows(who.role, needed):
        log.info("%s %s refused for %s: needs %s", request.method, request.path, who.actor, needed)
        raise web.HTTPForbidden(reason=f"needs role {needed} (token has {who.role})")
    request[PRINCIPAL] = who
    request[TOKEN_HASH] = hash_token(token.strip())
    return await handler(request)
