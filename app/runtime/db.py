"""Database engine, sessions and migrations (persistence layer, I/O).

Builds the async engine for `sqlite+aiosqlite://` or `postgresql+asyncpg://`
URLs, runs Alembic migrations programmatically (no alembic.ini) and answers
the health check's ping.  It must not hold queries about orders (that is
`app.orders.repository`) nor know about HTTP.
"""
from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from agi.background import wait_for
from app.runtime import sqlite_driver

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


# A pooled PostgreSQL connection unused for longer than this is pinged before use.
PING_AFTER_IDLE_S = 10.0
_LAST_USED = "hotline_last_used"


def create_engine(database_url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and `app.runtime.sqlite_driver`;
    a PostgreSQL connection left unused in the pool for `ping_after_idle_s`
    is pinged when taken again (`_ping_after_idle`).

    For a SQLite file the parent directory is created.  PostgreSQL
    connections time out after 5 s instead of hanging a request.
    """
    url = make_url(database_url)
    kwargs: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # statements on the loop's thread; commits and lock waits in aiosqlite's
        kwargs["connect_args"] = {"async_creator_fn": sqlite_driver.connect}
    elif url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"timeout": 5}
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif url.get_backend_name() == "postgresql":
        _ping_after_idle(engine, ping_after_idle_s)
    return engine


def _ping_after_idle(engine: AsyncEngine, idle_s: float) -> None:
    """A server restarted while a connection sat in the pool is found out by a
    ping when the connection is taken again, not by the handoff that uses it
    (the pool then opens a new one) — but only after `idle_s` unused.
    SQLAlchemy's `pool_pre_ping` pings at every checkout: three round trips
    (BEGIN, an empty query, ROLLBACK) before each transaction, about as many
    as a handoff's own writes.  A connection in use within the last seconds
    saw the server then; if it went since, the statement fails, SQLAlchemy
    drops the pool's connections, and the callers' retries (the outbox, the
    journal) get new ones."""
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    def used(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_LAST_USED)
        if last is not None and time.monotonic() - last < idle_s:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool retries with a new connection
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
        record.info[_LAST_USED] = time.monotonic()

    event.listen(pool, "connect", used)
    event.listen(pool, "checkin", used)
    event.listen(pool, "checkout", checkout)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off per connection by default in SQLite; WAL lets the
    # dashboard read while a handoff writes.  (No busy timeout: a statement
    # that meets another writer's lock waits for it in aiosqlite's thread, not
    # on the event loop: app.runtime.sqlite_driver.)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    """Alembic configuration built in code: script_location is app/runtime/migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration revisions found"
    return head


async def migrate(database_url: str) -> None:
    """Upgrade the database at `database_url` to the newest revision.

    Idempotent: at head it does nothing.  Uses its own short-lived engine.
    """
    engine = create_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()


@asynccontextmanager
async def migrated_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the database at `database_url`, migrated to head first; the
    engine is disposed on the way out (what a one-shot CLI command needs)."""
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


# PostgreSQL advisory locks held for a transaction: a migration ("hlmg"), a
# load of shipped data at start ("hlld")
MIGRATION_LOCK_KEY = 0x686C6D67
LOAD_LOCK_KEY = 0x686C6C64


class DatabaseUnavailable(Exception):
    """The database could not be reached or opened at start: the message names
    it (password hidden) and gives the reason (the server's or the system's)."""


async def check_reachable(engine: AsyncEngine) -> None:
    """Open one connection, or raise `DatabaseUnavailable`: a start on a
    database that does not exist, refuses the login or is down says so in
    one line, instead of a driver's traceback."""
    try:
        async with engine.connect():
            pass
    except (DBAPIError, OSError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        # asyncpg's errors come as "<class '...'>: the server's message"
        why = str(reason).split(": ", 1)[-1] if str(reason).startswith("<class ") else str(reason)
        raise DatabaseUnavailable(
            f"database {engine.url.render_as_string(hide_password=True)} not reachable: {why}") from exc


async def migrate_engine(engine: AsyncEngine) -> None:
    """Upgrade to head, one process at a time: the service units start
    together on a new database, and two migrations at once had one fail
    ("table orders already exists").  Whoever waited then finds the database
    at head (`one_at_a_time`).  Raises `DatabaseUnavailable` when it cannot
    connect."""
    config = alembic_config()

    def upgrade(connection: Connection) -> None:
        _advisory_xact_lock(connection, MIGRATION_LOCK_KEY)
        # env.py picks the connection up from here instead of opening one.
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with one_at_a_time(engine, "migrate"):   # a SQLite file's folder is made here
        await check_reachable(engine)
        async with engine.begin() as conn:
            await conn.run_sync(upgrade)
    log.info("database %s at revision %s", engine.url.render_as_string(hide_password=True),
             head_revision())


def _advisory_xact_lock(connection: Connection, key: int) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def hold_for_transaction(session: AsyncSession, key: int) -> None:
    """PostgreSQL: an advisory lock on `key` held until `session`'s
    transaction ends; another process taking it waits until then (other
    dialects: nothing, see `one_at_a_time`)."""
    await session.run_sync(lambda s: _advisory_xact_lock(s.connection(), key))


@asynccontextmanager
async def one_at_a_time(engine: AsyncEngine, name: str) -> AsyncIterator[None]:
    """What processes starting together on one database do one at a time
    (migrating it, loading shipped data into it).  SQLite file: an exclusive
    `flock` on `<database>.<name>-lock` for the block.  PostgreSQL: nothing
    here, the block's transaction takes an advisory lock
    (`hold_for_transaction`), which a crashed process cannot leave behind.
    An in-memory database: nothing."""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(f"{Path(database).name}.{name}-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def ping(engine: AsyncEngine, timeout_s: float = 3.0) -> bool:
    """True when a `SELECT 1` round-trip succeeds within `timeout_s`."""
    async def select_one() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    try:
        await wait_for(select_one(), timeout_s)
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy"
        log.warning("database ping failed: %s", exc)
        return False
