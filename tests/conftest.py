"""Fixtures every tier shares: real Redis under a per-test key prefix, and a
fresh SQLite file or PostgreSQL database per test.

An unreachable PostgreSQL or Redis is an error, never a skip.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.pbx import Pbx

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_URL = os.environ.get("HOTLINE_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def redis_prefix(redis: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A PostgreSQL database created for this test and dropped after it."""
    name = f"hotline_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_url")


ASTERISK_LOG_LINES = 300  # what a failed telephony test shows of Asterisk's own log
LOG_FROM: pytest.StashKey[tuple[Path, int]] = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A telephony test that fails (or leaves something behind) shows what
    Asterisk logged while it ran: the dialplan each channel went through,
    which says why a call went where it did — a flaky race in CI is then
    diagnosable from its output alone."""
    report = yield
    if report.failed and LOG_FROM in item.stash:
        path, start = item.stash[LOG_FROM]
        try:
            with path.open("rb") as log:
                log.seek(start)
                lines = log.read().decode("utf-8", "replace").splitlines()[-ASTERISK_LOG_LINES:]
        except OSError as exc:
            lines = [f"(Asterisk's log could not be read: {exc})"]
        report.sections.append((f"Asterisk log during {report.when} (last {ASTERISK_LOG_LINES} lines)",
                                "\n".join(lines)))
    return report


@pytest.fixture
async def pbx(rig: Pbx, request: pytest.FixtureRequest) -> AsyncIterator[Pbx]:
    """The tier's real-Asterisk rig (each telephony tier's conftest provides
    `rig`), with phones reset before the test and a leak check after it: no
    channel and no conference may outlive a test.  A failure shows Asterisk's
    log of the test (`pytest_runtest_makereport`)."""
    if not rig.agi.server:
        await rig.agi.start()
    await rig.reset_phones()
    rig.events.clear()
    log = rig.settings.paths.run_dir / "log" / "messages.log"
    request.node.stash[LOG_FROM] = (log, log.stat().st_size if log.exists() else 0)
    yield rig
    await rig.assert_nothing_left()
