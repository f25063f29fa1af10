"""What AGI routes receive besides the call: settings and services (wiring, no I/O).

A small object instead of globals: the FastAGI server (or the classic entry)
builds it once and passes it to every route.  `handoffs` is the one
`HandoffService` the desktop button also uses; None where no database is
wired (the transfer routes then answer ERROR and the dialplan keeps the
citizen with the seat).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Coroutine

from core.settings import Settings

if TYPE_CHECKING:
    from app.handoff_service import HandoffService
    from app.threeway_service import ThreeWayService

log = logging.getLogger(__name__)


@dataclass
class RouteContext:
    settings: Settings
    handoffs: "HandoffService | None" = None
    # the three-way call's service (shared with the desktop buttons); None:
    # the three-way routes refuse and the call stays two-party
    threeway: "ThreeWayService | None" = None
    _pending: set["asyncio.Task[Any]"] = field(default_factory=set, repr=False)

    def later(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` after the route has answered Asterisk (off the call path);
        its failure is logged, never raised into a call."""
        task = asyncio.get_running_loop().create_task(work, name=what)
        self._pending.add(task)

        def done(t: "asyncio.Task[Any]") -> None:
            self._pending.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s failed", what, exc_info=t.exception())

        task.add_done_callback(done)

    async def drain(self, timeout_s: float = 15.0) -> None:
        """Wait for work started with `later` (shutdown, tests); after `timeout_s`
        the rest is cancelled and named in the log."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._pending:
            left = deadline - loop.time()
            if left <= 0:
                for task in list(self._pending):
                    log.error("%s still running at drain; cancelled: %s", task.get_name(),
                              task.get_stack(limit=5))
                    task.cancel()
                await asyncio.gather(*list(self._pending), return_exceptions=True)
                return
            await asyncio.wait(list(self._pending), timeout=left)
