"""What AGI routes receive besides the call: settings and services (wiring, no I/O).

A small object instead of globals: the FastAGI server (or the classic entry)
builds it once and passes it to every route.  `handoffs` is the one
`HandoffService` the desktop button also uses; None where no database is
wired (the transfer routes then answer ERROR and the dialplan keeps the
citizen with the seat).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Coroutine

from agi.background import BackgroundTasks
from core.settings import Settings

if TYPE_CHECKING:
    from app.handoff.services import HandoffService
    from app.threeway.services import ThreeWayService


@dataclass
class RouteContext:
    settings: Settings
    handoffs: "HandoffService | None" = None
    # the three-way call's service (shared with the desktop buttons); None:
    # the three-way routes refuse and the call stays two-party
    threeway: "ThreeWayService | None" = None
    _tasks: BackgroundTasks = field(default_factory=lambda: BackgroundTasks("AGI routes"), repr=False)

    def later(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` after the route has answered Asterisk (off the call path);
        its failure is logged, never raised into a call."""
        self._tasks.spawn(work, what)

    async def drain(self, timeout_s: float = 15.0) -> None:
        """Wait for work started with `later` (shutdown, tests), at most `timeout_s`."""
        await self._tasks.drain(timeout_s)
