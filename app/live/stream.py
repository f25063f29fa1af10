"""GET /api/live/stream: the dashboard's server-sent events (HTTP layer).

    event: live      the same body GET /api/live answers (masked for the caller's role)
    event: orders    {"handoffs": [...latest handoffs...], "overdue": [...], "overdue_total": n}
    event: problem   {"service": "redis" | "database", "error": ...} while a backing service is down
    : keep-alive     a comment every `KEEPALIVE_S` so proxies and the browser see the stream alive

Each event is sent when `app.live.feed.LiveFeed` says something changed: a
change in Asterisk reaches the browser within the feed's debounce (0.1 s)
plus one Redis read.  Authentication is the API's own bearer token in the
`Authorization` header: the UI reads the stream with `fetch()` (EventSource
cannot set headers, and a token in the URL would end up in access logs).
The stream is deliberately left out of the OpenAPI document: a fuzzer would
hang on an answer that never ends.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from app.live import http as views
from app.live.feed import LiveFeed
from app.orders.http import ORDERS, order_view
from app.web.auth import REVOCATIONS, TOKEN_HASH, principal, token_active
from app.web.errors import Unavailable
from app.web.keys import SESSIONS, SETTINGS

log = logging.getLogger(__name__)

FEED = web.AppKey("live_feed", LiveFeed)
KEEPALIVE_S = 15.0
# How often an open stream makes sure its token was not revoked meanwhile:
# a revoked token's stream ends within this (plus one small query).
REVOCATION_CHECK_S = 0.5

routes = web.RouteTableDef()


async def feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """Owns the app's `LiveFeed` (after the database, Redis and orders contexts)."""
    settings = app[SETTINGS]
    feed = LiveFeed(settings.redis.url, settings.redis.prefix, app[SESSIONS], app[ORDERS].now)
    app[FEED] = feed
    try:
        yield
    finally:
        await feed.close()


async def end_streams(app: web.Application) -> None:
    """`on_shutdown` hook: end every open stream.  aiohttp runs it before it
    waits for open handlers, so no stream holds the shutdown for its timeout."""
    if FEED in app:
        await app[FEED].close()


def _event(name: str, data: Any) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


async def _live_event(request: web.Request) -> bytes:
    try:
        answer = await views.live(request)  # the very body GET /api/live gives this caller
    except Unavailable as exc:
        return _event("problem", {"service": exc.service, "error": str(exc)})
    assert isinstance(answer, web.Response) and answer.body is not None
    return b"event: live\ndata: " + bytes(answer.body) + b"\n\n"  # type: ignore[arg-type]


def _orders_event(request: web.Request, feed: LiveFeed) -> bytes:
    snapshot = feed.orders
    if snapshot.error is not None and not snapshot.handoffs and not snapshot.overdue:
        return _event("problem", {"service": "database", "error": snapshot.error})
    role, settings, now = principal(request).role, request.app[SETTINGS], request.app[ORDERS].now()

    def view(order: Any) -> dict[str, Any]:
        return order_view(order, role=role, settings=settings, now=now)

    return _event("orders", {"handoffs": [view(o) for o in snapshot.handoffs],
                             "overdue": [view(o) for o in snapshot.overdue],
                             "overdue_total": snapshot.overdue_total, "stale": snapshot.error is not None})


@routes.get("/api/live/stream")
async def live_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events: a fresh live snapshot after every change, and the
    latest handoffs and overdue orders when they change."""
    feed = request.app[FEED]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    live_sent, orders_sent = -1, -1
    revocations = request.app[REVOCATIONS]
    seen = await revocations.generation()
    try:
        await response.write(b"retry: 2000\n\n")
        written = time.monotonic()
        with feed.watching():
            while not feed.closed:
                if feed.live_version != live_sent:
                    live_sent = feed.live_version
                    await response.write(await _live_event(request))
                    written = time.monotonic()
                if feed.orders_version != orders_sent and feed.orders_version > 0:
                    orders_sent = feed.orders_version
                    await response.write(_orders_event(request, feed))
                    written = time.monotonic()
                await feed.wait_newer(live_sent, orders_sent, REVOCATION_CHECK_S)
                seen, active = await _still_active(request, seen)
                if not active:
                    log.info("live stream of %s ended: its token was revoked", principal(request).actor)
                    break
                if time.monotonic() - written >= KEEPALIVE_S and not feed.closed:
                    await response.write(b": keep-alive\n\n")
                    written = time.monotonic()
    except (ConnectionResetError, ConnectionError):
        log.debug("live stream of %s closed by the client", principal(request).actor)
    return response


async def _still_active(request: web.Request, seen: tuple[int, Any]) -> tuple[tuple[int, Any], bool]:
    """Whether the stream's token is still active, asking the database only
    when some token was revoked since `seen`.  A database that cannot answer
    leaves the stream open (it shows the `problem` event meanwhile)."""
    try:
        now = await request.app[REVOCATIONS].generation()
        if now == seen:
            return seen, True
        return now, await token_active(request.app[SESSIONS], request[TOKEN_HASH])
    except SQLAlchemyError as exc:
        log.warning("live stream of %s: cannot check its token (%s)", principal(request).actor, exc)
        return seen, True
