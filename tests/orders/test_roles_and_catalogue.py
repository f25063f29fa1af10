"""Roles, tokens and masking; the diversion catalogue API and admin edits (SQLite and PostgreSQL)."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.catalogue import store as catalogue_store
from app.catalogue.http import CATALOGUE
from app.runtime.models import ApiToken
from app.web.auth import create_token, hash_token
from app.web.errors import BadInput, Conflict
from app.web.keys import SESSIONS
from tests.orders.conftest import Api, Clock, api_settings, start_api
from tests.orders.test_orders_api import ONLINE, create


async def test_when_no_token_or_an_unknown_one_is_sent_then_the_answer_is_401_except_health_and_openapi(
    api: Api,
) -> None:
    for path in ("/api/orders", "/api/catalogue", "/api/live", "/api/reports/summary"):
        status, _body = await api.call("GET", path, role=None)
        assert status == 401, path
    async with api.client.get("/api/orders", headers={"Authorization": "Bearer hl_guessed"}) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with api.client.get("/api/orders", headers={"Authorization": "Basic c2VhdDpzZWF0"}) as response:
        assert response.status == 401
    assert (await api.call("GET", "/api/health", role=None))[0] == 200
    assert (await api.call("GET", "/api/openapi.json", role=None))[0] == 200


async def test_when_a_role_is_too_low_then_the_answer_is_403(api: Api) -> None:
    assert (await api.call("GET", "/api/reports/summary?from=2026-11-01&to=2026-12-01", role="seat"))[0] == 403
    assert (await api.call("GET", "/api/reports/summary?from=2026-11-01&to=2026-12-01", role="supervisor"))[0] == 200
    edit = {"note": "核对"}
    assert (await api.call("PATCH", "/api/catalogue/QZ-1-04", role="seat", json=edit))[0] == 403
    assert (await api.call("PATCH", "/api/catalogue/QZ-1-04", role="supervisor", json=edit))[0] == 403
    assert (await api.call("PATCH", "/api/catalogue/QZ-1-04", role="admin", json=edit))[0] == 200
    for role in ("seat", "supervisor", "admin"):
        assert (await api.call("GET", "/api/live", role=role))[0] == 200, role


async def test_when_roles_without_the_privilege_read_an_order_then_the_citizen_number_is_masked(api: Api) -> None:
    order = await create(api)
    seen = {}
    for role in ("seat", "supervisor", "admin"):
        _, body = await api.call("GET", f"/api/orders/{order['id']}", role=role)
        seen[role] = body["citizen_number"]
    assert seen == {"seat": "13800138000", "supervisor": "13800138000", "admin": "138****8000"}
    _, listing = await api.call("GET", "/api/orders", role="admin")
    assert {o["citizen_number"] for o in listing["orders"]} == {"138****8000"}


async def test_when_no_role_is_privileged_then_even_seats_see_masked_numbers(
    tmp_path: Path, sqlite_url: str, redis_prefix: str, clock: Clock
) -> None:
    settings = api_settings(tmp_path, sqlite_url, redis_prefix, orders={"unmasked_roles": frozenset()})
    client, tokens = await start_api(settings, clock)
    api = Api(client, tokens, clock)
    try:
        order = await create(api)
        assert order["citizen_number"] == "138****8000"
    finally:
        await client.close()


async def test_when_a_token_is_created_then_only_its_hash_is_stored_and_names_are_unique(api: Api) -> None:
    sessions = api.client.app[SESSIONS]
    token = await create_token(sessions, role="supervisor", name="duty-wang", now=api.clock())
    async with sessions() as session:
        from sqlalchemy import select

        rows = list(await session.scalars(select(ApiToken).where(ApiToken.name == "duty-wang")))
    assert [(r.role, r.token_hash) for r in rows] == [("supervisor", hash_token(token))]
    assert token not in {r.token_hash for r in rows}
    with pytest.raises(Conflict):
        await create_token(sessions, role="seat", name="duty-wang", now=api.clock())
    with pytest.raises(BadInput):
        await create_token(sessions, role="root", name="x", now=api.clock())


@pytest.mark.parametrize("jurisdiction,q,code,destination", [
    (None, "电梯", "QZ-1-04", "12345"),              # the deployment's own catalogue (qinzhou)
    ("pingliang", "电梯", "PL-3-01", "12365"),
    ("pingliang", "停电", "PL-3-02", "95598"),
    ("qinzhou", "停电", "QZ-3-01", "涉及水电气热的相关企业"),
    ("pingliang", "交通事故", "PL-1-14", "122"),
])
async def test_when_the_catalogue_is_searched_then_matches_carry_destination_and_linkage(
    api: Api, jurisdiction: str | None, q: str, code: str, destination: str
) -> None:
    query = f"q={q}" + (f"&jurisdiction={jurisdiction}" if jurisdiction else "")
    status, body = await api.call("GET", f"/api/catalogue?{query}")
    assert status == 200
    assert body["jurisdiction"] == (jurisdiction or "qinzhou")
    best = body["entries"][0]
    assert (best["code"], best["destination"]) == (code, destination)
    assert best["linkage"] in body["linkage_modes"]
    _, whole = await api.call("GET", "/api/catalogue" + (f"?jurisdiction={jurisdiction}" if jurisdiction else ""))
    assert whole["count"] == {"pingliang": 193}.get(jurisdiction or "", 24)


async def test_when_an_admin_edits_an_entry_then_searches_and_order_checks_follow_it(api: Api) -> None:
    status, body = await api.call("PATCH", "/api/catalogue/QZ-1-04", role="admin",
                                  json={"destinations": ["12345", "12365"], "note": "电梯困人转 12365"})
    assert status == 200, body
    assert (body["destinations"], body["updated_by"].split(":")[0]) == (["12345", "12365"], "admin")
    _, found = await api.call("GET", "/api/catalogue?q=12365")
    assert [e["code"] for e in found["entries"]] == ["QZ-1-04"]

    status, _ = await api.call("PATCH", "/api/catalogue/QZ-1-06", role="admin", json={"enabled": False})
    assert status == 200
    status, answer = await api.call("POST", "/api/orders", json={**ONLINE, "category": "QZ-1-06"})
    assert (status, answer["field"]) == (409, "category")  # in the catalogue, but disabled now
    _, found = await api.call("GET", "/api/catalogue?q=路灯")
    assert found["count"] == 0
    _, found = await api.call("GET", "/api/catalogue?q=路灯&include_disabled=true")
    assert found["count"] == 1

    new = {"code": "QZ-4-01", "section": "本地补充", "group": "市场监督管理", "name": "电梯困人",
           "destinations": ["12345"], "linkage": "transfer", "handling": "转 12345 派单"}
    status, body = await api.call("POST", "/api/catalogue", role="admin", json=new)
    assert (status, body["code"]) == (201, "QZ-4-01")
    status, _ = await api.call("POST", "/api/catalogue", role="admin", json=new)
    assert status == 409
    assert (await create(api, category="QZ-4-01"))["category"] == "QZ-4-01"


@pytest.mark.parametrize("body,field", [
    ({"destinations": []}, "destinations"),
    ({"destinations": "110"}, "destinations"),
    ({"linkage": "fax"}, "linkage"),
    ({"code": "QZ-1-05"}, "code"),
    ({"name": ""}, "name"),
    ({"enabled": "no"}, "enabled"),
    ({"linkage": {}}, "linkage"),
    ({"linkage": []}, "linkage"),
    ({}, "body"),
    ([1], "body"),
])
async def test_when_an_admin_edit_is_malformed_then_the_answer_is_400_naming_the_field(
    api: Api, body: object, field: str
) -> None:
    status, answer = await api.call("PATCH", "/api/catalogue/QZ-1-04", role="admin", json=body)
    assert (status, answer["field"]) == (400, field), answer


async def test_when_a_catalogue_entry_or_city_is_unknown_then_404_or_400(api: Api) -> None:
    assert (await api.call("GET", "/api/catalogue/QZ-9-99"))[0] == 404
    status, body = await api.call("GET", "/api/catalogue/PL-3-01?jurisdiction=pingliang")
    assert (status, body["destination"]) == (200, "12365")
    status, body = await api.call("GET", "/api/catalogue?jurisdiction=beijing")
    assert (status, body["field"]) == (400, "jurisdiction")


async def test_when_a_citizens_words_are_searched_then_the_answer_is_ranked_with_why_limit_and_safety_first(
    api: Api,
) -> None:
    status, body = await api.call("GET", "/api/catalogue?q=我们小区下水道又堵了&limit=2")
    assert status == 200, body
    assert (body["matched"], body["count"], len(body["entries"])) == (True, 2, 2)
    best = body["entries"][0]
    assert best["code"] in ("QZ-3-01", "QZ-1-09") and best["emergency"] is None
    assert best["match"]["terms"] and {"term", "matched", "field", "how"} == set(best["match"]["why"][0])

    _, body = await api.call("GET", "/api/catalogue?q=公交站有个老人突然晕倒了")
    first = body["entries"][0]
    assert (first["code"], first["destination"], first["emergency"]["service"], first["emergency"]["builtin"]) == (
        None, "120", "120", True)
    _, body = await api.call("GET", "/api/catalogue?q=公交站有个老人突然晕倒了&jurisdiction=pingliang")
    assert (body["entries"][0]["code"], body["entries"][0]["emergency"]["builtin"]) == ("PL-1-30", False)

    _, body = await api.call("GET", "/api/catalogue?q=今天星期几")
    assert (body["matched"], body["count"], body["entries"]) == (False, 0, [])
    assert body["closest_groups"] and body["message"]

    _, whole = await api.call("GET", "/api/catalogue")
    assert whole["count"] == 24 and all(e["match"] is None for e in whole["entries"])
    for bad in ("0", "51", "ten"):
        status, answer = await api.call("GET", f"/api/catalogue?q=电梯&limit={bad}")
        assert (status, answer["field"]) == (400, "limit")


async def test_when_an_admin_edits_aliases_then_the_next_search_finds_the_entry_by_them(api: Api) -> None:
    search = api.client.app[CATALOGUE]
    before = await search.index("qinzhou")
    assert await search.index("qinzhou") is before       # built once, not per query
    _, found = await api.call("GET", "/api/catalogue?q=共享单车押金退不了")
    assert not found["entries"] or found["entries"][0]["code"] != "QZ-1-14"

    status, entry = await api.call("PATCH", "/api/catalogue/QZ-1-14", role="admin",
                                   json={"aliases": ["共享单车押金", "单车押金退不了"]})
    assert (status, entry["aliases"]) == (200, ["共享单车押金", "单车押金退不了"])
    _, found = await api.call("GET", "/api/catalogue?q=共享单车押金退不了")
    assert found["entries"][0]["code"] == "QZ-1-14"
    assert any(w["how"] == "alias" for w in found["entries"][0]["match"]["why"])
    assert await search.index("qinzhou") is not before

    for body, field in (({"aliases": "单车"}, "aliases"), ({"aliases": ["单车", "单车"]}, "aliases"),
                        ({"aliases": ["a\nb"]}, "alias")):
        status, answer = await api.call("PATCH", "/api/catalogue/QZ-1-14", role="admin", json=body)
        assert (status, answer["field"]) == (400, field), answer


async def test_when_the_catalogue_changes_behind_the_service_then_the_next_search_follows_it(api: Api) -> None:
    sessions = api.client.app[SESSIONS]
    _, found = await api.call("GET", "/api/catalogue?q=电梯坏了&jurisdiction=pingliang")
    assert found["entries"][0]["code"] == "PL-3-01"
    api.clock.advance(minutes=1)
    async with sessions.begin() as session:   # as another process, or `hotline catalogue load`, would
        await catalogue_store.edit_entry(session, "pingliang", "PL-3-01", {"enabled": False}, actor="cli",
                                         now=api.clock())
    _, found = await api.call("GET", "/api/catalogue?q=电梯坏了&jurisdiction=pingliang")
    assert "PL-3-01" not in [e["code"] for e in found["entries"]]


async def test_when_the_shipped_files_are_loaded_again_then_unedited_entries_follow_them_and_edited_ones_stay(
    api: Api,
) -> None:
    sessions = api.client.app[SESSIONS]
    async with sessions.begin() as session:
        old = await catalogue_store.get_entry(session, "qinzhou", "QZ-1-06")
        old.aliases = {"list": []}                       # as a database from before aliases shipped
        await catalogue_store.edit_entry(session, "qinzhou", "QZ-1-04", {"aliases": ["本地说法"]}, actor="admin:x",
                                         now=api.clock())
    results = {r.jurisdiction: r for r in await catalogue_store.load_shipped(sessions, now=api.clock())}
    assert (results["qinzhou"].updated, results["qinzhou"].replaced, results["qinzhou"].added) == (1, 0, 0)
    async with sessions() as session:
        assert "井盖没了" in (await catalogue_store.get_entry(session, "qinzhou", "QZ-1-06")).aliases["list"]
        assert (await catalogue_store.get_entry(session, "qinzhou", "QZ-1-04")).aliases == {"list": ["本地说法"]}
    results = {r.jurisdiction: r for r in await catalogue_store.load_shipped(sessions, now=api.clock(), replace=True)}
    assert results["qinzhou"].replaced == 1


@pytest.mark.parametrize("linkage", [{}, [], None, 1])
async def test_when_an_admin_adds_an_entry_with_a_linkage_that_is_not_a_word_then_400_names_linkage(
    api: Api, linkage: object
) -> None:
    entry = {"code": "QZ-9-90", "section": "测试", "group": "测试", "name": "测试事项", "destinations": ["12345"],
             "linkage": linkage, "handling": "测试"}
    status, answer = await api.call("POST", "/api/catalogue", role="admin", json=entry)
    assert (status, answer["field"]) == (400, "linkage"), answer


async def test_when_a_masked_role_filters_on_a_citizen_number_then_it_is_refused_and_learns_nothing(api: Api) -> None:
    await create(api)
    for number in ("13800138000", "13900139000"):  # the same answer whether the number is there or not
        status, body = await api.call("GET", f"/api/orders?citizen_number={number}", role="admin")
        assert (status, body["field"]) == (403, "citizen_number"), body
    status, body = await api.call("GET", "/api/orders?citizen_number=13800138000", role="supervisor")
    assert (status, body["total"]) == (200, 1)
