"""Run a route against a call, the same way for FastAGI and classic AGI (I/O).

Outcomes: the route ran; the caller hung up (info, normal); the route is
unknown or failed (logged, HOTLINE_ROUTE_STATUS=ERROR written if the channel
is still there); the route took longer than ROUTE_TIMEOUT_S (a stalled
database, a wedged service) and was cut off — in every case the dialplan
continues on its own.  Asterisk waits for an AGI script without any limit, so
this timeout is what keeps a caller from waiting in silence when Python stalls.
"""
from __future__ import annotations

import asyncio
import logging

from agi.call import AgiCall, AgiHangup
from agi.registry import AgiRoutes
from core import channel_vars as cv

log = logging.getLogger(__name__)

ROUTE_TIMEOUT_S = 5.0


async def dispatch(name: str, call: AgiCall, routes: AgiRoutes) -> str:
    """Run route `name`; return "ok", "hangup", "unknown", "timeout" or "error"."""
    channel = call.headers.get("agi_channel", "?")
    route = routes.get(name)
    if route is None:
        log.error("unknown AGI route %r channel=%s: safe path", name, channel)
        await _mark_error(call, channel)
        return "unknown"
    try:
        await asyncio.wait_for(route(call), ROUTE_TIMEOUT_S)
        return "ok"
    except asyncio.TimeoutError:
        # The AGI socket may hold a half-read reply: send nothing more; closing
        # it ends AGI() and the route status left unset takes the safe path.
        log.error("route %s took over %.1fs channel=%s: cut off, safe path", name, ROUTE_TIMEOUT_S, channel)
        return "timeout"
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
