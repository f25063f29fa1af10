"""Wiring of the metrics (Prometheus): counters on this process's orders and
AMI link, `/metrics` on the web service, and on its own address when
`HOTLINE_METRICS_PORT` is set (the way to scrape `hotline agi` and `hotline
ami-bridge`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from redis.asyncio import Redis

from app.metrics import http
from app.metrics.collect import AMI_LINKS, OrderMetrics, Snapshot

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes,)
WEB_CONTEXTS = (http.snapshot_ctx,)
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    if not getattr(deps.orders, "_hotline_metrics", False):  # one observer per order service
        deps.orders.observe(OrderMetrics())
        deps.orders._hotline_metrics = True  # type: ignore[attr-defined]
    if deps.ami is not None:
        AMI_LINKS.watch(deps.ami)
        deps.provide(http.AMI_LINK, deps.ami)
    network = deps.settings.network
    if network.metrics_port is not None:
        redis = Redis.from_url(deps.settings.redis.url, decode_responses=True,
                               socket_connect_timeout=2, socket_timeout=3)
        snapshot = Snapshot(redis=redis, prefix=deps.settings.redis.prefix, sessions=deps.sessions, ami=deps.ami)
        deps.workers.append(http.MetricsServer(network.metrics_host, network.metrics_port, snapshot, redis))
