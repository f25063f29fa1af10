"""`hotline overflow …` and `hotline simulate surge` (edge: the CLI of remote-seat overflow).

    hotline overflow list
    hotline overflow add --centre 12345 --name gx-remote --member PJSIP/nn-7 --member Local/9001@remote-phones
                         [--priority 1] [--min-waiting N] [--max-wait S] [--no-local-free] [--disabled]
    hotline overflow set NAME [--member …] [--priority P] [--min-waiting N|off] [--max-wait S|off]
                         [--no-local-free | --local-free-ignored] [--enabled | --disabled]
    hotline overflow delete NAME
    hotline overflow events [--centre C]
    hotline simulate surge [--calls 200] [--rate 10/s] …   surge benchmark, with and without a remote group (JSON)

The same `OverflowConfig` (and so the same validation) as the REST API: a
bad value prints the field and the reason and changes nothing.  A running
`hotline up` picks the change up at its next check.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from app.overflow.config import OverflowConfig, event_view, group_view
from app.runtime import db
from app.web.errors import HotlineError
from core.settings import Settings


def _off_or_int(value: str) -> int | str:
    """A threshold: a whole number, or "off" (the trigger is not used)."""
    if value.lower() in ("off", "none", "-"):
        return "off"
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: a whole number or 'off'") from None


def _changes(args: argparse.Namespace) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if args.member:
        data["members"] = args.member
    for key in ("priority", "min_waiting", "max_wait_s"):
        value = getattr(args, key)
        if value is not None:
            data[key] = None if value == "off" else value
    if args.no_local_free is not None:
        data["when_no_local_free"] = args.no_local_free
    if args.enabled is not None:
        data["enabled"] = args.enabled
    return data


async def _overflow(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.effective_database_url
    actor = "cli"
    async with db.migrated_sessions(url) as sessions:
        config = OverflowConfig(sessions, settings.site.centres)
        if args.action == "list":
            for row in await config.rows():
                view = group_view(row)
                state = "enabled" if view["enabled"] else "disabled"
                print(f"{view['name']:<20} centre {view['centre']:<6} priority {view['priority']:<3} {state:<8} "
                      f"min_waiting={view['min_waiting']} max_wait_s={view['max_wait_s']} "
                      f"no_local_free={view['when_no_local_free']}  members: {', '.join(view['members'])}")
        elif args.action == "add":
            data = {"name": args.name, "centre": args.centre, **_changes(args)}
            data.setdefault("members", [])
            print(json.dumps(group_view(await config.create(data, actor=actor)), ensure_ascii=False, indent=2))
        elif args.action == "set":
            print(json.dumps(group_view(await config.update(args.name, _changes(args), actor=actor)),
                             ensure_ascii=False, indent=2))
        elif args.action == "delete":
            await config.delete(args.name, actor=actor)
            print(f"deleted {args.name}")
        else:
            for event in await config.surge_events(centre=args.centre):
                print(json.dumps(event_view(event), ensure_ascii=False))
    return 0


def cmd_overflow(settings: Settings, args: argparse.Namespace) -> int:
    if args.action in ("add", "set", "delete") and not args.name:
        print(f"hotline overflow {args.action}: NAME (--name) is required", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_overflow(settings, args))
    except HotlineError as exc:
        field = getattr(exc, "field", None)
        print(f"hotline overflow: {field + ': ' if field else ''}{getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1


def _rate(value: str) -> float:
    text = value.strip().lower().removesuffix("/s")
    try:
        rate = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected calls per second, e.g. 10/s") from None
    if not 0 < rate <= 200:
        raise argparse.ArgumentTypeError("rate must be above 0 and at most 200/s")
    return rate


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from app.tools.surge_bench import run_surge_bench

    result = asyncio.run(run_surge_bench(settings, calls=args.calls, rate=args.rate, talk_s=args.talk,
                                         patience_s=args.patience, remote_seats=args.remote_seats,
                                         min_waiting=args.min_waiting, centre=args.centre))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("overflow", help="remote seat groups (远程话务座席): list, add, set, delete, events")
    p.add_argument("action", choices=("list", "add", "set", "delete", "events"))
    p.add_argument("name", nargs="?", help="group name (set, delete)")
    p.add_argument("--name", dest="name_opt", help="group name (add)")
    p.add_argument("--centre")
    p.add_argument("--member", action="append", help="dial string; repeat for each member (replaces the list)")
    p.add_argument("--priority", type=int)
    p.add_argument("--min-waiting", dest="min_waiting", type=_off_or_int)
    p.add_argument("--max-wait", dest="max_wait_s", type=_off_or_int)
    p.add_argument("--no-local-free", dest="no_local_free", action="store_const", const=True)
    p.add_argument("--local-free-ignored", dest="no_local_free", action="store_const", const=False)
    p.add_argument("--enabled", dest="enabled", action="store_const", const=True)
    p.add_argument("--disabled", dest="enabled", action="store_const", const=False)
    p.set_defaults(fn=_with_name)
    p = sub.add_parser("simulate", help="simulations against the real Asterisk")
    p.add_argument("what", choices=("surge",))
    p.add_argument("--calls", type=int, default=200, help="citizens per run (each run: without, then with the group)")
    p.add_argument("--rate", type=_rate, default=10.0, help="arrivals per second, e.g. 10/s")
    p.add_argument("--talk", type=float, default=4.0, help="seconds a citizen talks once answered")
    p.add_argument("--patience", type=float, default=20.0, help="seconds a citizen waits before hanging up")
    p.add_argument("--remote-seats", dest="remote_seats", type=int, default=40)
    p.add_argument("--min-waiting", dest="min_waiting", type=int, default=2, help="the group's threshold N")
    p.add_argument("--centre", default="12345")
    p.set_defaults(fn=cmd_simulate)


def _with_name(settings: Settings, args: argparse.Namespace) -> int:
    args.name = args.name or args.name_opt
    return cmd_overflow(settings, args)
