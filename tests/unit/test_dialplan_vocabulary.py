"""Every HOTLINE_* channel variable the dialplan uses is defined in core.channel_vars.

The rendered configuration is read, not the templates: the parts rendered
from `core` (the handoff key's guard and outbox record, core/fast_path.py)
use the same names as the hand-written ones.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.runtime.render import render
from app.runtime.secrets import load_or_create
from core import channel_vars
from core.settings import Settings

# `;` starts a comment unless escaped (`\;` inside a REGEX pattern)
_COMMENT = re.compile(r"(?<!\\);")


def _used(etc: Path) -> set[str]:
    used: set[str] = set()
    for path in etc.glob("*.conf"):
        code = "\n".join(_COMMENT.split(line, 1)[0] for line in path.read_text().splitlines())
        used |= set(re.findall(r"(?<![A-Za-z0-9])(HOTLINE_[A-Z_]+)", code))  # `__HOTLINE_X` too
    return used


@pytest.mark.parametrize("mode", ["sip", "simulated"])
def test_every_hotline_variable_in_the_dialplan_is_in_channel_vars(tmp_path: Path, mode: str) -> None:
    s = Settings.from_env({"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_SEAT_MODE": mode})
    render(s, load_or_create(s), test_rig=True)
    used = _used(s.paths.run_dir / "etc")
    missing = used - channel_vars.ALL
    assert not missing, f"dialplan uses variables not in core/channel_vars.py: {sorted(missing)}"
    assert {channel_vars.HANDOFF_ID, channel_vars.HANDOFF_FAST, channel_vars.SEAT} <= used, \
        "the scan is broken (or the handoff key is no longer in the dialplan)"
