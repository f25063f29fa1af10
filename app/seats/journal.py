"""The seat journal: every sign-in, sign-out, pause and unpause into SQL, and auto-pause (service layer, I/O).

Runs where the AMI-side work runs (the `bridge` role).  Whoever changed a
seat — its keys, the REST API, auto-pause, an admin on Asterisk's CLI —
app_queue says so in `QueueMemberAdded` / `QueueMemberRemoved` /
`QueueMemberPause` for the seat's public queue (the linkage queue says the
same and is ignored).  A change of what the seat is (signed in or out,
paused or not, the reason) becomes one `seat_events` row; the reports
count paused time from them (`core.seats.paused_seconds`).  After every
(re)connection a `QueueStatus` is compared with the last row of each seat,
so what changed while this process was away (the keys work without it) is
recorded, at the time it was noticed.

Auto-pause: `AgentRingNoAnswer` for a seat counts a missed ring
(`core.seats.MissedRings`); an answered call (`AgentConnect`), a sign-in or
an unpause starts the count again; the N-th miss in a row pauses the seat
with the reason `no answer` (HOTLINE_AUTOPAUSE_AFTER; 0: off).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi.background import BackgroundTasks
from ami_bridge.manager import AmiError, AmiManager, AmiMessage
from ami_bridge.translate import member_extension
from app.runtime.models import SeatEventRow
from app.seats.services import SeatService
from core.centres import centre_by_id, seat_by_extension
from core.seats import AUTO_PAUSE_REASON, MissedRings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeatFacts:
    signed_in: bool
    paused: bool
    reason: str | None

    def describe(self) -> str:
        if not self.signed_in:
            return "signed_out"
        return f"paused({self.reason or '-'})" if self.paused else "signed_in"


class SeatJournal:
    def __init__(self, service: SeatService, ami: AmiManager, sessions: async_sessionmaker[AsyncSession], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.settings = service.settings
        self.ami = ami
        self.sessions = sessions
        self.clock = clock
        self.known: dict[str, SeatFacts] = {}
        self.missed = MissedRings.every(self.settings.seats.autopause_after)
        self.recorded = 0
        self.autopaused = 0
        self._tasks = BackgroundTasks("seat journal")
        self._lock = asyncio.Lock()
        self._started = False

    _EVENTS = ("QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause", "AgentRingNoAnswer", "AgentConnect")

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for name in self._EVENTS:
            self.ami.on_event(name, self._on_event)
        self.ami.on_connect(self._on_link_up)
        if self.ami.connected:
            self._on_link_up()

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for name in self._EVENTS:
            self.ami.off_event(name, self._on_event)
        self.ami.off_connect(self._on_link_up)
        await self._tasks.drain()

    async def drain(self) -> None:
        await self._tasks.drain()

    # ------------------------------------------------------------ events

    def _on_link_up(self) -> None:
        self._tasks.spawn(self.resync(), "seat-resync")

    def _on_event(self, event: AmiMessage) -> None:
        name = str(event.get("Event", ""))
        extension = member_extension(str(event.get("Interface") or ""), str(event.get("MemberName") or ""))
        seat = seat_by_extension(self.settings.site.centres, extension or "")
        if seat is None or str(event.get("Interface") or "") != self.service.interface(seat):
            return  # not one of our seats (a remote overflow member, ...)
        centre = centre_by_id(self.settings.site.centres, seat.centre)
        if name == "AgentRingNoAnswer":
            if self.missed.missed(seat.extension):
                self._tasks.spawn(self._autopause(seat.extension), "seat-autopause")
            return
        if name == "AgentConnect":
            self.missed.reset(seat.extension)
            return
        if centre is None or str(event.get("Queue", "")) != centre.queue:
            return  # the linkage queue repeats what the public queue says
        if name == "QueueMemberRemoved":
            facts = SeatFacts(False, False, None)
        else:
            paused = str(event.get("Paused", "0")) == "1"
            facts = SeatFacts(True, paused, (str(event.get("PausedReason") or "") or None) if paused else None)
        if not facts.paused:
            self.missed.reset(seat.extension)
        self._tasks.spawn(self._note(seat.extension, centre.id, facts, "event"), "seat-event")

    async def _autopause(self, extension: str) -> None:
        try:
            status = await self.service.state(extension)
            if status.signed_in and not status.paused:
                await self.service.pause(extension, AUTO_PAUSE_REASON, actor="system:autopause")
                self.autopaused += 1
                log.info("seat %s missed %d rings in a row: paused (%s)", extension,
                         self.settings.seats.autopause_after, AUTO_PAUSE_REASON)
        except Exception as exc:  # noqa: BLE001 - the AMI link dropped: the next misses try again
            log.warning("auto-pause of seat %s failed: %s", extension, exc)

    # ------------------------------------------------------------ resync

    async def resync(self) -> None:
        """Compare what Asterisk says with the last row of every seat."""
        try:
            reply = await self.ami.send({"Action": "QueueStatus"})
        except AmiError as exc:
            log.warning("seat journal: QueueStatus failed (%s); the next connection tries again", exc)
            return
        messages = reply if isinstance(reply, list) else [reply]
        for centre in self.settings.site.centres:
            for seat in centre.seats:
                iface = self.service.interface(seat)
                facts = SeatFacts(False, False, None)
                for m in messages:
                    if (m.get("Event") == "QueueMember" and m.get("Queue") == centre.queue
                            and str(m.get("Interface") or m.get("Location") or "") == iface):
                        paused = str(m.get("Paused", "0")) == "1"
                        facts = SeatFacts(True, paused, (str(m.get("PausedReason") or "") or None) if paused else None)
                await self._note(seat.extension, centre.id, facts, "resync")

    # ------------------------------------------------------------ rows

    async def _note(self, extension: str, centre: str, facts: SeatFacts, source: str) -> None:
        async with self._lock:  # one seat's changes are recorded in the order they came
            if extension not in self.known:
                try:
                    self.known[extension] = await self._last(extension) or SeatFacts(False, False, None)
                except Exception as exc:  # noqa: BLE001 - database away: the event is dropped, logged
                    log.warning("seat journal: last state of %s unreadable (%s)", extension, exc)
                    return
            before = self.known[extension]
            if before == facts:
                return
            at = datetime.fromtimestamp(self.clock(), UTC)
            try:
                async with self.sessions() as session, session.begin():
                    session.add(SeatEventRow(at=at, seat=extension, centre=centre, signed_in=facts.signed_in,
                                             paused=facts.paused, reason=facts.reason, source=source))
            except Exception as exc:  # noqa: BLE001 - database away: forget the state, re-read next time
                log.error("seat journal: %s %s -> %s not stored (%s)", extension, before.describe(),
                          facts.describe(), exc)
                self.known.pop(extension, None)
                return
            self.known[extension] = facts
            self.recorded += 1
            log.info("Transition: seat %s %s -> %s (%s)", extension, before.describe(), facts.describe(), source)

    async def _last(self, extension: str) -> SeatFacts | None:
        async with self.sessions() as session:
            newest = select(func.max(SeatEventRow.id)).where(SeatEventRow.seat == extension).scalar_subquery()
            row = (await session.execute(select(SeatEventRow).where(SeatEventRow.id == newest))).scalar_one_or_none()
        return None if row is None else SeatFacts(row.signed_in, row.paused, row.reason)
