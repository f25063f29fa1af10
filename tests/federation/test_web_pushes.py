"""The web service on its own pushes to its peers (issue 13): `init_app`
without a process's dependencies runs the federation pusher itself, and
`hotline web` alone (no AGI, no bridge) delivers an order to the peer."""
from __future__ import annotations

import asyncio
import os
import sys

import aiohttp
from aiohttp import web

from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.settings import PROJECT_ROOT
from tests.federation.conftest import SECRET, Pair, free_port, new_key
from tests.federation.test_two_platforms import CITIZEN, police_order
from tests.support.children import stop_child
from tests.support.waiting import eventually

ORDER = {"source_centre": "12345", "target_centre": "110", "citizen_number": CITIZEN, "content": "占道经营"}


async def test_when_init_app_runs_alone_then_it_pushes_orders_to_its_peers(pair: Pair) -> None:
    await pair.a.stop()  # 12345's service, built by init_app alone this time (no deps given)
    runner = web.AppRunner(init_app(pair.a.settings, clock=pair.a.clock))
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", pair.a.settings.network.http_port).start()
        token = await create_token(runner.app[SESSIONS], role="seat", name="alone", now=pair.a.clock())
        async with aiohttp.ClientSession() as http:
            async with http.post(pair.a.url + "/api/orders", json=ORDER,
                                 headers={"Authorization": f"Bearer {token}", "Idempotency-Key": new_key()}) as r:
                assert r.status == 201
                order = await r.json()
        await police_order(pair, order)
    finally:
        await runner.cleanup()


async def test_when_hotline_web_runs_alone_then_it_pushes_orders_to_its_peers(pair: Pair) -> None:
    s = pair.a.settings
    token = pair.a.tokens["seat"]
    await pair.a.stop()
    env = {**os.environ, "HOTLINE_STATE_DIR": str(s.paths.state_dir), "HOTLINE_DATABASE_URL": s.effective_database_url,
           "HOTLINE_HTTP_HOST": "127.0.0.1", "HOTLINE_HTTP_PORT": str(s.network.http_port),
           "HOTLINE_AMI_PORT": str(free_port()), "HOTLINE_CENTRES": "12345:1001-1002",
           "HOTLINE_REDIS_PREFIX": s.redis.prefix, "HOTLINE_FEDERATION_NAME": "gov-12345",
           "HOTLINE_PEER_110_SECRET": SECRET, "HOTLINE_FEDERATION_POLL": "0.05",
           "HOTLINE_PEERS": f"police-110={pair.b.url} centres=110 secret_env=HOTLINE_PEER_110_SECRET"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "app.runtime.cli", "web", env=env,
                                                   cwd=str(PROJECT_ROOT), stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async def created() -> dict:
                try:
                    async with http.post(pair.a.url + "/api/orders", json=ORDER,
                                         headers={"Idempotency-Key": "one-order-once"}) as r:
                        assert r.status in (200, 201), r.status
                        return dict(await r.json())
                except aiohttp.ClientConnectionError as exc:
                    raise AssertionError(f"hotline web not listening yet: {exc}") from None
            order = await eventually(created, timeout=30, what="hotline web taking the order")
        await police_order(pair, order)
    finally:
        await stop_child(process, timeout=15)
