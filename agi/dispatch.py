"""Run a route against a call, the same way for FastAGI and classic AGI (I/O).

Outcomes: the route ran; the caller hung up (info, normal); the route is
unknown or failed (logged, HOTLINE_ROUTE_STATUS=ERROR written if the channel
is still there) — in every case the dialplan continues on its own.
"""
from __future__ import annotations

import logging

from agi.call import AgiCall, AgiHangup
from agi.context import RouteContext
from agi.routes import ROUTES
from core import channel_vars as cv
from core.settings import Settings

log = logging.getLogger(__name__)


async def dispatch(name: str, call: AgiCall, context: RouteContext | Settings) -> str:
    """Run route `name`; return "ok", "hangup", "unknown" or "error"."""
    if isinstance(context, Settings):
        context = RouteContext(context)
    channel = call.headers.get("agi_channel", "?")
    route = ROUTES.get(name)
    if route is None:
        log.error("unknown AGI route %r channel=%s: safe path", name, channel)
        await _mark_error(call, channel)
        return "unknown"
    try:
        await route(call, context)
        return "ok"
    except AgiHangup:
        log.info("caller hung up during route %s channel=%s", name, channel)
        return "hangup"
    except Exception:
        log.exception("route %s failed channel=%s: safe path", name, channel)
        await _mark_error(call, channel)
        return "error"


async def _mark_error(call: AgiCall, channel: str) -> None:
    try:
        await call.set_variable(cv.ROUTE_STATUS, "ERROR")
    except Exception:  # the channel may be gone; the dialplan's default stands
        log.debug("could not mark route error on %s", channel)
