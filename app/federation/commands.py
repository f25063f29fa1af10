"""`hotline federation …` (edge: the CLI's view of the push outbox).

    hotline federation status            per peer: trunk qualify state, queue depth, failed items, oldest
                                         unsent (and its age), last error
    hotline federation failed            the items whose tries are spent (they hold back their order's later ones)
    hotline federation retry ID… | --all fresh tries for failed items

Each migrates the database first, so they work on a fresh install.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys

from redis.asyncio import Redis

from app.federation import store
from app.federation.health import link_status
from app.federation.services import FederationService
from app.orders.services import OrderService
from app.runtime import db
from app.runtime.models import utcnow
from core.settings import Settings


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.effective_database_url
    async with db.migrated_sessions(url) as sessions:
        if args.action == "status":
            service = FederationService(settings, sessions, OrderService(sessions))
            redis = Redis.from_url(settings.redis.url, socket_timeout=2.0, socket_connect_timeout=2.0)
            try:
                rows = await link_status(service, redis, utcnow())
            finally:
                await redis.aclose()
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for row in rows if not args.json else ():
                trunks = ", ".join(f"{t['name']} {t['status']}" + (f" {t['rtt_ms']} ms" if t["rtt_ms"] else "")
                                   for t in row["trunks"]) or "no trunk declared"
                age = f" ({row['oldest_unsent_age_s']:.0f} s ago)" if row["oldest_unsent_age_s"] is not None else ""
                print(f"{row['peer']:<20} {'OK ' if row['ok'] else 'BAD'}  trunk {trunks}")
                print(f"{'':<20} pending {row['pending']:>5}  failed {row['failed']:>4}  "
                      f"oldest unsent {row['oldest_unsent_at'] or '-'}{age}  last sent {row['last_sent_at'] or '-'}")
                if row["last_error"]:
                    print(f"{'':<20} last error: {row['last_error']}")
            if not rows:
                print("no peers configured (HOTLINE_PEERS)", file=sys.stderr)
            return 0
        if args.action == "failed":
            async with sessions() as session:
                items = await store.list_items(session, state="failed")
            for item in items:
                print(f"{item.id:>6}  {item.peer:<16} order {item.order_id}  {item.kind} {item.seq} "
                      f"{item.document.get('status', '')}  tries {item.attempts}  {item.last_error or ''}")
            print(f"{len(items)} failed", file=sys.stderr)
            return 1 if items else 0
        if not args.all and not args.ids:
            print("hotline federation retry: give item ids or --all", file=sys.stderr)
            return 2
        async with sessions.begin() as session:
            ids = await store.retry(session, None if args.all else args.ids, utcnow())
        print(f"retried {len(ids)}: {' '.join(map(str, ids))}; the web service pushes them on its next round")
        return 0


def cmd_federation(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings, args))


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("federation", help="orders pushed to peer platforms: status, failed, retry")
    p.add_argument("action", choices=("status", "failed", "retry"))
    p.add_argument("ids", nargs="*", type=int, help="outbox item ids (retry)")
    p.add_argument("--all", action="store_true", help="retry every failed item")
    p.add_argument("--json", action="store_true", help="status as JSON")
    p.set_defaults(fn=cmd_federation)
