"""Typed application state keys (`web.AppKey`) shared by the HTTP layer.

Set by `app.web.app`'s cleanup contexts, read by handlers.  Kept apart from
`app.web.app` so handler modules can import them without a cycle.  Nothing else.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
REDIS = web.AppKey("redis", Redis)
# Parts of the service this process depends on besides the database and
# Redis, by name ("ami", "agi"): each a check answering True when the part is
# up.  `app.runtime.platform.Platform` provides them; `/api/health` runs them.
HEALTH_CHECKS: web.AppKey[dict[str, Callable[[], Awaitable[bool]]]] = web.AppKey("health_checks")
