"""The live feed behind the dashboard's event stream: change notices fanned out (adapter, I/O).

One `LiveFeed` per web process, however many browsers watch:

* one Redis subscription to `{prefix}live:updates` (the AMI bridge publishes
  there after every change it writes, `core.live`); a burst of notices is
  coalesced for `debounce_s` and then bumps `live_version` once;
* one orders poller (every `orders_poll_s` while a stream watches, and right
  after a live change, since a handoff's outcome lands in the database as its
  call changes): the latest handoffs and the overdue orders (督办), kept as
  ORM rows; a change of their (id, status, updated_at) bumps `orders_version`.

Streams (`app.live.stream`) wait for a version they have not sent yet and
shape the answer per role themselves; nothing here masks, shapes HTTP or
knows about aiohttp.  Both loops start with the first stream (a process
nobody watches subscribes to nothing) and survive Redis or database faults:
they log once, back off, and bump the version when they recover, so every
stream refreshes.  `close()` wakes every stream so it can end (shutdown).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi.background import cancel_all, wait_for
from app.orders.repository import OrderFilter, latest_orders, list_orders
from app.runtime.models import Order
from core.live import UPDATES_CHANNEL

log = logging.getLogger(__name__)

HANDOFF_MODES: tuple[str, ...] = ("transfer", "three_way", "overflow")


@dataclass
class OrdersSnapshot:
    """What the dashboard lists besides the live state (raw rows: streams mask per role)."""

    handoffs: list[Order] = field(default_factory=list)
    overdue: list[Order] = field(default_factory=list)
    overdue_total: int = 0
    error: str | None = None  # the database could not be read (the lists are the last good ones)

    def signature(self) -> tuple[Any, ...]:
        return (tuple((o.id, o.status, o.updated_at) for o in self.handoffs),
                tuple((o.id, o.status, o.updated_at) for o in self.overdue), self.overdue_total, self.error)


class LiveFeed:
    def __init__(self, redis_url: str, prefix: str, sessions: async_sessionmaker[AsyncSession],
                 now: Callable[[], datetime], *, debounce_s: float = 0.1, orders_poll_s: float = 1.0,
                 handoffs_shown: int = 10, overdue_shown: int = 20) -> None:
        self.redis_url = redis_url
        self.channel = prefix + UPDATES_CHANNEL
        self.sessions = sessions
        self.now = now
        self.debounce_s = debounce_s
        self.orders_poll_s = orders_poll_s
        self.handoffs_shown = handoffs_shown
        self.overdue_shown = overdue_shown
        self.live_version = 0
        self.orders_version = 0
        self.orders = OrdersSnapshot()
        self.watchers = 0
        self.closed = False
        self._changed = asyncio.Condition()
        self._live_noticed = asyncio.Event()
        self._orders_due = asyncio.Event()
        self._watched = asyncio.Event()  # set while at least one stream watches
        self._settling: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------ streams

    @contextmanager
    def watching(self) -> Iterator[LiveFeed]:
        """A stream's interest: starts the loops with the first watcher."""
        self.watchers += 1
        self._watched.set()
        if not self._tasks and not self.closed:
            self._tasks = [asyncio.create_task(self._subscribe_loop(), name="live-feed-redis"),
                           asyncio.create_task(self._orders_loop(), name="live-feed-orders")]
        try:
            yield self
        finally:
            self.watchers -= 1
            if not self.watchers:
                self._watched.clear()

    async def wait_newer(self, live_seen: int, orders_seen: int, timeout: float) -> None:
        """Return when either version moved past what the caller has sent, on
        close, or after `timeout` (the caller then sends a keep-alive)."""
        async def moved() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.closed or self.live_version != live_seen
                                             or self.orders_version != orders_seen)
        try:
            await wait_for(moved(), timeout)
        except TimeoutError:
            pass

    async def close(self) -> None:
        self.closed = True
        async with self._changed:
            self._changed.notify_all()
        # cancelled until they have ended: a cancel landing in redis-py's
        # pub/sub read can be swallowed, and the loop would listen on
        await cancel_all(self._tasks + ([self._settling] if self._settling else []))
        self._tasks = []

    async def _bump(self, live: bool = False, orders: bool = False) -> None:
        async with self._changed:
            if live:
                self.live_version += 1
            if orders:
                self.orders_version += 1
            self._changed.notify_all()

    # ------------------------------------------------------------ Redis notices

    async def _subscribe_loop(self) -> None:
        backoff = 0.2
        down_since: float | None = None
        while not self.closed:
            # Its own client: a subscription blocks its connection, and the
            # app's client has a short socket timeout for request/answer use.
            client = Redis.from_url(self.redis_url, socket_connect_timeout=2, health_check_interval=15)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    if down_since is not None:
                        log.info("live feed: redis subscription back after %.1fs", time.monotonic() - down_since)
                        down_since = None
                    backoff = 0.2
                    await self._notice()  # whatever changed while we were not listening
                    async for message in pubsub.listen():
                        if self.closed:
                            break
                        if message.get("type") == "message":
                            await self._notice()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("live feed: redis subscription to %s lost: %s", self.channel, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                await client.aclose()

    async def _notice(self) -> None:
        """A change notice: coalesce a burst (one call is many events), then bump once."""
        if self._live_noticed.is_set():
            return
        self._live_noticed.set()

        async def settle() -> None:
            await asyncio.sleep(self.debounce_s)
            self._live_noticed.clear()
            await self._bump(live=True)
            self._orders_due.set()

        self._settling = asyncio.create_task(settle())  # keep a reference until it ran

    # ------------------------------------------------------------ orders

    async def _orders_loop(self) -> None:
        last: tuple[Any, ...] | None = None
        while not self.closed:
            await self._watched.wait()  # nobody watching: no polling
            snapshot = await self._read_orders()
            if snapshot.signature() != last:
                last = snapshot.signature()
                self.orders = snapshot
                await self._bump(orders=True)
            self._orders_due.clear()
            try:
                await wait_for(self._orders_due.wait(), self.orders_poll_s)
            except TimeoutError:
                pass

    async def _read_orders(self) -> OrdersSnapshot:
        try:
            async with self.sessions() as session:
                handoffs = await latest_orders(session, HANDOFF_MODES, limit=self.handoffs_shown)
                overdue, total = await list_orders(session, OrderFilter(overdue=True), now=self.now(),
                                                   limit=self.overdue_shown, offset=0)
        except (SQLAlchemyError, OSError) as exc:
            if self.orders.error is None:
                log.warning("live feed: cannot read orders: %s", exc)
            return OrdersSnapshot(self.orders.handoffs, self.orders.overdue, self.orders.overdue_total,
                                  error=type(exc).__name__)
        return OrdersSnapshot(handoffs, overdue, total)
