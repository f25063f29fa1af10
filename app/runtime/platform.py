"""One process of the product, wired from its features (I/O: database, Redis, AMI, sockets).

`Platform(settings, roles)` is what `hotline up` (all roles, with Asterisk:
`app.runtime.stack`), `hotline agi`, `hotline ami-bridge` and `hotline web`
run.  It owns what the features share — the database engine (migrated to
head), the order service, the AMI link, the FastAGI routes — and
calls `setup_features` once; the roles only decide what is served:

* `agi`: the FastAGI server with every feature's routes;
* `bridge`: the live mirror of queues and seats in Redis (`AmiBridge`) and
  the features' AMI-side workers (the handoff journal, the surge controller);
* `web`: the HTTP service.

Every role gets an AMI link: the transfer and three-way buttons (web) and
the three-way keys (agi) move calls with it.  With `bridge` it is the
bridge's own link; otherwise a link that asks Asterisk for no events.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from agi.background import wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from ami_bridge.manager import AmiManager
from ami_bridge.service import AmiBridge
from app.live.store import bridge_source
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.features import Dependencies, Role, setup_features
from app.runtime.secrets import Secrets, load_or_create
from app.web.keys import HEALTH_CHECKS
from core.settings import Settings

log = logging.getLogger(__name__)

ALL_ROLES: frozenset[Role] = frozenset({"agi", "bridge", "web"})


class Platform:
    def __init__(self, settings: Settings, roles: Iterable[Role] = ALL_ROLES, *,
                 secrets: Secrets | None = None) -> None:
        self.settings = settings
        self.roles: frozenset[Role] = frozenset(roles)
        self.secrets = secrets if secrets is not None else load_or_create(settings)
        self.deps: Dependencies | None = None
        self.agi: FastAgiServer | None = None
        self.bridge: AmiBridge | None = None
        self.ami: AmiManager | None = None
        self.web_runner: web.AppRunner | None = None
        self._started: list = []

    async def wire(self) -> Dependencies:
        """Database (migrated), orders, AMI link and FastAGI routes; every
        feature set up on them.  Nothing is listening or connected yet."""
        s = self.settings
        await db.migrate(s.effective_database_url)
        engine = db.create_engine(s.effective_database_url)
        sessions = db.session_factory(engine)
        orders = OrderService(sessions, limits=s.orders.time_limits, jurisdiction=s.orders.jurisdiction,
                              number_tz=s.orders.tz)
        if "bridge" in self.roles:
            self.bridge = AmiBridge(s, self.secrets.ami_secret)
            self.ami = self.bridge.ami
        else:
            self.ami = AmiManager(s.ami.host, s.ami.port, s.ami.user, self.secrets.ami_secret,
                                  filter_events=True)
        routes = AgiRoutes() if "agi" in self.roles else None
        self.deps = setup_features(Dependencies(
            s, engine, sessions, orders, self.roles, agi=routes, ami=self.ami,
            live=bridge_source(self.bridge.live) if self.bridge is not None else None))
        if routes is not None:
            self.agi = FastAgiServer(s, routes)
        checks: dict[str, Callable[[], Awaitable[bool]]] = {"ami": self._ami_up, "agi": self._agi_up}
        self.deps.provide(HEALTH_CHECKS, checks)
        return self.deps

    async def _ami_up(self) -> bool:
        return self.ami is not None and self.ami.connected

    async def _agi_up(self) -> bool:
        """This process's FastAGI server serving; without one, the configured port answering."""
        if self.agi is not None:
            return self.agi.server is not None and self.agi.server.is_serving()
        network = self.settings.network
        try:
            _, writer = await wait_for(asyncio.open_connection(network.agi_host, network.agi_port), 2.0)
        except (TimeoutError, OSError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def start_agi(self) -> None:
        """The FastAGI server (before Asterisk, so its first call finds it)."""
        if self.deps is None:
            await self.wire()
        if self.agi is not None and self.agi.server is None:
            await self.agi.start()

    async def start(self) -> None:
        """Everything this process serves: FastAGI, the AMI link and workers, HTTP."""
        await self.start_agi()
        assert self.deps is not None and self.ami is not None
        if self.bridge is not None:
            await self.bridge.start()
        else:
            await self.ami.start()
        for worker in self.deps.workers:
            await worker.start()
            self._started.append(worker)
        if "web" in self.roles:
            from app.web.app import start as start_web

            self.web_runner = await start_web(self.settings, self.deps)

    async def stop(self, *, before_agi: Callable[[], Awaitable[None]] | None = None) -> None:
        """The reverse of `start`; safe after a partial start.  `before_agi` runs
        once the AMI side is down and before the FastAGI server stops (the
        stack stops Asterisk there, so no call meets a closed FastAGI port)."""
        if self.web_runner is not None:
            await self.web_runner.cleanup()
            self.web_runner = None
        while self._started:
            await self._started.pop().stop()
        if self.bridge is not None:
            await self.bridge.stop()
        elif self.ami is not None:
            await self.ami.close()
        if before_agi is not None:
            await before_agi()
        if self.agi is not None:
            await self.agi.stop()
        if self.deps is not None:
            await self.deps.engine.dispose()
            self.deps = None
