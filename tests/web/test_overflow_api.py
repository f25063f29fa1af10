"""Remote seat groups over REST: admin only, field-level errors, nothing half-applied; the
surge block of /api/live and the surge events for reports."""
from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from app.overflow.http import OVERFLOW
from core.live import SEATS_KEY, SURGE_KEY
from core.overflow import CentreLoad, SurgeChange, validate_group
from core.settings import Settings
from tests.web.conftest import authorize

GROUP: dict[str, Any] = {"name": "gx-remote", "centre": "12345",
                         "members": ["PJSIP/nn-7", "PJSIP/13800138000@gx-trunk", "Local/9001@remote-phones"],
                         "priority": 2, "min_waiting": 3, "max_wait_s": 30}


async def _groups(client: TestClient) -> list[dict[str, Any]]:
    resp = await client.get("/api/overflow/groups")
    assert resp.status == 200
    return (await resp.json())["groups"]


@pytest.mark.parametrize("role, status", [("seat", 403), ("supervisor", 403), ("admin", 201)])
async def test_only_an_admin_may_create_a_group(client: TestClient, role: str, status: int) -> None:
    await authorize(client, role)
    resp = await client.post("/api/overflow/groups", json=GROUP)
    assert resp.status == status, await resp.text()


async def test_when_an_admin_creates_a_group_then_it_reads_back_normalised(client: TestClient) -> None:
    await authorize(client, "admin")
    created = await (await client.post("/api/overflow/groups", json=GROUP)).json()
    assert created["members"][-1] == "Local/9001@remote-phones/n"
    assert (created["priority"], created["min_waiting"], created["max_wait_s"], created["when_no_local_free"],
            created["enabled"]) == (2, 3, 30, False, True)
    assert created["updated_by"].startswith("admin:")
    one = await (await client.get("/api/overflow/groups/gx-remote")).json()
    assert one == created
    assert [g["name"] for g in await _groups(client)] == ["gx-remote"]


@pytest.mark.parametrize("change, field", [
    ({"centre": "999"}, "centre"),
    ({"members": []}, "members"),
    ({"members": ["PJSIP/nn-7\r\nAction: Originate"]}, "members"),
    ({"members": ["DAHDI/1"]}, "members"),
    ({"min_waiting": -2}, "min_waiting"),
    ({"min_waiting": 5_000_000}, "min_waiting"),
    ({"max_wait_s": 0}, "max_wait_s"),
    ({"priority": 500}, "priority"),
    ({"name": "gx\nremote"}, "name"),
    ({"centre": "12345\r\n"}, "centre"),
    ({"surprise": 1}, "surprise"),
])
async def test_when_a_configuration_is_invalid_then_400_names_the_field_and_nothing_is_stored(
    client: TestClient, change: dict[str, Any], field: str,
) -> None:
    await authorize(client, "admin")
    resp = await client.post("/api/overflow/groups", json={**GROUP, **change})
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["field"] == field
    assert await _groups(client) == []


@pytest.mark.parametrize("change, field", [
    ({"members": ["Local/1001@hotline-seat-phones"]}, "members"),      # a local seat
    ({"members": ["Local/110@hotline-inbound"]}, "members"),           # the hotline's own call flow
    ({"members": ["Local/9001@remote", "Local/9001@remote/n"]}, "members"),  # the same member twice
    ({"min_waiting": None, "max_wait_s": None}, "min_waiting"),        # never opens
])
async def test_when_a_well_formed_group_clashes_with_the_configuration_then_409_names_the_field(
    client: TestClient, change: dict[str, Any], field: str,
) -> None:
    await authorize(client, "admin")
    resp = await client.post("/api/overflow/groups", json={**GROUP, **change})
    assert resp.status == 409, await resp.text()
    assert (await resp.json())["field"] == field
    assert await _groups(client) == []


async def test_when_a_change_is_invalid_then_the_group_is_left_as_it_was(client: TestClient) -> None:
    await authorize(client, "admin")
    before = await (await client.post("/api/overflow/groups", json=GROUP)).json()
    for patch, field in (({"min_waiting": 1, "members": ["PJSIP/ok", "PJSIP/x\ny"]}, "members"),
                         ({"priority": 1, "max_wait_s": -1}, "max_wait_s"),
                         ({"name": "renamed"}, "name"),
                         ({}, "body")):
        resp = await client.patch("/api/overflow/groups/gx-remote", json=patch)
        assert resp.status == 400 and (await resp.json())["field"] == field
    assert await (await client.get("/api/overflow/groups/gx-remote")).json() == before


async def test_when_a_threshold_is_changed_then_only_it_changes(client: TestClient) -> None:
    await authorize(client, "admin")
    await client.post("/api/overflow/groups", json=GROUP)
    resp = await client.patch("/api/overflow/groups/gx-remote", json={"min_waiting": 1, "enabled": False})
    body = await resp.json()
    assert resp.status == 200 and (body["min_waiting"], body["max_wait_s"], body["enabled"]) == (1, 30, False)


async def test_names_are_unique_and_a_member_belongs_to_one_group_per_centre(client: TestClient) -> None:
    await authorize(client, "admin")
    assert (await client.post("/api/overflow/groups", json=GROUP)).status == 201
    again = await client.post("/api/overflow/groups", json=GROUP)
    assert again.status == 409
    shared = await client.post("/api/overflow/groups", json={**GROUP, "name": "second", "members": ["PJSIP/nn-7"]})
    assert shared.status == 409 and (await shared.json())["field"] == "members"  # well formed, but taken
    other_centre = await client.post("/api/overflow/groups",
                                     json={**GROUP, "name": "for-110", "centre": "110", "members": ["PJSIP/nn-7"]})
    assert other_centre.status == 201


async def test_when_a_group_is_deleted_then_it_is_gone(client: TestClient) -> None:
    await authorize(client, "admin")
    await client.post("/api/overflow/groups", json=GROUP)
    assert (await client.delete("/api/overflow/groups/gx-remote")).status == 204
    assert (await client.get("/api/overflow/groups/gx-remote")).status == 404
    assert (await client.delete("/api/overflow/groups/gx-remote")).status == 404


async def test_live_shows_a_closed_surge_block_until_the_controller_publishes_one(
    client: TestClient, settings: Settings, redis: Redis,
) -> None:
    body = await (await client.get("/api/live")).json()
    assert [c["surge"] for c in body["centres"]] == [{"open": False, "groups": [], "updated_at": None}] * 2
    view = {"open": True, "updated_at": 1764043200.0, "load": {"waiting": 4},
            "groups": [{"name": "gx-remote", "open": True, "since": 1764043190.0, "reason": "waiting 4 >= 3",
                        "priority": 2, "members": 3, "enabled": True}]}
    await redis.hset(settings.redis.prefix + SURGE_KEY, "12345", json.dumps(view))
    await redis.hset(settings.redis.prefix + SURGE_KEY, "110", "{not json")
    body = await (await client.get("/api/live")).json()
    assert body["centres"][0]["surge"] == {"open": True, "groups": view["groups"], "updated_at": 1764043200.0}
    assert body["centres"][1]["surge"]["open"] is False


async def test_surge_events_are_kept_for_reports(client: TestClient, settings: Settings) -> None:
    config = client.app[OVERFLOW]
    group = validate_group(GROUP, settings.site.centres)
    load = CentreLoad(waiting=4, longest_wait_s=12.5, local_free=0, local_seats=2)
    for kind, minute in (("open", 1), ("close", 9)):
        at = datetime(2026, 11, 25, 2, minute, tzinfo=UTC)
        await config.record_surge(group, SurgeChange(kind, at.timestamp(), f"{kind} reason"), load, at)  # type: ignore[arg-type]
    await authorize(client, "supervisor")
    resp = await client.get("/api/overflow/surges", params={"centre": "12345", "from": "2026-11-25"})
    events = (await resp.json())["events"]
    assert [(e["group"], e["kind"], e["waiting"], e["longest_wait_s"]) for e in events] == [
        ("gx-remote", "open", 4, 12.5), ("gx-remote", "close", 4, 12.5)]
    assert (await client.get("/api/overflow/surges", params={"centre": "110"})).status == 200
    bad = await client.get("/api/overflow/surges", params={"from": "yesterday"})
    assert bad.status == 400 and (await bad.json())["field"] == "from"


async def test_when_a_process_runs_the_bridge_then_its_surge_controller_reads_the_live_state_in_memory(
        settings: Settings, redis: Redis) -> None:
    """`hotline up` and `hotline ami-bridge`: the controller sees the bridge's
    model, not Redis (nothing is connected: the model is filled by hand)."""
    from app.overflow.controller import OverflowController
    from app.runtime.platform import Platform
    from tests.unit.test_live_translate import transcript

    platform = Platform(settings, ["bridge"])
    deps = await platform.wire()
    try:
        assert platform.bridge is not None
        controller = next(w for w in deps.workers if isinstance(w, OverflowController))
        live = platform.bridge.live
        live.ami["connected"] = "1"
        await live.resync(transcript("queue_status_idle.ami"), "22.10.1")
        assert await redis.exists(settings.redis.prefix + SEATS_KEY)  # the bridge wrote it
        await redis.delete(settings.redis.prefix + SEATS_KEY)  # the controller does not read it

        seen = await controller.read_live()

        assert seen.ami["connected"] == "1"
        assert seen.seats and seen.seats == {ext: seat.state() for ext, seat in live.model.seats.items()}
    finally:
        await platform.stop()
