"""`hotline catalogue …` and `hotline bench catalogue` (edge: the CLI of the diversion catalogue).

    hotline catalogue load [--replace]   the shipped catalogues and aliases into the database
    hotline catalogue eval               top-1 / top-3 per city on tests/data/catalogue-{eval,heldout}.tsv, every miss
    hotline bench catalogue [--entries 1000] [--rounds 3]   search latency, catalogue scaled (JSON)

`load` migrates the database first, so it works on a fresh install; `eval`
and `bench catalogue` need no database of the deployment (they read the
shipped files).
"""
from __future__ import annotations

import argparse
import asyncio
import json

from core.settings import Settings


async def _load(settings: Settings, replace: bool) -> int:
    from app.catalogue import store
    from app.runtime import db
    from app.runtime.models import utcnow

    url = settings.effective_database_url
    async with db.migrated_sessions(url) as sessions:
        results = await store.load_shipped(sessions, now=utcnow(), replace=replace)
    for r in results:
        print(f"{r.jurisdiction}: {r.added} added, {r.updated} updated, {r.replaced} replaced, {r.kept} kept "
              f"(admin-edited entries are kept; --replace resets them)")
    return 0


def evaluate_shipped() -> str:
    """Both evaluation sets on the shipped catalogues: figures per city, then every miss."""
    from app.catalogue import store
    from app.catalogue.evaluation import (
        EVAL_FILE,
        HELDOUT_FILE,
        evaluate,
        read_cases,
        render,
    )
    from app.catalogue.search import CatalogueIndex
    from core.catalogue import JURISDICTIONS

    indexes = {j: CatalogueIndex(store.read_shipped(j)) for j in JURISDICTIONS}
    return "\n".join([
        render(evaluate(indexes, read_cases(EVAL_FILE)), f"{EVAL_FILE.name} (tuned on):"),
        render(evaluate(indexes, read_cases(HELDOUT_FILE)), f"{HELDOUT_FILE.name} (never tuned on):")])


def cmd_catalogue(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "load":
        return asyncio.run(_load(settings, args.replace))
    print(evaluate_shipped())
    return 0


def cmd_bench_catalogue(_settings: Settings, args: argparse.Namespace) -> int:
    from app.tools.catalogue_bench import run

    result = run(entries=args.entries, rounds=args.rounds)
    print(json.dumps(result, indent=2))
    return 0 if result["lookup_p95_within_target"] else 1


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """`hotline bench catalogue`'s own options (the bench parser lives in app.runtime.cli)."""
    p.add_argument("--entries", type=int, default=1000, help="catalogue size for `bench catalogue` (default 1000)")
    p.add_argument("--rounds", type=int, default=3, help="passes over the phrasings for `bench catalogue`")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("catalogue", help="diversion catalogues: load the shipped files, evaluate the search")
    p.add_argument("action", choices=("load", "eval"))
    p.add_argument("--replace", action="store_true", help="load: reset admin-edited entries to the shipped files")
    p.set_defaults(fn=cmd_catalogue)
