"""HTTP handlers for service status: health and the live dashboard (HTTP layer).

Handlers read app state through `app.web.keys`, call the adapters and shape
answers with `app.live.view`.  They raise domain errors (`app.web.errors`) and
leave the HTTP mapping to `app.web.app`'s middleware; no SQL or Redis layout
knowledge lives here.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from agi.background import wait_for
from app.federation.health import link_status
from app.federation.http import FEDERATION
from app.live import store as live_store
from app.live.view import live_snapshot, masked
from app.runtime import db
from app.web.auth import principal
from app.web.keys import ENGINE, HEALTH_CHECKS, REDIS, SETTINGS
from core.privacy import mask_number
from core.roles import allows

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    """200 when every part the service needs answers, else 503 naming those
    that do not (`down`).

    Always the database and Redis (a real ping each).  In a process of the
    product (`hotline up`, `hotline web`, ...: `Platform` provides
    `HEALTH_CHECKS`) also the AMI link (this process's own) and the FastAGI
    server (this process's, else its port): calls still reach a queue through
    the dialplan's safe path without them, but handoffs, buttons and the live
    view do not work.  A bare web app (tests) reports `ami` from the bridge's
    view in Redis, informatively.
    """
    app = request.app
    prefix = app[SETTINGS].redis.prefix
    checks = app.get(HEALTH_CHECKS) or {}
    names = list(checks)
    results = await asyncio.gather(db.ping(app[ENGINE]), live_store.ping(app[REDIS]),
                                   *(_check(name, checks[name]) for name in names))
    body: dict[str, object] = {"database": results[0], "redis": results[1]}
    body.update(zip(names, results[2:], strict=True))
    if "ami" not in body:
        body["ami"] = body["redis"] and await live_store.ami_connected(app[REDIS], prefix)
    required = ["database", "redis", *names]
    down = [name for name in required if not body[name]]
    body = {"status": "degraded" if down else "ok", **body}
    if down:
        body["down"] = down
    return web.json_response(body, status=503 if down else 200)


async def _check(name: str, check: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return bool(await wait_for(check(), 3.0))
    except Exception as exc:  # noqa: BLE001 - a failing check is a part down
        log.warning("health: %s check failed: %s", name, str(exc) or type(exc).__name__)
        return False


@routes.get("/api/live")
async def live(request: web.Request) -> web.Response:
    """Every configured centre's queues and seats, overlaid with live state.

    Redis down raises `Unavailable("redis")`, answered 503 by the middleware.
    """
    settings = request.app[SETTINGS]
    data = await live_store.read_live(request.app[REDIS], settings.redis.prefix)
    body = live_snapshot(settings, data.queues, data.seats, data.ami, time.time(), channels=data.channels,
                         surge=data.surge)
    role = principal(request).role
    if role not in settings.orders.unmasked_roles:
        body = masked(body, mask_number)
    federation = request.app.get(FEDERATION)
    if federation is not None and settings.federation.peers and allows(role, "supervisor"):
        # link health of each peer platform (trunk, push queue), for supervisors
        body["federation"] = await link_status(federation, request.app[REDIS], federation.orders.now())
    return web.json_response(body)
