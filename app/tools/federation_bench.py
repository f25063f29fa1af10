"""Benchmark of orders across platforms (issue 13): two instances on loopback (benchmark, I/O).

`hotline bench federation` starts two platforms in this process — 12345
(A) and 110 (B), each its own web service, database and pusher, linked as
peers with a fresh shared secret — and reports, as JSON:

* `accept`: how many signed `order` pushes per second B accepts from a peer
  (distinct orders, `concurrency` in flight, each answered 201 and written
  with its audit lines), on SQLite or on `--database-url` for B;
* `status_to_peer_ms`: for orders A handed to B, the delay from B's seat
  asking to sign for one (签收, the API call) to A's order committing the
  peer's status (A's order service tells an observer), p50/p95/max.

Nothing is left behind: the instances run in a temporary directory.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from agi.background import wait_for
from app.orders.services import OrderChange, OrderService
from app.runtime import db
from app.runtime.features import Dependencies, setup_features
from app.runtime.models import utcnow
from app.tools.ports import free_port as _port
from app.web.app import init_app
from app.web.auth import create_token
from core.centres import parse_centres
from core.federation import (
    HEADER_NONCE,
    HEADER_PEER,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    sign,
)
from core.settings import (
    DatabaseSettings,
    FederationSettings,
    NetworkSettings,
    PathSettings,
    Peer,
    RedisSettings,
    Settings,
    SiteSettings,
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class WebInstance:
    """One platform's web service as `hotline web` wires it, without an AMI link
    (this bench's instances, and the federation tests'): its database migrated,
    its features set up and their workers started, the app served on a fixed
    port of 127.0.0.1 (so a peer can be told its address before it is up).
    Stopped, it can start again on the same database and port.  `clock` is
    "now" for its orders."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.clock = clock
        self.deps: Dependencies | None = None
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.network.http_port}"

    async def start(self) -> None:
        s = self.settings
        await db.migrate(s.effective_database_url)
        engine = db.create_engine(s.effective_database_url)
        sessions = db.session_factory(engine)
        orders = OrderService(sessions, clock=self.clock, limits=s.orders.time_limits)
        self.deps = setup_features(Dependencies(s, engine, sessions, orders, frozenset({"web"})))
        for worker in self.deps.workers:
            await worker.start()
        self.runner = web.AppRunner(init_app(s, deps=self.deps))
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", s.network.http_port).start()

    async def stop(self) -> None:
        """The platform goes down: web service, workers, database connections."""
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        if self.deps is not None:
            for worker in reversed(self.deps.workers):
                await worker.stop()
            await self.deps.engine.dispose()
            self.deps = None


class _Instance(WebInstance):
    async def token(self, role: str) -> str:
        assert self.deps is not None
        return await create_token(self.deps.sessions, role=role, name=f"bench-{role}-{uuid.uuid4().hex[:6]}",
                                  now=datetime.now(UTC))


def _settings(state: Path, *, name: str, centres: str, port: int, url: str, peer: Peer, redis_url: str) -> Settings:
    return Settings(site=SiteSettings(centres=parse_centres(centres), seat_mode="simulated"),
                    paths=PathSettings(state_dir=state), network=NetworkSettings(http_port=port),
                    redis=RedisSettings(url=redis_url, prefix=f"bench-{uuid.uuid4().hex[:8]}:"),
                    database=DatabaseSettings(url=url),
                    federation=FederationSettings(name=name, peers=(peer,), division_code="450700",
                                                  timeout_s=5.0, poll_s=0.05, jitter=0.0))


class _PeerStatusClock:
    """Observer on A's orders: when each peer status was committed."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Event] = {}

    async def changed(self, session: Any, order: Any, change: OrderChange) -> None:
        return None

    def committed(self, order: Any, change: OrderChange) -> None:
        if change.actor.startswith("peer:") and change.to_status == "signed":
            self.at[order.id] = time.perf_counter()
            self.waiters.setdefault(order.id, asyncio.Event()).set()


async def run_federation_bench(settings: Settings, *, pushes: int = 200, concurrency: int = 8, statuses: int = 30,
                               database_url: str | None = None) -> dict[str, Any]:
    secret = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="hotline-fedbench-") as tmp:
        root = Path(tmp)
        port_a, port_b = _port(), _port()
        a = _Instance(_settings(root / "a", name="gov-12345", centres="12345:1001-1002", port=port_a,
                                url=f"sqlite+aiosqlite:///{root / 'a.db'}", redis_url=settings.redis.url,
                                peer=Peer("police-110", f"http://127.0.0.1:{port_b}", ("110",), secret)))
        b = _Instance(_settings(root / "b", name="police-110", centres="110:2001-2002", port=port_b,
                                url=database_url or f"sqlite+aiosqlite:///{root / 'b.db'}",
                                redis_url=settings.redis.url,
                                peer=Peer("gov-12345", f"http://127.0.0.1:{port_a}", ("12345",), secret)))
        await a.start()
        await b.start()
        try:
            accept = await _accept(b, secret, pushes, concurrency)
            delay = await _status_delay(a, b, statuses)
        finally:
            await a.stop()
            await b.stop()
    return {"b_database": "postgresql" if database_url and database_url.startswith("postgresql") else "sqlite",
            "accept": accept, "status_to_peer_ms": delay}


async def _accept(b: _Instance, secret: str, count: int, concurrency: int) -> dict[str, Any]:
    path = "/api/federation/orders"
    now = datetime.now(UTC).isoformat()
    semaphore = asyncio.Semaphore(concurrency)
    statuses: list[int] = []

    async def one(http: aiohttp.ClientSession, i: int) -> None:
        doc = {"version": 1, "kind": "order", "seq": 1, "sent_at": now, "sender": {"platform": "gov-12345"},
               "order": {"id": str(uuid.uuid4()), "number": f"12345-bench-{i:05d}", "mode": "online",
                         "citizen_number": "13800138000", "source_centre": "12345", "target_centre": "110",
                         "created_at": now, "content": "bench"}}
        body = json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8")
        async with semaphore:
            ts, nonce = str(int(time.time())), secrets.token_urlsafe(18)
            headers = {"Content-Type": "application/json", HEADER_PEER: "gov-12345", HEADER_TIMESTAMP: ts,
                       HEADER_NONCE: nonce, HEADER_SIGNATURE: sign(secret, "POST", path, ts, nonce, body)}
            async with http.post(b.url + path, data=body, headers=headers) as response:
                statuses.append(response.status)
                await response.read()

    async with aiohttp.ClientSession() as http:
        await one(http, -1)  # warm up (connections, first statements)
        statuses.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(http, i) for i in range(count)))
        elapsed = time.perf_counter() - started
    return {"pushes": count, "concurrency": concurrency, "seconds": round(elapsed, 3),
            "per_second": round(count / elapsed, 1), "answered_201": statuses.count(201),
            "answers": {str(s): statuses.count(s) for s in sorted(set(statuses))}}


async def _status_delay(a: _Instance, b: _Instance, count: int) -> dict[str, Any]:
    assert a.deps is not None and b.deps is not None
    clock = _PeerStatusClock()
    a.deps.orders.observe(clock)
    seat_a, seat_b = await a.token("seat"), await b.token("seat")
    delays: list[float] = []
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            body = {"source_centre": "12345", "target_centre": "110", "citizen_number": "13800138000",
                    "content": f"bench {i}"}
            async with http.post(a.url + "/api/orders", json=body, headers={"Authorization": f"Bearer {seat_a}"}) as r:
                order = await r.json()
            b_id = await _arrived(b, order["id"])
            waiter = clock.waiters.setdefault(order["id"], asyncio.Event())
            started = time.perf_counter()
            async with http.post(f"{b.url}/api/orders/{b_id}/sign", json={},
                                 headers={"Authorization": f"Bearer {seat_b}"}) as r:
                assert r.status == 200, await r.text()
            await wait_for(waiter.wait(), 30)
            delays.append((clock.at[order["id"]] - started) * 1000)
    return {"orders": count, "p50": round(statistics.median(delays), 1), "p95": round(_percentile(delays, 0.95), 1),
            "max": round(max(delays), 1)}


async def _arrived(b: _Instance, a_id: str, timeout_s: float = 30.0) -> str:
    from sqlalchemy import select

    from app.runtime.models import Order
    assert b.deps is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with b.deps.sessions() as session:
            found = (await session.scalars(select(Order.id).where(Order.peer_order_id == a_id))).first()
        if found:
            return str(found)
        await asyncio.sleep(0.01)
    raise TimeoutError(f"order {a_id} never reached the peer")
