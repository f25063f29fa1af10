"""`hotline up` and `hotline demo` as a user runs them: real processes, real ports."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from pathlib import Path

import aiohttp

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


async def _run(args: list[str], env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.runtime.cli", *args, cwd=PROJECT_ROOT, env=env,
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


async def test_when_user_runs_up_then_health_answers_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    env = _env(tmp_path)
    proc = await _run(["up"], env)
    url = f"http://127.0.0.1:{env['HOTLINE_HTTP_PORT']}/api/health"
    try:
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
        assert _asterisk_pids(tmp_path / "state")
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert _asterisk_pids(tmp_path / "state") == []
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_when_a_setting_is_malformed_then_hotline_refuses_to_start_naming_it(tmp_path: Path) -> None:
    env = _env(tmp_path)
    env["HOTLINE_SIP_PORT"] = "99999"
    proc = await _run(["up"], env)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert "HOTLINE_SIP_PORT" in out.decode()
