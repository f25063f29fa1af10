"""Admin token endpoints and /api/whoami: the same rules as `hotline token …`."""
from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.web.conftest import authorize


async def test_when_admin_creates_a_token_then_it_is_shown_once_and_works(client: TestClient) -> None:
    await authorize(client, "admin", name="root-admin")
    resp = await client.post("/api/tokens", json={"name": "zhang-1001", "role": "seat"})
    assert resp.status == 201
    made = await resp.json()
    assert made["name"] == "zhang-1001" and made["role"] == "seat" and made["token"].startswith("hl_")

    listed = (await (await client.get("/api/tokens")).json())["tokens"]
    row = next(t for t in listed if t["name"] == "zhang-1001")
    assert row["active"] and row["role"] == "seat"
    assert all("token" not in t and "token_hash" not in t for t in listed)  # never a secret again

    seat = {"Authorization": f"Bearer {made['token']}"}
    who = await (await client.get("/api/whoami", headers=seat)).json()
    assert who == {"name": "zhang-1001", "role": "seat", "sees_numbers": True}


async def test_when_admin_revokes_a_token_then_it_stops_working(client: TestClient) -> None:
    await authorize(client, "admin")
    made = await (await client.post("/api/tokens", json={"name": "li-2001", "role": "supervisor"})).json()
    resp = await client.delete("/api/tokens/li-2001")
    assert resp.status == 200
    assert (await client.get("/api/whoami", headers={"Authorization": f"Bearer {made['token']}"})).status == 401
    assert (await client.delete("/api/tokens/li-2001")).status == 404  # nothing active left to revoke


async def test_when_token_input_is_bad_then_400_names_the_field(client: TestClient) -> None:
    await authorize(client, "admin")
    for body, field in (({"name": "x", "role": "root"}, "role"), ({"name": "a b\r\n", "role": "seat"}, "name"),
                        ({"role": "seat"}, "name"), ({"name": "x", "role": "seat", "extra": 1}, "extra")):
        resp = await client.post("/api/tokens", json=body)
        assert resp.status == 400, body
        assert (await resp.json())["field"] == field
    await client.post("/api/tokens", json={"name": "twice", "role": "seat"})
    assert (await client.post("/api/tokens", json={"name": "twice", "role": "seat"})).status == 409


async def test_when_a_seat_or_supervisor_asks_for_tokens_then_403(client: TestClient) -> None:
    for role in ("seat", "supervisor"):
        await authorize(client, role)
        assert (await client.get("/api/tokens")).status == 403
        assert (await client.post("/api/tokens", json={"name": "x", "role": "admin"})).status == 403
        who = await (await client.get("/api/whoami")).json()
        assert who["role"] == role
