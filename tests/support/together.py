"""Several `hotline` processes started at once on one database, as the service units start."""
from __future__ import annotations

import asyncio
import os
import sys

from agi.background import wait_for
from core.settings import PROJECT_ROOT


async def assert_all_succeed_together(database_url: str, *argv: str, processes: int = 4) -> None:
    """Run `hotline <argv>` in `processes` processes at once on `database_url`;
    each must exit 0 (their output's end is shown otherwise)."""
    env = {**os.environ, "HOTLINE_DATABASE_URL": database_url}
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.runtime.cli", *argv, cwd=str(PROJECT_ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT) for _ in range(processes)]
    outputs = [(await wait_for(p.communicate(), 120))[0].decode(errors="replace") for p in procs]
    assert [p.returncode for p in procs] == [0] * processes, "\n".join(o[-1500:] for o in outputs)
