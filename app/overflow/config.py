"""Remote seat groups and surge events in the database (service layer).

`OverflowConfig` is what the REST API (`app.overflow.http`), the CLI
(`hotline overflow …`) and the surge controller (`app.overflow.controller`)
use.  Every write validates the *whole* resulting group with
`core.overflow.validate_group` before anything is stored, in one
transaction, so a refused change leaves nothing half-applied.  Live traffic
follows the database: the controller re-reads the groups on every check, so
a change reaches the next call without restarting Asterisk.

Errors: `BadInput(field, reason)` (400), `NotFound("overflow group", name)`
(404), `Conflict` (409: the name is taken).  No HTTP, no AMI, no Redis here.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.runtime.models import RemoteSeatGroup, SurgeEvent, utcnow
from app.web.errors import BadInput, Conflict, NotFound
from core.centres import Centre
from core.overflow import (
    CentreLoad,
    Clash,
    OverflowGroup,
    SurgeChange,
    shared_members,
    validate_group,
)
from core.safety import UnsafeValue

log = logging.getLogger(__name__)


def group_of(row: RemoteSeatGroup, centres: tuple[Centre, ...]) -> OverflowGroup:
    """The stored row as a domain group (re-validated: settings may have changed)."""
    return validate_group(_fields(row), centres)


def _fields(row: RemoteSeatGroup) -> dict[str, Any]:
    return {"name": row.name, "centre": row.centre, "members": list(row.members.get("list", [])),
            "priority": row.priority, "min_waiting": row.min_waiting, "max_wait_s": row.max_wait_s,
            "when_no_local_free": row.when_no_local_free, "enabled": row.enabled}


def group_view(row: RemoteSeatGroup) -> dict[str, Any]:
    return {**_fields(row), "id": row.id, "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(), "updated_by": row.updated_by}


def event_view(row: SurgeEvent) -> dict[str, Any]:
    return {"at": row.at.isoformat(), "centre": row.centre, "group": row.group_name, "kind": row.kind,
            "reason": row.reason, "waiting": row.waiting, "longest_wait_s": row.longest_wait_ms / 1000,
            "local_free": row.local_free}


class OverflowConfig:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], centres: tuple[Centre, ...], *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self.centres = centres
        self._clock = clock

    def _validated(self, data: Mapping[str, object]) -> OverflowGroup:
        try:
            return validate_group(data, self.centres)
        except Clash as exc:
            raise Conflict(exc.reason, exc.field) from None
        except UnsafeValue as exc:
            raise BadInput(exc.field, exc.reason) from None

    async def _check_shared(self, session: AsyncSession, group: OverflowGroup) -> None:
        others = []
        for row in await session.scalars(select(RemoteSeatGroup).where(RemoteSeatGroup.centre == group.centre,
                                                                       RemoteSeatGroup.name != group.name)):
            try:
                others.append(group_of(row, self.centres))
            except UnsafeValue:
                continue
        clash = shared_members(group, others)
        if clash is not None:
            raise Conflict(f"{clash[0]!r} is already a member of group {clash[1]} of centre {group.centre}",
                           "members")

    async def rows(self) -> list[RemoteSeatGroup]:
        async with self._sessions() as session:
            return list(await session.scalars(select(RemoteSeatGroup).order_by(RemoteSeatGroup.centre,
                                                                               RemoteSeatGroup.priority,
                                                                               RemoteSeatGroup.name)))

    async def get(self, name: str) -> RemoteSeatGroup:
        async with self._sessions() as session:
            row = (await session.scalars(select(RemoteSeatGroup).where(RemoteSeatGroup.name == name))).first()
        if row is None:
            raise NotFound("overflow group", name)
        return row

    async def load(self) -> list[OverflowGroup]:
        """Every stored group that is still valid under the current settings."""
        groups = []
        for row in await self.rows():
            try:
                groups.append(group_of(row, self.centres))
            except UnsafeValue as exc:
                log.warning("overflow group %s ignored: %s: %s", row.name, exc.field, exc.reason)
        return groups

    async def create(self, data: Mapping[str, object], *, actor: str) -> RemoteSeatGroup:
        group = self._validated(data)
        now = self._clock()
        async with self._sessions.begin() as session:
            taken = (await session.scalars(
                select(RemoteSeatGroup.id).where(RemoteSeatGroup.name == group.name))).first()
            if taken is not None:
                raise Conflict(f"an overflow group named {group.name!r} exists")
            await self._check_shared(session, group)
            fields = group.as_fields()
            row = RemoteSeatGroup(**{**fields, "members": {"list": fields["members"]}},
                                  created_at=now, updated_at=now, updated_by=actor)
            session.add(row)
        log.info("overflow group %s created for centre %s by %s: %d members, priority %d, %s",
                 group.name, group.centre, actor, len(group.members), group.priority, group.thresholds)
        return row

    async def update(self, name: str, patch: Mapping[str, object], *, actor: str) -> RemoteSeatGroup:
        if "name" in patch and patch["name"] != name:
            raise BadInput("name", "a group cannot be renamed: create a new one and delete this one")
        now = self._clock()
        async with self._sessions.begin() as session:
            row = (await session.scalars(select(RemoteSeatGroup).where(RemoteSeatGroup.name == name)
                                         .with_for_update())).first()
            if row is None:
                raise NotFound("overflow group", name)
            group = self._validated({**_fields(row), **patch})
            await self._check_shared(session, group)
            fields = group.as_fields()
            for key, value in fields.items():
                setattr(row, key, {"list": value} if key == "members" else value)
            row.updated_at, row.updated_by = now, actor
        log.info("overflow group %s changed by %s: %s", name, actor, sorted(patch))
        return row

    async def delete(self, name: str, *, actor: str) -> None:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(RemoteSeatGroup).where(RemoteSeatGroup.name == name))
            if not result.rowcount:  # type: ignore[attr-defined]  # DML gives a CursorResult; typed as Result
                raise NotFound("overflow group", name)
        log.info("overflow group %s deleted by %s", name, actor)

    # -------------------------------------------------------- surge events

    async def record_surge(self, group: OverflowGroup, change: SurgeChange, load: CentreLoad,
                           at: datetime) -> None:
        async with self._sessions.begin() as session:
            session.add(SurgeEvent(at=at, centre=group.centre, group_name=group.name, kind=change.kind,
                                   reason=change.reason[:256], waiting=load.waiting,
                                   longest_wait_ms=int(load.longest_wait_s * 1000), local_free=load.local_free))

    async def surge_events(self, *, centre: str | None = None, since: datetime | None = None,
                           until: datetime | None = None, limit: int = 500) -> list[SurgeEvent]:
        query = select(SurgeEvent)
        if centre is not None:
            query = query.where(SurgeEvent.centre == centre)
        if since is not None:
            query = query.where(SurgeEvent.at >= since)
        if until is not None:
            query = query.where(SurgeEvent.at < until)
        async with self._sessions() as session:
            return list(await session.scalars(query.order_by(SurgeEvent.at, SurgeEvent.id).limit(limit)))
