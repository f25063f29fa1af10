"""The aiohttp service: app factory, resource lifetimes, error mapping, serving (HTTP layer).

`init_app(settings)` wires everything in one place: cleanup contexts own the
database engine (migrated to head before first use) and the Redis client,
typed state lives under `app.keys`, and `error_middleware` is the only place
domain errors become HTTP responses.  `serve(settings)` runs it inside an
existing asyncio loop (the CLI's).  No business rules and no SQL here.
"""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from app import db
from app.errors import to_http
from app.keys import ENGINE, REDIS, SESSIONS, SETTINGS
from app.views import routes as status_routes
from core.settings import Settings

log = logging.getLogger(__name__)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Domain errors -> JSON (see `app.errors.to_http`); aiohttp's own HTTP
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
        app[SETTINGS].redis_url,
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


def init_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.router.add_routes(status_routes)
    return app


async def start(settings: Settings) -> web.AppRunner:
    """Start serving on `settings.http_host:http_port`; the caller must
    `await runner.cleanup()`.  `runner.addresses` gives the bound address
    (useful with port 0)."""
    runner = web.AppRunner(init_app(settings))
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
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
