"""Wiring of the handoff (一键携号转接): the key's AGI routes, the desktop button, the journal.

One `HandoffService` per process behind the key and the button.  The button
needs this process's AMI link (`hotline up`, `hotline web`, `hotline agi` all
have one); the journal, which records the dialplan's handoffs from AstDB and
AMI events, runs where the AMI-side work runs (the `bridge` role).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.handoff import agi, http
from app.handoff.journal import HandoffJournal
from app.handoff.services import HandoffService
from app.handoff.telephony import AmiTelephony

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    service = HandoffService(deps.settings, deps.orders)
    deps.provide(http.HANDOFFS, service)
    deps.provide(http.TELEPHONY, AmiTelephony(deps.ami, deps.settings.site.centres) if deps.ami is not None else None)
    if deps.agi is not None:
        agi.register(deps.agi, service)
    if deps.ami is not None and "bridge" in deps.roles:
        deps.workers.append(HandoffJournal(deps.ami, service, centres=deps.settings.site.centres))
