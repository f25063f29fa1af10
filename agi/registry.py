"""The FastAGI routes this process serves, by name (wiring, no I/O).

A route's name is the path in `AGI(agi://host/<name>)` and the argument of
the classic script (`AGI(hotline-agi,<name>)`).  Features register their
routes here (`app/<feature>/agi.py`, called from the feature's `setup`), as
wazo-agid's modules do; the FastAGI server and the classic entry know only
this registry, so `agi/` imports nothing from `app/`.  A name nobody
registered is answered like a failed route: the dialplan's safe path.

Work a route leaves for after it has answered Asterisk (writing an order
once the citizen is connected, say) goes through `later`, off the call's
path; shutdown and tests wait for it with `drain`.
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from agi.background import BackgroundTasks
from agi.call import AgiCall

Route = Callable[[AgiCall], Awaitable[None]]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class AgiRoutes:
    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._tasks = BackgroundTasks("AGI routes")

    def register(self, name: str, route: Route) -> None:
        """Serve `route` under `name`; a name is registered once."""
        if not _NAME.match(name):
            raise ValueError(f"AGI route name {name!r}: lower-case letters, digits and _")
        if name in self._routes:
            raise ValueError(f"AGI route {name!r} registered twice")
        self._routes[name] = route

    def replace(self, name: str, route: Route) -> Route:
        """Serve `route` under the registered `name` instead; the route it
        replaces (a test holding a call at a route wraps it so)."""
        old = self._routes[name]
        self._routes[name] = route
        return old

    def get(self, name: str) -> Route | None:
        return self._routes.get(name)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._routes)

    def clear(self) -> None:
        """Forget every route (a process re-wiring its features)."""
        self._routes.clear()

    def later(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` after the route has answered Asterisk (off the call path);
        its failure is logged, never raised into a call."""
        self._tasks.spawn(work, what)

    async def drain(self, timeout_s: float = 15.0) -> None:
        """Wait for work started with `later` (shutdown, tests), at most `timeout_s`."""
        await self._tasks.drain(timeout_s)
