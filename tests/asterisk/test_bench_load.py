"""`hotline bench load` runs end to end: a tiny ramp through the product and the bare baseline.

A smoke test of the command (figures are for notes, never asserted as
timings): every call is set up, every handed-over call has its order
accepted, both phases report CPU per call, and nothing is left running.
"""
from __future__ import annotations

import os
import time

import pytest
from sqlalchemy.engine import make_url

from app.runtime.cli import main
from app.tools.load_bench import child_pids, run_load_bench
from tests.conftest import POSTGRES_URL
from tests.support.pbx import machine_settings


async def test_when_a_tiny_ramp_runs_then_both_phases_report_every_call_and_no_order_is_lost() -> None:
    others = child_pids(os.getpid(), "asterisk")  # other tests' PBXs, running in this process
    result = await run_load_bench(machine_settings(), rates=[2.0], step_s=2.0, handoff_share=0.5, threeway_share=0.25,
                                  talk_s=0.3, seats=4, seed=3)
    (ours,) = result["ours"]["steps"]
    (bare,) = result["baseline"]["steps"]
    (bare_before,) = result["baseline_before"]["steps"]  # the baseline brackets ours
    for step in (ours, bare, bare_before):
        assert step["calls"] == 4 and step["failed_calls"] == 0, step
        assert step["setup"]["n"] == 4
        assert step["key_to_answer"]["n"] == step["handoffs_offered"] + step["threeway_offered"] > 0
        assert step["cpu_ms_per_call"]["asterisk"] >= 0
        assert 0 < step["load_generator_share_of_one_core"] < (os.cpu_count() or 1)
        assert 0 < step["machine_busy_share"] <= 1
    assert set(ours["cpu_ms_per_call"]) == {"asterisk", "python"}
    assert set(bare["cpu_ms_per_call"]) == set(bare_before["cpu_ms_per_call"]) == {"asterisk"}
    orders = result["ours"]["orders"]
    assert orders["handed_over_calls"] == ours["key_to_answer"]["n"]
    assert orders["orders_lost"] == 0 and orders["orders_not_accepted"] == 0, orders
    (ratios,) = result["ratios_ours_over_baseline"]
    assert ratios["offered_calls_per_s"] == 2.0
    mean_bare = (bare["cpu_ms_per_call"]["asterisk"] + bare_before["cpu_ms_per_call"]["asterisk"]) / 2
    if mean_bare > 0:  # against the mean of the two baseline runs
        assert ratios["cpu_per_call_asterisk"] == round(ours["cpu_ms_per_call"]["asterisk"] / mean_bare, 2)
    assert child_pids(os.getpid(), "asterisk") <= others  # the baseline's Asterisk is gone


def test_when_rates_are_bad_then_the_command_says_so(capsys) -> None:
    assert main(["bench", "load", "--rates", "0,abc"]) == 2
    assert "--rates" in capsys.readouterr().err


@pytest.mark.postgres
def test_when_the_database_cannot_be_reached_then_the_command_says_so_at_once(
        capsys: pytest.CaptureFixture[str]) -> None:
    # `hotline up` exits at start; the benchmark reports its reason instead of
    # waiting for a web port that never opens
    missing = make_url(POSTGRES_URL).set(database="hotline_no_such_database")
    others = child_pids(os.getpid(), "asterisk")
    started = time.monotonic()
    with pytest.raises(SystemExit) as exited:
        main(["bench", "load", "--rates", "2", "--step-s", "1", "--no-baseline",
              "--database-url", missing.render_as_string(hide_password=False)])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "hotline up exited with 1 before serving" in err, err
    assert 'database "hotline_no_such_database" does not exist' in err, err
    assert "Traceback" not in err
    assert time.monotonic() - started < 60       # not the 90 s wait for the port
    assert child_pids(os.getpid(), "asterisk") <= others
