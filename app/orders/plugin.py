"""Wiring of work orders (工单): the API, reports, and the overdue checker (web)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.orders import http, overdue, reports

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes, reports.routes)
WEB_CONTEXTS = (overdue.overdue_ctx,)
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    deps.provide(http.ORDERS, deps.orders)
