"""The dashboard's 平台互联 panel (issue 13, link health): a supervisor sees a
peer platform whose pushes fail — its queue and last error — from /api/live's
`federation` block, in a real Chromium.  The web service runs on its own
(init_app wires and runs its pusher); the peer is a port nobody listens on."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, web
from playwright.async_api import Page, expect

from app.runtime.models import utcnow
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.centres import parse_centres
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
from tests.browser.conftest import Product, sign_in
from tests.support.pbx import free_port
from tests.support.waiting import eventually


@pytest.fixture
async def alone(tmp_path: Path, redis_prefix: str) -> AsyncIterator[Product]:
    port = free_port()
    settings = Settings(
        site=SiteSettings(centres=parse_centres("12345:1001-1002"), seat_mode="simulated"),
        paths=PathSettings(state_dir=tmp_path), network=NetworkSettings(http_port=port),
        redis=RedisSettings(url="redis://127.0.0.1:6379/0", prefix=redis_prefix),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"),
        federation=FederationSettings(name="gov-12345", peers=(
            Peer("police-110", f"http://127.0.0.1:{free_port()}", ("110",), "a-secret-of-20-chars"),),
            retry_s=(600.0,), jitter=0.0, poll_s=0.05))
    runner = web.AppRunner(init_app(settings))
    await runner.setup()
    http = ClientSession()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        product = Product(f"http://127.0.0.1:{port}", http=http)
        for role in ("seat", "supervisor"):
            product.tokens[role] = await create_token(runner.app[SESSIONS], role=role, name=f"{role}-links",
                                                      now=utcnow())
        yield product
    finally:
        await http.close()
        await runner.cleanup()


async def test_when_pushes_to_a_peer_fail_then_the_supervisors_dashboard_shows_the_link_in_trouble(
        alone: Product, page: Page) -> None:
    status, _ = await alone.api("POST", "/api/orders", role="seat", json={
        "source_centre": "12345", "target_centre": "110", "citizen_number": "13800138000", "content": "噪音"})
    assert status == 201

    async def failed_once() -> bool:
        _status, body = await alone.api("GET", "/api/federation/status", role="supervisor")
        assert body["peers"][0]["last_error"], "no failed try yet"
        return True
    await eventually(failed_once, timeout=10, what="a failed push")

    await sign_in(page, alone, "supervisor")
    row = page.locator('#links tr[data-peer="police-110"]')
    await expect(row).to_have_attribute("data-ok", "false", timeout=5000)
    await expect(row.locator('[data-stat="pending"]')).to_have_text("1")
    await expect(row.locator(".error")).to_contain_text("ClientConnectorError")
