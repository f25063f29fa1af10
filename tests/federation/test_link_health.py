"""Link health for supervisors (issue 13, item 7): per peer the push queue's
depth, failed items, the oldest unsent item and its age, the last error — and
the trunk's qualify state when one is declared (tests/asterisk/test_trunk_orders.py
reads that from a real Asterisk) — in GET /api/federation/status, in /api/live
and from `hotline federation status`."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from core.settings import PROJECT_ROOT
from tests.federation.conftest import SECRET, Pair
from tests.federation.test_two_platforms import hand_off
from tests.support.waiting import eventually


async def test_when_peer_is_down_then_supervisors_see_queue_depth_oldest_unsent_and_last_error(pair: Pair) -> None:
    await pair.b.stop()
    first = await hand_off(pair.a)
    await hand_off(pair.a)

    async def tried() -> dict:
        status, body = await pair.a.call("GET", "/api/federation/status", role="supervisor")
        assert status == 200
        [link] = body["peers"]
        assert link["last_error"], "no try failed yet"
        return link
    link = await eventually(tried, timeout=10, what="a failed push")
    assert (link["peer"], link["pending"], link["failed"], link["ok"]) == ("police-110", 2, 0, False)
    assert "ClientConnectorError" in link["last_error"] and link["trunks"] == [] and link["mapping"] is None
    [item] = [i for i in await pair.a.outbox() if i.order_id == first["id"]]
    assert link["oldest_unsent_at"] == item.created_at.isoformat()
    pair.a.clock.advance(seconds=90)
    _, body = await pair.a.call("GET", "/api/federation/status", role="supervisor")
    assert body["peers"][0]["oldest_unsent_age_s"] >= 90
    assert (await pair.a.call("GET", "/api/federation/status", role="seat"))[0] == 403

    status, live = await pair.a.call("GET", "/api/live", role="supervisor")
    assert status == 200
    [shown] = live["federation"]
    assert (shown["peer"], shown["pending"], shown["ok"]) == ("police-110", 2, False)
    status, live = await pair.a.call("GET", "/api/live", role="seat")
    assert status == 200 and "federation" not in live  # for supervisors

    env = {**os.environ, "HOTLINE_DATABASE_URL": pair.a.settings.effective_database_url,
           "HOTLINE_STATE_DIR": str(pair.a.settings.paths.state_dir), "HOTLINE_CENTRES": "12345:1001-1002",
           "HOTLINE_FEDERATION_NAME": "gov-12345", "HOTLINE_PEER_110_SECRET": SECRET,
           "HOTLINE_PEERS": f"police-110={pair.b.url} centres=110 secret_env=HOTLINE_PEER_110_SECRET",
           "HOTLINE_REDIS_PREFIX": pair.a.settings.redis.prefix}
    cli = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "app.runtime.cli", "federation", "status",
                                                   "--json"],
                                  cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    [row] = json.loads(cli.stdout)
    assert (row["peer"], row["pending"], row["failed"], row["ok"]) == ("police-110", 2, 0, False)
    assert "ClientConnectorError" in row["last_error"]
    cli = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "app.runtime.cli", "federation", "status"],
                                  cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0 and "police-110" in cli.stdout and "BAD" in cli.stdout
    assert "pending     2" in cli.stdout and "last error: ClientConnectorError" in cli.stdout

    await pair.b.start()  # back: the queue drains, the link is OK again
    pair.a.clock.advance(seconds=600)

    async def drained() -> bool:
        _status, body = await pair.a.call("GET", "/api/federation/status", role="supervisor")
        link = body["peers"][0]
        assert (link["pending"], link["ok"], link["oldest_unsent_at"]) == (0, True, None), link
        return True
    await eventually(drained, timeout=10, what="the queue drained")
