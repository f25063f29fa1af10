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

from aiohttp import web

from app.federation.health import link_status
from app.federation.http import FEDERATION
from app.live import store as live_store
from app.live.view import live_snapshot, masked
from app.runtime import db
from app.web.auth import principal
from app.web.keys import ENGINE, REDIS, SETTINGS
from core.privacy import mask_number
from core.roles import allows

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/api/health")
async def health(request: web.Request) -> web.Response:
    """200 when the database and Redis answer a real ping, 503 otherwise.

    `ami` is informative (the bridge's view of the AMI link): calls keep
    flowing through Asterisk's dialplan without it, so it does not make the
    service unhealthy.
    """
    app = request.app
    prefix = app[SETTINGS].redis.prefix
    database_ok, redis_ok = await asyncio.gather(db.ping(app[ENGINE]), live_store.ping(app[REDIS]))
    ami_ok = redis_ok and await live_store.ami_connected(app[REDIS], prefix)
    healthy = database_ok and redis_ok
    body = {"status": "ok" if healthy else "degraded", "database": database_ok,
            "redis": redis_ok, "ami": ami_ok}
    return web.json_response(body, status=200 if healthy else 503)


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
