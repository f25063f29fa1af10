"""Wiring of the diversion catalogue (分流事项清单): search and admin edits (web)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from app.catalogue import http, store
from app.orders.http import ORDERS
from app.web.keys import SESSIONS

if TYPE_CHECKING:
    from app.runtime.features import Dependencies


async def shipped_ctx(app: web.Application) -> AsyncIterator[None]:
    """The shipped catalogues, loaded into a database that has none yet."""
    await store.load_shipped(app[SESSIONS], now=app[ORDERS].now())
    yield


ROUTES = (http.routes,)
WEB_CONTEXTS = (shipped_ctx,)
ON_SHUTDOWN: tuple = ()


def setup(deps: "Dependencies") -> None:
    """The catalogue is read and edited through the database: nothing to build."""
