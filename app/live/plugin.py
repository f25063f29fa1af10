"""Wiring of the live view: health, /api/live and the dashboard's event stream (web)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.live import http, stream

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES = (http.routes, stream.routes)
WEB_CONTEXTS = (stream.feed_ctx,)
ON_SHUTDOWN = (stream.end_streams,)


def setup(deps: Dependencies) -> None:
    """Nothing beyond the web contexts: the live state is the AMI bridge's mirror in Redis."""
