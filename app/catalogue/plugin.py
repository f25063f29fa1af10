"""Wiring of the diversion catalogue (分流事项清单): search and admin edits (web)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from app.catalogue import http, store
from app.catalogue.service import CatalogueSearch
from app.orders.http import ORDERS
from app.web.keys import SESSIONS, SETTINGS

if TYPE_CHECKING:
    from app.runtime.features import Dependencies


async def shipped_ctx(app: web.Application) -> AsyncIterator[None]:
    """The shipped catalogues into the database (new entries, and those no admin
    edited brought up to date), then the deployment's search index built, so
    the first seat's search does not wait for it."""
    await store.load_shipped(app[SESSIONS], now=app[ORDERS].now())
    await app[http.CATALOGUE].index(app[SETTINGS].orders.jurisdiction)
    yield


ROUTES = (http.routes,)
WEB_CONTEXTS = (shipped_ctx,)
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    """The search service, whose indexes are built on first use (jieba loads then)."""
    deps.provide(http.CATALOGUE, CatalogueSearch(deps.sessions))
