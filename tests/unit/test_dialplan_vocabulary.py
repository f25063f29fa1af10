"""Every HOTLINE_* channel variable the dialplan uses is defined in core.channel_vars."""
from __future__ import annotations

import re

from core import channel_vars
from core.settings import PROJECT_ROOT


def test_every_hotline_variable_in_the_dialplan_is_in_channel_vars() -> None:
    used: set[str] = set()
    for path in list((PROJECT_ROOT / "dialplan").glob("*.j2")) + list((PROJECT_ROOT / "asterisk-conf").glob("*.j2")):
        code = "\n".join(line.split(";", 1)[0] for line in path.read_text().splitlines())  # drop comments
        used |= set(re.findall(r"\b(HOTLINE_[A-Z_]+)\b", code))
    missing = used - channel_vars.ALL
    assert not missing, f"dialplan uses variables not in core/channel_vars.py: {sorted(missing)}"
    assert used, "no HOTLINE_ variable found: the scan is broken"
