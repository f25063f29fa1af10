"""Diversion catalogues in the database: load the shipped files, read, edit (persistence layer).

The files in `data/catalogue/` are the seed: per jurisdiction the catalogue
(`<jurisdiction>.json`, transcribed from the seed) and its curated everyday
words (`<jurisdiction>-aliases.json`); the database holds the working copy
that admins edit.  `load_items` inserts the entries a database does not have
yet, brings entries no admin has edited up to the shipped files (so a release
with better aliases reaches existing databases) and keeps edited ones — or,
with `replace=True`, resets those too.  Validation is `core.catalogue`'s; no
HTTP here.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime import db
from app.runtime.models import CatalogueEntry
from app.web.errors import BadInput, Conflict, NotFound
from core.catalogue import (
    JURISDICTIONS,
    CatalogueError,
    CatalogueItem,
    check_changes,
    item_from_mapping,
    parse_aliases,
    parse_file,
    with_aliases,
)
from core.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

DATA_DIR = PROJECT_ROOT / "data" / "catalogue"


def data_file(jurisdiction: str) -> Path:
    return DATA_DIR / f"{jurisdiction}.json"


def aliases_file(jurisdiction: str) -> Path:
    return DATA_DIR / f"{jurisdiction}-aliases.json"


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogueError("file", f"{path}: {exc}") from None


def read_file(path: Path, *, expect: str | None = None) -> tuple[str, list[CatalogueItem]]:
    """Parse and validate one catalogue file; raises `CatalogueError`."""
    return parse_file(_json(path), expect=expect)


def read_shipped(jurisdiction: str) -> list[CatalogueItem]:
    """A shipped catalogue with its aliases file's words; raises `CatalogueError`."""
    _, items = read_file(data_file(jurisdiction), expect=jurisdiction)
    path = aliases_file(jurisdiction)
    if not path.exists():
        return items
    return with_aliases(items, parse_aliases(_json(path), expect=jurisdiction, codes=[i.code for i in items]))


def to_item(entry: CatalogueEntry) -> CatalogueItem:
    return CatalogueItem(code=entry.code, section=entry.section, group=entry.group_name, name=entry.name,
                         destinations=tuple(entry.destinations.get("list", [])), linkage=entry.linkage,
                         handling=entry.handling, note=entry.note, enabled=entry.enabled,
                         aliases=tuple((entry.aliases or {}).get("list", [])))


def _apply(entry: CatalogueEntry, item: CatalogueItem) -> None:
    entry.section, entry.group_name, entry.name = item.section, item.group, item.name
    entry.destinations = {"list": list(item.destinations)}
    entry.aliases = {"list": list(item.aliases)}
    entry.linkage, entry.handling, entry.note, entry.enabled = item.linkage, item.handling, item.note, item.enabled


@dataclass(frozen=True)
class LoadResult:
    jurisdiction: str
    added: int
    replaced: int       # edited by an admin, reset to the shipped files (replace=True)
    updated: int        # never edited, brought up to the shipped files
    kept: int           # edited by an admin and kept, or already as shipped


async def load_items(session: AsyncSession, jurisdiction: str, items: list[CatalogueItem], *,
                     now: datetime, replace: bool = False) -> LoadResult:
    existing = {e.code: e for e in await session.scalars(
        select(CatalogueEntry).where(CatalogueEntry.jurisdiction == jurisdiction))}
    added = replaced = updated = kept = 0
    for item in items:
        entry = existing.get(item.code)
        if entry is None:
            entry = CatalogueEntry(jurisdiction=jurisdiction, code=item.code, updated_at=now, updated_by="seed")
            _apply(entry, item)
            session.add(entry)
            added += 1
        elif to_item(entry) == item:
            kept += 1
        elif replace or entry.updated_by == "seed":
            _apply(entry, item)
            if entry.updated_by == "seed":
                updated += 1
            else:
                replaced += 1
            entry.updated_at, entry.updated_by = now, "seed"
        else:
            kept += 1
    await session.flush()
    if added or replaced or updated:
        log.info("catalogue %s loaded: %d added, %d replaced, %d updated, %d kept", jurisdiction, added, replaced,
                 updated, kept)
    return LoadResult(jurisdiction, added, replaced, updated, kept)


async def load_shipped(sessions: async_sessionmaker[AsyncSession], *, now: datetime,
                       replace: bool = False) -> list[LoadResult]:
    """Load every shipped catalogue (see `load_items`): at every start of the web
    service, and by `hotline catalogue load [--replace]`.  One process at a
    time: several web services starting together on a new database each
    found no entry and inserted them all, and on PostgreSQL the later ones
    failed on the entries' unique key."""
    results = []
    async with db.one_at_a_time(sessions.kw["bind"], "load"):
        for jurisdiction in JURISDICTIONS:
            items = read_shipped(jurisdiction)
            async with sessions.begin() as session:
                await db.hold_for_transaction(session, db.LOAD_LOCK_KEY)
                results.append(await load_items(session, jurisdiction, items, now=now, replace=replace))
    return results


async def fingerprint(session: AsyncSession, jurisdiction: str) -> tuple[Any, ...]:
    """What changes whenever the jurisdiction's entries do (in any process): one small query."""
    row = (await session.execute(select(func.count(), func.max(CatalogueEntry.updated_at), func.max(CatalogueEntry.id))
                                 .where(CatalogueEntry.jurisdiction == jurisdiction))).one()
    return tuple(row)


async def all_items(session: AsyncSession, jurisdiction: str) -> list[CatalogueItem]:
    """The jurisdiction's entries in catalogue order (by code's table, then number)."""
    entries = list(await session.scalars(select(CatalogueEntry).where(CatalogueEntry.jurisdiction == jurisdiction)
                                         .order_by(CatalogueEntry.id)))
    return [to_item(e) for e in entries]


async def get_entry(session: AsyncSession, jurisdiction: str, code: str) -> CatalogueEntry:
    entry = (await session.scalars(select(CatalogueEntry).where(
        CatalogueEntry.jurisdiction == jurisdiction, CatalogueEntry.code == code))).first()
    if entry is None:
        raise NotFound("catalogue entry", f"{jurisdiction}/{code}")
    return entry


def _bad(exc: CatalogueError) -> BadInput:
    return BadInput(exc.field, exc.reason)


async def edit_entry(session: AsyncSession, jurisdiction: str, code: str, changes: dict[str, Any], *,
                     actor: str, now: datetime) -> CatalogueEntry:
    """Apply an admin's partial edit; raises `BadInput` / `NotFound`."""
    try:
        cleaned = check_changes(changes)
    except CatalogueError as exc:
        raise _bad(exc) from None
    entry = await get_entry(session, jurisdiction, code)
    for field, value in cleaned.items():
        if field in ("destinations", "aliases"):
            setattr(entry, field, {"list": list(value)})
        elif field == "group":
            entry.group_name = value
        else:
            setattr(entry, field, value)
    entry.updated_at, entry.updated_by = now, actor
    await session.flush()
    log.info("catalogue %s/%s edited by %s: %s", jurisdiction, code, actor, sorted(cleaned))
    return entry


async def add_entry(session: AsyncSession, jurisdiction: str, data: dict[str, Any], *,
                    actor: str, now: datetime) -> CatalogueEntry:
    """Add a new entry (admin); raises `BadInput`, `Conflict` for a code in use."""
    try:
        item = item_from_mapping(data)
    except CatalogueError as exc:
        raise _bad(exc) from None
    existing = (await session.scalars(select(CatalogueEntry).where(
        CatalogueEntry.jurisdiction == jurisdiction, CatalogueEntry.code == item.code))).first()
    if existing is not None:
        raise Conflict(f"catalogue entry {jurisdiction}/{item.code} exists")
    entry = CatalogueEntry(jurisdiction=jurisdiction, code=item.code, updated_at=now, updated_by=actor)
    _apply(entry, item)
    session.add(entry)
    await session.flush()
    log.info("catalogue %s/%s added by %s", jurisdiction, item.code, actor)
    return entry
