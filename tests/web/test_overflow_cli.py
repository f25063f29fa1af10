"""`hotline overflow …` as an admin runs it: the same validation as the API, nothing half-applied."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.settings import PROJECT_ROOT


def _hotline(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_CENTRES": "12345:1001-1002;110:2001"})
    return subprocess.run([sys.executable, "-m", "app.runtime.cli", "overflow", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_when_an_admin_adds_changes_and_deletes_a_group_from_the_command_line_then_each_step_shows(
    tmp_path: Path,
) -> None:
    added = _hotline(tmp_path, "add", "--centre", "12345", "--name", "gx-remote", "--member", "PJSIP/nn-7",
                     "--member", "Local/9001@remote-phones", "--min-waiting", "3", "--priority", "2")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["members"] == ["PJSIP/nn-7", "Local/9001@remote-phones/n"]

    changed = _hotline(tmp_path, "set", "gx-remote", "--min-waiting", "off", "--max-wait", "20", "--no-local-free")
    assert changed.returncode == 0, changed.stderr
    view = json.loads(changed.stdout)
    assert (view["min_waiting"], view["max_wait_s"], view["when_no_local_free"]) == (None, 20, True)

    listed = _hotline(tmp_path, "list")
    assert "gx-remote" in listed.stdout and "PJSIP/nn-7" in listed.stdout

    assert _hotline(tmp_path, "delete", "gx-remote").returncode == 0
    assert "gx-remote" not in _hotline(tmp_path, "list").stdout


def test_when_the_command_line_gives_a_bad_value_then_it_names_the_field_and_stores_nothing(tmp_path: Path) -> None:
    bad = _hotline(tmp_path, "add", "--centre", "12345", "--name", "gx-remote", "--member", "PJSIP/nn-7",
                   "--min-waiting", "-4")
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("hotline overflow: min_waiting:")
    empty = _hotline(tmp_path, "add", "--centre", "119", "--name", "x", "--member", "PJSIP/nn-7", "--min-waiting", "2")
    assert empty.returncode == 1 and "centre:" in empty.stderr
    assert _hotline(tmp_path, "list").stdout == ""
