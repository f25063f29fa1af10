"""`hotline-agi`: the classic agi-bin entry, `AGI(hotline-agi,<route>[,<args>])` (edge, I/O).

Asterisk runs the rendered agi-bin wrapper, which runs this module with
`--env-file <run>/etc/hotline-agi.env`, the route name and its arguments; the AGI
environment arrives on stdin (pyst2).  Settings come from that file
(`app.runtime.render.write_agi_script`, mode 0600) or, without it, from the
process environment.  The features are wired as in every other process
(`app.runtime.features`), without an AMI link: the handoff routes record
orders in the same database and check the same double-press guard (the
call's AstDB key) as the FastAGI server; the three-way keys are refused (they move calls over AMI).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from agi.call import ClassicAgiCall
from agi.classic import read_env_file, run_route
from agi.registry import AgiRoutes
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.features import Dependencies, setup_features
from core.settings import Settings


async def run(name: str, call: ClassicAgiCall, settings: Settings) -> str:
    """Wire the features (the database is migrated by whoever started the stack), run the route."""
    engine = db.create_engine(settings.effective_database_url)
    try:
        sessions = db.session_factory(engine)
        orders = OrderService(sessions, limits=settings.orders.time_limits, jurisdiction=settings.orders.jurisdiction,
                              number_tz=settings.orders.tz)
        routes = AgiRoutes()
        setup_features(Dependencies(settings, engine, sessions, orders, frozenset({"agi"}), agi=routes))
        return await run_route(name, call, routes)
    finally:
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

    outcome = asyncio.run(run(argv[0] if argv else "", ClassicAgiCall(AGI(), args=tuple(argv[1:])), settings))
    return 0 if outcome in ("ok", "hangup") else 1


if __name__ == "__main__":
    sys.exit(main())
