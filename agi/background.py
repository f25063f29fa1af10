"""Work started off a call's path and waited for at shutdown, and a bounded
wait that keeps a cancel (asyncio, no other I/O).

The AGI routes' `later` work and the handoff journal's event handling both
run as tasks that must never raise into a call, and that a shutdown (or a
test) waits for — but not forever.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Collection, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class BackgroundTasks:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._pending: set[asyncio.Task[Any]] = set()

    def __bool__(self) -> bool:
        return bool(self._pending)

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` as a task; its failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(work, name=what)
        self._pending.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._pending.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s: %s failed", self.owner, what, exc_info=t.exception())

        task.add_done_callback(done)

    async def drain(self, timeout_s: float = 15.0) -> None:
        """Wait for the tasks (and those they start); after `timeout_s` the rest
        is cancelled and named in the log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._pending:
            left = deadline - loop.time()
            if left <= 0:
                for task in list(self._pending):
                    log.error("%s: %s still running at drain; cancelled: %s", self.owner, task.get_name(),
                              task.get_stack(limit=5))
                await cancel_all(list(self._pending))
                return
            await asyncio.wait(list(self._pending), timeout=left)


async def wait_for(aw: Awaitable[T], timeout: float | None) -> T:
    """`asyncio.wait_for` as Python 3.12 has it: `aw`'s result, or TimeoutError
    (and `aw` cancelled) after `timeout` seconds.

    Python 3.11's own returns the result and drops a cancel that arrives in
    the loop turn in which `aw` completes (gh-86296): a benchmark so cancelled
    by SIGTERM ran on, and a worker so cancelled at shutdown would loop on.
    The project bans it (ruff TID251) for this one."""
    async with asyncio.timeout(timeout):
        return await aw


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await wait_for(stop.wait(), seconds)


async def end_loop(task: asyncio.Task[Any] | None, stop: asyncio.Event | None = None, *,
                   grace_s: float = 10.0) -> None:
    """End a worker's loop: set `stop` and let the round under way finish (at
    most `grace_s`), then cancel it until it has ended.

    A round is let finish because a database transaction cancelled half-way
    hands its connection to a clean-up task of SQLAlchemy's that can outlive
    the loop (the connection is then never closed).  Cancelling is repeated
    because a cancel landing inside a client library (redis-py, an AMI call)
    can be swallowed there."""
    if task is None:
        return
    if stop is not None:
        stop.set()
        await asyncio.wait({task}, timeout=grace_s)
        if not task.done():
            log.warning("%s: still running %.0f s after it was asked to stop; cancelled", task.get_name(), grace_s)
    await cancel_all([task])


async def cancel_all(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` until every one has ended.

    Cancelling once is not enough: a cancel landing inside a client library
    can be swallowed there (redis-py; Python 3.11's `asyncio.wait_for`
    returns its result when the awaited future completes as the cancel
    lands), and the task goes on, or waits on a future nothing completes
    any more — a `gather` after one cancel then waits forever."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    await asyncio.gather(*tasks, return_exceptions=True)
