"""SQLite statements on the event loop's thread, waits and syncs on aiosqlite's (persistence, I/O).

aiosqlite runs every call on the connection (each statement, each fetch,
each cursor opened and closed) in its worker thread and wakes the event
loop with the answer: four round trips between the threads for one
statement, each costing more CPU than the statement itself.  Most of them
need no thread: a statement on a WAL database runs in memory (the pages go
to the file at commit) and takes microseconds.  Two things can take long,
and only they go to the worker thread, so the event loop (which carries the
calls) is never held:

* **a commit** that writes: it appends to the WAL and syncs it to disk
  (`synchronous` is left at SQLite's default, FULL: a committed order
  survives a power cut).  `executescript` and `close` go too;
* **a wait for another connection's lock**: on the loop's thread the
  connection has no busy timeout, so a statement that meets a lock fails
  at once with SQLITE_BUSY without having done anything, and is run again
  in the worker thread under the usual timeout (`LOCK_WAIT_MS`), as
  SQLite's own busy handler would have retried it.

Calls on one connection keep their order, as in aiosqlite: once one is in
the worker, the ones after it queue there too until it has finished (a
cancelled caller's rollback comes after its statement, not beside it).

**Writers of one process take turns** (`WriteTurns`).  SQLite lets one
connection write at a time, and its busy handler is no queue: a waiter looks
again after sleeps growing to 100 ms, and between two looks a writer on the
loop's thread that finds the lock free for an instant takes it.  Under a
steady stream of handoffs (30 calls/s) waiters starved until "database is
locked", one failure bringing on the next.  So a connection about to start a
write transaction (a first INSERT, UPDATE, DELETE or REPLACE outside one:
where `sqlite3` begins it) first takes its turn, first come first served,
from the other connections of this process to the same file; the turn is
given back once the transaction has ended (commit, rollback, a failed first
statement, close).  A turn not had within `LOCK_WAIT_MS` fails as SQLite's
own wait would ("database is locked").  Other processes (a split
deployment) still meet the lock itself and wait for it in the worker.

`connect` is what SQLAlchemy's aiosqlite dialect calls for a connection
(`connect_args={"async_creator_fn": connect}`, see `app.runtime.db`); the
connection is aiosqlite's with one method replaced (`_execute`, through
which every call of aiosqlite's passes).
"""
from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite

# How long a statement waits for another connection's lock before "database is locked".
LOCK_WAIT_MS = 5000
_SQLITE_BUSY = 5  # the primary result code; extended codes carry it in the low byte
# Statements before which `sqlite3` begins a transaction (its legacy
# transaction control, which SQLAlchemy's dialect uses).
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class WriteTurns:
    """Turns at writing one database file, for the connections of one event
    loop: an `asyncio.Lock` (FIFO), held by one connection from the start of
    its write transaction to its end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.lock = asyncio.Lock()

    async def take(self) -> None:
        # asyncio.timeout, not wait_for: Python 3.11's wait_for, cancelled as
        # the lock is granted, can drop the grant (a turn lost for good)
        try:
            async with asyncio.timeout(LOCK_WAIT_MS / 1000):
                await self.lock.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (no turn to write within the wait)") from None

    def give_back(self) -> None:
        """From any thread (a connection collected unclosed)."""
        loop = self._loop
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.lock.release()
        else:
            loop.call_soon_threadsafe(self.lock.release)


# by loop, then by file; a closed loop's are dropped when another loop's are made
_TURNS: dict[asyncio.AbstractEventLoop, dict[str, WriteTurns]] = {}


def turns_of(database: str) -> WriteTurns | None:
    """The turns at writing `database` on the running loop; None for an
    in-memory database (each connection has its own)."""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    loop = asyncio.get_running_loop()
    files = _TURNS.get(loop)
    if files is None:
        for closed in [other for other in _TURNS if other.is_closed()]:
            del _TURNS[closed]
        files = _TURNS[loop] = {}
    key = str(Path(database).resolve())
    turns = files.get(key)
    if turns is None:
        turns = files[key] = WriteTurns(loop)
    return turns


class _Turn:
    """A connection's hold on its file's turns (kept apart from the
    connection, so a connection collected while it held one gives it back)."""

    def __init__(self, turns: WriteTurns) -> None:
        self.turns = turns
        self.held = False

    def release(self) -> None:
        if self.held:
            self.held = False
            self.turns.give_back()


def _begins_write(fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
    if getattr(fn, "__name__", "") not in ("execute", "executemany") or not args or not isinstance(args[0], str):
        return False
    return args[0].lstrip()[:7].upper().startswith(_WRITES)


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, running what cannot block on the caller's thread.

    Calls keep their order: while a call sent to the worker is still running
    there (its caller may have stopped waiting for it: a cancelled task, whose
    rollback comes next), every later call queues behind it in the worker too.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int = 64,
                 database: str = "") -> None:
        super().__init__(connector, iter_chunk_size)
        self.ran_inline = 0     # calls run on the event loop's thread
        self.ran_in_thread = 0  # calls sent to the worker thread (commits, waits for a lock)
        self._finished = 0      # of those, the ones the worker has finished (written by the worker only)
        self._database = database
        self._turn: _Turn | None = None

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        conn = self._connection
        turn = self._turn
        if turn is None:
            turns = turns_of(self._database)
            if turns is not None:
                turn = self._turn = _Turn(turns)
                weakref.finalize(self, turn.release)
        if turn is not None and not turn.held and not conn.in_transaction and _begins_write(fn, args):
            await turn.turns.take()
            turn.held = True
        try:
            return await self._run(conn, fn, *args, **kwargs)
        finally:
            if turn is not None and turn.held and (fn == conn.close or not conn.in_transaction):
                turn.release()

    async def _run(self, conn: sqlite3.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if fn == conn.close:
            return await self._in_thread(fn, wait=False)
        if self._finished != self.ran_in_thread:  # behind the call still running there
            return await self._in_thread(fn, *args, wait=True, **kwargs)
        if fn == conn.commit and conn.in_transaction:
            # A commit syncs the WAL and needs no lock its transaction does not
            # hold; in a rollback journal (no WAL: a file system without shared
            # memory) it may, and is retried waiting, as SQLite allows.
            try:
                return await self._in_thread(fn, wait=False)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                return await self._in_thread(fn, wait=True)
        if getattr(fn, "__name__", "") == "executescript":  # commits first, may wait for a lock
            return await self._in_thread(fn, *args, wait=True, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            # Another connection holds the lock; the statement did nothing.
            return await self._in_thread(fn, *args, wait=True, **kwargs)
        self.ran_inline += 1
        return result

    async def _in_thread(self, fn: Callable[..., Any], *args: Any, wait: bool, **kwargs: Any) -> Any:
        """`fn` in the worker thread, after what was sent there before; `wait`:
        with the busy timeout on (`LOCK_WAIT_MS`), off again after."""
        self.ran_in_thread += 1
        return await super()._execute(self._worker_call, partial(fn, *args, **kwargs), wait)

    def _worker_call(self, call: Callable[[], Any], wait: bool) -> Any:
        try:
            conn = self._conn
            if wait:
                conn.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
                try:
                    return call()
                finally:
                    conn.execute("PRAGMA busy_timeout=0")
            return call()
        finally:
            self._finished += 1


def _busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF == _SQLITE_BUSY


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> LoopConnection:
    """An awaitable connection to `database` (as `aiosqlite.connect`), with no
    busy timeout on the loop's thread (see the module's doc): the one place
    that sets it."""
    kwargs["check_same_thread"] = False  # the loop's thread and the worker's, one at a time
    kwargs["timeout"] = 0  # sqlite3's busy timeout, in seconds
    connection = LoopConnection(partial(sqlite3.connect, database, **kwargs), iter_chunk_size, database)
    connection._thread.daemon = True  # as SQLAlchemy sets it: a forgotten connection must not hold up exit
    return connection
