"""Classic (process-per-call) AGI: the same routes over stdin/stdout (I/O).

`run_route` runs one registered route against pyst2's `asterisk.agi.AGI`
(`ClassicAgiCall`) and finishes the work it deferred with `later` before
returning: Asterisk waits for the process to exit before the dialplan goes
on (res_agi waitpid), so nothing is dropped.  `read_env_file` reads the
rendered settings file as data (no shell ever sees a value).  The entry
point that wires the features (`hotline-agi`) is `app.runtime.classic`.
"""
from __future__ import annotations

from pathlib import Path

from agi.call import ClassicAgiCall
from agi.dispatch import dispatch
from agi.registry import AgiRoutes


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (comments `#`); values taken verbatim."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not NAME=value: {line[:40]!r}")
        env[name] = value
    return env


async def run_route(name: str, call: ClassicAgiCall, routes: AgiRoutes) -> str:
    """Run one route; finish the work it deferred before the process exits."""
    outcome = await dispatch(name, call, routes)
    await routes.drain()
    return outcome
