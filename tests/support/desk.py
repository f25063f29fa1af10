"""The web service beside a telephony rig, signed in as a seat: the desktop buttons' client."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from app.runtime.features import Dependencies
from app.runtime.models import utcnow
from app.web.app import init_app
from app.web.auth import create_token
from app.web.keys import SESSIONS
from core.settings import Settings


@asynccontextmanager
async def seat_desk(settings: Settings, deps: Dependencies | None, database_url: str,
                    state_dir: Path) -> AsyncIterator[TestClient]:
    """`init_app` on the rig's wired features (as `hotline up` shares them), with a seat token."""
    settings = settings.with_(paths={"state_dir": state_dir}, database={"url": database_url},
                              network={"http_port": 0})
    async with TestClient(TestServer(init_app(settings, deps=deps))) as client:
        token = await create_token(client.app[SESSIONS], role="seat", name=f"desk-{uuid.uuid4().hex[:8]}",
                                   now=utcnow())
        client.session.headers["Authorization"] = f"Bearer {token}"
        yield client
