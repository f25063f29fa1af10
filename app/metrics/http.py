"""`GET /metrics` for Prometheus (HTTP edge).

On the web service it sits behind the API's bearer tokens like every
`/api/` route (`app.web.auth`: role `supervisor`; Prometheus sends the token
with `authorization: {credentials_file: ...}`).  A process may also serve it
on its own address, `HOTLINE_METRICS_HOST:HOTLINE_METRICS_PORT`, without a
token (`MetricsServer`): the way to scrape `hotline agi` and `hotline
ami-bridge`, which serve no HTTP otherwise — bind it to loopback or a
management network only.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from app.metrics.collect import Snapshot, exposition
from app.web.auth import requires
from app.web.keys import REDIS, SESSIONS, SETTINGS

log = logging.getLogger(__name__)

PATH = "/metrics"
SNAPSHOT = web.AppKey("metrics_snapshot", Snapshot)
AMI_LINK: web.AppKey[object] = web.AppKey("metrics_ami")  # the process's AmiManager or None

routes = web.RouteTableDef()


async def _answer(snapshot: Snapshot) -> web.Response:
    await snapshot.refresh()
    body, content_type = exposition()
    response = web.Response(body=body)
    response.content_type = content_type.split(";")[0]
    response.charset = "utf-8"
    return response


async def snapshot_ctx(app: web.Application) -> AsyncIterator[None]:
    """The web service's snapshot over its Redis client, database and AMI link
    (after `app.web.app`'s own contexts, which set those up)."""
    app[SNAPSHOT] = Snapshot(redis=app[REDIS], prefix=app[SETTINGS].redis.prefix, sessions=app[SESSIONS],
                             ami=app.get(AMI_LINK))  # type: ignore[arg-type]
    yield


@routes.get(PATH)
@requires("supervisor")
async def metrics(request: web.Request) -> web.Response:
    return await _answer(request.app[SNAPSHOT])


class MetricsServer:
    """`/metrics` alone on the metrics address, for processes without the
    web role (a worker: started and stopped with the process)."""

    def __init__(self, host: str, port: int, snapshot: Snapshot, redis: Redis | None = None) -> None:
        self.host, self.port, self.snapshot, self._redis = host, port, snapshot, redis
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(PATH, self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("metrics on http://%s:%s%s", self.host, self.port, PATH)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return await _answer(self.snapshot)

    @property
    def addresses(self) -> list[object]:
        return list(self._runner.addresses) if self._runner is not None else []

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
