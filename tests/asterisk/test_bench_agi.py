"""`hotline bench agi` runs end to end: the `inbound` decision over FastAGI and
over classic AGI on the real Asterisk (figures are for notes, never asserted
as timings)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from app.tools.agi_bench import run_agi_bench
from app.tools.ports import free_port
from core.settings import Settings


async def test_every_timed_call_is_decided_by_the_inbound_route_over_both_kinds_of_agi(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("HOTLINE_ASTERISK_PREFIX", "HOTLINE_REDIS_URL")}
    settings = Settings.from_env({
        **env, "HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SIP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "HOTLINE_AMI_PORT": str(free_port()), "HOTLINE_AGI_PORT": str(free_port()),
        "HOTLINE_HTTP_PORT": str(free_port()), "HOTLINE_RTP_PORTS": "32000-32099"})
    result = await run_agi_bench(settings, calls=3)
    # a route the server does not know takes the safe path: no status "OK"
    assert result["statuses"] == {"fast": {"OK": 3}, "classic": {"OK": 3}}, result["statuses"]
    assert result["fastagi"]["n"] == 3 and result["classic_agi"]["n"] == 3
