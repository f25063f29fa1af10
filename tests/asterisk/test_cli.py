"""`hotline up` and `hotline demo` as a user runs them: real processes, real ports."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

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


async def test_when_user_runs_demo_then_a_seat_answers_showing_citizen_number_and_it_exits_cleanly(
        tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = await _run(["demo", "--citizen", "13912345678"], env)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "its display shows 13912345678" in text
    assert "no channel left. Demo complete." in text
    assert _asterisk_pids(tmp_path / "state") == []


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
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, text
    assert _asterisk_pids(state) == []
    assert "hotline-link up" in text
    start = text.split("hotline-link up", 1)[0]
    assert " WARNING " not in start and " ERROR " not in start, start


async def test_when_a_setting_is_malformed_then_hotline_refuses_to_start_naming_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["HOTLINE_SIP_PORT"] = "99999"
    proc = await _run(["up"], env)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
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
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert " INFO " not in out.decode()  # what the command line does not give still comes from .env
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_when_sip_binds_every_interface_then_seats_prints_addresses_a_phone_can_reach(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "HOTLINE_BIND_HOST": "0.0.0.0", "HOTLINE_CENTRES": "12345:1001-1002;110:2001"}
    proc = await _run(["seats"], env)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
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
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert out.decode().startswith(f"SIP server 198.51.100.5:{env['HOTLINE_SIP_PORT']} or "), out.decode()
