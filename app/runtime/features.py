"""The features a process is made of, and what each is given (wiring).

Every feature folder has a `plugin` module (as wazo-calld's plugins do):

* `setup(deps)` builds the feature's service over what this process has and
  offers it: its AGI routes into `deps.agi` (processes serving FastAGI), its
  services under the `web.AppKey`s its HTTP handlers read (`deps.provide`),
  its background workers (`deps.workers`, started and stopped by the process);
* `ROUTES`, `WEB_CONTEXTS`, `ON_SHUTDOWN`: its HTTP routes and the aiohttp
  contexts of its web-only work, which `app.web.app.init_app` adds.

`hotline up`, `hotline agi`, `hotline ami-bridge`, `hotline web`, the classic
AGI entry and the test rigs all call `setup_features` (through
`app.runtime.platform.Platform` or directly), so no process is half-wired.
What differs is only what `Dependencies` holds: an AMI link or not, FastAGI
or not, and which roles run the background work.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal, Protocol, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agi.registry import AgiRoutes
from ami_bridge.manager import AmiManager
from app.catalogue import plugin as catalogue
from app.federation import plugin as federation
from app.handoff import plugin as handoff
from app.inbound import plugin as inbound
from app.live import plugin as live
from app.live.store import LiveSource
from app.metrics import plugin as metrics
from app.orders import plugin as orders
from app.orders.services import OrderService
from app.overflow import plugin as overflow
from app.seats import plugin as seats
from app.threeway import plugin as threeway
from core.settings import Settings

Role = Literal["agi", "bridge", "web"]
"""agi: serves FastAGI; bridge: runs the AMI-side work (the live mirror, the
handoff journal, the surge controller, the seat journal); web: serves HTTP."""

T = TypeVar("T")


class Worker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Dependencies:
    """What a process gives its features."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    orders: OrderService
    roles: frozenset[Role]
    agi: AgiRoutes | None = None        # the FastAGI routes this process serves
    ami: AmiManager | None = None       # this process's AMI link (actions; events for the bridge role)
    live: LiveSource | None = None      # the live state in memory: this process's AMI bridge (bridge role)
    services: dict[web.AppKey[Any], Any] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    features: tuple[ModuleType, ...] = ()   # those set up on these dependencies

    def provide(self, key: web.AppKey[T], value: T) -> None:
        self.services[key] = value

    def get(self, key: web.AppKey[T]) -> T:
        return self.services[key]


FEATURES: tuple[ModuleType, ...] = (inbound, orders, catalogue, handoff, threeway, overflow, seats, live, federation,
                                    metrics)


def setup_features(deps: Dependencies, features: tuple[ModuleType, ...] = FEATURES) -> Dependencies:
    """Wire `features` (all by default) onto `deps`; returns `deps`."""
    for feature in features:
        feature.setup(deps)
    deps.features += features
    return deps
