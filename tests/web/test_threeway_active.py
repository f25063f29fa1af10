"""GET /api/threeway?seat=: the desk finds the seat's active three-way call
again after a reload — the service's live state, no Asterisk needed."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.threeway.http import THREEWAY
from app.threeway.services import ThreeWayService
from app.web.app import init_app
from core.settings import Settings
from core.threeway import ThreeWayRequest
from tests.web.conftest import authorize

SEAT_LEG = "Local/1001@hotline-seat-phones-0000001a;1"
CITIZEN_LEG = "Local/12345@hotline-inbound-0000001b;2"
INVITED_LEG = "PJSIP/2001-0000001c"


@pytest.fixture
async def desk(settings: Settings) -> AsyncIterator[TestClient]:
    """The web service wired on its own: its three-way service has no AMI link, so nothing moves."""
    async with TestClient(TestServer(init_app(settings))) as client:
        await authorize(client)
        yield client


@pytest.fixture
def service(desk: TestClient) -> ThreeWayService:
    service = desk.app[THREEWAY]
    assert service.telephony is None
    return service


async def _active(desk: TestClient, seat: str) -> str | None:
    resp = await desk.get("/api/threeway", params={"seat": seat})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["seat"] == seat
    return body["threeway"]["threeway_id"] if body["threeway"] else None


async def test_when_a_seat_is_in_a_three_way_call_then_the_api_names_it_until_the_seat_leaves(
        desk: TestClient, service: ThreeWayService) -> None:
    started = await service.start(ThreeWayRequest(seat_channel=SEAT_LEG, citizen_channel=CITIZEN_LEG,
                                                  citizen_number="13800138000", centre="12345",
                                                  first_centre="12345", via="button"))
    assert started.order is not None
    threeway_id = started.order.id
    assert await _active(desk, "1001") == threeway_id   # ringing: the initiator's call already
    assert await _active(desk, "2001") is None

    await service.answered(threeway_id, INVITED_LEG)
    resp = await desk.get("/api/threeway?seat=2001")
    state = (await resp.json())["threeway"]
    assert state["threeway_id"] == threeway_id and state["phase"] == "joined"
    assert state["present"] == ["citizen", "initiator", "invited"]
    assert state["initiator_seat"] == "1001" and state["invited_seat"] == "2001"
    assert state["order"]["mode"] == "three_way"
    assert await _active(desk, "1002") is None          # another seat of the same centre

    assert await service.leave(threeway_id, "initiator") is None
    assert await _active(desk, "1001") is None           # it left and handed over
    assert await _active(desk, "2001") == threeway_id    # 110 keeps the citizen

    await service.citizen_gone(threeway_id)
    assert await _active(desk, "2001") is None


@pytest.mark.parametrize("query", ["", "?seat=", "?seat=9999", "?seat=1001&seat=1002", "?seat=1001&x=1"])
async def test_when_the_seat_is_missing_or_unknown_then_400(desk: TestClient, query: str) -> None:
    resp = await desk.get(f"/api/threeway{query}")
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["field"] in ("seat", "x")


async def test_when_the_web_process_has_no_ami_link_then_starting_a_three_way_call_is_503(
        client: TestClient) -> None:
    resp = await client.post("/api/threeway", json={"seat": "1001"})
    assert resp.status == 503 and (await resp.json())["service"] == "ami"
    resp = await client.get("/api/threeway?seat=1001")   # reading needs no AMI link
    assert resp.status == 200 and (await resp.json())["threeway"] is None
