"""Order reports over a period: by direction, category, outcome; disputed categories; CSV (HTTP layer).

    GET /api/reports/summary?from=…&to=…       JSON (supervisor)
    GET /api/reports/summary.csv?from=…&to=…   the same as CSV: section,key,count

`paused` is the time each seat spent paused (示忙) in the period, per
reason, from the seat journal (app/seats/store.py): a pause running at the
start or still running counts from the start / up to the end (or now).

"Disputed" categories are those of three-way calls whose receiving platform
was decided by the first-contact rule (首接负责: the two centres could not
agree), listed for the quarterly joint review (会商).  Counts come from
`app.orders.repository.count_by`; no SQL here.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from aiohttp import web

from app.orders.http import ORDERS
from app.orders.repository import count_by
from app.orders.services import CHINA_TZ
from app.runtime.models import Order
from app.seats.store import paused_time
from app.web.auth import requires
from app.web.errors import BadInput
from app.web.input import Field, parse_query, when
from app.web.keys import SESSIONS
from core.orders import DISPUTED_RULE

routes = web.RouteTableDef()

PERIOD_FIELDS: dict[str, Field] = {
    "from": when("Start of the period, inclusive (YYYY-MM-DD in China time, or ISO 8601 with offset)"),
    "to": when("End of the period, exclusive"),
}
PERIOD_REQUIRED = frozenset({"from", "to"})
SECTIONS = ("by_direction", "by_category", "by_outcome", "by_mode", "by_class", "disputed_categories")


async def summary(request: web.Request) -> dict[str, Any]:
    query = parse_query(request.query, PERIOD_FIELDS, CHINA_TZ, PERIOD_REQUIRED)
    start: datetime = query["from"]
    end: datetime = query["to"]
    if start >= end:
        raise BadInput("to", "must be after from")
    async with request.app[SESSIONS]() as session:
        counts = {
            "by_direction": await count_by(session, "direction", start, end),
            "by_category": await count_by(session, "category", start, end),
            "by_outcome": await count_by(session, "status", start, end),
            "by_mode": await count_by(session, "mode", start, end),
            "by_class": await count_by(session, "order_class", start, end),
            "disputed_categories": await count_by(session, "category", start, end, Order.mode == "three_way",
                                                  Order.handoff_rule == DISPUTED_RULE),
        }
        paused = await paused_time(session, start, end, request.app[ORDERS].now())
    body: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat(),
                            "total": sum(n for _, n in counts["by_mode"])}
    for section in SECTIONS:
        body[section] = [{"key": key, "count": n} for key, n in counts[section]]
    body["paused"] = paused
    return body


@routes.get("/api/reports/summary")
@requires("supervisor")
async def report_summary(request: web.Request) -> web.Response:
    return web.json_response(await summary(request))


@routes.get("/api/reports/summary.csv")
@requires("supervisor")
async def report_summary_csv(request: web.Request) -> web.Response:
    body = await summary(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "key", "count"])
    writer.writerow(["total", "", body["total"]])
    for section in SECTIONS:
        for row in body[section]:
            writer.writerow([section, "" if row["key"] is None else row["key"], row["count"]])
    for row in body["paused"]:  # seconds paused, per seat and reason
        writer.writerow(["paused_seconds", f"{row['seat']}/{row['reason']}", row["seconds"]])
    filename = f"orders-{body['from'][:10]}-{body['to'][:10]}.csv"
    # UTF-8 with BOM so spreadsheet software shows the Chinese categories correctly.
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
