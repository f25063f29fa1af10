"""`hotline token …` (edge: the CLI's admin commands).

    hotline token create --role seat|supervisor|admin --name NAME   prints the token once
    hotline token revoke --name NAME
    hotline token list

Each migrates the database first, so they work on a fresh install.
(`hotline catalogue …` is the catalogue's own: app/catalogue/commands.py.)
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from app.runtime import db
from app.runtime.models import utcnow
from app.web.auth import create_token, list_tokens, revoke_token
from app.web.errors import HotlineError
from core.roles import ROLES
from core.settings import Settings


async def _token(settings: Settings, args: argparse.Namespace) -> int:
    url = settings.effective_database_url
    async with db.migrated_sessions(url) as sessions:
        if args.action == "create":
            token = await create_token(sessions, role=args.role, name=args.name, now=utcnow())
            print(token)
            print(f"token for {args.name} ({args.role}); shown once, stored hashed", file=sys.stderr)
        elif args.action == "revoke":
            await revoke_token(sessions, name=args.name, now=utcnow())
            print(f"revoked {args.name}")
        else:
            for row in await list_tokens(sessions):
                state = f"revoked {row.revoked_at.isoformat()}" if row.revoked_at else "active"
                print(f"{row.name:<32} {row.role:<10} {row.created_at.isoformat()}  {state}")
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "create" and (not args.role or not args.name):
        print("hotline token create: --role and --name are required", file=sys.stderr)
        return 2
    if args.action == "revoke" and not args.name:
        print("hotline token revoke: --name is required", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_token(settings, args))
    except HotlineError as exc:
        print(f"hotline token: {exc}", file=sys.stderr)
        return 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("token", help="API tokens: create (shown once), revoke, list")
    p.add_argument("action", choices=("create", "revoke", "list"))
    p.add_argument("--role", choices=ROLES)
    p.add_argument("--name")
    p.set_defaults(fn=cmd_token)
