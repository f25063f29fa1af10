"""Fixtures for the HTTP tests: real Redis under a per-test key prefix, SQLite in tmp_path.

Every test gets its own `redis_prefix`; its keys are deleted afterwards, so
tests never see each other's live state and the shared Redis stays clean.
`client` carries a seat's API token (created the way `hotline token create`
does); `authorize` gives any other client one.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.runtime.models import utcnow
from app.tools.ports import free_port
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.centres import parse_centres
from core.settings import (
    NetworkSettings,
    PathSettings,
    RedisSettings,
    Settings,
    SiteSettings,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def settings(tmp_path: Path, redis_prefix: str) -> Settings:
    return Settings(
        site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001"), seat_mode="simulated"),
        paths=PathSettings(state_dir=tmp_path),
        redis=RedisSettings(url=REDIS_URL, prefix=redis_prefix),
        network=NetworkSettings(http_port=0),
    )


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    return free_port()


async def authorize(client: TestClient, role: str = "seat", name: str | None = None) -> str:
    """Create an API token with `role` in the client's app and send it on every request."""
    token = await create_token(client.app[SESSIONS], role=role, name=name or f"test-{role}-{uuid.uuid4().hex[:8]}",
                               now=utcnow())
    client.session.headers["Authorization"] = f"Bearer {token}"
    return token


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(init_app(settings))) as client:
        await authorize(client)
        yield client
