"""Fixtures of the `browser` tier: real headless Chromium against the whole product.

Chromium is Debian's (`/usr/bin/chromium`, installed by `./hotline test`),
driven by the `playwright` package over CDP; no browser is ever downloaded.
A missing Chromium is an error here, never a skip.  Behind the page runs what
`hotline up` runs: the rig's real Asterisk and FastAGI server, an AMI bridge
mirroring it into Redis, the overflow controller, and the web service on a
free port with the same handoff service, three-way service and AMI link;
orders in a SQLite file of the test's own.
Every test ends with no channel and no conference left (the `pbx` fixture)
and no uncaught error in the page.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from app.runtime.features import FEATURES
from app.runtime.models import utcnow
from app.tools.simulation import clean_redis
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.settings import PROJECT_ROOT
from tests.support.pbx import Pbx, free_port

CHROMIUM = Path(os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium"))
# What Chromium needs to start quietly here: no sandbox (root in a container),
# no GPU, and none of its own network traffic (this machine's network is closed).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--disable-extensions"]
ARTIFACTS = PROJECT_ROOT / "artifacts"
VIEWPORT: ViewportSize = {"width": 1920, "height": 1080}  # a wall screen


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.asterisk)  # the calls are real too


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat() when the session starts
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `./hotline test` (it installs Debian's chromium) "
                    "or `apt-get install chromium`", pytrace=False)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture(scope="session")
async def rig(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    # a quick surge detector, so the dashboard's overflow state can be watched live
    pbx = await Pbx.start(tmp_path_factory.mktemp("pbx-browser"), HOTLINE_OVERFLOW_CHECK_INTERVAL="0.2",
                          HOTLINE_OVERFLOW_OPEN_AFTER="0", HOTLINE_OVERFLOW_CLEAR_AFTER="1.5")
    try:
        yield pbx
    finally:
        await pbx.stop()


@dataclass
class Product:
    """The running product behind the page: its URL, a token per role, an API client."""

    base_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    http: ClientSession | None = None

    async def api(self, method: str, path: str, role: str = "admin", **kwargs: Any) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.request(method, self.base_url + path,
                                     headers={"Authorization": f"Bearer {self.tokens[role]}"}, **kwargs) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body


@pytest.fixture
async def product(pbx: Pbx, tmp_path: Path) -> AsyncIterator[Product]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    # the live mirror, as `hotline up` runs it
    bridge = pbx.live_mirror()
    await bridge.start()
    # every feature wired as in `hotline up`: one service per feature for the keys
    # (the rig's FastAGI), the buttons (web) and the AMI-side workers
    deps = await pbx.wire(url, features=FEATURES)
    assert deps is not None
    settings = pbx.settings.with_(paths={"state_dir": tmp_path / "web"}, database={"url": url},
                                  network={"http_port": free_port()})
    app = init_app(settings, deps=deps)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    http = ClientSession()
    try:
        await web.TCPSite(runner, "127.0.0.1", settings.network.http_port).start()
        product = Product(f"http://127.0.0.1:{settings.network.http_port}", http=http)
        for role in ("seat", "supervisor", "admin"):
            product.tokens[role] = await create_token(app[SESSIONS], role=role,
                                                      name=f"{role}-{uuid.uuid4().hex[:6]}", now=utcnow())
        yield product
    finally:
        await http.close()
        await runner.cleanup()
        await _calls_over(pbx)  # a conference's last AGI reports reach the service before it goes
        await pbx.wire(None)
        await bridge.stop()
        await clean_redis(pbx.settings)


async def _calls_over(pbx: Pbx, timeout_s: float = 10.0) -> None:
    """Wait for the test's calls to end; never fails nor hangs anything up —
    the `pbx` fixture's leak check that follows is the judge."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while any(await pbx.leaks()) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110 - polls Asterisk
        await asyncio.sleep(0.1)



@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (its own sessionStorage) at wall-screen size; an
    uncaught error in the page fails the test."""
    context = await browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


async def sign_in(page: Page, product: Product, role: str, route: str = "") -> None:
    """Open the UI, sign in with the role's token, and go to `route` (e.g. "#/seat/1001")."""
    await page.goto(product.base_url + "/" + route)
    await page.fill("#login-token", product.tokens[role])
    await page.click("#login button[type=submit]")
    await page.wait_for_selector(f"#who [data-role={role}]")
