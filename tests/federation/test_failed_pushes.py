"""A push whose tries are spent: failed, shown to supervisors and by
`hotline federation failed`, delivered after an admin retries it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from core.settings import PROJECT_ROOT
from tests.federation.conftest import RETRY, Pair
from tests.federation.test_two_platforms import hand_off, police_order
from tests.support.waiting import eventually


async def test_when_tries_are_spent_then_item_is_failed_listed_and_delivered_after_admin_retry(pair: Pair) -> None:
    await pair.b.stop()  # 110 is down for longer than the whole schedule
    a_order = await hand_off(pair.a)

    async def failed() -> bool:
        [item] = await pair.a.outbox()
        assert item.state == "failed", f"{item.state} after {item.attempts} tries"
        return True

    for _ in range(len(RETRY) + 1):
        [item] = await pair.a.outbox()
        if item.state == "failed":
            break
        pair.a.clock.advance(seconds=max(RETRY) + 1)

        async def tried(before: int = item.attempts) -> bool:
            [now] = await pair.a.outbox()
            assert now.attempts > before or now.state == "failed"
            return True
        await eventually(tried, timeout=10, what="one more try")
    await eventually(failed, timeout=10, what="the push failed")
    [item] = await pair.a.outbox()
    assert item.attempts == len(RETRY) + 1

    status, health = await pair.a.call("GET", "/api/federation/status", role="supervisor")
    assert status == 200
    [link] = health["peers"]
    assert (link["peer"], link["failed"], link["pending"]) == ("police-110", 1, 0) and link["last_error"]
    status, listing = await pair.a.call("GET", "/api/federation/outbox?state=failed", role="supervisor")
    assert [i["order_id"] for i in listing["items"]] == [a_order["id"]]
    cli = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "app.runtime.cli", "federation", "failed"], cwd=PROJECT_ROOT,
        env={**os.environ, "HOTLINE_DATABASE_URL": pair.a.settings.effective_database_url,
             "HOTLINE_STATE_DIR": str(pair.a.settings.paths.state_dir)},
        capture_output=True, text=True, timeout=60)
    assert cli.returncode == 1 and a_order["id"] in cli.stdout and "police-110" in cli.stdout

    assert (await pair.a.call("POST", f"/api/federation/outbox/{item.id}/retry", role="supervisor"))[0] == 403
    await pair.b.start()
    status, answer = await pair.a.call("POST", f"/api/federation/outbox/{item.id}/retry", role="admin")
    assert (status, answer["retried"]) == (200, [item.id])
    await police_order(pair, a_order)
