"""`hotline` — the command line of hotline-link (edge: reads env, wires parts).

    hotline up                 Asterisk + FastAGI + AMI bridge + web, until Ctrl-C
    hotline demo [--keep]      the same; the story in seconds: a *1 transfer and a three-way call
    hotline install-asterisk   build Asterisk 22 into the per-machine cache
    hotline agi | ami-bridge | web    one part alone (production layouts)
    hotline render             write the Asterisk configuration only
    hotline install-service [--root DIR] [--dry-run]   systemd units for agi, ami-bridge, web, Asterisk
    hotline seats              SIP credentials of the seats (for softphones)
    hotline db upgrade         migrate the database to the newest schema
    hotline token create --role seat|supervisor|admin --name NAME   an API token (shown once)
    hotline token revoke|list  manage API tokens
    hotline catalogue load|eval   the shipped diversion catalogues into the database | search top-1/top-3 per city
    hotline bench agi          FastAGI vs classic AGI decision latency (JSON)
    hotline bench handoff      the handoff key vs Asterisk's blind transfer, key press -> ringing/answered (JSON)
                               [--background-calls N: N calls in progress meanwhile]
    hotline bench load         call-rate ramp with *1 and three-way shares, the product vs a bare Asterisk (JSON)
                               --across-trunk: over a loopback trunk between two Asterisks
    hotline bench catalogue    catalogue search latency, catalogue scaled to 1,000 entries (JSON)
    hotline bench federation   order pushes/s one platform accepts, 签收 -> peer shows it p50/p95 (JSON)
    hotline overflow list|add|set|delete|events   remote seat groups (远程话务座席支持)
    hotline federation status|failed|retry   orders pushed to peer platforms (工单⇄警单)
    hotline simulate surge --calls 200 --rate 10/s   a surge with and without the remote group (JSON)
    hotline test [pytest args] the test suite

Settings come from HOTLINE_* environment variables (see .env.example); a bad
value stops the command with the variable's name.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from core.settings import PROJECT_ROOT, Settings, SettingsError, deprecated_variables

if TYPE_CHECKING:
    from app.runtime.features import Role

log = logging.getLogger("hotline")
STARTED = time.monotonic()  # the demo's clock starts with the command, imports included


def _settings() -> Settings:
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for notice in deprecated_variables(os.environ):
        print(f"hotline: {notice}", file=sys.stderr)
    return settings


def _logging(settings: Settings) -> None:
    from app.runtime.logs import configure

    configure(settings.logging)


def settle() -> None:
    """Once a service has started: what it made while starting (modules, mappers,
    settings, the catalogue: some 380,000 objects) lives as long as the process,
    so the collector's full passes stop walking it (`gc.freeze`; each pass over it
    held the event loop about 0.2 s on the 2-core test machine)."""
    gc.collect()
    gc.freeze()


async def _until_interrupted(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    try:
        await start()
        settle()
        await done.wait()
        print("\nstopping…", file=sys.stderr)
    finally:
        await stop()


def _serve(main: Coroutine[Any, Any, None]) -> None:
    """Run a service until it is stopped, on uvloop (libuv's event loop): the
    processes that carry calls spend about an eighth less CPU per call on it
    than on asyncio's own (`hotline bench load`, 20 calls/s)."""
    import uvloop

    uvloop.run(main)


def cmd_up(settings: Settings, _args: argparse.Namespace) -> int:
    from app.runtime.db import DatabaseUnavailable
    from app.runtime.stack import Stack, StateDirBusy

    stack = Stack(settings)
    try:
        _serve(_until_interrupted(stack.start, stack.stop))
    # OSError: a port taken, a directory not writable
    except (StateDirBusy, DatabaseUnavailable, OSError) as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from app.tools.demo import run_demo

    return asyncio.run(run_demo(settings, citizen=args.citizen, centre=args.centre, keep=args.keep,
                                started=STARTED))


def cmd_install(_settings: Settings | None, args: argparse.Namespace) -> int:
    cmd = [str(PROJECT_ROOT / "scripts" / "install-asterisk")] + (["--force"] if args.force else [])
    return subprocess.call(cmd)


def _run_roles(settings: Settings, *roles: Role) -> int:
    from app.runtime.db import DatabaseUnavailable
    from app.runtime.platform import Platform

    platform = Platform(settings, roles)
    try:
        _serve(_until_interrupted(platform.start, platform.stop))
    except DatabaseUnavailable as exc:  # the unit's restart policy tries again
        print(f"hotline: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_agi(settings: Settings, _args: argparse.Namespace) -> int:
    """The FastAGI server alone: every feature's routes, orders in the configured database."""
    return _run_roles(settings, "agi")


def cmd_bridge(settings: Settings, _args: argparse.Namespace) -> int:
    """The AMI bridge alone: the live mirror, the handoff journal, the surge controller."""
    return _run_roles(settings, "bridge")


def cmd_web(settings: Settings, _args: argparse.Namespace) -> int:
    """The web service alone, with its own AMI link for the transfer and three-way buttons."""
    return _run_roles(settings, "web")


def cmd_render(settings: Settings, args: argparse.Namespace) -> int:
    from app.runtime.render import render
    from app.runtime.secrets import load_or_create

    path = render(settings, load_or_create(settings), agi_mode=args.agi_mode)
    print(f"rendered {path}")
    return 0


def cmd_seats(settings: Settings, _args: argparse.Namespace) -> int:
    from app.runtime.network import sip_server
    from app.runtime.secrets import load_or_create

    secrets = load_or_create(settings)
    server = sip_server(settings)
    print(f"SIP server {server} (UDP and TCP)"
          + (" — HOTLINE_BIND_HOST=127.0.0.1: this machine only" if server.startswith("127.0.0.1:") else ""))
    for centre in settings.site.centres:
        for seat in centre.seats:
            print(f"  {centre.id:>6}  seat {seat.extension}  username {seat.extension}  "
                  f"password {secrets.seat_passwords[seat.extension]}")
    return 0


def cmd_db(settings: Settings, _args: argparse.Namespace) -> int:
    from app.runtime.db import migrate

    asyncio.run(migrate(settings.effective_database_url))
    print(f"database at head: {settings.effective_database_url.split('@')[-1]}")
    return 0


def _run_benchmark(coro: Coroutine[Any, Any, Any]) -> Any:
    """`asyncio.run(coro)`, stopped by SIGTERM as by Ctrl-C: the benchmark is
    cancelled, so its `finally` blocks stop the Asterisk processes and the
    servers it started (killed outright, they stayed up and the next run met
    "Asterisk already running").  Exits 143 after a SIGTERM."""
    from app.tools import BenchmarkFailed

    async def run() -> Any:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        terminated: list[bool] = []

        def terminate() -> None:
            terminated.append(True)
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, terminate)
        try:
            return await coro
        except BenchmarkFailed as exc:
            print(f"hotline: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        except asyncio.CancelledError:
            if terminated:
                print("hotline: benchmark stopped by SIGTERM; what it started is stopped", file=sys.stderr)
                raise SystemExit(128 + signal.SIGTERM) from None
            raise
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    return asyncio.run(run())


def _count(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than `least` (else exit 2 naming the option)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"{value} is less than {least}")
        return value
    return parse


def cmd_bench(settings: Settings, args: argparse.Namespace) -> int:
    if args.what == "catalogue":
        from app.catalogue.commands import cmd_bench_catalogue

        return cmd_bench_catalogue(settings, args)
    if args.what == "federation":
        from app.tools.federation_bench import run_federation_bench

        print(json.dumps(_run_benchmark(run_federation_bench(
            settings, pushes=args.calls, concurrency=args.concurrency, statuses=args.statuses,
            database_url=args.peer_database_url)), indent=2))
        return 0
    if args.what in ("handoff", "transfer"):  # `transfer`: the name it had before
        from app.tools.handoff_bench import run_handoff_bench

        print(json.dumps(_run_benchmark(run_handoff_bench(settings, count=args.calls,
                                                          background_calls=args.background_calls,
                                                          across_trunk=args.across_trunk)), indent=2))
        return 0
    if args.what == "load":
        from app.tools.load_bench import run_load_bench

        try:
            rates = [float(r) for r in args.rates.split(",")]
            if not rates or any(not 0 < r <= 200 for r in rates):
                raise ValueError
        except ValueError:
            print(f"hotline: --rates {args.rates!r}: expected calls per second, e.g. 5,10,15", file=sys.stderr)
            return 2
        result = _run_benchmark(run_load_bench(settings, rates=rates, step_s=args.step_s,
                                               handoff_share=args.handoff_share, threeway_share=args.threeway_share,
                                               talk_s=args.talk_s, seats=args.seats,
                                               database_url=args.database_url or None,
                                               baseline=not args.no_baseline))
        print(json.dumps(result, indent=2))
        return 0
    from app.tools.agi_bench import run_agi_bench

    result = _run_benchmark(run_agi_bench(settings, calls=args.calls))
    print(json.dumps(result, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["test"]:  # everything after `test` belongs to pytest, flags included
        return subprocess.call([sys.executable, "-m", "pytest", *argv[1:]], cwd=PROJECT_ROOT)
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run Asterisk, FastAGI, AMI bridge and web until Ctrl-C").set_defaults(fn=cmd_up)
    p = sub.add_parser("demo", help="run everything; two citizens: a *1 transfer and a three-way call, then exit")
    p.add_argument("--citizen", default="13800138000", help="the first citizen's number")
    p.add_argument("--centre", default="12345", help="the centre the citizens dial (its partner takes them)")
    p.add_argument("--keep", action="store_true", help="then keep running for the dashboard, until Ctrl-C")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("install-asterisk", help="build Asterisk 22 into the per-machine cache")
    p.add_argument("--force", action="store_true")
    p.set_defaults(fn=cmd_install, no_settings=True)
    sub.add_parser("agi", help="the FastAGI server alone").set_defaults(fn=cmd_agi)
    sub.add_parser("ami-bridge", help="the AMI bridge alone").set_defaults(fn=cmd_bridge)
    sub.add_parser("web", help="the web service alone").set_defaults(fn=cmd_web)
    p = sub.add_parser("render", help="write the Asterisk configuration into the run directory")
    p.add_argument("--agi-mode", choices=("fast", "classic"), default="fast")
    p.set_defaults(fn=cmd_render)
    sub.add_parser("seats", help="print the seats' SIP credentials").set_defaults(fn=cmd_seats)
    p = sub.add_parser("db", help="database maintenance")
    p.add_argument("action", choices=("upgrade",))
    p.set_defaults(fn=cmd_db)
    p = sub.add_parser("bench", help="benchmarks against a real Asterisk (catalogue: search latency, no Asterisk)")
    p.add_argument("what", choices=("agi", "handoff", "transfer", "load", "catalogue", "federation"))
    p.add_argument("--calls", type=_count(1), default=200, help="calls; for federation: order pushes")
    p.add_argument("--concurrency", type=_count(1), default=8, help="federation: pushes in flight")
    p.add_argument("--statuses", type=_count(0), default=30, help="federation: 签收 timed from 110 to 12345")
    p.add_argument("--peer-database-url", help="federation: the receiving platform's database (default SQLite)")
    p.add_argument("--background-calls", type=_count(0), default=0,
                   help="handoff: calls kept in progress (talking, other seats) during the measurement")
    p.add_argument("--rates", default="5,10,15,20", help="load: offered calls per second, one step each")
    p.add_argument("--step-s", type=float, default=15.0, help="load: seconds per step")
    p.add_argument("--handoff-share", type=float, default=0.5, help="load: share of calls handed over (*1)")
    p.add_argument("--threeway-share", type=float, default=0.1, help="load: share of three-way calls (*2)")
    p.add_argument("--talk-s", type=float, default=1.0, help="load: seconds talked before the key and after")
    p.add_argument("--seats", type=int, default=40, help="load: simulated seats per centre")
    p.add_argument("--database-url", default="", help="load: orders database (default SQLite in the state dir)")
    p.add_argument("--no-baseline", action="store_true", help="load: skip the bare-Asterisk baseline")
    p.add_argument("--across-trunk", action="store_true",
                   help="handoff/transfer: two platforms (two Asterisks) linked by a loopback peer trunk; "
                        "the key on A to 110 on B vs Asterisk's blind transfer to the same trunk")
    from app.catalogue.commands import add_bench_arguments

    add_bench_arguments(p)
    p.set_defaults(fn=cmd_bench)
    from app.runtime.services import register as register_service_commands

    register_service_commands(sub)
    from app.runtime.commands import register as register_admin_commands

    register_admin_commands(sub)
    from app.catalogue.commands import register as register_catalogue_commands

    register_catalogue_commands(sub)
    from app.overflow.commands import register as register_overflow_commands

    register_overflow_commands(sub)
    from app.federation.commands import register as register_federation_commands

    register_federation_commands(sub)
    sub.add_parser("test", help="run the test suite; further arguments go to pytest")
    args = parser.parse_args(argv)
    settings = None if getattr(args, "no_settings", False) else _settings()
    if settings is not None:
        quiet = args.command in ("demo", "bench", "simulate", "overflow", "federation")
        if quiet and "HOTLINE_LOG_LEVEL" not in os.environ:
            settings = settings.with_(logging={"level": "WARNING"})  # the output is the story, not the logs
        _logging(settings)
    return int(args.fn(settings, args) or 0)


if __name__ == "__main__":
    sys.exit(main())
