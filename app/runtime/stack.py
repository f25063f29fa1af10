"""The whole product on one machine: Asterisk and one process with every role (I/O).

`hotline up` and `hotline demo` run a `Stack`: the Asterisk configuration
rendered, then a `Platform` with the agi, bridge and web roles around a
child Asterisk.  Production sites may instead run each role as its own
process (`hotline agi`, `hotline ami-bridge`, `hotline web`, the same
`Platform` with one role) and Asterisk under systemd.  Start order:
database migrations and the features' wiring, FastAGI (so the first call
finds it), Asterisk, the AMI link and its workers, web.  Stop order is the
reverse.
"""
from __future__ import annotations

import logging

from app.runtime.asterisk import AsteriskProcess
from app.runtime.network import sip_server
from app.runtime.platform import Platform
from app.runtime.render import render
from core.settings import Settings

log = logging.getLogger(__name__)


class Stack:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.asterisk = AsteriskProcess(settings)
        self.platform = Platform(settings)
        self.secrets = self.platform.secrets

    async def start(self) -> None:
        self.asterisk.check_installed()
        await self.platform.wire()
        render(self.settings, self.secrets)
        await self.platform.start_agi()
        await self.asterisk.start()
        await self.platform.start()
        log.info("hotline-link up: SIP %s, AMI 127.0.0.1:%s, FastAGI %s, web http://%s:%s/",
                 sip_server(self.settings), self.settings.ami.port,
                 self.settings.network.agi_url, self.settings.network.http_host, self.settings.network.http_port)

    async def stop(self) -> None:
        await self.platform.stop(before_agi=self.asterisk.stop)
