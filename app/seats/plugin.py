"""Wiring of seats signing in and pausing (签入/签出, 示忙/示闲).

The keys work in the dialplan alone; here: the REST API (any process with an
AMI link) and the seat journal with auto-pause (the `bridge` role).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.seats import http
from app.seats.journal import SeatJournal
from app.seats.services import SeatService

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    service = SeatService(deps.settings, deps.ami) if deps.ami is not None else None
    deps.provide(http.SEATS, service)
    if service is not None and deps.ami is not None and "bridge" in deps.roles:
        deps.workers.append(SeatJournal(service, deps.ami, deps.sessions))
