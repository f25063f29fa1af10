"""The seats' sign-in and pause API without telephony: who may act, bad input, no AMI link."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.web.conftest import authorize


async def test_when_a_seat_acts_on_another_seat_then_403(client: TestClient) -> None:
    await authorize(client, "seat", name="seat-1002")
    for action in ("signin", "signout", "pause", "unpause"):
        resp = await client.post(f"/api/seats/1001/{action}", json={})
        assert resp.status == 403, action
    assert (await client.get("/api/seats/1001/status")).status == 403


async def test_when_pause_input_is_bad_then_400_names_the_field(client: TestClient) -> None:
    await authorize(client, "seat", name="seat-1001")
    for body, field in (({"reason": "9"}, "reason"), ({"reason": "no answer"}, "reason"),
                        ({"reason": 2}, "reason"), ({"reason": "a\r\nAction: Originate"}, "reason"),
                        ({"why": "2"}, "why"), ([], "body")):
        resp = await client.post("/api/seats/1001/pause", json=body)
        assert resp.status == 400, (body, await resp.text())
        assert (await resp.json())["field"] == field
    resp = await client.post("/api/seats/1001/pause", data=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400 and (await resp.json())["field"] == "body"
    resp = await client.post("/api/seats/1001/pause", data=b'{"reason": "2"}')  # not sent as JSON
    assert resp.status == 415


async def test_when_the_seat_is_unknown_then_404_and_when_malformed_400(client: TestClient) -> None:
    await authorize(client, "supervisor", name="wall-screen")
    assert (await client.post("/api/seats/9999/signin")).status == 404
    resp = await client.post("/api/seats/10x1/signin")
    assert resp.status == 400 and (await resp.json())["field"] == "seat"


async def test_when_the_process_has_no_ami_link_then_a_valid_request_answers_503_naming_ami(
        client: TestClient) -> None:
    await authorize(client, "supervisor", name="wall-screen")
    resp = await client.post("/api/seats/2001/pause", json={"reason": "2"})
    assert resp.status == 503 and (await resp.json())["service"] == "ami"
    assert (await client.get("/api/seats/2001/status")).status == 503


async def test_when_a_desk_asks_for_pause_reasons_then_codes_names_and_keys_come_back(client: TestClient) -> None:
    resp = await client.get("/api/seats/pause-reasons")
    assert resp.status == 200
    body = await resp.json()
    assert body["reasons"][:2] == [{"code": "1", "name": "小休"}, {"code": "2", "name": "培训"}]
    assert body["keys"] == {"signin": "*5", "pause": "*6"} and body["auto"] == "no answer"


async def test_the_openapi_document_lists_the_seat_actions(client: TestClient) -> None:
    paths = (await (await client.get("/api/openapi.json")).json())["paths"]
    for action in ("signin", "signout", "pause", "unpause"):
        assert "post" in paths[f"/api/seats/{{seat}}/{action}"]
    assert "reason" in paths["/api/seats/{seat}/pause"]["post"]["requestBody"]["content"]["application/json"][
        "schema"]["properties"]
    assert "get" in paths["/api/seats/{seat}/status"] and "get" in paths["/api/seats/pause-reasons"]


async def test_when_the_bridge_mirrored_a_paused_and_a_signed_out_seat_then_live_shows_reason_and_since(
        client: TestClient, redis, redis_prefix: str) -> None:
    from core.live import SEATS_KEY, SeatState

    paused = SeatState(extension="1001", centre="12345", interface="Local/1001@hotline-seat-phones/n",
                       state="paused", paused=True, queues=["hotline-12345", "hotline-12345-linkage"],
                       pause_reason="培训", since=1795609446.0)
    out = SeatState(extension="1002", centre="12345", interface="Local/1002@hotline-seat-phones/n",
                    state="signed_out", since=1795609500.0)
    await redis.hset(redis_prefix + SEATS_KEY, mapping={"1001": paused.to_json(), "1002": out.to_json()})

    body = await (await client.get("/api/live")).json()
    seats = {s["extension"]: s for s in body["centres"][0]["seats"]}
    assert (seats["1001"]["state"], seats["1001"]["pause_reason"], seats["1001"]["since"]) == \
        ("paused", "培训", 1795609446.0)
    assert (seats["1002"]["state"], seats["1002"]["pause_reason"], seats["1002"]["since"]) == \
        ("signed_out", None, 1795609500.0)
