"""The whole product on one machine: Asterisk, FastAGI, AMI bridge, web (I/O).

`hotline up` and `hotline demo` run a `Stack`; production sites may instead
run each part as its own process (`hotline agi`, `hotline ami-bridge`,
`hotline web`) with Asterisk under systemd.  Start order: database migrations,
FastAGI (so the first call finds it), Asterisk, AMI bridge, web.  Stop order
is the reverse.
"""
from __future__ import annotations

import logging

from agi.context import RouteContext
from agi.server import FastAgiServer
from ami_bridge.service import AmiBridge
from app.handoff.journal import HandoffJournal
from app.handoff.runtime import HandoffRuntime
from app.handoff.telephony import AmiTelephony
from app.overflow.config import OverflowConfig
from app.overflow.controller import OverflowController
from app.runtime import db
from app.runtime.asterisk import AsteriskProcess
from app.runtime.render import render
from app.runtime.secrets import Secrets, load_or_create
from app.threeway.services import ThreeWayService
from app.threeway.telephony import AmiThreeWayTelephony
from core.settings import Settings

log = logging.getLogger(__name__)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets: Secrets = load_or_create(settings)
        self.asterisk = AsteriskProcess(settings)
        self.agi = FastAgiServer(settings, RouteContext(settings))
        self.runtime = HandoffRuntime(settings)
        self.bridge: AmiBridge | None = None
        self.overflow: OverflowController | None = None
        self.journal: HandoffJournal | None = None
        self.web_runner = None

    async def start(self) -> None:
        from app.web.app import start as start_web

        self.asterisk.check_installed()
        # One HandoffService for the transfer key (FastAGI), the journal and the button (web).
        handoffs = await self.runtime.start()
        orders = self.runtime.orders
        assert orders is not None and self.runtime.engine is not None
        render(self.settings, self.secrets)
        self.agi.context.handoffs = handoffs
        await self.agi.start()
        await self.asterisk.start()
        self.bridge = AmiBridge(self.settings, self.secrets.ami_secret)
        await self.bridge.start()
        # The transfer key's handoffs, from AstDB into SQL: recorded and accepted
        # from AMI events as they happen; left-overs (Python or the database was
        # down) swept now, every few seconds and each time the AMI link comes back.
        self.journal = HandoffJournal(self.bridge.ami, handoffs)
        await self.journal.start()
        # Three-way calls: one service for the keys (FastAGI) and the buttons (web), moves over AMI.
        threeway = ThreeWayService(self.settings, orders,
                                   AmiThreeWayTelephony(self.bridge.ami, self.settings.site.centres))
        self.agi.context.threeway = threeway
        # Remote-seat overflow: surges from the bridge's live state, members over its AMI link.
        sessions = db.session_factory(self.runtime.engine)
        self.overflow = OverflowController(self.settings, OverflowConfig(sessions, self.settings.site.centres),
                                           self.bridge.ami, orders)
        await self.overflow.start()
        self.web_runner = await start_web(self.settings, handoffs=handoffs,
                                          telephony=AmiTelephony(self.bridge.ami, self.settings.site.centres),
                                          threeway=threeway)
        log.info("hotline-link up: SIP %s:%s, AMI 127.0.0.1:%s, FastAGI %s, web http://%s:%s/",
                 self.settings.network.bind_host, self.settings.network.sip_port, self.settings.ami.port,
                 self.settings.network.agi_url, self.settings.network.http_host, self.settings.network.http_port)

    async def stop(self) -> None:
        if self.web_runner is not None:
            await self.web_runner.cleanup()
            self.web_runner = None
        if self.overflow is not None:
            await self.overflow.stop()
            self.overflow = None
        if self.journal is not None:
            await self.journal.stop()
            self.journal = None
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        await self.asterisk.stop()
        await self.agi.stop()
        await self.runtime.stop()
