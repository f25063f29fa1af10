"""FastAGI server over a real socket, fed the header block Asterisk 22 sends.

The fake Asterisk side answers GET VARIABLE from a dict and records every
SET VARIABLE and `EXEC MSet`, like res_agi does; the server under test is the
product's own.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agi.background import wait_for
from agi.registry import AgiRoutes
from agi.server import FastAgiServer
from app.inbound import agi as inbound
from core.centres import parse_centres
from core.settings import NetworkSettings, Settings, SiteSettings
from tests.support.waiting import eventually

HEADER = "".join(line + "\n" for line in
                 (Path(__file__).parent / "transcripts" / "fastagi_inbound_request.agi")
                 .read_text().splitlines() if line and not line.startswith("#")) + "\n"  # one blank line ends it
_SET = re.compile(r'^SET VARIABLE (\S+) "(.*)"$')
_GET = re.compile(r"^GET VARIABLE (\S+)$")
_MSET = re.compile(r'^EXEC MSet "(.*)"$')
# the same request from a dialplan that asks `inbound` without arguments
NO_ARGS = re.sub(r"agi_arg_\d+: .*\n", "", HEADER).replace("agi_extension: args", "agi_extension: s")


def with_args(centre: str, number: str) -> str:
    return HEADER.replace("agi_arg_1: 12345", f"agi_arg_1: {centre}").replace(
        "agi_arg_2: 13800138000", f"agi_arg_2: {number}")


@pytest.fixture
async def server() -> AsyncIterator[FastAgiServer]:
    settings = Settings(site=SiteSettings(centres=parse_centres("12345:1001-1002;110:2001")),
                        network=NetworkSettings(agi_port=0))
    routes = AgiRoutes()
    inbound.register(routes, settings)
    srv = FastAgiServer(settings, routes)
    await srv.start()
    yield srv
    await srv.stop()


async def fake_asterisk(port: int, header: str, variables: dict[str, str],
                        hangup_after: int | None = None, commands_seen: list[str] | None = None) -> dict[str, str]:
    """Play res_agi: send the header, answer commands until the server closes
    (each command also appended to `commands_seen`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(header.encode())
    await writer.drain()
    written: dict[str, str] = {}
    commands = 0
    while True:
        line = await wait_for(reader.readline(), 5)
        if not line:
            break
        cmd = line.decode().rstrip("\n")
        commands += 1
        if commands_seen is not None:
            commands_seen.append(cmd)
        if hangup_after is not None and commands > hangup_after:
            writer.write(b"HANGUP\n")
            writer.close()
            break
        if m := _GET.match(cmd):
            value = variables.get(m.group(1))
            writer.write(f"200 result=1 ({value})\n".encode() if value is not None else b"200 result=0\n")
        elif m := _SET.match(cmd):
            written[m.group(1)] = m.group(2)
            writer.write(b"200 result=1\n")
        elif m := _MSET.match(cmd):  # MSet: name=value pairs, comma-separated
            written.update((name, value) for name, _, value in (p.partition("=") for p in m.group(1).split(",")))
            writer.write(b"200 result=0\n")
        else:
            writer.write(b"510 Invalid or unknown command\n")
        await writer.drain()
    writer.close()
    return written


def header_for(route: str) -> str:
    return HEADER.replace("agi_network_script: inbound", f"agi_network_script: {route}")


async def test_when_12345_call_arrives_then_inbound_route_names_its_public_queue_in_one_command(
        server: FastAgiServer) -> None:
    commands: list[str] = []
    written = await fake_asterisk(server.port, HEADER, {}, commands_seen=commands)
    assert written == {"HOTLINE_QUEUE": "hotline-12345", "HOTLINE_ROUTE_STATUS": "OK"}
    # the centre and the number came as arguments: nothing read back, both set at once
    assert commands == ['EXEC MSet "HOTLINE_QUEUE=hotline-12345,HOTLINE_ROUTE_STATUS=OK"']


async def test_when_inbound_is_asked_without_arguments_then_it_reads_the_channel_and_decides_the_same(
        server: FastAgiServer) -> None:
    commands: list[str] = []
    written = await fake_asterisk(server.port, NO_ARGS, {"HOTLINE_CENTRE": "110", "HOTLINE_CITIZEN": "1"},
                                  commands_seen=commands)
    assert written == {"HOTLINE_QUEUE": "hotline-110", "HOTLINE_ROUTE_STATUS": "OK"}
    assert commands[:2] == ["GET VARIABLE HOTLINE_CENTRE", "GET VARIABLE HOTLINE_CITIZEN"]


async def test_when_centre_is_unknown_then_route_sends_call_down_safe_path(server: FastAgiServer) -> None:
    written = await fake_asterisk(server.port, with_args("999", "1"), {})
    assert written == {"HOTLINE_ROUTE_STATUS": "FALLBACK"}
    written = await fake_asterisk(server.port, NO_ARGS, {"HOTLINE_CENTRE": "999", "HOTLINE_CITIZEN": "1"})
    assert written == {"HOTLINE_ROUTE_STATUS": "FALLBACK"}


async def test_when_route_is_unknown_then_status_error_and_connection_closed(server: FastAgiServer) -> None:
    written = await fake_asterisk(server.port, header_for("no-such-route"), {})
    assert written == {"HOTLINE_ROUTE_STATUS": "ERROR"}


async def test_when_caller_hangs_up_mid_route_then_server_closes_quietly(server: FastAgiServer) -> None:
    written = await fake_asterisk(server.port, NO_ARGS, {"HOTLINE_CENTRE": "12345"}, hangup_after=1)
    assert written == {}
    written = await fake_asterisk(server.port, HEADER, {}, hangup_after=0)  # at its one command
    assert written == {}
    # and the server still serves the next call
    written = await fake_asterisk(server.port, with_args("110", "1"), {})
    assert written["HOTLINE_QUEUE"] == "hotline-110"


async def test_when_a_probe_connects_and_closes_without_a_byte_then_it_is_logged_at_debug_only(
        server: FastAgiServer, caplog: pytest.LogCaptureFixture) -> None:
    """A health check of a FastAGI server in another process connects and closes:
    no request, nothing to warn about (it was logged as a malformed request on
    every probe); one that sends a byte is still refused as malformed."""
    import logging

    caplog.set_level(logging.DEBUG, logger="agi.server")
    for _ in range(3):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
        await writer.wait_closed()
    await eventually_logged(caplog, "closed without a request", 3)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "malformed FastAGI request" not in caplog.text
    assert server.requests == 0

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"x")
    await writer.drain()
    writer.write_eof()
    assert await wait_for(reader.read(), 10) == b""
    writer.close()
    await eventually_logged(caplog, "malformed FastAGI request", 1)
    assert [r.levelno for r in caplog.records if "malformed" in r.getMessage()] == [logging.ERROR]
    written = await fake_asterisk(server.port, HEADER, {"HOTLINE_CENTRE": "12345", "HOTLINE_CITIZEN": "1"})
    assert written["HOTLINE_ROUTE_STATUS"] == "OK"


async def eventually_logged(caplog: pytest.LogCaptureFixture, text: str, count: int) -> None:
    """Poll (with a deadline) until `text` was logged `count` times: the server
    handles each connection in its own task."""
    async def seen() -> bool:
        n = sum(text in r.getMessage() for r in caplog.records)
        assert n >= count, f"{text!r} logged {n} times, expected {count}"
        return True
    await eventually(seen, timeout=5, what=f"{text!r} logged")


@pytest.mark.parametrize("garbage", [
    b"\n",                                    # one byte, no header
    b"agi_network: yes\nagi_channel: x",      # closed inside the header block
    b"hello there\n\n",                       # not AGI at all
    b"agi_channel: Local/x\n\n",              # no request/script header
    HEADER.replace("agi_language: en\n", "agi_language: en\nagi_language: zh\n").encode(),  # twice
    HEADER.replace("agi_type: Local\n", "agi_type: Local\nX-Forwarded: 1\n").encode(),     # not agi_*
    HEADER.replace("agi_version: 22.10.1", "agi_version:22.10.1").encode(),                 # no blank
    HEADER.replace("agi_threadid: 140129988523712\n", "").encode(),                          # cut short
])
async def test_when_request_is_malformed_then_it_is_refused_and_server_keeps_serving(
        server: FastAgiServer, garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(garbage)
    await writer.drain()
    writer.write_eof()
    assert await wait_for(reader.read(), 10) == b""  # the server hung up, sent no command
    writer.close()
    assert "malformed FastAGI request" in caplog.text
    written = await fake_asterisk(server.port, HEADER, {"HOTLINE_CENTRE": "12345", "HOTLINE_CITIZEN": "1"})
    assert written["HOTLINE_ROUTE_STATUS"] == "OK"


async def test_when_value_holds_newline_then_it_never_reaches_the_agi_socket() -> None:
    from agi.call import quote
    from core.safety import UnsafeValue

    with pytest.raises(UnsafeValue):
        quote("hotline-12345\nEXEC Dial PJSIP/evil")


async def test_when_a_route_stalls_then_it_is_cut_off_and_the_call_goes_on(
        server: FastAgiServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import agi.dispatch

    async def stalled(call) -> None:
        await call.get_variable("HOTLINE_CENTRE")
        await asyncio.Event().wait()  # a wedged database, say

    server.routes.register("stalled", stalled)
    monkeypatch.setattr(agi.dispatch, "ROUTE_TIMEOUT_S", 0.3)
    written = await wait_for(
        fake_asterisk(server.port, header_for("stalled"), {"HOTLINE_CENTRE": "12345"}), 5)
    assert written == {}  # no status written: the dialplan's safe path decides
    assert "took over 0.3s" in caplog.text


# What res_agi writes when the caller's name holds a line feed: the rest of
# the name becomes a header line of its own (Asterisk does not escape it).
INJECTED = {
    "re-route": "unknown\nagi_network_script: stalled",
    "end the block early": "unknown\n\nagi_network_script: stalled",
    "add a header": "unknown\nagi_arg_1: 110",
}


@pytest.mark.parametrize("name", list(INJECTED.values()), ids=list(INJECTED))
async def test_when_the_caller_name_holds_a_line_feed_then_no_route_runs_and_the_call_takes_the_safe_path(
        server: FastAgiServer, name: str, caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    async def stalled(call) -> None:
        ran.append("stalled")

    async def probe(call) -> None:
        ran.append("probe")

    server.routes.register("stalled", stalled)
    server.routes.register("probe", probe)
    header = header_for("probe").replace("agi_calleridname: unknown", f"agi_calleridname: {name}")
    written = await wait_for(fake_asterisk(server.port, header, {"HOTLINE_CENTRE": "12345"}), 10)
    assert (written, ran) == ({}, [])  # nothing decided: the dialplan's route status stays unset
    assert "malformed FastAGI request" in caplog.text
    await fake_asterisk(server.port, header_for("probe"), {"HOTLINE_CENTRE": "12345"})
    assert ran == ["probe"]


async def test_when_a_header_value_holds_a_colon_then_it_is_kept_whole(server: FastAgiServer) -> None:
    seen: list[str] = []

    async def route(call) -> None:
        seen.append(call.headers["agi_calleridname"])

    server.routes.register("probe", route)
    header = header_for("probe").replace("agi_calleridname: unknown", "agi_calleridname: 张三: 钦州")
    await fake_asterisk(server.port, header, {})
    assert seen == ["张三: 钦州"]


async def test_when_a_value_is_not_a_plain_token_then_set_variables_sets_each_on_its_own(
        server: FastAgiServer) -> None:
    """`EXEC MSet` splits at `,` and `=`: a value that could hold one (a name
    with a comma, say) goes in a quoted SET VARIABLE of its own."""
    async def route(call) -> None:
        await call.set_variables({"HOTLINE_A": "张三, 钦州=1", "HOTLINE_B": "ok"})

    server.routes.register("probe", route)
    commands: list[str] = []
    written = await fake_asterisk(server.port, header_for("probe"), {}, commands_seen=commands)
    assert written == {"HOTLINE_A": "张三, 钦州=1", "HOTLINE_B": "ok"}
    assert [c.split(" ", 2)[:2] for c in commands] == [["SET", "VARIABLE"], ["SET", "VARIABLE"]]
