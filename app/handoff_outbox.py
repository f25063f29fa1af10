"""The fast transfer's outbox in Asterisk's AstDB: read it, record it, clear it (service layer).

`hotline-transfer-fast` (dialplan) writes one record per handoff it carried
out to AstDB family `hotline-handoff-outbox` before the citizen moves
(`core.handoff.OutboxRecord`).  A record is deleted only after its order is
in SQL (`HandoffService.record`, idempotent), so an order is never lost:
while Python or the database is down the records wait in AstDB, and the
next sweep inserts them with the key press's id and time.

Sweeps run on the seat leg's `handoff_outbox` route (through that AGI
session) and periodically over AMI (`OutboxSweeper`, also on (re)connect).
The AstDB is reached through the small `AstDb` port; no SQL here.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from core.handoff import ENDED_FAMILY, OUTBOX_FAMILY, OutboxRecord, parse_outbox

log = logging.getLogger(__name__)


class AstDb(Protocol):
    """Asterisk's AstDB, one family at a time."""

    async def keys(self, family: str) -> list[str]: ...

    async def get(self, family: str, key: str) -> str | None: ...

    async def delete(self, family: str, key: str) -> None: ...


class Recorder(Protocol):
    async def record(self, outbox: OutboxRecord) -> Any: ...

    async def ended_while_away(self, handoff_id: str, state: str) -> Any: ...


async def read(astdb: AstDb, handoff_id: str) -> OutboxRecord | None:
    """The outbox record of `handoff_id`, None when there is none (recorded already,
    or a handoff of the AGI path)."""
    value = await astdb.get(OUTBOX_FAMILY, handoff_id)
    if not value:
        return None
    record = parse_outbox(handoff_id, value)
    if record is None:
        log.error("handoff %s: outbox record not understood, left in AstDB: %r", handoff_id, value)
    return record


async def deliver(astdb: AstDb, handoffs: Recorder, record: OutboxRecord) -> None:
    """Insert the record's order (if not there yet) and how the handoff ended if
    that was kept next to it (`ENDED_FAMILY`), then delete the record.  Each
    step may run again after a failure: one order, one outcome."""
    await handoffs.record(record)
    ended = await astdb.get(ENDED_FAMILY, record.handoff_id)
    if ended:
        await handoffs.ended_while_away(record.handoff_id, ended)
        await astdb.delete(ENDED_FAMILY, record.handoff_id)
    await astdb.delete(OUTBOX_FAMILY, record.handoff_id)


async def sweep(astdb: AstDb, handoffs: Recorder) -> int:
    """Record every order waiting in the outbox; returns how many records were
    delivered.  A record that fails stays for the next sweep."""
    delivered = 0
    for key in await astdb.keys(OUTBOX_FAMILY):
        record = await read(astdb, key)
        if record is None:
            continue
        try:
            await deliver(astdb, handoffs, record)
        except Exception:
            log.exception("handoff %s: outbox record not recorded yet; kept for the next sweep", key)
            continue
        delivered += 1
    if delivered:
        log.info("outbox sweep: %d handoff order(s) recorded", delivered)
    return delivered


class AmiAstDb:
    """`AstDb` over AMI: DBGetTree lists a family (Asterisk 20+), DBDel deletes."""

    def __init__(self, ami: Any) -> None:
        self.ami = ami

    async def keys(self, family: str) -> list[str]:
        return list((await self._tree(family)).keys())

    async def get(self, family: str, key: str) -> str | None:
        response = await self.ami.send({"Action": "DBGet", "Family": family, "Key": key})
        messages = response if isinstance(response, list) else [response]
        for message in messages:
            if message.get("Event") == "DBGetResponse":
                return str(message.get("Val", ""))
        return None

    async def delete(self, family: str, key: str) -> None:
        await self.ami.send({"Action": "DBDel", "Family": family, "Key": key})

    async def _tree(self, family: str) -> dict[str, str]:
        response = await self.ami.send({"Action": "DBGetTree", "Family": family})
        messages = response if isinstance(response, list) else [response]
        found: dict[str, str] = {}
        prefix = f"/{family}/"
        for message in messages:
            if message.get("Event") != "DBGetTreeResponse":
                continue
            key = str(message.get("Key", ""))
            found[key[len(prefix):] if key.startswith(prefix) else key] = str(message.get("Val", ""))
        return found


class OutboxSweeper:
    """Sweeps the outbox over AMI every `interval_s` and whenever the link
    (re)connects.  `start` / `stop` own the task."""

    def __init__(self, astdb: AstDb, handoffs: Recorder, interval_s: float = 5.0) -> None:
        self.astdb = astdb
        self.handoffs = handoffs
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def kick(self) -> None:
        """Sweep now (the AMI link came back)."""
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="handoff outbox sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await sweep(self.astdb, self.handoffs)
            except Exception as exc:  # AMI down: the next round tries again
                log.warning("outbox sweep failed (%s); retrying in %.1f s", exc or type(exc).__name__,
                            self.interval_s)
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
