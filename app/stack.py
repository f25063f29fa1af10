"""The whole product on one machine: Asterisk, FastAGI, AMI bridge, web (I/O).

`hotline up` and `hotline demo` run a `Stack`; production sites may instead
run each part as its own process (`hotline agi`, `hotline ami-bridge`,
`hotline web`) with Asterisk under systemd.  Start order: database migrations,
FastAGI (so the first call finds it), Asterisk, AMI bridge, web.  Stop order
is the reverse.
"""
from __future__ import annotations

import logging

from agi.server import FastAgiServer
from ami_bridge.service import AmiBridge
from app.asterisk_process import AsteriskProcess
from app.asterisk_render import render
from app.db import migrate
from app.secrets_store import Secrets, load_or_create
from core.settings import Settings

log = logging.getLogger(__name__)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets: Secrets = load_or_create(settings)
        self.asterisk = AsteriskProcess(settings)
        self.agi = FastAgiServer(settings)
        self.bridge: AmiBridge | None = None
        self.web_runner = None

    async def start(self) -> None:
        from app.web import start as start_web

        self.asterisk.check_installed()
        await migrate(self.settings.effective_database_url)
        render(self.settings, self.secrets)
        await self.agi.start()
        await self.asterisk.start()
        self.bridge = AmiBridge(self.settings, self.secrets.ami_secret)
        await self.bridge.start()
        self.web_runner = await start_web(self.settings)
        log.info("hotline-link up: SIP %s:%s, AMI 127.0.0.1:%s, FastAGI %s, web http://%s:%s/",
                 self.settings.bind_host, self.settings.sip_port, self.settings.ami_port,
                 self.settings.agi_url, self.settings.http_host, self.settings.http_port)

    async def stop(self) -> None:
        if self.web_runner is not None:
            await self.web_runner.cleanup()
            self.web_runner = None
        if self.bridge is not None:
            await self.bridge.stop()
            self.bridge = None
        await self.asterisk.stop()
        await self.agi.stop()
