"""Work started off a call's path and waited for at shutdown (asyncio, no other I/O).

The AGI routes' `later` work and the handoff journal's event handling both
run as tasks that must never raise into a call, and that a shutdown (or a
test) waits for — but not forever.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


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
                    task.cancel()
                await asyncio.gather(*list(self._pending), return_exceptions=True)
                return
            await asyncio.wait(list(self._pending), timeout=left)
