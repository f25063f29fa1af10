"""The aiohttp service: app factory, resource lifetimes, error mapping, serving (HTTP layer).

`init_app(settings)` wires everything in one place: cleanup contexts own the
database engine (migrated to head before first use), the Redis client, the
order service (catalogues loaded) and the overdue checker task; routes need
an API token (`app.web.auth`) except /api/health and /api/openapi.json (the
browser UI, `app.web.ui`, is static files outside /api/ and needs none);
typed state lives under `app.web.keys`, and `error_middleware` is the only place
domain errors become HTTP responses.  `serve(settings)` runs it inside an
existing asyncio loop (the CLI's).  No business rules and no SQL here.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app.catalogue import http as catalogue_api
from app.catalogue import store as catalogue_store
from app.handoff import http as handoffs_api
from app.live import stream as live_stream
from app.live.http import routes as status_routes
from app.orders import http as orders_api
from app.orders import reports
from app.orders.http import ORDERS
from app.orders.overdue import overdue_ctx
from app.orders.services import OrderService
from app.overflow import http as overflow_api
from app.runtime import db
from app.runtime.models import utcnow
from app.threeway import http as threeway_api
from app.web import openapi, ui
from app.web import tokens as tokens_api
from app.web.auth import auth_middleware
from app.web.errors import to_http
from app.web.keys import ENGINE, REDIS, SESSIONS, SETTINGS
from core.settings import Settings

if TYPE_CHECKING:
    from app.handoff.services import DesktopTelephony, HandoffService
    from app.threeway.services import ThreeWayService

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
        mapped = to_http(exc)
        if mapped is None:
            log.exception("unhandled error on %s %s", request.method, request.path)
            return web.json_response({"error": "internal error"}, status=500)
        status, body = mapped
        if status >= 500:
            log.error("%s %s: %s", request.method, request.path, exc)
        else:
            log.info("%s %s: %d %s", request.method, request.path, status, exc)
        return web.json_response(body, status=status)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Owns the engine: migrate to head, share it, dispose it on shutdown."""
    engine = db.create_engine(app[SETTINGS].effective_database_url)
    try:
        await db.migrate_engine(engine)
        app[ENGINE] = engine
        app[SESSIONS] = db.session_factory(engine)
        yield
    finally:
        await engine.dispose()


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


def orders_ctx(clock: Callable[[], datetime]) -> Callable[[web.Application], AsyncIterator[None]]:
    """The app's `OrderService` (with the settings' time limits and jurisdiction);
    loads the shipped catalogues into a database that has none yet."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        service = OrderService(app[SESSIONS], clock=clock, limits=settings.orders.time_limits,
                               jurisdiction=settings.orders.jurisdiction)
        await catalogue_store.load_shipped(app[SESSIONS], now=service.now())
        app[ORDERS] = service
        yield

    return ctx


def init_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
             handoffs: "HandoffService | None" = None,
             telephony: "DesktopTelephony | None" = None,
             threeway: "ThreeWayService | None" = None) -> web.Application:
    """The web service.  `clock` is "now" for orders and time limits (tests pass their own).

    `handoffs`: the one-key transfer's service shared with the FastAGI server
    (`app.runtime.stack`); `telephony`: the AMI side of the transfer button — without
    it `POST /api/handoffs` answers 503."""
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(orders_ctx(clock))
    app.cleanup_ctx.append(overdue_ctx)
    app.cleanup_ctx.append(handoffs_api.handoffs_ctx(handoffs, telephony))
    app.cleanup_ctx.append(threeway_api.threeway_ctx(threeway))  # three-way call buttons
    app.cleanup_ctx.append(overflow_api.overflow_ctx)
    app.cleanup_ctx.append(live_stream.feed_ctx)
    app.on_shutdown.append(live_stream.end_streams)
    app.router.add_routes(status_routes)
    app.router.add_routes(orders_api.routes)
    app.router.add_routes(handoffs_api.routes)
    app.router.add_routes(threeway_api.routes)
    app.router.add_routes(catalogue_api.routes)
    app.router.add_routes(reports.routes)
    app.router.add_routes(overflow_api.routes)
    app.router.add_routes(openapi.routes)
    app.router.add_routes(live_stream.routes)
    app.router.add_routes(tokens_api.routes)
    app.router.add_routes(ui.routes)
    return app


async def start(settings: Settings, **wiring: Any) -> web.AppRunner:
    """Start serving on `settings.network.http_host:http_port`; the caller must
    `await runner.cleanup()`.  `runner.addresses` gives the bound address
    (useful with port 0).  `wiring` goes to `init_app` (handoffs, telephony)."""
    runner = web.AppRunner(init_app(settings, **wiring))
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.network.http_host, settings.network.http_port).start()
    except BaseException:
        await runner.cleanup()
        raise
    log.info("http service listening on %s", runner.addresses)
    return runner


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve until `stop` is set (or forever until cancelled), then shut down
    cleanly: sites closed, Redis client closed, engine disposed."""
    runner = await start(settings)
    try:
        if stop is None:
            await asyncio.Event().wait()
        else:
            await stop.wait()
    finally:
        await runner.cleanup()
        log.info("http service stopped")
