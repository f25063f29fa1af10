"""FastAGI server (asyncio; panoramisk's request for the command protocol) (I/O).

panoramisk's own `Application.handler` loops forever on a connection that
closes before the header block ends; this server reads the `agi_*` header
block itself, bounded in size and time, then hands the connection to
panoramisk's `fast_agi.Request` for the commands.  Stateless: several servers
can run behind `hagi://` SRV records.
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from panoramisk.fast_agi import Request

from agi.call import FastAgiCall
from agi.dispatch import dispatch
from agi.registry import AgiRoutes
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT_S = 5.0


class MalformedRequest(Exception):
    pass


async def read_headers(reader: asyncio.StreamReader) -> "OrderedDict[str, str]":
    """Read the `agi_*: value` block up to its blank line."""
    headers: OrderedDict[str, str] = OrderedDict()
    total = 0
    while True:
        line = await reader.readline()
        if not line:
            raise MalformedRequest("connection closed inside the header block")
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise MalformedRequest("header block too large")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text == "":
            break
        if ": " not in text:
            raise MalformedRequest(f"not an AGI header: {text[:60]!r}")
        key, value = text.split(": ", 1)
        headers[key] = value
    if "agi_network_script" not in headers and "agi_request" not in headers:
        raise MalformedRequest("no agi_request/agi_network_script header")
    return headers


def route_name(headers: dict[str, str]) -> str:
    script = headers.get("agi_network_script")
    if script is None:  # agi://host:port/route?args → agi_request
        req = headers.get("agi_request", "")
        script = req.split("/", 3)[3] if req.count("/") >= 3 else ""
    return script.split("?", 1)[0].strip("/")


class FastAgiServer:
    def __init__(self, settings: Settings, routes: AgiRoutes | None = None) -> None:
        self.settings = settings
        self.routes = routes if routes is not None else AgiRoutes()
        self.server: asyncio.base_events.Server | None = None
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            try:
                headers = await asyncio.wait_for(read_headers(reader), HEADER_TIMEOUT_S)
            except (MalformedRequest, asyncio.TimeoutError, ConnectionError) as exc:
                log.error("malformed FastAGI request from %s: %s", peer, exc or "timeout")
                return
            self.requests += 1
            request = Request(app=None, headers=headers, reader=reader, writer=writer)
            await dispatch(route_name(headers), FastAgiCall(request), self.routes)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def start(self) -> None:
        network = self.settings.network
        self.server = await asyncio.start_server(self.handle, network.agi_host, network.agi_port)
        log.info("FastAGI listening on %s:%s", network.agi_host, network.agi_port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        await self.routes.drain()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]
