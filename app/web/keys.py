"""Typed application state keys (`web.AppKey`) shared by the HTTP layer.

Set by `app.web.app`'s cleanup contexts, read by handlers.  Kept apart from
`app.web.app` so handler modules can import them without a cycle.  Nothing else.
"""
from __future__ import annotations

from aiohttp import web
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions")
REDIS = web.AppKey("redis", Redis)
