"""Wiring of orders across platforms (工单⇄警单, issue 13): the peers' API, the outbox, the pusher.

`FederationService` observes every process's `OrderService`, so an order
dispatched to a peer's centre — by the API, the handoff, any process — is
queued in the same transaction.  The pusher that delivers the queue runs in
the `web` role (see `app.federation.pusher` for why).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.federation import agi, http
from app.federation.health import TrunkWatch
from app.federation.pusher import FederationPusher
from app.federation.services import FederationService

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    service = FederationService(deps.settings, deps.sessions, deps.orders)
    deps.orders.observe(service)
    deps.provide(http.FEDERATION, service)
    if deps.agi is not None:
        agi.register(deps.agi, service)
    if "web" in deps.roles and deps.settings.federation.peers:
        deps.workers.append(FederationPusher(service))
    if "bridge" in deps.roles and deps.ami is not None and deps.settings.trunks.trunks:
        deps.workers.append(TrunkWatch(deps.settings, deps.ami))  # trunk qualify state for link health
