"""Order reports over a period: by direction, category, outcome; disputed categories; CSV (HTTP layer).

    GET /api/reports/summary?from=…&to=…       JSON (supervisor)
    GET /api/reports/summary.csv?from=…&to=…   the same as CSV for a Chinese office: 统计项,分类,数量 with
                                               the English keys alongside (section,key)

The period's dates are days of the deployment's time zone
(`HOTLINE_TIMEZONE`, Asia/Shanghai by default): `from=2026-11-01` starts at
midnight there, and the CSV's file name carries those same local dates.
A period that ends before it starts counts nothing.

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
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web

from app.orders.http import ORDERS
from app.orders.repository import count_by
from app.runtime.models import Order
from app.seats.store import paused_time
from app.web.auth import requires
from app.web.input import Field, parse_query, when
from app.web.keys import SESSIONS, SETTINGS
from core.orders import DISPUTED_RULE, MODE_LABELS, STATUS_LABELS
from core.sla import CLASS_LABELS

routes = web.RouteTableDef()

PERIOD_FIELDS: dict[str, Field] = {
    "from": when("Start of the period, inclusive (YYYY-MM-DD in China time, or ISO 8601 with offset)"),
    "to": when("End of the period, exclusive"),
}
PERIOD_REQUIRED = frozenset({"from", "to"})
SECTIONS = ("by_direction", "by_category", "by_outcome", "by_mode", "by_class", "disputed_categories")


async def summary(request: web.Request) -> dict[str, Any]:
    query = parse_query(request.query, PERIOD_FIELDS, request.app[SETTINGS].orders.tz, PERIOD_REQUIRED)
    start: datetime = query["from"]
    end: datetime = query["to"]  # a period that ends before it starts counts nothing
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
    tz = request.app[SETTINGS].orders.tz
    body: dict[str, Any] = {"from": start.astimezone(tz).isoformat(), "to": end.astimezone(tz).isoformat(),
                            "timezone": request.app[SETTINGS].orders.timezone,
                            "total": sum(n for _, n in counts["by_mode"])}
    for section in SECTIONS:
        body[section] = [{"key": key, "count": n} for key, n in counts[section]]
    body["paused"] = paused
    return body


@routes.get("/api/reports/summary")
@requires("supervisor")
async def report_summary(request: web.Request) -> web.Response:
    return web.json_response(await summary(request))


# CSV column and row labels: Chinese first, the English key alongside.
CSV_HEADER = ("统计项", "分类", "数量", "section", "key")
SECTION_LABELS = {"total": "合计", "by_direction": "按转接方向", "by_category": "按事项类别",
                  "by_outcome": "按办理状态", "by_mode": "按来源方式", "by_class": "按工单等级",
                  "disputed_categories": "争议事项（首接负责）", "paused_seconds": "示忙时长（秒）"}
NONE_LABEL = "（未填）"


def key_label(section: str, key: str | None) -> str:
    """A report row's key as a Chinese office reads it."""
    if key is None or key == "":
        return NONE_LABEL
    if section == "by_outcome":
        return STATUS_LABELS.get(key, key)
    if section == "by_mode":
        return MODE_LABELS.get(key, key)
    if section == "by_class":
        return CLASS_LABELS.get(key, key)
    if section == "by_direction":
        source, _, target = key.partition("->")
        return f"{source}转{target}" if target else key
    return key  # catalogue codes are the seeds' own


def csv_filename(start: datetime, end: datetime, tz: Any) -> tuple[str, str]:
    """(ASCII name, UTF-8 name) of the CSV: the period's first and last day in
    the deployment's time zone (`to` is exclusive: a period to 2026-12-01
    00:00 ends on 2026-11-30)."""
    first = start.astimezone(tz).date()
    last_moment = end.astimezone(tz) - timedelta(microseconds=1)
    last = max(first, last_moment.date())
    return (f"orders-{first:%Y%m%d}-{last:%Y%m%d}.csv", f"工单统计-{first:%Y%m%d}-{last:%Y%m%d}.csv")


@routes.get("/api/reports/summary.csv")
@requires("supervisor")
async def report_summary_csv(request: web.Request) -> web.Response:
    body = await summary(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    writer.writerow([SECTION_LABELS["total"], "", body["total"], "total", ""])
    for section in SECTIONS:
        for row in body[section]:
            key = "" if row["key"] is None else row["key"]
            writer.writerow([SECTION_LABELS[section], key_label(section, row["key"]), row["count"], section, key])
    for row in body["paused"]:  # seconds paused, per seat and reason
        key = f"{row['seat']}/{row['reason']}"
        writer.writerow([SECTION_LABELS["paused_seconds"], key, row["seconds"], "paused_seconds", key])
    tz = request.app[SETTINGS].orders.tz
    ascii_name, name = csv_filename(datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"]), tz)
    # UTF-8 with BOM so spreadsheet software shows the Chinese correctly.
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"),
                        content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{ascii_name}"; '
                                                        f"filename*=UTF-8''{quote(name)}"})
