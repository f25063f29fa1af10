"""Wiring of remote-seat overflow (远程话务座席支持): admin API and the surge controller.

The configuration is in the database (every process may read and edit it);
the controller, which adds and removes remote members over AMI as surges
open and close, runs where the AMI-side work runs (the `bridge` role).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.overflow import http
from app.overflow.config import OverflowConfig
from app.overflow.controller import OverflowController

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    config = OverflowConfig(deps.sessions, deps.settings.site.centres)
    deps.provide(http.OVERFLOW, config)
    if deps.ami is not None and "bridge" in deps.roles:
        deps.workers.append(OverflowController(deps.settings, config, deps.ami, deps.orders, live=deps.live))
