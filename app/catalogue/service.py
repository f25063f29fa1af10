"""The catalogue search service: one index per catalogue, rebuilt when the catalogue changes (service layer).

Searching reads no entries: each jurisdiction's `CatalogueIndex` is built
once (off the event loop) and kept until the catalogue changes — an admin
edit in this process says so at once (`changed`), and a cheap fingerprint
of the table (count, last update, last id) catches edits made by another
process or by `hotline catalogue load`.  No HTTP here.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalogue import store
from app.catalogue.search import DEFAULT_LIMIT, CatalogueIndex, Found

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Built:
    fingerprint: tuple[Any, ...]
    generation: int
    index: CatalogueIndex


class CatalogueSearch:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._built: dict[str, _Built] = {}
        self._generation: dict[str, int] = defaultdict(int)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def changed(self, jurisdiction: str) -> None:
        """This process changed the catalogue: the next search rebuilds its index."""
        self._generation[jurisdiction] += 1

    async def _fingerprint(self, jurisdiction: str) -> tuple[Any, ...]:
        async with self._sessions() as session:
            return await store.fingerprint(session, jurisdiction)

    def _current(self, jurisdiction: str, fingerprint: tuple[Any, ...]) -> CatalogueIndex | None:
        built = self._built.get(jurisdiction)
        if built and built.fingerprint == fingerprint and built.generation == self._generation[jurisdiction]:
            return built.index
        return None

    async def index(self, jurisdiction: str) -> CatalogueIndex:
        """The jurisdiction's index, built now if the catalogue changed since the last one."""
        index = self._current(jurisdiction, await self._fingerprint(jurisdiction))
        if index is not None:
            return index
        async with self._locks[jurisdiction]:
            generation = self._generation[jurisdiction]
            async with self._sessions() as session:
                fingerprint = await store.fingerprint(session, jurisdiction)
                index = self._current(jurisdiction, fingerprint)
                if index is not None:
                    return index
                items = await store.all_items(session, jurisdiction)
            started = time.perf_counter()
            index = await asyncio.to_thread(CatalogueIndex, items)
            self._built[jurisdiction] = _Built(fingerprint, generation, index)
            log.info("catalogue %s indexed: %d entries in %.0f ms", jurisdiction, len(items),
                     (time.perf_counter() - started) * 1000)
            return index

    async def search(self, jurisdiction: str, q: str | None, *, limit: int | None = None,
                     include_disabled: bool = False) -> Found:
        index = await self.index(jurisdiction)
        if not (q or "").strip():
            found = index.search(None, include_disabled=include_disabled)
            return found if limit is None else Found(found.query, found.hits[:limit])
        return index.search(q, limit=limit or DEFAULT_LIMIT, include_disabled=include_disabled)
