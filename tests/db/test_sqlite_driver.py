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

from agi.background import wait_for
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


def other_process(path: Path) -> sqlite3.Connection:
    """A connection as another process's would be: outside this loop's turns
    at writing (`sqlite_driver.WriteTurns`), it meets only SQLite's lock.
    Autocommit: `BEGIN IMMEDIATE` ... `COMMIT` by hand."""
    return sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)


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
    holder = other_process(path)
    waiter = await opened(str(path))
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")  # holds the write lock until it commits
    watch = LoopWatch()

    async def release_later() -> None:
        await asyncio.sleep(0.5)
        holder.execute("COMMIT")

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
    holder.close()
    await waiter.close()


async def test_a_lock_held_past_the_wait_fails_as_locked_and_leaves_the_connection_usable(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "LOCK_WAIT_MS", 200)
    holder = other_process(path)
    waiter = await opened(str(path))
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    watch = LoopWatch()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await watch.run(waiter.execute("INSERT INTO t VALUES (2)"))
    assert watch.longest < 0.15
    await waiter.rollback()
    holder.execute("COMMIT")
    await waiter.execute("INSERT INTO t VALUES (3)")
    await waiter.commit()
    async with waiter.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(1,), (3,)]
    holder.close()
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
    holder = other_process(path)
    waiter = await opened(str(path))
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    task = asyncio.create_task(waiter.execute("INSERT INTO t VALUES (2)"))
    await asyncio.sleep(0.2)       # the insert now waits in the worker
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    watch = LoopWatch()

    async def undo_then_release() -> None:
        undo = asyncio.create_task(waiter.rollback())
        await asyncio.sleep(0.1)
        holder.execute("COMMIT")   # the insert goes ahead in the worker ...
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
    holder.close()
    for conn in (waiter, third):
        await conn.close()


async def test_a_transaction_cut_off_by_a_deadline_while_it_waits_for_a_lock_leaves_no_lock_behind(
    tmp_path: Path,
) -> None:
    """An AGI route's deadline (`wait_for`) cuts off a session whose
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
            await wait_for(route(), 0.3)
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


async def test_under_a_steady_stream_of_writers_each_waits_its_turn_and_none_fails_as_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fifteen connections (the engine's pool) writing without a pause, each
    transaction holding the write lock across an await, as a handoff's do.
    A writer that met the lock used to wait in the worker under SQLite's busy
    handler, which looks again after sleeps growing to 100 ms — and between
    two looks another writer on the loop's thread, finding the lock free for
    an instant, took it: waiters starved until "database is locked" (the
    load benchmark at 30 calls/s).  Writers of one process now take turns,
    first come first served, and none waits much longer than the others'
    transactions take."""
    monkeypatch.setattr(sqlite_driver, "LOCK_WAIT_MS", 2000)
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'stream.db'}")
    waits: list[float] = []
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (writer INTEGER, n INTEGER)"))

        async def writer(i: int) -> None:
            for n in range(25):
                asked = time.monotonic()
                async with engine.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES (:i, :n)"), {"i": i, "n": n})
                    waits.append(time.monotonic() - asked)
                    await asyncio.sleep(0.002)  # the transaction's other work
                    await conn.execute(text("UPDATE t SET n = n WHERE writer = :i AND n = :n"), {"i": i, "n": n})

        watch = LoopWatch()
        await watch.run(asyncio.gather(*(writer(i) for i in range(15))))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 15 * 25
        assert max(waits) < 1.0, f"longest wait for the write lock {max(waits):.2f} s"
        assert watch.longest < 0.5
    finally:
        await engine.dispose()


async def test_writers_of_one_process_wait_for_their_turn_not_for_the_lock(
    path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second writer of this process waits for the first's transaction to
    end on the loop (no worker thread, no busy handler), gets in the moment
    it ends, and fails as locked if it does not end within the wait."""
    monkeypatch.setattr(sqlite_driver, "LOCK_WAIT_MS", 300)
    first = await opened(str(path))
    second = await opened(str(path))
    reader = await opened(str(path))
    await first.execute("INSERT INTO t VALUES (1)")
    async with reader.execute("SELECT count(*) FROM t") as cursor:  # readers take no turn
        assert rows(await cursor.fetchall()) == [(0,)]
    in_thread = second.ran_in_thread
    waiting = asyncio.create_task(second.execute("INSERT INTO t VALUES (2)"))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await first.commit()
    started = time.monotonic()
    await waiting
    assert time.monotonic() - started < 0.05
    assert second.ran_in_thread == in_thread  # it never met the lock
    # the turn is now the second's, until its transaction ends
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await first.execute("INSERT INTO t VALUES (3)")
    assert not first._conn.in_transaction
    await second.rollback()
    await first.execute("INSERT INTO t VALUES (4)")
    await first.commit()
    async with reader.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(1,), (4,)]
    for conn in (first, second, reader):
        await conn.close()


@pytest.mark.parametrize("ending", ["closed", "collected"])
async def test_a_connection_that_ends_inside_its_transaction_gives_its_turn_back(
    path: Path, monkeypatch: pytest.MonkeyPatch, ending: str,
) -> None:
    monkeypatch.setattr(sqlite_driver, "LOCK_WAIT_MS", 2000)
    holder: LoopConnection | None = await opened(str(path))
    other = await opened(str(path))
    assert holder is not None
    await holder.execute("INSERT INTO t VALUES (1)")
    if ending == "closed":
        await holder.close()
    else:
        with pytest.warns(ResourceWarning):
            holder = None
            gc.collect()
    started = time.monotonic()
    await other.execute("INSERT INTO t VALUES (2)")
    await other.commit()
    assert time.monotonic() - started < 1.0
    async with other.execute("SELECT x FROM t ORDER BY x") as cursor:
        assert rows(await cursor.fetchall()) == [(2,)]  # the ended transaction was not committed
    await other.close()


def test_the_turns_of_a_closed_event_loop_are_dropped_when_another_loop_writes(tmp_path: Path) -> None:
    file = tmp_path / "loops.db"
    sqlite3.connect(file).execute("CREATE TABLE t (x INTEGER)").connection.close()
    loops: list[asyncio.AbstractEventLoop] = []

    async def write(x: int) -> None:
        loops.append(asyncio.get_running_loop())
        conn = await opened(str(file))
        await conn.execute("INSERT INTO t VALUES (?)", (x,))
        await conn.commit()
        await conn.close()

    asyncio.run(write(1))
    assert loops[0] in sqlite_driver._TURNS
    asyncio.run(write(2))
    assert loops[0] not in sqlite_driver._TURNS and loops[1] in sqlite_driver._TURNS
