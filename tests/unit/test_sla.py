"""`core.sla`: deadlines per class and overdue computation, with explicit `now`."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.sla import TimeLimits, breaches, deadlines, parse_limits

T0 = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
SEEDS = TimeLimits()


@pytest.mark.parametrize("order_class,sign,on_site", [
    ("urgent", T0 + timedelta(minutes=30), T0 + timedelta(hours=2)),
    ("major", T0 + timedelta(minutes=30), T0 + timedelta(hours=2)),
    ("general", None, None),
])
def test_when_dispatched_then_deadlines_follow_the_qinzhou_plan(order_class: str, sign: datetime | None,
                                                                 on_site: datetime | None) -> None:
    due = deadlines(order_class, T0, SEEDS)
    assert (due.sign_due_at, due.on_site_due_at) == (sign, on_site)


SIGN = T0 + timedelta(minutes=30)
ON_SITE = T0 + timedelta(hours=2)


@pytest.mark.parametrize("status,minutes,expected", [
    ("dispatched", 30, []),                       # exactly at the limit: still in time
    ("dispatched", 31, ["sign"]),
    ("dispatched", 121, ["sign", "on_site"]),
    ("signed", 31, []),                           # signed: the sign limit no longer applies
    ("signed", 121, ["on_site"]),
    ("on_site", 500, []),
    ("feedback", 500, []),
    ("returned", 500, []),                        # back with the sender: the clock is stopped
    ("closed", 500, []),
    ("voided", 500, []),
    ("accepted", 500, []),
])
def test_when_time_passes_then_owed_milestones_past_their_deadline_are_breaches(
    status: str, minutes: int, expected: list[str]
) -> None:
    now = T0 + timedelta(minutes=minutes)
    assert breaches(status=status, sign_due_at=SIGN, on_site_due_at=ON_SITE, now=now) == expected


def test_when_an_order_has_no_deadlines_then_it_is_never_overdue() -> None:
    assert breaches(status="dispatched", sign_due_at=None, on_site_due_at=None, now=T0 + timedelta(days=30)) == []


@pytest.mark.parametrize("spec,expected", [
    ("urgent=30,major=30", {"urgent": timedelta(minutes=30), "major": timedelta(minutes=30)}),
    (" general = 1440 ", {"general": timedelta(days=1)}),
    ("", {}),
])
def test_when_limits_are_configured_then_they_parse_to_minutes(spec: str, expected: dict[str, timedelta]) -> None:
    assert parse_limits(spec) == expected


@pytest.mark.parametrize("spec", ["urgent", "critical=30", "urgent=0", "urgent=-5", "urgent=1.5",
                                  "urgent=30,urgent=20", "urgent=999999"])
def test_when_limits_are_malformed_then_parsing_says_why(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_limits(spec)
