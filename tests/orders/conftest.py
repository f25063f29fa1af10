"""Fixtures of the order tests: SQLite and a per-test PostgreSQL database, a
controllable clock, an `OrderService`, and an HTTP client with role tokens.

PostgreSQL unreachable is an error, never a skip (marker `postgres`).  Redis
is the real one under a per-test key prefix, cleaned afterwards.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from app.orders.services import OrderService
from app.runtime import db
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.centres import parse_centres
from core.settings import (
    DatabaseSettings,
    NetworkSettings,
    OrderSettings,
    PathSettings,
    RedisSettings,
    Settings,
    SiteSettings,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    """A clock tests move by hand: `clock.advance(minutes=31)`."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    # 09:30 in Beijing on 25 November 2026.
    return Clock(datetime(2026, 11, 25, 1, 30, tzinfo=UTC))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await db.migrate(database_url)
    engine = db.create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def service(engine: AsyncEngine, clock: Clock) -> OrderService:
    return OrderService(db.session_factory(engine), clock=clock)


def api_settings(tmp_path: Path, database_url: str, redis_prefix: str, **changes: object) -> Settings:
    """Settings for the API tests; `changes` as for `Settings.with_` (part -> field changes)."""
    settings = Settings(site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated"),
                        paths=PathSettings(state_dir=tmp_path), redis=RedisSettings(url=REDIS_URL, prefix=redis_prefix),
                        network=NetworkSettings(http_port=0), database=DatabaseSettings(url=database_url),
                        orders=OrderSettings(overdue_check_s=3600))
    return settings.with_(**changes)


@dataclass
class Api:
    """The real app over a real database, with one token per role and the test's clock."""

    client: TestClient
    tokens: dict[str, str]
    clock: Clock

    async def call(self, method: str, path: str, *, role: str | None = "seat", **kwargs: object) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kwargs.pop("headers", None) or {})  # type: ignore[call-overload]
        async with self.client.request(method, path, headers=headers, **kwargs) as response:  # type: ignore[arg-type]
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


async def start_api(settings: Settings, clock: Clock) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(TestServer(init_app(settings, clock=clock)))
    await client.start_server()
    tokens = {role: await create_token(client.app[SESSIONS], role=role, name=f"{role}-{uuid.uuid4().hex[:6]}",
                                       now=clock())
              for role in ("seat", "supervisor", "admin")}
    return client, tokens


@pytest.fixture
async def api(tmp_path: Path, database_url: str, redis_prefix: str, clock: Clock) -> AsyncIterator[Api]:
    client, tokens = await start_api(api_settings(tmp_path, database_url, redis_prefix), clock)
    try:
        yield Api(client, tokens, clock)
    finally:
        await client.close()
