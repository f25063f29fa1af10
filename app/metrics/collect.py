"""What hotline-link tells Prometheus (adapter, I/O: Redis, SQL, AMI at scrape time).

Two kinds of figures, all in prometheus_client's default registry (which
also carries the `process_*` figures: CPU seconds, memory, open files):

* **counted as it happens**, in the process where it happens: handoffs and
  three-way calls by mode, direction and outcome, the citizen's wait in the
  target queue and key press -> answer (`OrderMetrics`, an `OrderObserver`
  on the process's `OrderService`); AMI connections, reconnects, link state
  and events received (`AmiCollector`, read from the `AmiManager`s at
  scrape time); FastAGI route latency and failures (`agi.dispatch`, which
  uses prometheus_client itself: `agi/` imports nothing from `app/`).
* **read at scrape time** (`Snapshot.refresh`): calls waiting and the
  longest wait per queue, seats by state (the bridge's mirror in Redis),
  handoff records still in Asterisk's AstDB outbox (the journal's backlog),
  federation documents waiting to be pushed per peer, overdue orders (SQL).
  A source that does not answer leaves its figures out and counts
  `hotline_metrics_source_errors_total{source}`; the scrape still answers.

Label values come from configuration (queues, centres, peers) or from the
code's own vocabularies (statuses, modes, route names), never from a caller.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi.background import wait_for
from ami_bridge.manager import AmiManager
from app.orders.repository import overdue_condition
from app.orders.services import OrderChange
from app.runtime.models import FederationOutbox, Order, utcnow
from core.handoff import OUTBOX_FAMILY
from core.live import AMI_KEY, QUEUES_KEY, SEATS_KEY, QueueState, SeatState

log = logging.getLogger(__name__)

# what a handoff's order says when the handoff is over (core.orders statuses)
HANDOFF_OUTCOMES = frozenset({"accepted", "returned", "abandoned", "voided", "closed"})
# the modes whose orders are calls handed from one centre to another
CALL_MODES = frozenset({"transfer", "three_way", "overflow"})
# seconds: from a person answering at once to the handoff timeout and beyond
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 45, 60, 120)

HANDOFFS = Counter("hotline_handoffs", "Handoffs and three-way calls that ended, by how",
                   ("mode", "direction", "outcome"))
HANDOFFS_STARTED = Counter("hotline_handoffs_started", "Handoff and three-way orders created",
                           ("mode", "direction"))
HANDOFF_WAIT = Histogram("hotline_handoff_wait_seconds",
                         "The citizen's wait in the target centre's queue before a seat answered "
                         "(the order's wait_ms)", ("mode", "direction"), buckets=WAIT_BUCKETS)
KEY_TO_ANSWER = Histogram("hotline_handoff_key_to_answer_seconds",
                          "From the transfer key (the order's creation) to the target seat answering "
                          "(the order's acceptance)", ("mode", "direction"), buckets=WAIT_BUCKETS)
SOURCE_ERRORS = Counter("hotline_metrics_source_errors", "Scrapes where a source did not answer",
                        ("source",))

QUEUE_WAITING = Gauge("hotline_queue_calls_waiting", "Calls waiting in a queue", ("queue", "centre", "kind"))
QUEUE_LONGEST = Gauge("hotline_queue_longest_wait_seconds", "The longest wait of a call in a queue now",
                      ("queue", "centre", "kind"))
SEATS = Gauge("hotline_seats", "Seats by state (paused seats counted under state=paused)", ("centre", "state"))
BRIDGE_UP = Gauge("hotline_bridge_ami_link_up", "The AMI bridge's link as it reports it in Redis (1 up)")
OUTBOX_DEPTH = Gauge("hotline_handoff_outbox_depth",
                     "Handoff records in Asterisk's AstDB outbox not yet in SQL (the journal's backlog)")
FEDERATION_DEPTH = Gauge("hotline_federation_push_queue_depth",
                         "Documents waiting to be pushed to a peer platform, by state", ("peer", "state"))
OVERDUE = Gauge("hotline_orders_overdue", "Open orders past a time limit (督办)", ("order_class",))


@dataclass
class OrderMetrics:
    """Counts the handoffs' orders as the `OrderService` changes them (an
    `OrderObserver`: told after each commit; never fails a change)."""

    async def changed(self, session: AsyncSession, order: Order, change: OrderChange) -> None:
        return None

    def committed(self, order: Order, change: OrderChange) -> None:
        if order.mode not in CALL_MODES:
            return
        direction = order.direction or "?"
        if change.from_status is None:
            HANDOFFS_STARTED.labels(order.mode, direction).inc()
            if change.to_status == "pending":
                return
        elif change.from_status != "pending":
            return  # the order's later life (dispatch, sign-for, ...) is not the call's outcome
        if change.to_status not in HANDOFF_OUTCOMES:
            return
        HANDOFFS.labels(order.mode, direction, change.to_status).inc()
        if change.to_status != "accepted":
            return
        if order.wait_ms is not None:
            HANDOFF_WAIT.labels(order.mode, direction).observe(order.wait_ms / 1000)
        if order.accepted_at is not None and order.created_at is not None:
            seconds = (order.accepted_at - order.created_at).total_seconds()
            if seconds >= 0:
                KEY_TO_ANSWER.labels(order.mode, direction).observe(seconds)


class AmiCollector(Collector):
    """The AMI links of this process, read when scraped: connections (the
    first one and each reconnect), link state, late pings, events received by name."""

    def __init__(self) -> None:
        self._links: weakref.WeakSet[AmiManager] = weakref.WeakSet()

    def watch(self, ami: AmiManager) -> None:
        self._links.add(ami)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        links = list(self._links)
        up = GaugeMetricFamily("hotline_ami_link_up", "This process's AMI links that are logged in now")
        up.add_metric([], sum(1 for link in links if link.connected))
        yield up
        reconnects = CounterMetricFamily("hotline_ami_reconnects",
                                         "AMI logins after the first one of each link (Asterisk "
                                         "restarted or the link was lost)")
        reconnects.add_metric([], sum(max(link.connections - 1, 0) for link in links))
        yield reconnects
        late = CounterMetricFamily("hotline_ami_pings_late",
                                   "AMI pings left unanswered while Asterisk kept sending (a busy "
                                   "Asterisk: the link was kept)")
        late.add_metric([], sum(link.pings_late for link in links))
        yield late
        events = CounterMetricFamily("hotline_ami_events_received", "AMI events received, by name",
                                     labels=("event",))
        totals: dict[str, int] = {}
        for link in links:
            for name, count in link.events_received.items():
                totals[name] = totals.get(name, 0) + count
        for name, count in sorted(totals.items()):
            events.add_metric([name], count)
        yield events


AMI_LINKS = AmiCollector()
REGISTRY.register(AMI_LINKS)


class Snapshot:
    """The figures read when Prometheus scrapes: from Redis (the bridge's
    mirror), SQL and AstDB.  Any source may be absent (None)."""

    def __init__(self, *, redis: Redis | None, prefix: str,
                 sessions: async_sessionmaker[AsyncSession] | None, ami: AmiManager | None,
                 timeout_s: float = 3.0) -> None:
        self.redis, self.prefix, self.sessions, self.ami = redis, prefix, sessions, ami
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:  # two scrapes at once must not interleave clear() and set()
            await asyncio.gather(self._live(), self._sql(), self._outbox())

    async def _live(self) -> None:
        if self.redis is None:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(self.prefix + QUEUES_KEY)
                pipe.hgetall(self.prefix + SEATS_KEY)
                pipe.hget(self.prefix + AMI_KEY, "connected")
                queues, seats, connected = await wait_for(pipe.execute(), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - Redis down: the live figures are left out
            self._failed("redis", exc)
            for gauge in (QUEUE_WAITING, QUEUE_LONGEST, SEATS):
                gauge.clear()
            return
        now = time.time()
        QUEUE_WAITING.clear()
        QUEUE_LONGEST.clear()
        for raw in queues.values():
            try:
                queue = QueueState.from_json(raw)
            except (ValueError, TypeError, KeyError):
                continue
            QUEUE_WAITING.labels(queue.name, queue.centre, queue.kind).set(queue.waiting)
            QUEUE_LONGEST.labels(queue.name, queue.centre, queue.kind).set(round(queue.longest_wait_s(now), 3))
        counts: dict[tuple[str, str], int] = {}
        for raw in seats.values():
            try:
                seat = SeatState.from_json(raw)
            except (ValueError, TypeError, KeyError):
                continue
            key = (seat.centre, "paused" if seat.paused else seat.state)
            counts[key] = counts.get(key, 0) + 1
        SEATS.clear()
        for (centre, state), count in counts.items():
            SEATS.labels(centre, state).set(count)
        BRIDGE_UP.set(1 if connected in ("1", b"1") else 0)

    async def _sql(self) -> None:
        if self.sessions is None:
            return
        try:
            async with self.sessions() as session:
                overdue = (await wait_for(session.execute(
                    select(Order.order_class, func.count()).where(overdue_condition(utcnow()))
                    .group_by(Order.order_class)), self.timeout_s)).all()
                pushes = (await wait_for(session.execute(
                    select(FederationOutbox.peer, FederationOutbox.state, func.count())
                    .where(FederationOutbox.state != "sent")
                    .group_by(FederationOutbox.peer, FederationOutbox.state)), self.timeout_s)).all()
        except Exception as exc:  # noqa: BLE001 - the database is away: its figures are left out
            self._failed("database", exc)
            return
        OVERDUE.clear()
        for order_class, count in overdue:
            OVERDUE.labels(order_class or "general").set(count)
        FEDERATION_DEPTH.clear()
        for peer, state, count in pushes:
            FEDERATION_DEPTH.labels(peer, state).set(count)

    async def _outbox(self) -> None:
        if self.ami is None or not self.ami.connected:
            return
        try:
            reply = await self.ami.send({"Action": "DBGetTree", "Family": OUTBOX_FAMILY}, timeout=self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - AMI away: the backlog is left out
            self._failed("ami", exc)
            return
        messages: Iterable[Any] = reply if isinstance(reply, list) else [reply]
        OUTBOX_DEPTH.set(sum(1 for m in messages if m.get("Event") == "DBGetTreeResponse"))

    @staticmethod
    def _failed(source: str, exc: BaseException) -> None:
        SOURCE_ERRORS.labels(source).inc()
        log.warning("metrics: %s did not answer (%s)", source, str(exc) or type(exc).__name__)


def exposition(registry: CollectorRegistry = REGISTRY) -> tuple[bytes, str]:
    """The registry in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return generate_latest(registry), CONTENT_TYPE_LATEST
