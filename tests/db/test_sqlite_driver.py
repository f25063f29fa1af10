"""SQLite statements on the event loop's thread, commits and lock waits in aiosqlite's (real SQLite files)."""
from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text

from app.runtime import db, sqlite_driver
from app.runtime.sqlite_driver import LoopConnection

T = TypeVar("T")


@pytest.fixture
async def path(tmp_path: Path) -> AsyncIterator[Path]:
    file = tmp_path / "driver.db"
    first = await opened(str(file))
    await first.execute("PRAGMA journal_mode=WAL")
    await first.execute("CREATE TABLE t (x INTEGER)")
    await first.commit()
    await first.close()
    yield file


async def opened(path: str) -> LoopConnection:
    conn = sqlite_driver.connect(path)
    await conn  # connects (in the worker thread)
    return conn


def rows(fetched: Iterable[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in fetched]


class LoopWatch:
    """The longest time the event loop went without running a 10 ms ticker."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            self.longest = max(self.longest, now - last)
            last = now

    async def run(self, work: Awaitable[T]) -> T:
        self._task = asyncio.create_task(self._tick())
        try:
            return await work
        finally:
            self._task.cancel()


async def test_statements_run_on_the_loops_thread_and_a_commit_that_wrote_in_the_worker(path: Path) -> None:
    conn = await opened(str(path))
    threads: list[int] = []

    def where_am_i() -> int:
        threads.append(threading.get_ident())
        return 1

    await conn.create_function("where_am_i", 0, where_am_i)
    before = (conn.ran_inline, conn.ran_in_thread)
    async with conn.execute("SELECT where_am_i()") as cursor:
        assert rows(await cursor.fetchall()) == [(1,)]
    await conn.commit()  # nothing written: no sync, nothing sent to the worker
    assert threads == [threading.get_ident()]
    assert conn.ran_in_thread == before[1]
    await conn.execute("INSERT INTO t VALUES (1)")
    await conn.commit()
    assert conn.ran_in_thread == before[1] + 1
    assert conn.ran_inline > before[0]
    await conn.close()


async def test_a_statement_meeting_another_writers_lock_waits_for_it_off_the_loop(path: Path) -> None:
    holder = await opened(str(path))
    waiter = await opened(str(path))
    await holder.execute("INSERT INTO t VALUES (1)")  # holds the write lock until it commits
    watch = LoopWatch()

    async def release_later() -> None:
        await asyncio.sleep(0.5)
        await holder.commit()

    async def write() -> None:
        await waiter.execute("INSERT INTO t VALUES (2)")
        await waiter.commit()

    started = time.monotonic()
    await watch.run(asyncio.gather(write(), release_later()))
    assert time.monotonic() - started >= 0.45  # it did wait for the holder
    assert watch.longest < 0.3  # and the loop went on meanwhile
    async with waiter.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(1,), (2,)]
    async with waiter.execute("PRAGMA busy_timeout") as cursor:
        assert rows(await cursor.fetchall()) == [(0,)]  # no waiting on the loop's thread afterwards
    await holder.close()
    await waiter.close()


async def test_a_lock_held_past_the_wait_fails_as_locked_and_leaves_the_connection_usable(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "LOCK_WAIT_MS", 200)
    holder = await opened(str(path))
    waiter = await opened(str(path))
    await holder.execute("INSERT INTO t VALUES (1)")
    watch = LoopWatch()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await watch.run(waiter.execute("INSERT INTO t VALUES (2)"))
    assert watch.longest < 0.15
    await waiter.rollback()
    await holder.commit()
    await waiter.execute("INSERT INTO t VALUES (3)")
    await waiter.commit()
    async with waiter.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(1,), (3,)]
    await holder.close()
    await waiter.close()


async def test_the_engine_uses_it_and_many_racing_transactions_all_commit_without_holding_the_loop(
    tmp_path: Path,
) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'race.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (name TEXT PRIMARY KEY, last INTEGER)"))
            await conn.execute(text("CREATE TABLE taken (n INTEGER UNIQUE, by TEXT)"))

        async def take(i: int) -> int:
            async with engine.begin() as conn:
                n = (await conn.execute(text(
                    "INSERT INTO counter VALUES ('c', 1) ON CONFLICT (name) DO UPDATE SET last = last + 1 "
                    "RETURNING last"))).scalar_one()
                await asyncio.sleep(0.01)  # other transactions run meanwhile, and meet this one's lock
                await conn.execute(text("INSERT INTO taken VALUES (:n, :by)"), {"n": n, "by": f"t{i}"})
                driver = (await conn.get_raw_connection()).driver_connection
                assert isinstance(driver, LoopConnection)
                return int(n)

        watch = LoopWatch()
        taken = await watch.run(asyncio.gather(*(take(i) for i in range(30))))
        assert sorted(taken) == list(range(1, 31))
        assert watch.longest < 1.0  # a lock wait on the loop's thread would hold it for seconds
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM taken"))).scalar_one() == 30
    finally:
        await engine.dispose()


async def test_a_call_whose_caller_gave_up_still_comes_before_the_next_one(path: Path) -> None:
    """A task cancelled while its statement waits for a lock in the worker (a
    deadline): its rollback must not run on the loop's thread beside that
    statement (it would hold the loop, or come first and leave the statement's
    write holding the lock for good); it comes after it, in the worker."""
    holder = await opened(str(path))
    waiter = await opened(str(path))
    await holder.execute("INSERT INTO t VALUES (1)")
    task = asyncio.create_task(waiter.execute("INSERT INTO t VALUES (2)"))
    await asyncio.sleep(0.2)       # the insert now waits in the worker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    watch = LoopWatch()

    async def undo_then_release() -> None:
        undo = asyncio.create_task(waiter.rollback())
        await asyncio.sleep(0.1)
        await holder.commit()      # the insert goes ahead in the worker ...
        await undo                 # ... and is undone after it

    await watch.run(undo_then_release())
    assert watch.longest < 1.0
    assert not waiter._conn.in_transaction
    third = await opened(str(path))
    await third.execute("INSERT INTO t VALUES (3)")  # nobody holds the write lock
    await third.commit()
    async with third.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(1,), (3,)]
    inline = waiter.ran_inline
    async with waiter.execute("SELECT 1") as cursor:  # the worker is idle again: back on the loop's thread
        await cursor.fetchall()
    assert waiter.ran_inline > inline
    for conn in (holder, waiter, third):
        await conn.close()


async def test_a_transaction_cut_off_by_a_deadline_while_it_waits_for_a_lock_leaves_no_lock_behind(
    tmp_path: Path,
) -> None:
    """An AGI route's deadline (`asyncio.wait_for`) cuts off a session whose
    insert waits in the worker for another writer's lock; the lock is
    released just after.  Whatever becomes of the cut-off connection, it must
    not keep the write lock (the next writer gets in) nor commit the insert."""
    file = tmp_path / "cut.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{file}")
    gc.disable()  # in a service, a full collection may be minutes away (gc.freeze, app.runtime.cli.settle)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = sqlite3.connect(file, timeout=0, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock ...

        def release() -> None:
            holder.execute("COMMIT")
            holder.close()

        releaser = threading.Timer(0.6, release)  # ... until after the deadline
        releaser.start()

        sessions = db.session_factory(engine)

        async def route() -> None:
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO t VALUES (1)"))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(route(), 0.3)
        releaser.join()
        deadline = time.monotonic() + 3.0
        while True:
            probe = sqlite3.connect(file, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("INSERT INTO t VALUES (2)")
                probe.execute("COMMIT")
                break
            except sqlite3.OperationalError as exc:
                assert "locked" in str(exc)
                assert time.monotonic() < deadline, "the cut-off transaction still holds the write lock"
                await asyncio.sleep(0.05)
            finally:
                probe.close()
        values = [row[0] for row in sqlite3.connect(file).execute("SELECT x FROM t ORDER BY x")]
        assert values == [2]  # the cut-off insert was rolled back, not committed
    finally:
        gc.enable()
        await engine.dispose()
