"""AGI routes: one function per route, registered under the route's name (I/O).

A route's name is the path in `AGI(agi://host/<name>)` and the argument of
the classic script (`AGI(hotline-agi,<name>)`).  Each asks `core` for a plan
and applies it; it never decides anything itself.  Any failure is logged and
leaves HOTLINE_ROUTE_STATUS not OK, so the dialplan takes its safe path.
"""
from __future__ import annotations

import logging
from typing import Awaitable, Callable

from agi.call import AgiCall
from core import channel_vars as cv
from core.routing import decide_inbound
from core.settings import Settings

log = logging.getLogger(__name__)

Route = Callable[[AgiCall, Settings], Awaitable[None]]


async def inbound(call: AgiCall, settings: Settings) -> None:
    """A citizen dialled a centre: choose the queue they wait in."""
    centre = await call.get_variable(cv.CENTRE)
    citizen = await call.get_variable(cv.CITIZEN)
    plan = decide_inbound(settings.centres, centre, citizen)
    for name, value in plan.variables.items():
        await call.set_variable(name, value)
    log.info("inbound channel=%s centre=%s citizen=%s status=%s %s",
             call.headers.get("agi_channel"), centre, citizen, plan.status, plan.reason)


ROUTES: dict[str, Route] = {
    "inbound": inbound,
}
