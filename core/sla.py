"""Time limits of work orders by class, and overdue computation (pure).

The seeds' classes are 一般 (general), 紧急 (urgent) and 重大 (major).  The
Qinzhou plan (§6 / 办法第十五条) sets the one hard limit the documents give:
a handling unit that receives a *突发* (sudden, i.e. urgent or major) order
dispatched by 12345 signs for it (签收) within 30 minutes and has someone on
site within 2 hours.  General orders are handled "within the prescribed
time" (在规定时间内), which the seeds do not quantify, so by default they
carry no limit.  Every limit is configurable (`Settings.orders.time_limits`).

The clock starts when the order is dispatched to a handling unit and restarts
on every re-dispatch.  A returned (退单) order is back with the sender and its
clock is stopped.  No I/O, no wall clock: callers pass `now`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

OrderClass = Literal["general", "urgent", "major"]
ORDER_CLASSES: tuple[str, ...] = ("general", "urgent", "major")
CLASS_LABELS = {"general": "一般", "urgent": "紧急", "major": "重大"}

Breach = Literal["sign", "on_site"]
BREACHES: tuple[str, ...] = ("sign", "on_site")

# While the order is in one of these statuses, the milestone is still owed.
SIGN_OWED_IN = frozenset({"dispatched"})
ON_SITE_OWED_IN = frozenset({"dispatched", "signed"})


def _default_sign() -> dict[str, timedelta]:
    return {"urgent": timedelta(minutes=30), "major": timedelta(minutes=30)}


def _default_on_site() -> dict[str, timedelta]:
    return {"urgent": timedelta(hours=2), "major": timedelta(hours=2)}


@dataclass(frozen=True)
class TimeLimits:
    """Per class: how long after dispatch the order must be signed for and reached on site.

    A class missing from a mapping has no limit for that milestone.
    """

    sign: Mapping[str, timedelta] = field(default_factory=_default_sign)
    on_site: Mapping[str, timedelta] = field(default_factory=_default_on_site)

    def as_dict(self) -> dict[str, dict[str, int]]:
        """Minutes per class, as shown by the API."""
        return {
            "sign_minutes": {k: int(v.total_seconds() // 60) for k, v in self.sign.items()},
            "on_site_minutes": {k: int(v.total_seconds() // 60) for k, v in self.on_site.items()},
        }


@dataclass(frozen=True)
class Deadlines:
    sign_due_at: datetime | None
    on_site_due_at: datetime | None


def deadlines(order_class: str, dispatched_at: datetime, limits: TimeLimits) -> Deadlines:
    """When an order of `order_class` dispatched at `dispatched_at` must be signed for / on site."""
    sign = limits.sign.get(order_class)
    on_site = limits.on_site.get(order_class)
    return Deadlines(
        sign_due_at=dispatched_at + sign if sign is not None else None,
        on_site_due_at=dispatched_at + on_site if on_site is not None else None,
    )


def breaches(
    *,
    status: str,
    sign_due_at: datetime | None,
    on_site_due_at: datetime | None,
    now: datetime,
) -> list[str]:
    """The milestones that are owed and past their deadline at `now` ("sign", "on_site").

    An order is overdue for supervision (督办) while this list is non-empty.
    """
    found: list[str] = []
    if status in SIGN_OWED_IN and sign_due_at is not None and now > sign_due_at:
        found.append("sign")
    if status in ON_SITE_OWED_IN and on_site_due_at is not None and now > on_site_due_at:
        found.append("on_site")
    return found


def parse_limits(spec: str) -> dict[str, timedelta]:
    """Parse `urgent=30,major=30` (minutes per class) into a mapping.

    An empty string means no limits.  Raises `ValueError` with a reason.
    """
    result: dict[str, timedelta] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, minutes = part.partition("=")
        name = name.strip()
        if not sep or name not in ORDER_CLASSES:
            raise ValueError(f"{part!r}: expected CLASS=MINUTES with CLASS one of {', '.join(ORDER_CLASSES)}")
        if name in result:
            raise ValueError(f"{name} given twice")
        minutes = minutes.strip()
        if not minutes.isdigit() or not 1 <= int(minutes) <= 60 * 24 * 90:
            raise ValueError(f"{part!r}: minutes must be a whole number from 1 to {60 * 24 * 90}")
        result[name] = timedelta(minutes=int(minutes))
    return result
