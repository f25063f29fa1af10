"""FastAGI server (asyncio; panoramisk's request for the command protocol) (I/O).

panoramisk's own `Application.handler` loops forever on a connection that
closes before the header block ends; this server reads the `agi_*` header
block itself, bounded in size and time, then hands the connection to
panoramisk's `fast_agi.Request` for the commands.  Stateless: several servers
can run behind `hagi://` SRV records.

The header block is read strictly, each value taken once.  Asterisk writes
caller-supplied text into it unescaped (`agi_calleridname`, `agi_rdnis`…):
a line feed in a caller's name makes the rest of the name a header of its
own — `agi_network_script: <another route>`, an `agi_arg_1` — or ends the
block early.  So a block with a repeated header, a line that is not
`agi_<name>: value`, or headers that are not res_agi's in res_agi's order
(its fixed sequence, `agi_threadid` last, then the arguments) is refused: no route runs, the connection
is closed, and the dialplan continues on its safe path (its route status was
never set to OK).  The dialplan strips control characters from the caller's
name before it asks Python anything (`hotline-route`), so a real caller is
not refused for them.

A connection that closes (or is reset) before sending a single byte is no
request at all: a health check or a port probe (`hotline up` checks a FastAGI
server in another process by connecting to its port).  It is logged at
debug level only; anything that sent bytes and is not a request is refused
and logged as an error.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict

from panoramisk.fast_agi import Request

from agi.background import wait_for
from agi.call import FastAgiCall
from agi.dispatch import dispatch
from agi.registry import AgiRoutes
from core.settings import Settings

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16 * 1024
HEADER_TIMEOUT_S = 5.0
_HEADER_NAME = re.compile(r"^agi_[a-z][a-z0-9_]{0,31}$")
# What res_agi sends, in its order (Asterisk 22: tests/protocol/transcripts):
# FastAGI's own two first, then the channel's, then the route's arguments
# agi_arg_1, agi_arg_2, ...  A header out of place was smuggled in by a value.
NETWORK_HEADERS = ("agi_network", "agi_network_script")
CHANNEL_HEADERS = ("agi_request", "agi_channel", "agi_language", "agi_type", "agi_uniqueid", "agi_version",
                   "agi_callerid", "agi_calleridname", "agi_callingpres", "agi_callingani2", "agi_callington",
                   "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context", "agi_extension", "agi_priority",
                   "agi_enhanced", "agi_accountcode", "agi_threadid")


def check_order(names: list[str]) -> None:
    """Raise `MalformedRequest` unless `names` are res_agi's headers in its order."""
    network = [n for n in names if n in NETWORK_HEADERS]
    expected = [n for n in NETWORK_HEADERS if n in network] + list(CHANNEL_HEADERS)
    expected += [f"agi_arg_{i}" for i in range(1, len(names) - len(expected) + 1)]
    if names != expected:
        wrong = next((f"{got} where {want} belongs" for got, want in zip(names, expected, strict=False) if got != want),
                     f"{len(names)} headers, expected {len(expected)}")
        raise MalformedRequest(f"headers out of res_agi's order: {wrong}")


class MalformedRequest(Exception):
    pass


class NothingSent(MalformedRequest):
    """The connection closed before sending any byte (a health check, a port probe)."""


async def read_headers(reader: asyncio.StreamReader) -> OrderedDict[str, str]:
    """Read the `agi_*: value` block up to its blank line; raise
    `MalformedRequest` for a repeated or malformed header or a missing one
    (see the module's docstring)."""
    headers: OrderedDict[str, str] = OrderedDict()
    total = 0
    while True:
        try:
            line = await reader.readline()
        except ConnectionError as exc:
            if total == 0:
                raise NothingSent(str(exc) or type(exc).__name__) from exc
            raise
        if not line:
            if total == 0:
                raise NothingSent("closed before sending anything")
            raise MalformedRequest("connection closed inside the header block")
        total += len(line)
        if total > MAX_HEADER_BYTES:
            raise MalformedRequest("header block too large")
        text = line.decode("utf-8", errors="replace").rstrip("\r\n")
        if text == "":
            break
        key, sep, value = text.partition(":")
        if not sep or not _HEADER_NAME.match(key) or (value and not value.startswith(" ")):
            raise MalformedRequest(f"not an AGI header: {text[:60]!r}")
        if key in headers:
            raise MalformedRequest(f"{key} sent twice (a line feed in a caller-supplied value?)")
        headers[key] = value[1:]
    check_order(list(headers))
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
                headers = await wait_for(read_headers(reader), HEADER_TIMEOUT_S)
            except NothingSent as exc:
                log.debug("FastAGI connection from %s closed without a request (a probe): %s", peer, exc)
                return
            except (TimeoutError, MalformedRequest, ConnectionError) as exc:
                log.error("malformed FastAGI request from %s: %s", peer, str(exc) or type(exc).__name__)
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
        port: int = self.server.sockets[0].getsockname()[1]
        return port
