"""Two real instances of the web service on loopback — 12345 (platform A, SQLite)
and 110 (platform B, SQLite or PostgreSQL through `database_url`) — linked as
peers, each with its own database, Redis prefix, clock and pusher.

An instance is wired as `hotline web` wires itself (`app.runtime.platform`,
web role, without an AMI link): features set up on its own dependencies,
their workers started, the app served on a fixed port so the other can be
told where it is, and stopped and started again on the same database and
port to play a platform going down and coming back.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from app.federation.http import FEDERATION
from app.federation.services import FederationService
from app.runtime.models import (
    FederationExchange,
    FederationInbox,
    FederationOutbox,
    Order,
    OrderEvent,
)
from app.tools.federation_bench import WebInstance
from app.tools.ports import free_port
from app.web.auth import create_token
from core.centres import parse_centres
from core.federation import (
    HEADER_NONCE,
    HEADER_PEER,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    sign,
    uscc_check_char,
)
from core.settings import (
    DatabaseSettings,
    FederationSettings,
    NetworkSettings,
    OrderSettings,
    PathSettings,
    Peer,
    RedisSettings,
    Settings,
    SiteSettings,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
SECRET = "shared-secret-of-12345-and-110"
# Retries in the instances' own (controllable) time: ~19 minutes in all, no jitter.
RETRY = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 300.0, 300.0)


def org_code(first17: str) -> str:
    return first17 + uscc_check_char(first17)


ORG_12345 = org_code("11450700MB1234567")   # 钦州市12345政务服务便民热线 (made up, valid check character)
ORG_110 = org_code("11450700MB7654321")     # 钦州市公安局110指挥中心 (made up)


class Clock:
    """An instance's "now", moved by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Instance(WebInstance):
    """One platform: its settings, database, clock and (while up) its web service and pusher."""

    clock: Clock

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(settings, clock=Clock())
        self.name = name
        self.tokens: dict[str, str] = {}
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await super().start()
        assert self.deps is not None
        if not self.tokens:
            for role in ("seat", "supervisor", "admin"):
                self.tokens[role] = await create_token(self.deps.sessions, role=role, name=f"{role}-{self.name}",
                                                       now=self.clock())
        if self.http is None:
            self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.stop()
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def call(self, method: str, path: str, *, role: str = "seat", **kwargs: Any) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"Authorization": f"Bearer {self.tokens[role]}", **kwargs.pop("headers", {})}
        async with self.http.request(method, self.url + path, headers=headers, **kwargs) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body

    # reading the database directly (the test's eyes, not the API under test)

    async def orders(self) -> list[Order]:
        assert self.deps is not None
        async with self.deps.sessions() as session:
            return list(await session.scalars(select(Order).order_by(Order.created_at, Order.number)))

    async def events(self, order_id: str) -> list[OrderEvent]:
        assert self.deps is not None
        async with self.deps.sessions() as session:
            return list(await session.scalars(select(OrderEvent).where(OrderEvent.order_id == order_id)
                                              .order_by(OrderEvent.id)))

    async def outbox(self) -> list[FederationOutbox]:
        assert self.deps is not None
        async with self.deps.sessions() as session:
            return list(await session.scalars(select(FederationOutbox).order_by(FederationOutbox.id)))

    async def exchanges(self) -> list[FederationExchange]:
        assert self.deps is not None
        async with self.deps.sessions() as session:
            return list(await session.scalars(select(FederationExchange).order_by(FederationExchange.id)))

    @property
    def federation(self) -> FederationService:
        assert self.deps is not None
        return self.deps.get(FEDERATION)

    async def inbox(self) -> list[FederationInbox]:
        assert self.deps is not None
        async with self.deps.sessions() as session:
            return list(await session.scalars(select(FederationInbox).order_by(FederationInbox.at)))


def platform_settings(tmp: Path, *, centres: str, name: str, port: int, database_url: str, redis_prefix: str,
                      peers: tuple[Peer, ...], org: str) -> Settings:
    return Settings(
        site=SiteSettings(centres=parse_centres(centres), seat_mode="simulated"),
        paths=PathSettings(state_dir=tmp),
        redis=RedisSettings(url=REDIS_URL, prefix=redis_prefix),
        network=NetworkSettings(http_port=port),
        database=DatabaseSettings(url=database_url),
        orders=OrderSettings(overdue_check_s=3600),
        # a try's timeout is real time, its retry waits for the hand-moved
        # clock: a try timed out on a busy machine (1 s was, once, in a full
        # run) is not tried again until a test moves the clock
        federation=FederationSettings(name=name, peers=peers, division_code="450700", org_code=org,
                                      unit_name=f"钦州市{name}", retry_s=RETRY, jitter=0.0, timeout_s=10.0,
                                      poll_s=0.02))


@dataclass
class Pair:
    a: Instance  # 12345, platform gov-12345
    b: Instance  # 110, platform police-110


@pytest.fixture
async def pair(tmp_path: Path, sqlite_url: str, database_url: str, redis_prefix: str) -> AsyncIterator[Pair]:
    port_a, port_b = free_port(), free_port()
    other_secret = "secret-of-fire-119-only-xx"
    a = Instance("gov-12345", platform_settings(
        tmp_path / "a", centres="12345:1001-1002", name="gov-12345", port=port_a, database_url=sqlite_url,
        redis_prefix=redis_prefix + "a:", org=ORG_12345,
        peers=(Peer("police-110", f"http://127.0.0.1:{port_b}", ("110",), SECRET),)))
    b_url = database_url if database_url != sqlite_url else f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
    b = Instance("police-110", platform_settings(
        tmp_path / "b", centres="110:2001", name="police-110", port=port_b, database_url=b_url,
        redis_prefix=redis_prefix + "b:", org=ORG_110,
        peers=(Peer("gov-12345", f"http://127.0.0.1:{port_a}", ("12345",), SECRET),
               Peer("fire-119", "http://127.0.0.1:9", ("119",), other_secret))))
    await a.start()
    await b.start()
    try:
        yield Pair(a, b)
    finally:
        await a.close()
        await b.close()


def signed_headers(peer: str, secret: str, path: str, body: bytes, *, timestamp: str | None = None,
                   nonce: str | None = None) -> dict[str, str]:
    timestamp = timestamp or str(int(time.time()))
    nonce = nonce or secrets.token_urlsafe(18)
    return {"Content-Type": "application/json", HEADER_PEER: peer, HEADER_TIMESTAMP: timestamp,
            HEADER_NONCE: nonce, HEADER_SIGNATURE: sign(secret, "POST", path, timestamp, nonce, body)}


def document_bytes(document: dict[str, Any]) -> bytes:
    """The bytes the pusher sends for a document."""
    return json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def new_key() -> str:
    return uuid.uuid4().hex
