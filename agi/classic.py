"""Classic (process-per-call) AGI entry: `AGI(hotline-agi,<route>)` (I/O).

Asterisk runs the rendered agi-bin wrapper, which runs this module with
`--env-file <run>/etc/hotline-agi.env` and the route name; the AGI
environment arrives on stdin (pyst2's `asterisk.agi.AGI`).  Settings come
from that file (`app.runtime.render.write_agi_script`, mode 0600), read
here as data — no shell ever sees a value — or, without it, from the
process environment.

The transfer routes get the same `HandoffService` as the FastAGI server:
the orders database (migrated by whoever started the stack); the
double-press guard is the call's key in Asterisk's AstDB, which every
process and the dialplan see.  Asterisk waits for this process to exit
before the dialplan goes on (res_agi waitpid), so work a route defers with
`RouteContext.later` is finished before exiting, never dropped.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Mapping

from agi.call import ClassicAgiCall
from agi.context import RouteContext
from agi.dispatch import dispatch
from core.settings import Settings

# Routes that record handoffs: they need the orders database.
HANDOFF_ROUTES = frozenset({"handoff_key", "handoff_answered", "handoff_returned", "handoff_ended",
                            "handoff_lost"})


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


async def run_route(name: str, call: ClassicAgiCall, settings: Settings) -> str:
    """Run one route with the context it needs; finish deferred work first."""
    context = RouteContext(settings)
    engine = None
    if name in HANDOFF_ROUTES:
        from app.handoff.services import HandoffService
        from app.orders.services import OrderService
        from app.runtime import db

        engine = db.create_engine(settings.effective_database_url)
        orders = OrderService(db.session_factory(engine), limits=settings.time_limits,
                              jurisdiction=settings.jurisdiction)
        context.handoffs = HandoffService(settings, orders)
    try:
        outcome = await dispatch(name, call, context)
        await context.drain()
        return outcome
    finally:
        if engine is not None:
            await engine.dispose()


def main(argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    env: Mapping[str, str] = os.environ if environ is None else environ
    if argv[:1] == ["--env-file"] and len(argv) >= 2:
        env = read_env_file(Path(argv[1]))
        argv = argv[2:]
    settings = Settings.from_env(env)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="hotline-agi %(levelname)s %(name)s: %(message)s")
    from asterisk.agi import AGI  # pyst2

    agi = AGI()
    name = argv[0] if argv else ""
    outcome = asyncio.run(run_route(name, ClassicAgiCall(agi), settings))
    return 0 if outcome in ("ok", "hangup") else 1


if __name__ == "__main__":
    sys.exit(main())
