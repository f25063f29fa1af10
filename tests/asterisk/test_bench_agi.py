"""`hotline bench agi` runs end to end: the `inbound` decision over FastAGI and
over classic AGI on the real Asterisk (figures are for notes, never asserted
as timings)."""
from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from agi.background import wait_for
from app.runtime.asterisk import AsteriskProcess
from app.tools.agi_bench import run_agi_bench
from core.settings import PROJECT_ROOT, Settings
from tests.support.pbx import rig_env, rig_settings
from tests.support.waiting import eventually


async def test_every_timed_call_is_decided_by_the_inbound_route_over_both_kinds_of_agi(tmp_path: Path) -> None:
    settings = rig_settings(tmp_path)
    result = await run_agi_bench(settings, calls=3)
    # a route the server does not know takes the safe path: no status "OK"
    assert result["statuses"] == {"fast": {"OK": 3}, "classic": {"OK": 3}}, result["statuses"]
    assert result["fastagi"]["n"] == 3 and result["classic_agi"]["n"] == 3


@pytest.mark.parametrize("when", ["asterisk booting", "calls being timed"])
async def test_when_the_benchmark_is_terminated_then_the_asterisk_it_started_stops_too(
        tmp_path: Path, when: str) -> None:
    """SIGTERM (a CI timeout, `kill`, systemd) ends `hotline bench` as Ctrl-C
    does: the Asterisk it started does not outlive it (it used to, and the
    next run met "Asterisk already running") — while it boots, and while the
    benchmark's calls run."""
    env = rig_env(tmp_path)
    asterisk = AsteriskProcess(Settings.from_env(env))
    bench = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.runtime.cli", "bench", "agi", "--calls", "100000", cwd=str(PROJECT_ROOT),
        # a bench that does not end: SIGABRT below dumps its threads' stacks into stderr
        env={**{k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}, **env,
             "PYTHONFAULTHANDLER": "1"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    pid: int | None = None
    try:
        # its pid file names it before it has fully booted
        pid = await eventually(asterisk.running_instance, timeout=60, what="the benchmark's Asterisk running")
        if when == "calls being timed":
            await eventually(lambda: _calls_processed(asterisk), timeout=30, what="calls timed")

        bench.send_signal(signal.SIGTERM)
        ended = asyncio.ensure_future(bench.communicate())
        done, _ = await asyncio.wait({ended}, timeout=60)
        if not done:
            bench.send_signal(signal.SIGABRT)
            _, stderr = await wait_for(ended, 30)
            pytest.fail("the benchmark did not end within 60 s of SIGTERM; its stacks at SIGABRT:\n"
                        + stderr.decode(errors="replace")[-6000:])
        _, stderr = ended.result()

        assert bench.returncode == 128 + signal.SIGTERM, stderr.decode(errors="replace")[-2000:]
        assert b"stopped by SIGTERM" in stderr
        await eventually(lambda: asterisk.running_instance() is None, timeout=20,
                         what=f"its Asterisk stopped ({stderr.decode(errors='replace')[-1500:]})")
    finally:
        if bench.returncode is None:
            bench.kill()
            await bench.wait()
        if pid is not None and asterisk.running_instance() is not None:
            await asterisk.stop_instance(pid)


async def _calls_processed(asterisk: AsteriskProcess) -> bool:
    """Asterisk has processed a few of the benchmark's calls (well past its boot)."""
    rc, out = await asterisk.rx("core show calls")
    match = re.search(r"(\d+) calls? processed", out)
    return rc == 0 and match is not None and int(match.group(1)) >= 4
