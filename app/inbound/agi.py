"""AGI route of a citizen's call arriving at a centre: which queue (adapter, I/O).

The decision is `core.routing.decide_inbound`; this route takes the centre
and the citizen's number from its arguments (`hotline-route` passes them:
`Gosub(hotline-agi,args,1(inbound,<centre>,<number>))`, both digits only by
then), or reads them from the channel when called without, asks it, and
writes the answer back in one command.  One request, one command: it runs
for every call.  Whatever fails, the dialplan (`hotline-route`) queues the
citizen in the centre's own queue.
"""
from __future__ import annotations

import logging
from functools import partial

from agi.call import AgiCall
from agi.registry import AgiRoutes
from core import channel_vars as cv
from core.routing import decide_inbound
from core.settings import Settings

log = logging.getLogger(__name__)


async def inbound(call: AgiCall, settings: Settings) -> None:
    """A citizen dialled a centre: choose the queue they wait in."""
    centre: str | None
    citizen: str | None
    if len(call.args) >= 2:
        centre, citizen = call.args[0], call.args[1] or None
    else:  # a site's own dialplan asking without them
        centre = await call.get_variable(cv.CENTRE)
        citizen = await call.get_variable(cv.CITIZEN)
    plan = decide_inbound(settings.site.centres, centre, citizen)
    await call.set_variables(plan.variables)
    log.info("inbound channel=%s centre=%s citizen=%s status=%s %s",
             call.headers.get("agi_channel"), centre, citizen, plan.status, plan.reason)


def register(routes: AgiRoutes, settings: Settings) -> None:
    routes.register("inbound", partial(inbound, settings=settings))
