"""Run a route against a call, the same way for FastAGI and classic AGI (I/O).

Outcomes: the route ran; the caller hung up (info, normal); the route is
unknown or failed (logged, HOTLINE_ROUTE_STATUS=ERROR written if the channel
is still there); the route took longer than ROUTE_TIMEOUT_S (a stalled
database, a wedged service) and was cut off — in every case the dialplan
continues on its own.  Asterisk waits for an AGI script without any limit, so
this timeout is what keeps a caller from waiting in silence when Python stalls.
"""
from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram

from agi.background import wait_for
from agi.call import AgiCall, AgiHangup
from agi.registry import AgiRoutes
from core import channel_vars as cv
from core import log_context

log = logging.getLogger(__name__)

ROUTE_TIMEOUT_S = 5.0

# Prometheus (prometheus_client's default registry; app.metrics serves it).
# The route label is a registered route's name or "unknown" (never what a
# request asked for: that is caller-supplied).
ROUTE_SECONDS = Histogram("hotline_agi_route_seconds", "FastAGI/classic AGI route run time, by route and result",
                          ("route", "result"),
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
ROUTE_FAILURES = Counter("hotline_agi_route_failures", "AGI requests that took the safe path, by route and why",
                         ("route", "result"))


async def dispatch(name: str, call: AgiCall, routes: AgiRoutes) -> str:
    """Run route `name`; return "ok", "hangup", "unknown", "timeout" or "error"."""
    started = time.perf_counter()
    with log_context.bind(channel=call.headers.get("agi_channel"), route=name if name in routes.names else None):
        result = await _dispatch(name, call, routes)
    label = name if result != "unknown" else "unknown"
    ROUTE_SECONDS.labels(label, result).observe(time.perf_counter() - started)
    if result in ("unknown", "timeout", "error"):
        ROUTE_FAILURES.labels(label, result).inc()
    return result


async def _dispatch(name: str, call: AgiCall, routes: AgiRoutes) -> str:
    channel = call.headers.get("agi_channel", "?")
    route = routes.get(name)
    if route is None:
        log.error("unknown AGI route %r channel=%s: safe path", name, channel)
        await _mark_error(call, channel)
        return "unknown"
    try:
        await wait_for(route(call), ROUTE_TIMEOUT_S)
        return "ok"
    except TimeoutError:
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
    except Exception:  # noqa: BLE001 - the channel may be gone; the dialplan's default stands
        log.debug("could not mark route error on %s", channel)
