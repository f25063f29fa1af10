"""`hotline bench catalogue`: catalogue search latency with the catalogue scaled to 1,000 entries (tooling).

The two shipped catalogues (with their aliases) are repeated per district
until there are `entries` of them, each copy's wording told apart by its
district, and searched with every phrasing of the evaluation set
(tests/data/catalogue-eval.tsv).  Two figures, as JSON:

* `lookup`: the index alone (`CatalogueIndex.search`: segmentation, BM25,
  phrases, safety first, explanations) — what a seat's keystroke costs;
* `service`: through `CatalogueSearch` on a real SQLite database holding the
  scaled catalogue — the lookup plus the fingerprint query that keeps the
  index current, as `GET /api/catalogue` runs it.

Index build time is reported too (at startup and after an admin edit).  The
target is lookup p95 <= 20 ms.
"""
from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from app.catalogue import store
from app.catalogue.evaluation import read_cases
from app.catalogue.search import CatalogueIndex
from app.catalogue.service import CatalogueSearch
from app.runtime import db
from app.runtime.models import utcnow
from app.tools.agi_bench import percentile
from core.catalogue import JURISDICTIONS, CatalogueItem

DISTRICTS = ("钦南区", "钦北区", "灵山县", "浦北县", "崆峒区", "泾川县", "灵台县", "崇信县", "华亭市", "庄浪县",
             "静宁县", "高新区", "港区", "开发区", "新城区", "老城区")
TARGET_P95_MS = 20.0


def scaled_catalogue(entries: int) -> list[CatalogueItem]:
    """`entries` entries: the shipped ones, then copies per district with new codes."""
    shipped = [item for j in JURISDICTIONS for item in store.read_shipped(j)]
    items: list[CatalogueItem] = []
    copy = 0
    while len(items) < entries:
        district = DISTRICTS[copy % len(DISTRICTS)]
        for n, item in enumerate(shipped):
            if len(items) >= entries:
                break
            if copy == 0:
                items.append(item)
            else:
                items.append(replace(item, code=f"BN-{copy}-{n + 1}", name=f"{item.name}（{district}）",
                                     group=f"{item.group}（{district}）"))
        copy += 1
    return items


def _summary(values_ms: list[float]) -> dict[str, float]:
    return {"n": len(values_ms), "p50_ms": round(percentile(values_ms, 50), 3),
            "p95_ms": round(percentile(values_ms, 95), 3), "p99_ms": round(percentile(values_ms, 99), 3),
            "max_ms": round(max(values_ms), 3), "mean_ms": round(statistics.fmean(values_ms), 3)}


def _queries() -> list[str]:
    seen: list[str] = []
    for cases in read_cases().values():
        for case in cases:
            if case.phrasing not in seen:
                seen.append(case.phrasing)
    return [*seen, "电梯", "95598", "PL-3-01", "停电 变压器", "自来水公司", "今天天气怎么样"]


async def run_catalogue_bench(entries: int = 1000, rounds: int = 3) -> dict[str, Any]:
    items = scaled_catalogue(entries)
    queries = _queries()
    started = time.perf_counter()
    index = CatalogueIndex(items)  # the first build also loads jieba's dictionary and Cilin
    first_build_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    index = CatalogueIndex(items)
    build_ms = (time.perf_counter() - started) * 1000
    for q in queries:  # warm
        index.search(q)
    lookup: list[float] = []
    for _ in range(rounds):
        for q in queries:
            t = time.perf_counter()
            index.search(q)
            lookup.append((time.perf_counter() - t) * 1000)

    service_ms: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        await db.migrate(url)
        engine = db.create_engine(url)
        try:
            sessions = db.session_factory(engine)
            async with sessions.begin() as session:
                await store.load_items(session, "qinzhou", items, now=utcnow())
            service = CatalogueSearch(sessions)
            await service.index("qinzhou")
            for _ in range(rounds):
                for q in queries:
                    t = time.perf_counter()
                    await service.search("qinzhou", q)
                    service_ms.append((time.perf_counter() - t) * 1000)
        finally:
            await engine.dispose()
    result: dict[str, Any] = {"entries": len(items), "queries": len(queries), "rounds": rounds,
                              "index_build_ms": {"first": round(first_build_ms, 1), "again": round(build_ms, 1)},
                              "lookup": _summary(lookup), "service": _summary(service_ms),
                              "target_lookup_p95_ms": TARGET_P95_MS}
    result["lookup_p95_within_target"] = result["lookup"]["p95_ms"] <= TARGET_P95_MS
    return result


def run(entries: int = 1000, rounds: int = 3) -> dict[str, Any]:
    return asyncio.run(run_catalogue_bench(entries, rounds))
