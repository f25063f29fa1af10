"""`hotline bench agi` runs end to end: the `inbound` decision over FastAGI and
over classic AGI on the real Asterisk (figures are for notes, never asserted
as timings)."""
from __future__ import annotations

from pathlib import Path

from app.tools.agi_bench import run_agi_bench
from tests.support.pbx import rig_settings


async def test_every_timed_call_is_decided_by_the_inbound_route_over_both_kinds_of_agi(tmp_path: Path) -> None:
    settings = rig_settings(tmp_path)
    result = await run_agi_bench(settings, calls=3)
    # a route the server does not know takes the safe path: no status "OK"
    assert result["statuses"] == {"fast": {"OK": 3}, "classic": {"OK": 3}}, result["statuses"]
    assert result["fastagi"]["n"] == 3 and result["classic_agi"]["n"] == 3
