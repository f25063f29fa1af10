"""RedisLiveState: writes the live queue/seat/channel state to Redis (adapter layer).

The in-memory `LiveModel` (see `ami_bridge.translate`) is the truth; Redis
holds its projection in the `core.live` layout.  Every write is one MULTI
transaction that also PUBLISHes one notice of what it changed
(`core.live.change_notice`), so a reader never sees a half-written resync
and never misses a change it is told about.
Events come in batches (`handle_events`: those the bridge found queued
together): applied one by one, written and published once for the lot.

If Redis is down the model keeps being updated, the failure is logged once,
and `flush()` (called periodically by the service) rewrites everything when
Redis answers again.  Nothing here talks to Asterisk.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ami_bridge.translate import (
    BadEvent,
    Changes,
    Directory,
    LiveModel,
    apply_event,
    diff,
    empty_model,
    model_from_status,
)
from core.live import (
    AMI_KEY,
    CHANNELS_KEY,
    QUEUES_KEY,
    SEATS_KEY,
    UPDATES_CHANNEL,
    NoticeKind,
    change_notice,
)

log = logging.getLogger(__name__)


class RedisLiveState:
    """The only writer of `{prefix}live:*`."""

    def __init__(self, redis: Redis, prefix: str, directory: Directory,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.prefix = prefix
        self.directory = directory
        self.clock = clock
        self.model: LiveModel = empty_model(directory, clock())
        self.ami: dict[str, str] = {"connected": "0"}
        self.dirty = True           # Redis does not hold the model yet
        self._resynced = False      # no snapshot yet: nothing to publish per event
        self._redis_down = False
        self.events_applied = 0
        self.events_rejected = 0

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def resynced(self) -> bool:
        """True once a snapshot (resync) made the model; before it Redis holds
        no queue, seat or channel."""
        return self._resynced

    # ----------------------------------------------------------- AMI link

    async def connected(self, since: float | None = None) -> None:
        self.ami.update(connected="1", since=_ts(since if since is not None else self.clock()))
        await self._write_ami("connected")

    async def disconnected(self) -> None:
        """The AMI link dropped: readers must know the state is no longer live."""
        self.ami.update(connected="0", since=_ts(self.clock()))
        await self._write_ami("disconnected")

    # ------------------------------------------------------------- resync

    async def resync(self, status: Iterable[Mapping[str, Any]], asterisk_version: str | None = None,
                     channels: Iterable[Mapping[str, Any]] | None = None) -> Changes:
        """Replace the whole state with a `QueueStatus` answer and, when given,
        a `CoreShowChannels` answer (else the channels in memory are kept)."""
        now = self.clock()
        new, problems = model_from_status(status, self.directory, now, previous=self.model, channels=channels)
        for problem in problems:
            self.events_rejected += 1
            log.warning("resync: skipped malformed %s", problem)
        changes = diff(self.model, new)
        self.model = new
        self._resynced = True
        self.ami["resynced_at"] = _ts(now)
        if asterisk_version:
            self.ami["asterisk_version"] = asterisk_version
        if self.dirty or changes:
            log.info("resync: %d queues, %d seats, %d channels, %d changed",
                     len(new.queues), len(new.seats), len(new.channels),
                     len(changes.queues) + len(changes.seats) + len(changes.channels))
        await self._write_all(changes, ami_id="resynced")
        return changes

    # ------------------------------------------------------------- events

    async def handle_event(self, event: Mapping[str, Any]) -> Changes:
        """Apply one AMI event; log and ignore it when malformed."""
        return await self.handle_events((event,))

    async def handle_events(self, events: Iterable[Mapping[str, Any]]) -> Changes:
        """Apply AMI events in order (a malformed one is logged and skipped),
        then write what they changed together: one transaction for the lot
        (each changed queue, seat and channel written and published once,
        `last_event_at` once).  Returns the union of their changes."""
        now = self.clock()
        queues: set[str] = set()
        seats: set[str] = set()
        channels: set[str] = set()
        applied = 0
        for event in events:
            try:
                changes = apply_event(self.model, event, self.directory, now)
            except BadEvent as exc:
                self.events_rejected += 1
                log.warning("ignored malformed AMI event %s", exc)
                continue
            except Exception:  # a bug here must not stop the bridge
                self.events_rejected += 1
                log.exception("failed to apply AMI event %r",
                              event.get("Event") if isinstance(event, Mapping) else event)
                continue
            applied += 1
            queues |= changes.queues
            seats |= changes.seats
            channels |= changes.channels
        if not applied:
            return Changes()
        self.events_applied += applied
        self.ami["last_event_at"] = _ts(now)
        changed = Changes(frozenset(queues), frozenset(seats), frozenset(channels))
        if not changed or not self._resynced:
            return changed
        if self.dirty:
            await self.flush()
            return changed
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                self._stage_changes(pipe, changed)
                pipe.hset(self.key(AMI_KEY), "last_event_at", self.ami["last_event_at"])
                self._stage_publish(pipe, changed)
                await pipe.execute()
            self._redis_ok()
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
        return changed

    async def flush(self) -> bool:
        """Rewrite everything if a Redis write was missed; True when Redis holds the model."""
        if not self.dirty:
            return True
        every = Changes(frozenset(self.model.queues), frozenset(self.model.seats), frozenset(self.model.channels))
        return await self._write_all(every if self._resynced else Changes(), ami_id="connected"
                                     if self.ami.get("connected") == "1" else "disconnected")

    # ------------------------------------------------------------ writing
    # `type: ignore[arg-type]` on hset: redis-py types its mapping as
    # Mapping[FieldT, EncodableT], invariant in the key, so no dict[str, str] fits.

    async def _write_all(self, publish: Changes, *, ami_id: str) -> bool:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                if self._resynced:
                    queues = {n: q.to_json() for n, q in self.model.queues.items()}
                    seats = {e: s.state().to_json() for e, s in self.model.seats.items()}
                    channels = {u: c.to_json() for u, c in self.model.channels.items()}
                    pipe.delete(self.key(QUEUES_KEY), self.key(SEATS_KEY), self.key(CHANNELS_KEY))
                    if queues:
                        pipe.hset(self.key(QUEUES_KEY), mapping=queues)  # type: ignore[arg-type]
                    if seats:
                        pipe.hset(self.key(SEATS_KEY), mapping=seats)  # type: ignore[arg-type]
                    if channels:
                        pipe.hset(self.key(CHANNELS_KEY), mapping=channels)  # type: ignore[arg-type]
                pipe.delete(self.key(AMI_KEY))
                pipe.hset(self.key(AMI_KEY), mapping=self.ami)  # type: ignore[arg-type]
                self._stage_publish(pipe, publish, ami_id)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)
            return False
        self.dirty = False
        self._redis_ok()
        return True

    async def _write_ami(self, ami_id: str) -> None:
        if self.dirty:
            await self.flush()
            return
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.key(AMI_KEY), mapping=self.ami)  # type: ignore[arg-type]
                self._stage_publish(pipe, Changes(), ami_id)
                await pipe.execute()
            self._redis_ok()
        except (RedisError, OSError) as exc:
            self._redis_failed(exc)

    def _stage_changes(self, pipe: Any, changes: Changes) -> None:
        """One HSET (and at most one HDEL) per hash for the lot: a batch
        changes dozens of channels and seats."""
        parts: tuple[tuple[str, frozenset[str], Callable[[str], str | None]], ...] = (
            (QUEUES_KEY, changes.queues, self._queue_json),
            (SEATS_KEY, changes.seats, self._seat_json),
            (CHANNELS_KEY, changes.channels, self._channel_json),
        )
        for key, names, as_json in parts:
            written: dict[str, str] = {}
            gone: list[str] = []
            for name in names:
                value = as_json(name)
                if value is None:
                    gone.append(name)
                else:
                    written[name] = value
            if written:
                pipe.hset(self.key(key), mapping=written)
            if gone:
                pipe.hdel(self.key(key), *gone)

    def _queue_json(self, name: str) -> str | None:
        queue = self.model.queues.get(name)
        return None if queue is None else queue.to_json()

    def _seat_json(self, ext: str) -> str | None:
        seat = self.model.seats.get(ext)
        return None if seat is None else seat.state().to_json()

    def _channel_json(self, uniqueid: str) -> str | None:
        channel = self.model.channels.get(uniqueid)
        return None if channel is None else channel.to_json()

    def _stage_publish(self, pipe: Any, changes: Changes, ami_id: str | None = None) -> None:
        """One notice for the write (`core.live.change_notice`), if it changed anything."""
        changed: dict[NoticeKind, Iterable[str]] = {
            "queue": changes.queues, "seat": changes.seats, "channel": changes.channels,
            "ami": [ami_id] if ami_id else []}
        if any(changed.values()):
            pipe.publish(self.key(UPDATES_CHANNEL), change_notice(changed))

    def _redis_failed(self, exc: BaseException) -> None:
        self.dirty = True
        if not self._redis_down:
            self._redis_down = True
            log.warning("Redis write failed (%s); live state kept in memory, rewritten when Redis is back", exc)

    def _redis_ok(self) -> None:
        if self._redis_down:
            self._redis_down = False
            log.info("Redis is back; live state rewritten")


def _ts(value: float) -> str:
    return f"{value:.3f}"

