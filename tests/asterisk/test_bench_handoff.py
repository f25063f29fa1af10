"""`hotline bench handoff` runs end to end: our key against Asterisk's blind transfer.

A smoke test of the command (figures are for notes, never asserted as
timings): every handoff is timed in each phase, its order is accepted, and
nothing is left running.
"""
from __future__ import annotations

import math
import os

import pytest

from app.runtime.cli import main
from app.tools.handoff_bench import PHASES, _ratios, _views, run_handoff_bench
from app.tools.load_bench import child_pids
from tests.support.pbx import machine_settings


async def test_when_a_few_handoffs_are_timed_then_each_phase_is_reported_and_no_order_is_lost() -> None:
    others = child_pids(os.getpid(), "asterisk")  # other tests' PBXs, running in this process
    result = await run_handoff_bench(machine_settings(), count=2)

    assert result["failed_handoffs"] == {"hotline": 0, "blind": 0}
    assert result["orders_recorded"] == 2 and result["lost_orders"] == 0, result
    pressed, seen = (int(n) for n in result["presses_with_checked_facts"].split("/"))
    assert seen == 2 and 0 <= pressed <= seen  # each key press looked at (set or not yet: both fine)
    for mode in ("hotline_key", "builtin_blindxfer"):
        phases = result[mode]["from_input_complete"]
        assert list(phases) == [f"to_{phase}" for phase in PHASES], phases
        assert all(phases[p]["n"] == 2 and phases[p]["p50_ms"] >= 0 for p in phases), phases
        # one queue's events, in the order the queue raises them
        assert phases["to_target_queue"]["p50_ms"] <= phases["to_target_ringing"]["p50_ms"] \
            <= phases["to_answered"]["p50_ms"], phases
    assert set(result["ratio_hotline_over_blind"]) == {"to_target_ringing_p50", "to_target_ringing_p95",
                                                      "to_answered_p50", "to_answered_p95"}
    assert child_pids(os.getpid(), "asterisk") <= others  # its Asterisk is gone


@pytest.mark.parametrize(("option", "value"), [("--calls", "0"), ("--calls", "ten"),
                                               ("--background-calls", "-1")])
def test_when_a_count_is_bad_then_the_command_says_so_naming_the_option(
        option: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "handoff", option, value])
    assert exited.value.code == 2
    assert option in capsys.readouterr().err


def test_when_every_handoff_of_a_mode_failed_then_its_ratios_are_not_numbers_not_an_error() -> None:
    timed = {f"from_input_complete:{phase}": [1.0, 2.0] for phase in PHASES}
    out = {"hotline_key": _views({}), "builtin_blindxfer": _views(timed)}

    assert out["hotline_key"]["from_input_complete"]["to_target_ringing"]["n"] == 0
    ratios = _ratios(out)
    assert set(ratios) == {"to_target_ringing_p50", "to_target_ringing_p95", "to_answered_p50", "to_answered_p95"}
    assert all(math.isnan(r) for r in ratios.values() if r is not None)
