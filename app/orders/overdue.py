"""The overdue checker: a periodic task that flags orders past their time limits (service layer).

Runs inside the web service (`overdue_ctx` in `app.web.app`'s cleanup contexts)
every `Settings.orders.overdue_check_s`.  Each new breach gets one `overdue` audit
event (written by `OrderService.flag_overdue`) and one message on the Redis
channel `<prefix>orders:overdue` for dashboards; a Redis failure is logged
and does not stop the checker, nor does a database failure (next round).
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from agi.background import end_loop, pause
from app.orders.http import ORDERS
from app.orders.services import OrderService
from app.web.keys import REDIS, SETTINGS

log = logging.getLogger(__name__)

OVERDUE_CHANNEL = "orders:overdue"


async def check_once(service: OrderService, redis: Redis | None, prefix: str) -> int:
    """Flag new breaches and publish them; returns how many were flagged."""
    flagged = await service.flag_overdue()
    for order, breach in flagged:
        due = order.sign_due_at if breach == "sign" else order.on_site_due_at
        message = json.dumps({"order_id": order.id, "number": order.number, "breach": breach,
                              "order_class": order.order_class, "status": order.status,
                              "handling_unit": order.handling_unit,
                              "due_at": due.isoformat() if due else None}, ensure_ascii=False)
        if redis is not None:
            try:
                await redis.publish(prefix + OVERDUE_CHANNEL, message)
            except Exception as exc:  # noqa: BLE001 - the audit event is the record; this is a nudge
                log.warning("overdue order %s: publish failed: %s", order.number, exc)
    return len(flagged)


async def run_checker(app: web.Application, stop: asyncio.Event) -> None:
    settings = app[SETTINGS]
    while not stop.is_set():
        try:
            await check_once(app[ORDERS], app.get(REDIS), settings.redis.prefix)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("overdue check failed; retrying in %.1f s", settings.orders.overdue_check_s)
        await pause(stop, settings.orders.overdue_check_s)


async def overdue_ctx(app: web.Application) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run_checker(app, stop), name="overdue-checker")
    try:
        yield
    finally:
        await end_loop(task, stop)
