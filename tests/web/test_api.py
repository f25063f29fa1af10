"""The HTTP service against a real Redis and a SQLite file: health, live view, errors, serving."""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from app.orders.http import ORDERS
from app.web import app as app_web
from app.web.errors import BadInput, NotFound, Refused
from core.live import (
    AMI_KEY,
    CHANNELS_KEY,
    QUEUES_KEY,
    SEATS_KEY,
    ChannelState,
    QueueEntry,
    QueueState,
    SeatState,
)
from core.settings import Settings
from tests.web.conftest import authorize


async def test_when_database_and_redis_are_up_then_health_is_ok(client: TestClient) -> None:
    response = await client.get("/api/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": True, "redis": True, "ami": False}


async def test_when_bridge_reports_ami_connected_then_health_says_ami_is_up(
    client: TestClient, redis: Redis, redis_prefix: str
) -> None:
    await redis.hset(redis_prefix + AMI_KEY, mapping={"connected": "1", "since": "1764043200.5"})
    response = await client.get("/api/health")
    assert response.status == 200
    assert (await response.json())["ami"] is True


async def test_when_redis_is_unreachable_then_health_is_503_degraded(settings: Settings, closed_port: int) -> None:
    settings = settings.with_(redis={"url": f"redis://127.0.0.1:{closed_port}/0"})
    async with TestClient(TestServer(app_web.init_app(settings))) as client:
        response = await client.get("/api/health")
        assert response.status == 503
        assert await response.json() == {"status": "degraded", "database": True, "redis": False, "ami": False,
                                         "down": ["redis"]}


async def test_when_redis_is_unreachable_then_live_is_503_with_a_clear_error(
    settings: Settings, closed_port: int
) -> None:
    settings = settings.with_(redis={"url": f"redis://127.0.0.1:{closed_port}/0"})
    async with TestClient(TestServer(app_web.init_app(settings))) as client:
        await authorize(client)
        response = await client.get("/api/live")
        assert response.status == 503
        body = await response.json()
        assert body["service"] == "redis"
        assert body["error"].startswith("redis unavailable")


async def test_when_redis_holds_nothing_then_live_shows_every_configured_centre_queue_and_seat_with_defaults(
    client: TestClient,
) -> None:
    response = await client.get("/api/live")
    assert response.status == 200
    body = await response.json()
    assert body["ami"] == {"connected": False, "since": None, "resynced_at": None,
                           "last_event_at": None, "asterisk_version": None}
    assert [c["id"] for c in body["centres"]] == ["12345", "110"]
    assert body["centres"][0]["name"] == "12345政务服务便民热线"
    for centre in body["centres"]:
        assert [(q["name"], q["kind"], q["waiting"], q["longest_wait_s"], q["entries"]) for q in centre["queues"]] == [
            (f"hotline-{centre['id']}", "public", 0, 0.0, []),
            (f"hotline-{centre['id']}-linkage", "linkage", 0, 0.0, []),
        ]
    seats = {s["extension"]: s for c in body["centres"] for s in c["seats"]}
    assert sorted(seats) == ["1001", "1002", "2001"]
    assert seats["2001"] == {"extension": "2001", "state": "unknown", "paused": False,
                             "interface": "Local/2001@hotline-seat-phones/n", "talking_to": None, "queues": [],
                             "pause_reason": None, "since": None}


async def test_when_bridge_wrote_queue_and_seat_state_then_live_reflects_it(
    client: TestClient, redis: Redis, redis_prefix: str
) -> None:
    now = time.time()
    queue = QueueState(name="hotline-110-linkage", centre="110", kind="linkage", completed=4, entries=[
        QueueEntry(channel="Local/110@hotline-in-00000002;2", uniqueid="1764043200.4", position=2,
                   caller_number="13900139000", joined_at=now - 5),
        QueueEntry(channel="Local/110@hotline-in-00000001;2", uniqueid="1764043200.2", position=1,
                   caller_number="13800138000", joined_at=now - 30),
    ])
    seat = SeatState(extension="1002", centre="12345", interface="PJSIP/1002", state="in_call",
                     queues=["hotline-12345"], talking_to="13700137000", updated_at=now)
    await redis.hset(redis_prefix + QUEUES_KEY, queue.name, queue.to_json())
    await redis.hset(redis_prefix + SEATS_KEY, seat.extension, seat.to_json())
    await redis.hset(redis_prefix + AMI_KEY, mapping={"connected": "1", "since": "1764043200.5",
                                                      "resynced_at": "1764043201.0"})

    body = await (await client.get("/api/live")).json()

    assert body["ami"]["connected"] is True
    assert (body["ami"]["since"], body["ami"]["resynced_at"]) == (1764043200.5, 1764043201.0)
    centre_110 = body["centres"][1]
    linkage = centre_110["queues"][1]
    assert (linkage["name"], linkage["waiting"], linkage["completed"]) == ("hotline-110-linkage", 2, 4)
    assert 30.0 <= linkage["longest_wait_s"] < 60.0
    assert [(e["position"], e["caller_number"], e["channel"]) for e in linkage["entries"]] == [
        (1, "13800138000", "Local/110@hotline-in-00000001;2"),
        (2, "13900139000", "Local/110@hotline-in-00000002;2"),
    ]
    assert 30.0 <= linkage["entries"][0]["waited_s"] < 60.0
    assert centre_110["queues"][0]["waiting"] == 0
    seats = {s["extension"]: s for s in body["centres"][0]["seats"]}
    assert seats["1002"] == {"extension": "1002", "state": "in_call", "paused": False, "interface": "PJSIP/1002",
                             "talking_to": "13700137000", "queues": ["hotline-12345"],
                             "pause_reason": None, "since": None}
    assert seats["1001"]["state"] == "unknown"


async def test_when_a_live_entry_in_redis_is_malformed_then_it_is_skipped_and_the_rest_shown(
    client: TestClient, redis: Redis, redis_prefix: str
) -> None:
    good = SeatState(extension="1001", centre="12345", interface="PJSIP/1001", state="idle")
    await redis.hset(redis_prefix + SEATS_KEY, mapping={"1001": good.to_json(), "1002": "{not json"})
    response = await client.get("/api/live")
    assert response.status == 200
    seats = {s["extension"]: s["state"] for s in (await response.json())["centres"][0]["seats"]}
    assert seats == {"1001": "idle", "1002": "unknown"}


async def test_when_bridge_mirrored_channels_then_live_counts_them_per_centre(
    client: TestClient, redis: Redis, redis_prefix: str
) -> None:
    leg = ChannelState("citizen-leg-1", "citizen-1", "Local/110@hotline-inbound-00000000;2", "Up",
                       caller_number="13800138000", centre="110")
    handset = ChannelState("citizen-1", "citizen-1", "Local/110@hotline-inbound-00000000;1", "Up")
    await redis.hset(redis_prefix + CHANNELS_KEY, mapping={leg.uniqueid: leg.to_json(),
                                                           handset.uniqueid: handset.to_json()})

    body = await (await client.get("/api/live")).json()

    assert [(c["id"], c["channels"]) for c in body["centres"]] == [("12345", 0), ("110", 1)]


async def _not_found(request: web.Request) -> web.Response:
    raise NotFound("order", "12345-20261125-0009")


async def _bad_input(request: web.Request) -> web.Response:
    raise BadInput("citizen_number", "must be a phone number")


async def _bug(request: web.Request) -> web.Response:
    raise RuntimeError("boom")


async def _refused_with_order(request: web.Request) -> web.Response:
    order = await request.app[ORDERS].create(mode="transfer", source_centre="12345", target_centre="110",
                                             citizen_number="13800138000", actor="seat:1001")
    raise Refused("transfer", "no_seat_logged_in", order)


async def _refused(request: web.Request) -> web.Response:
    raise Refused("three-way", "not_joined")


@pytest.fixture
async def error_client(settings: Settings) -> AsyncIterator[TestClient]:
    app = app_web.init_app(settings)
    app.router.add_get("/test/not-found", _not_found)
    app.router.add_get("/test/bad-input", _bad_input)
    app.router.add_get("/test/bug", _bug)
    app.router.add_post("/api/test/refused", _refused_with_order)
    app.router.add_get("/test/refused", _refused)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_when_a_handler_raises_not_found_then_the_answer_is_404_json(error_client: TestClient) -> None:
    response = await error_client.get("/test/not-found")
    assert response.status == 404
    assert await response.json() == {"error": "order '12345-20261125-0009' not found",
                                     "kind": "order", "key": "12345-20261125-0009"}


async def test_when_a_handler_raises_bad_input_then_the_answer_is_400_with_the_field(error_client: TestClient) -> None:
    response = await error_client.get("/test/bad-input")
    assert response.status == 400
    assert await response.json() == {"error": "must be a phone number", "field": "citizen_number"}


async def test_when_a_handler_fails_unexpectedly_then_the_answer_is_500_and_the_error_is_logged(
    error_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="app.web.app"):
        response = await error_client.get("/test/bug")
    assert response.status == 500
    assert await response.json() == {"error": "internal error"}
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


async def test_when_a_handler_raises_refused_then_the_answer_is_409_with_the_reason(error_client: TestClient) -> None:
    response = await error_client.get("/test/refused")
    assert response.status == 409
    assert await response.json() == {"error": "three-way refused: not_joined", "reason": "not_joined"}


@pytest.mark.parametrize("role", ["seat", "admin"])
async def test_when_a_refusal_carries_its_order_then_409_shows_the_order_as_the_caller_may_see_it(
        error_client: TestClient, role: str) -> None:
    await authorize(error_client, role)
    response = await error_client.post("/api/test/refused")
    assert response.status == 409
    body = await response.json()
    assert (body["error"], body["reason"]) == ("transfer refused: no_seat_logged_in", "no_seat_logged_in")
    shown = await (await error_client.get(f"/api/orders/{body['order']['id']}")).json()
    assert body["order"] == shown  # the same view, masked for the same role
    assert (shown["citizen_number"] == "13800138000") == (role == "seat")  # admin is not an unmasked role by default


async def test_when_a_route_does_not_exist_then_the_answer_is_404_json(client: TestClient) -> None:
    response = await client.get("/api/nowhere")
    assert response.status == 404
    assert await response.json() == {"error": "Not Found"}


async def test_when_started_then_it_serves_on_the_configured_address_and_stops_cleanly(settings: Settings) -> None:
    runner = await app_web.start(settings)
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/api/health") as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://{host}:{port}/api/health")


async def test_when_web_runs_as_its_own_process_then_it_answers_until_stopped(
    settings: Settings, closed_port: int
) -> None:
    """`hotline web`: a platform with the web role only, wired by the same features."""
    from app.runtime.platform import Platform
    from tests.support.pbx import free_port

    settings = settings.with_(network={"http_port": closed_port}, ami={"port": free_port()})  # no Asterisk there
    url = f"http://127.0.0.1:{closed_port}/api/health"
    platform = Platform(settings, ["web"])
    try:
        await platform.start()
        assert platform.agi is None and platform.bridge is None and platform.ami is not None
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as response:  # it answers, and says what it lacks
                assert response.status == 503
                assert (await response.json())["down"] == ["ami", "agi"]
            await platform.stop()
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(url)
    finally:
        await platform.stop()


async def test_when_role_lacks_the_privilege_then_live_masks_citizen_numbers(
    client: TestClient, redis: Redis, redis_prefix: str
) -> None:
    now = time.time()
    queue = QueueState(name="hotline-110", centre="110", kind="public", entries=[
        QueueEntry(channel="Local/110@hotline-in-00000001;2", uniqueid="1.1", position=1,
                   caller_number="13800138000", joined_at=now - 3)])
    seat = SeatState(extension="1001", centre="12345", interface="PJSIP/1001", state="in_call",
                     talking_to="13700137000", updated_at=now)
    await redis.hset(redis_prefix + QUEUES_KEY, queue.name, queue.to_json())
    await redis.hset(redis_prefix + SEATS_KEY, seat.extension, seat.to_json())

    await authorize(client, role="admin")  # admins are not in the default unmasked roles
    body = await (await client.get("/api/live")).json()
    assert body["centres"][1]["queues"][0]["entries"][0]["caller_number"] == "138****8000"
    assert {s["extension"]: s for s in body["centres"][0]["seats"]}["1001"]["talking_to"] == "137****7000"

    await authorize(client, role="supervisor")
    body = await (await client.get("/api/live")).json()
    assert body["centres"][1]["queues"][0]["entries"][0]["caller_number"] == "13800138000"


async def test_when_anything_answers_then_no_server_banner_nosniff_and_api_answers_are_not_stored(
    client: TestClient
) -> None:
    for path, status in (("/api/health", 200), ("/api/live", 200), ("/api/orders/nope", 404), ("/api/nope", 404),
                         ("/", 200)):
        async with client.get(path) as response:
            assert response.status == status, path
            assert "Server" not in response.headers, (path, response.headers.get("Server"))
            assert response.headers["X-Content-Type-Options"] == "nosniff", path
            if path.startswith("/api/"):
                assert response.headers["Cache-Control"] == "no-store", path
    async with client.get("/api/live", headers={"Authorization": "Bearer hl_nope"}) as response:
        assert (response.status, response.headers["Cache-Control"]) == (401, "no-store")
        assert "Server" not in response.headers


async def test_when_json_is_sent_as_another_type_then_the_answer_is_415_naming_the_header(client: TestClient) -> None:
    await authorize(client, "admin")
    body = '{"name": "zhang-1001", "role": "seat"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        async with client.post("/api/tokens", data=body, headers={"Content-Type": content_type}) as response:
            answer = await response.json()
            assert (response.status, answer["field"]) == (415, "Content-Type"), (content_type, answer)
    async with client.post("/api/tokens", data=body, headers={"Content-Type": "application/json"}) as response:
        assert response.status == 201


@pytest.mark.parametrize("path", ["/api/orders?from=0001-01-01", "/api/orders?to=0001-01-01",
                                  "/api/reports/summary?from=0001-01-01&to=2026-12-01",
                                  "/api/overflow/surges?from=0001-01-01",
                                  "/api/overflow/surges?from=9999-12-31T23:59:59-23:59"])
async def test_when_a_date_is_out_of_range_then_the_answer_is_400_naming_it(client: TestClient, path: str) -> None:
    await authorize(client, "admin")
    async with client.get(path) as response:
        answer = await response.json()
        name = "to" if "?to=" in path else "from"
        assert (response.status, answer["field"]) == (400, name), answer
