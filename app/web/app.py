"""The aiohttp service: app factory, resource lifetimes, error mapping, serving (HTTP layer).

`init_app(settings)` adds every feature's routes and web contexts
(`app.runtime.features`): the features' services come from the process that
runs the app, or, for the web service on its own, from a context that owns
the database engine (migrated to head before first use); routes need
an API token (`app.web.auth`) except /api/health and /api/openapi.json (the
browser UI, `app.web.ui`, is static files outside /api/ and needs none);
typed state lives under `app.web.keys`, and `error_middleware` is the only place
domain errors become HTTP responses.  No business rules and no SQL here.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.orders.http import shown_order
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.features import FEATURES, Dependencies, setup_features
from app.runtime.models import utcnow
from app.web import openapi, tokens, ui
from app.web.auth import REVOCATIONS, Revocations, auth_middleware
from app.web.errors import to_http
from app.web.keys import ENGINE, REDIS, SESSIONS, SETTINGS
from core.settings import Settings

log = logging.getLogger(__name__)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors -> JSON (see `app.web.errors.to_http`); aiohttp's own HTTP
    errors -> JSON with the same status; anything else -> 500, logged."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response({"error": exc.reason}, status=exc.status, headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        mapped = to_http(exc, show_order=lambda order: shown_order(request, order))
        if mapped is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return web.json_response({"error": "internal error"}, status=500)
        status, body = mapped
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        else:
            log.info("%s %s: %d %s", request.method, request.path, status, exc)
        return web.json_response(body, status=status)


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every answer says nothing about the server's
    software (aiohttp's `Server: Python/… aiohttp/…` banner is dropped) and is
    not sniffed as another type; API answers — citizens' numbers, orders — are
    never stored by a browser or a proxy."""
    response.headers.popall("Server", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """Owns the Redis client.  Short timeouts and one quick retry, so a dead
    Redis makes a request answer 503 promptly instead of hanging it."""
    client = Redis.from_url(
        app[SETTINGS].redis.url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=3,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1),
    )
    app[REDIS] = client
    try:
        yield
    finally:
        await client.aclose()


def features_ctx(deps: Dependencies | None,
                 clock: Callable[[], datetime]) -> Callable[[web.Application], AsyncIterator[None]]:
    """The features' services under the app's keys.

    `deps`: those of the process this app runs in (`app.runtime.platform`),
    shared with its FastAGI routes and AMI work.  None (the web service built
    on its own, as tests do): this context owns a database engine (migrated
    to head) and wires the features itself, with no AMI link — the transfer
    and three-way buttons then answer 503 naming the AMI link — and runs the
    web role's workers itself (the federation pusher, when peers are
    declared: a web service on its own pushes as `hotline web` does).
    """
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = None
        wired = deps
        if wired is None:
            settings = app[SETTINGS]
            engine = db.create_engine(settings.effective_database_url)
            await db.migrate_engine(engine)
            sessions = db.session_factory(engine)
            orders = OrderService(sessions, clock=clock, limits=settings.orders.time_limits,
                                  jurisdiction=settings.orders.jurisdiction, number_tz=settings.orders.tz)
            wired = setup_features(Dependencies(settings, engine, sessions, orders, roles=frozenset({"web"})))
        started = []
        try:
            for worker in wired.workers if deps is None else ():
                await worker.start()
                started.append(worker)
            app[SESSIONS] = wired.sessions
            app[ENGINE] = wired.engine
            for key, value in wired.services.items():
                app[key] = value
            yield
        finally:
            for worker in reversed(started):
                await worker.stop()
            if engine is not None:
                await engine.dispose()

    return ctx


def init_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
             deps: Dependencies | None = None) -> web.Application:
    """The web service: the routes and web contexts of the features wired on
    `deps` (all of them when the app wires its own), behind the error and auth
    middlewares.  `clock` is "now" for orders and time limits
    (tests pass their own) when the app wires its own features (`deps` None)."""
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app.on_response_prepare.append(secure_headers)
    app[REVOCATIONS] = Revocations(lambda: app[SESSIONS])
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(features_ctx(deps, clock))
    for feature in deps.features if deps is not None else FEATURES:
        app.cleanup_ctx.extend(feature.WEB_CONTEXTS)
        app.on_shutdown.extend(feature.ON_SHUTDOWN)
        for table in feature.ROUTES:
            app.router.add_routes(table)
    for table in (openapi.routes, tokens.routes, ui.routes):
        app.router.add_routes(table)
    return app


async def start(settings: Settings, deps: Dependencies | None = None) -> web.AppRunner:
    """Start serving on `settings.network.http_host:http_port`; the caller must
    `await runner.cleanup()`.  `runner.addresses` gives the bound address
    (useful with port 0)."""
    runner = web.AppRunner(init_app(settings, deps=deps))
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.network.http_host, settings.network.http_port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("http service listening on %s", runner.addresses)
    return runner
