"""Time limits with a controllable clock, the overdue checker, and reports (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest
from redis.asyncio import Redis

from app.orders.http import ORDERS
from app.orders.overdue import OVERDUE_CHANNEL
from tests.orders.conftest import REDIS_URL, Api, Clock, api_settings, start_api
from tests.orders.test_orders_api import act, create


async def test_when_an_urgent_order_is_not_signed_within_30_minutes_then_it_is_listed_overdue(api: Api) -> None:
    urgent = await create(api, order_class="urgent")
    general = await create(api, order_class="general")
    for order in (urgent, general):
        await act(api, order["id"], "dispatch", handling_unit="钦南区应急联动队")

    api.clock.advance(minutes=30)
    _, listing = await api.call("GET", "/api/orders?overdue=true")
    assert listing["total"] == 0

    api.clock.advance(minutes=1)
    _, listing = await api.call("GET", "/api/orders?overdue=true", role="supervisor")
    assert [(o["id"], o["overdue"]) for o in listing["orders"]] == [(urgent["id"], ["sign"])]
    _, others = await api.call("GET", "/api/orders?overdue=false")
    assert [o["id"] for o in others["orders"]] == [general["id"]]

    await act(api, urgent["id"], "sign")
    _, listing = await api.call("GET", "/api/orders?overdue=true")
    assert listing["total"] == 0

    api.clock.advance(minutes=90)  # 2 h 1 min after dispatch, nobody on site
    _, listing = await api.call("GET", "/api/orders?overdue=true")
    assert [(o["id"], o["overdue"]) for o in listing["orders"]] == [(urgent["id"], ["on_site"])]
    await act(api, urgent["id"], "on-site")
    _, listing = await api.call("GET", "/api/orders?overdue=true")
    assert listing["total"] == 0


async def test_when_limits_are_configured_then_general_orders_get_them_too(
    tmp_path: Path, sqlite_url: str, redis_prefix: str, clock: Clock
) -> None:
    from datetime import timedelta

    from core.sla import TimeLimits

    limits = TimeLimits(sign={"general": timedelta(hours=24)}, on_site={})
    settings = api_settings(tmp_path, sqlite_url, redis_prefix, orders={"time_limits": limits})
    client, tokens = await start_api(settings, clock)
    api = Api(client, tokens, clock)
    try:
        order = await create(api, order_class="general")
        _, dispatched = await act(api, order["id"], "dispatch", handling_unit="单位")
        assert dispatched["sign_due_at"] == (clock.now + timedelta(hours=24)).isoformat()
        assert dispatched["on_site_due_at"] is None
        clock.advance(hours=25)
        _, listing = await api.call("GET", "/api/orders?overdue=true")
        assert [o["overdue"] for o in listing["orders"]] == [["sign"]]
    finally:
        await client.close()


@pytest.fixture
async def checked_api(tmp_path: Path, database_url: str, redis_prefix: str, clock: Clock) -> AsyncIterator[Api]:
    """The app with its overdue checker running every 20 ms."""
    settings = api_settings(tmp_path, database_url, redis_prefix, orders={"overdue_check_s": 0.02})
    client, tokens = await start_api(settings, clock)
    try:
        yield Api(client, tokens, clock)
    finally:
        await client.close()


async def overdue_events(api: Api, order_id: str) -> list[dict]:
    _, body = await api.call("GET", f"/api/orders/{order_id}/events")
    return [e for e in body["events"] if e["kind"] == "overdue"]


async def wait_for_overdue_events(api: Api, order_id: str, count: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = await overdue_events(api, order_id)
        if len(events) >= count:
            return events
        assert time.monotonic() < deadline, f"only {len(events)} overdue events after {timeout} s"
        await asyncio.sleep(0.02)


async def checker_ran_again(api: Api) -> None:
    """Wait until the checker has run a round that started after now: a sentinel
    order made overdue now gets its event.  (A checker that flagged a breach
    twice would have done so in that round.)  Moves the clock 31 minutes."""
    sentinel = await create(api, order_class="urgent")
    await act(api, sentinel["id"], "dispatch", handling_unit="哨兵 sentinel")
    api.clock.advance(minutes=31)
    await wait_for_overdue_events(api, sentinel["id"], 1)


async def test_when_the_checker_runs_then_each_breach_is_flagged_once_with_an_event_and_a_message(
    checked_api: Api, redis_prefix: str
) -> None:
    api = checked_api
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    pubsub = redis.pubsub()
    await pubsub.subscribe(redis_prefix + OVERDUE_CHANNEL)
    try:
        order = await create(api, order_class="major")
        await act(api, order["id"], "dispatch", handling_unit="钦州港区应急联动队")
        api.clock.advance(minutes=31)
        [event] = await wait_for_overdue_events(api, order["id"], 1)
        assert (event["actor"], event["detail"]["breach"], event["detail"]["order_class"]) == (
            "system:overdue", "sign", "major")

        message = None
        deadline = time.monotonic() + 5
        while message is None or message["type"] != "message":
            assert time.monotonic() < deadline
            message = await pubsub.get_message(timeout=0.2)
        published = json.loads(message["data"])
        assert (published["number"], published["breach"]) == (order["number"], "sign")

        # More rounds pass: still one event for this breach.
        flagged_at = api.clock.now
        await checker_ran_again(api)
        assert len(await overdue_events(api, order["id"])) == 1
        _, body = await api.call("GET", f"/api/orders/{order['id']}")
        assert body["flagged_overdue"]["sign"] == flagged_at.isoformat()

        api.clock.advance(minutes=90)
        events = await wait_for_overdue_events(api, order["id"], 2)
        assert [e["detail"]["breach"] for e in events] == ["sign", "on_site"]
        await checker_ran_again(api)
        assert len(await overdue_events(api, order["id"])) == 2

        # A return and a re-dispatch restart the clock: a new breach is a new event.
        await act(api, order["id"], "return", reason="超出辖区")
        await act(api, order["id"], "dispatch", handling_unit="钦南区应急联动队")
        api.clock.advance(minutes=31)
        events = await wait_for_overdue_events(api, order["id"], 3)
        assert [e["detail"]["breach"] for e in events] == ["sign", "on_site", "sign"]
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await redis.aclose()


async def test_when_a_period_is_reported_then_counts_by_direction_category_outcome_and_disputes_add_up(
    api: Api,
) -> None:
    service = api.client.app[ORDERS]
    a = await create(api, category="QZ-1-09")
    await create(api, category="QZ-1-06", source_centre="12345", target_centre="110")
    await act(api, a["id"], "void", reason="重复")
    for rule, category in (("first_contact", "QZ-1-18"), ("first_contact", "QZ-1-18"),
                           ("first_contact", "QZ-1-02"), ("agreed", "QZ-1-02")):
        await service.create(mode="three_way", status="accepted", source_centre="110", target_centre="12345",
                             citizen_number="13700137000", actor="seat:2001", category=category, handoff_rule=rule)
    api.clock.advance(days=40)
    await create(api)  # outside the period

    status, report = await api.call("GET", "/api/reports/summary?from=2026-11-01&to=2026-12-01", role="supervisor")
    assert status == 200
    assert report["total"] == 6
    as_dict = {section: {row["key"]: row["count"] for row in report[section]}
               for section in ("by_direction", "by_category", "by_outcome", "by_mode", "disputed_categories")}
    assert as_dict["by_direction"] == {"110->12345": 5, "12345->110": 1}
    assert as_dict["by_category"] == {"QZ-1-18": 2, "QZ-1-02": 2, "QZ-1-09": 1, "QZ-1-06": 1}
    assert as_dict["by_outcome"] == {"accepted": 5, "voided": 1}
    assert as_dict["by_mode"] == {"three_way": 4, "online": 2}
    assert as_dict["disputed_categories"] == {"QZ-1-18": 2, "QZ-1-02": 1}
    assert report["from"] == "2026-11-01T00:00:00+08:00"  # midnight in China, shown in its own offset

    status, text = await api.call("GET", "/api/reports/summary.csv?from=2026-11-01&to=2026-12-01",
                                  role="supervisor")
    assert status == 200
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["统计项", "分类", "数量", "section", "key"]
    assert ["合计", "", "6", "total", ""] in rows
    assert ["争议事项（首接负责）", "QZ-1-18", "2", "disputed_categories", "QZ-1-18"] in rows
    assert ["按转接方向", "12345转110", "1", "by_direction", "12345->110"] in rows


async def test_when_seats_paused_in_a_period_then_the_report_counts_paused_time_per_seat_and_reason(
    api: Api,
) -> None:
    from datetime import datetime

    from app.runtime.models import SeatEventRow
    from app.web.keys import SESSIONS

    def at(day: int, hh: int, mm: int) -> datetime:
        return datetime(2026, 11, day, hh, mm, tzinfo=UTC)

    rows = [  # (when, seat, signed in, paused, reason)
        (at(9, 10, 0), "2001", True, True, "就餐"),      # before the period, still paused at its start
        (at(10, 2, 0), "2001", True, False, None),       # ... until 2 h into the period
        (at(10, 3, 0), "1001", True, True, "小休"),
        (at(10, 3, 15), "1001", True, False, None),      # 15 min 小休
        (at(10, 4, 0), "1001", True, True, "培训"),
        (at(10, 5, 0), "1001", False, False, None),      # 1 h 培训, ended by signing out
        (at(24, 23, 0), "1002", True, True, "示忙"),      # still paused when the report is made (25th 01:30)
    ]
    async with api.client.app[SESSIONS]() as session, session.begin():
        for when, seat, signed_in, paused, reason in rows:
            session.add(SeatEventRow(at=when, seat=seat, centre="110" if seat == "2001" else "12345",
                                     signed_in=signed_in, paused=paused, reason=reason, source="event"))

    status, report = await api.call("GET", "/api/reports/summary?from=2026-11-10T00:00:00%2B00:00"
                                           "&to=2026-12-01", role="supervisor")
    assert status == 200, report
    assert report["paused"] == [
        {"seat": "1001", "centre": "12345", "reason": "培训", "seconds": 3600.0},
        {"seat": "1001", "centre": "12345", "reason": "小休", "seconds": 900.0},
        {"seat": "1002", "centre": "12345", "reason": "示忙", "seconds": 9000.0},  # up to now
        {"seat": "2001", "centre": "110", "reason": "就餐", "seconds": 7200.0},
    ]
    status, text = await api.call("GET", "/api/reports/summary.csv?from=2026-11-10T00:00:00%2B00:00"
                                         "&to=2026-12-01", role="supervisor")
    summary = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["示忙时长（秒）", "1001/培训", "3600.0", "paused_seconds", "1001/培训"] in summary


@pytest.mark.parametrize("query,field", [
    ("from=2026-11-01", "to"),
    ("to=2026-12-01", "from"),
    ("from=2026-11-31&to=2026-12-01", "from"),
    ("from=2026-11-01T00:00:00&to=2026-12-01", "from"),
    ("from=0001-01-01&to=2026-12-01", "from"),
    ("from=2026-11-01&to=9999-12-31", "to"),
    ("from=2026-11-01&to=2026-12-01T00:00:00%2B99:00", "to"),
])
async def test_when_a_report_period_is_malformed_then_the_answer_is_400_naming_the_parameter(
    api: Api, query: str, field: str
) -> None:
    status, body = await api.call("GET", f"/api/reports/summary?{query}", role="supervisor")
    assert (status, body["field"]) == (400, field), body


async def test_when_a_report_is_downloaded_then_statuses_modes_and_classes_are_in_chinese_and_the_file_named_in_local_days(  # noqa: E501 - a test's name says what it checks
    api: Api
) -> None:
    api.clock.advance(hours=15)  # 00:30 on 26 November in Beijing, still the 25th in UTC
    order = await create(api, order_class="major")
    await act(api, order["id"], "dispatch", handling_unit="钦南区应急联动队")
    status, text = await api.call("GET", "/api/reports/summary.csv?from=2026-11-26&to=2026-11-27", role="supervisor")
    assert status == 200, text
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert ["合计", "", "1", "total", ""] in rows
    assert ["按办理状态", "已派单", "1", "by_outcome", "dispatched"] in rows
    assert ["按来源方式", "在线转交", "1", "by_mode", "online"] in rows
    assert ["按工单等级", "重大", "1", "by_class", "major"] in rows
    async with api.client.get("/api/reports/summary.csv?from=2026-11-26&to=2026-11-27",
                              headers={"Authorization": f"Bearer {api.tokens['supervisor']}"}) as response:
        disposition = response.headers["Content-Disposition"]
    assert 'filename="orders-20261126-20261126.csv"' in disposition  # the Beijing day, not the UTC one
    assert "filename*=UTF-8''%E5%B7%A5%E5%8D%95%E7%BB%9F%E8%AE%A1-20261126-20261126.csv" in disposition
    _, summary = await api.call("GET", "/api/reports/summary?from=2026-11-26&to=2026-11-27", role="supervisor")
    assert (summary["from"], summary["to"], summary["total"]) == ("2026-11-26T00:00:00+08:00",
                                                                  "2026-11-27T00:00:00+08:00", 1)
    _, inverted = await api.call("GET", "/api/reports/summary?from=2026-11-27&to=2026-11-26", role="supervisor")
    assert inverted["total"] == 0


async def test_when_the_deployment_is_in_another_time_zone_then_days_follow_it(
    tmp_path: Path, sqlite_url: str, redis_prefix: str, clock: Clock
) -> None:
    settings = api_settings(tmp_path, sqlite_url, redis_prefix, orders={"timezone": "UTC"})
    client, tokens = await start_api(settings, clock)
    api = Api(client, tokens, clock)
    try:
        clock.advance(hours=15)  # 16:30 UTC on the 25th (already the 26th in Beijing)
        order = await create(api)
        assert order["number"].split("-")[1] == "20261125"
        _, summary = await api.call("GET", "/api/reports/summary?from=2026-11-25&to=2026-11-26", role="supervisor")
        assert (summary["from"], summary["total"]) == ("2026-11-25T00:00:00+00:00", 1)
    finally:
        await client.close()
