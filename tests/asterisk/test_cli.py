"""`hotline up` and `hotline demo` as a user runs them: real processes, real ports."""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from agi.background import wait_for
from core.settings import PROJECT_ROOT
from tests.support.pbx import free_port
from tests.support.waiting import eventually


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "HOTLINE_STATE_DIR": str(tmp_path / "state"),
        "HOTLINE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "HOTLINE_AMI_PORT": str(free_port()),
        "HOTLINE_AGI_PORT": str(free_port()),
        "HOTLINE_HTTP_PORT": str(free_port()),
        "HOTLINE_RTP_PORTS": "33000-33999",
        "HOTLINE_REDIS_PREFIX": f"hlcli:{uuid.uuid4().hex[:8]}:",
    })
    if os.environ.get("HOTLINE_ASTERISK_PREFIX"):
        env["HOTLINE_ASTERISK_PREFIX"] = os.environ["HOTLINE_ASTERISK_PREFIX"]
    return env


async def _run(args: list[str], env: dict[str, str], cwd: Path = PROJECT_ROOT) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.runtime.cli", *args, cwd=cwd, env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)


def _asterisk_pids(state_dir: Path) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"asterisk") and str(state_dir).encode() in b" ".join(cmd):
                pids.append(int(proc.name))
    return pids


STORY = (  # the demo's story, line by line (README "What the demo prints")
    r"centre 12345 12345政务服务便民热线: seats 1001\(idle\), 1002\(idle\), 1003\(idle\), 1004\(idle\)",
    r"centre 110 110报警服务台: seats 2001\(idle\), 2002\(idle\)",
    r"citizen 13912345678 dials 12345",
    r"12345 seat (?P<seat>1\d{3}) answered; its display shows 13912345678",
    r"/api/live: seat (?P=seat) is in_call, talking to 13912345678",
    r"seat (?P=seat) presses \*1 \(一键携号转接.*",
    r"110 seat (?P<taker>2\d{3}) rang showing 13912345678 — the citizen's number, not the 12345 seat's — and answered",
    (r"order (?P<first>12345-\d{8}-\d{4}): 一键转接 one-key transfer, citizen 13912345678, "
     r"12345 seat (?P=seat) -> 110 seat (?P=taker), status accepted, wait \d+\.\d s"),
    r"citizen 13912345678 hangs up",
    r"citizen 13900139000 dials 12345",
    r"12345 seat (?P<seat2>1\d{3}) answered; its display shows 13900139000",
    r"seat (?P=seat2) presses \*2 \(三方通话.*",
    r"110 seat (?P<invited>2\d{3}) rang showing 13900139000 and answered",
    r"three-way call: citizen 13900139000, 12345 seat (?P=seat2) and 110 seat (?P=invited) talk in one conference",
    r"seat (?P=seat2) presses \*3 \(leave and hand over\): 110 seat (?P=invited) takes the citizen",
    (r"order (?P<second>12345-\d{8}-\d{4}): 三方通话 three-way call, citizen 13900139000, "
     r"12345 seat (?P=seat2) -> 110 seat (?P=invited), status accepted \(agreed\), wait \d+\.\d s"),
    r"citizen 13900139000 hangs up",
    r"summary: 2 calls handed over, 2 work orders \(工单\):",
)


def _story(text: str) -> re.Match[str]:
    """The story's lines, in order, in the demo's output (each `[demo  1.2s] ...`)."""
    lines = [line.split("] ", 1)[1] for line in text.splitlines() if line.startswith("[demo ")]
    told = "\n".join(lines)
    match = re.search("\n".join(STORY), told)
    assert match, f"the story is not told as expected:\n{told}"
    assert match.group("first") != match.group("second")
    summary = text.split("work orders (工单):", 1)[1].splitlines()[1:3]
    assert [line.split(":", 1)[0].strip() for line in summary] == \
        [f"order {match.group('first')}", f"order {match.group('second')}"]
    return match


async def test_when_user_runs_demo_then_it_tells_the_story_in_under_30_s_and_exits_cleanly(tmp_path: Path) -> None:
    """A citizen calls 12345, the seat sees the number, presses *1, a 110 seat rings
    showing the citizen's number and answers, the order is accepted; a second
    citizen goes through a three-way call the 110 seat takes (*3); a summary."""
    env = _env(tmp_path)
    started = time.monotonic()
    proc = await _run(["demo", "--citizen", "13912345678"], env)
    out, _ = await wait_for(proc.communicate(), 90)
    took = time.monotonic() - started
    text = out.decode()
    assert proc.returncode == 0, text
    _story(text)
    assert f"dashboard: http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}/" in text
    assert "no channel left. Demo complete." in text
    assert took < 30, f"the demo took {took:.1f} s"
    assert _asterisk_pids(tmp_path / "state") == []


async def test_when_user_runs_demo_keep_then_the_dashboard_stays_up_until_ctrl_c(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = await _run(["demo", "--keep", "--citizen", "13912345678"], env)
    assert proc.stdout is not None
    try:
        text = ""
        while "running until Ctrl-C" not in text:
            line = await wait_for(proc.stdout.readline(), 60)
            assert line, f"hotline demo --keep ended early:\n{text}"
            text += line.decode()
        _story(text)
        token = re.search(r"sign in with this supervisor token: (\S+)", text)
        assert token, text
        base = f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as resp:
                assert resp.status == 200 and "text/html" in resp.content_type
            async with http.get(f"{base}/api/orders", headers={"Authorization": f"Bearer {token.group(1)}"}) as resp:
                assert resp.status == 200
                assert (await resp.json())["total"] == 2  # the two orders of the story, for a person to look at
        assert _asterisk_pids(tmp_path / "state")
        proc.send_signal(signal.SIGINT)
        out, _ = await wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, text + out.decode()
        assert _asterisk_pids(tmp_path / "state") == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_when_user_runs_up_with_a_relative_state_dir_then_health_answers_quietly_and_ctrl_c_stops_everything(
        tmp_path: Path) -> None:
    """HOTLINE_STATE_DIR=./var/<x>, as README and .env.example document it, run from
    another directory: taken from the project root (Asterisk is given an absolute
    -C path); and the start logs no warning (none before the AMI link is up)."""
    env = _env(tmp_path)
    relative = f"./var/test-cli-{uuid.uuid4().hex[:8]}"
    env["HOTLINE_STATE_DIR"] = relative
    state = PROJECT_ROOT / relative
    proc = await _run(["up"], env, cwd=tmp_path)
    url = f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}/api/health"
    try:
        await _healthy_then_stopped(proc, url, state)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        shutil.rmtree(state, ignore_errors=True)


async def _healthy_then_stopped(proc: asyncio.subprocess.Process, url: str, state: Path) -> None:
    async def healthy() -> bool:
        assert proc.returncode is None, "hotline up exited early"
        try:
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                body = await resp.json()
                assert resp.status == 200 and body["ami"] is True, body
                return True
        except aiohttp.ClientConnectionError as exc:
            raise AssertionError(str(exc)) from None

    await eventually(healthy, timeout=60, interval=0.2, what="hotline up healthy")
    assert _asterisk_pids(state)
    assert (state / "asterisk" / "etc" / "asterisk.conf").is_file()
    proc.send_signal(signal.SIGINT)
    out, _ = await wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, text
    assert _asterisk_pids(state) == []
    assert "hotline-link up" in text
    assert "(event loop uvloop)" in text  # the service runs on libuv's loop
    start = text.split("hotline-link up", 1)[0]
    assert " WARNING " not in start and " ERROR " not in start, start


async def test_when_a_setting_is_malformed_then_hotline_refuses_to_start_naming_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["HOTLINE_SIP_PORT"] = "99999"
    proc = await _run(["up"], env)
    out, _ = await wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "HOTLINE_SIP_PORT" in out.decode()


async def test_when_a_variable_is_given_on_the_command_line_then_it_wins_over_dotenv(tmp_path: Path) -> None:
    """`HOTLINE_HTTP_PORT=<a> ./hotline web` with HOTLINE_HTTP_PORT=<b> in .env binds <a>:
    ./hotline loads .env with scripts/dotenv.sh, the process environment first."""
    env = _env(tmp_path)
    given, in_dotenv = env["HOTLINE_HTTP_PORT"], str(free_port())
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"HOTLINE_HTTP_PORT={in_dotenv}\nHOTLINE_LOG_LEVEL=ERROR\n")
    script = (f". {PROJECT_ROOT / 'scripts' / 'dotenv.sh'} && load_dotenv {dotenv} && "
              f'exec "{sys.executable}" -m app.runtime.cli web')
    proc = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, cwd=PROJECT_ROOT, env={**env, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        async def serving(port: str) -> bool:
            assert proc.returncode is None, "hotline web exited early"
            try:
                async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/api/health") as resp:
                    return resp.status in (200, 503)
            except aiohttp.ClientConnectionError as exc:
                raise AssertionError(str(exc)) from None

        await eventually(lambda: serving(given), timeout=30, interval=0.2, what=f"hotline web on {given}")
        with pytest.raises(AssertionError):
            await serving(in_dotenv)
        proc.send_signal(signal.SIGINT)
        out, _ = await wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert " INFO " not in out.decode()  # what the command line does not give still comes from .env
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_when_sip_binds_every_interface_then_seats_prints_addresses_a_phone_can_reach(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "HOTLINE_BIND_HOST": "0.0.0.0", "HOTLINE_CENTRES": "12345:1001-1002;110:2001"}
    proc = await _run(["seats"], env)
    out, _ = await wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, text
    server = text.splitlines()[0]
    assert server.startswith("SIP server ") and "0.0.0.0" not in server, server
    hosts = [part.rsplit(":", 1)[0] for part in server[len("SIP server "):].split(" (")[0].split(" or ")]
    assert hosts and all(h for h in hosts)
    for host in hosts:  # each one is an address of this machine: a socket binds to it
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
    assert f":{env['HOTLINE_SIP_PORT']}" in server
    assert [line.split()[2] for line in text.splitlines()[1:]] == ["1001", "1002", "2001"]

    env["HOTLINE_EXTERNAL_ADDRESS"] = "198.51.100.5"
    proc = await _run(["seats"], env)
    out, _ = await wait_for(proc.communicate(), 30)
    assert out.decode().startswith(f"SIP server 198.51.100.5:{env['HOTLINE_SIP_PORT']} or "), out.decode()
