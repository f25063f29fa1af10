"""Wiring of the three-way call (三方通话): the keys' AGI routes and the desktop buttons.

One `ThreeWayService` per process behind the keys and the buttons; it moves
the parties over this process's AMI link.  Where the handoff journal runs
(the `bridge` role), its reconciler settles three-way calls too, through
this service.  Without one (the classic AGI
entry) the keys are refused and the call stays two-party.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.handoff.journal import HandoffJournal
from app.threeway import agi, http
from app.threeway.services import ThreeWayService
from app.threeway.telephony import AmiThreeWayTelephony

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    telephony = AmiThreeWayTelephony(deps.ami, deps.settings.site.centres) if deps.ami is not None else None
    service = ThreeWayService(deps.settings, deps.orders, telephony)
    deps.provide(http.THREEWAY, service)
    if deps.agi is not None:
        agi.register(deps.agi, service)
    for worker in deps.workers:  # the one reconciler (the handoff feature's journal) settles these too
        if isinstance(worker, HandoffJournal):
            worker.threeways = service
