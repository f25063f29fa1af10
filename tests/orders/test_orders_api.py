"""The work-order API against the real app on SQLite and PostgreSQL: lifecycle, online transfer, input errors."""
from __future__ import annotations

from typing import Any

import pytest

from app.orders.http import ACTIONS, ORDERS
from core.orders import TRANSITIONS
from tests.orders.conftest import Api

ONLINE = {
    "source_centre": "110",
    "target_centre": "12345",
    "citizen_number": "13800138000",
    "citizen_name": "张三",
    "category": "QZ-1-09",
    "order_class": "urgent",
    "content": "小区门口污水漫溢三天无人处理，影响通行。",
    "address": "钦州市钦南区某路 12 号",
    "division_code": "450702",
    "org_code": "11450700MB1234567X",
    "peer_number": "JJ4507022026112500017",
}


async def create(api: Api, **overrides: Any) -> dict[str, Any]:
    status, body = await api.call("POST", "/api/orders", json={**ONLINE, **overrides})
    assert status == 201, body
    assert isinstance(body, dict)
    return body


async def act(api: Api, order_id: str, action: str, role: str = "seat", **body: Any) -> tuple[int, Any]:
    return await api.call("POST", f"/api/orders/{order_id}/{action}", role=role, json=body)


async def test_when_a_web_matter_is_handed_over_then_an_accepted_order_carries_every_field(api: Api) -> None:
    status, body = await api.call("POST", "/api/orders", json=ONLINE)
    assert status == 201
    assert body["number"] == "110-20261125-0001"
    assert (body["mode"], body["status"], body["direction"], body["target"]) == ("online", "accepted",
                                                                                "110->12345", "12345")
    for field, value in ONLINE.items():
        assert body[field] == value, field
    assert body["class_label"] == "紧急"
    assert body["accepted_at"] == body["created_at"] == api.clock.now.isoformat()
    status, events = await api.call("GET", f"/api/orders/{body['id']}/events")
    assert status == 200
    [created] = events["events"]
    assert (created["kind"], created["to_status"], created["actor"].split(":")[0]) == ("created", "accepted", "seat")
    assert created["detail"]["catalogue"] == {"code": "QZ-1-09", "destinations": ["12345"], "matches_target": True}
    status, by_number = await api.call("GET", "/api/orders/110-20261125-0001")
    assert (status, by_number["id"]) == (200, body["id"])


async def test_when_an_order_goes_through_its_whole_life_then_each_step_is_stamped_and_audited(api: Api) -> None:
    order = await create(api)
    steps = [("dispatch", {"handling_unit": "钦南区城管执法局"}, "dispatched", "dispatched_at"),
             ("sign", {}, "signed", "signed_at"),
             ("on-site", {"note": "已到场"}, "on_site", "on_site_at"),
             ("feedback", {"result": "已疏通管道"}, "feedback", "feedback_at"),
             ("close", {}, "closed", "closed_at")]
    for action, body, status_name, stamp in steps:
        api.clock.advance(minutes=5)
        status, answer = await act(api, order["id"], action, **body)
        assert status == 200, answer
        assert answer["status"] == status_name
        assert answer[stamp] == api.clock.now.isoformat()
    assert (answer["handling_unit"], answer["result"]) == ("钦南区城管执法局", "已疏通管道")
    _, events = await api.call("GET", f"/api/orders/{order['id']}/events")
    trail = [(e["kind"], e["from_status"], e["to_status"]) for e in events["events"]]
    assert trail == [("created", None, "accepted"), ("transition", "accepted", "dispatched"),
                     ("transition", "dispatched", "signed"), ("transition", "signed", "on_site"),
                     ("transition", "on_site", "feedback"), ("transition", "feedback", "closed")]
    assert events["events"][3]["detail"]["note"] == "已到场"
    assert all(e["actor"].startswith("seat:") for e in events["events"])


async def test_when_the_unit_returns_an_order_then_the_reason_is_kept_and_it_can_be_redispatched(api: Api) -> None:
    order = await create(api)
    await act(api, order["id"], "dispatch", handling_unit="钦南区住建局")
    status, returned = await act(api, order["id"], "return", reason="不属于本单位职责")
    assert (status, returned["status"], returned["return_reason"]) == (200, "returned", "不属于本单位职责")
    assert returned["overdue"] == []
    status, again = await act(api, order["id"], "dispatch", handling_unit="钦南区城管执法局")
    assert (status, again["status"], again["handling_unit"], again["signed_at"]) == (200, "dispatched",
                                                                                    "钦南区城管执法局", None)


async def _order_in(api: Api, state: str) -> str:
    """An order in `state`, reached the way the API (or a call handoff) would."""
    if state == "pending":
        order = await api.client.app[ORDERS].create(mode="transfer", source_centre="12345", target_centre="110",
                                                    citizen_number="13900139000", actor="seat:1001")
        return order.id
    order_id = (await create(api))["id"]
    path = {"accepted": [], "dispatched": ["dispatch"], "signed": ["dispatch", "sign"],
            "on_site": ["dispatch", "sign", "on-site"], "feedback": ["dispatch", "sign", "feedback"],
            "returned": ["return"], "closed": ["close"], "voided": ["void"]}[state]
    for action in path:
        status, _ = await act(api, order_id, action, **BODIES[action])
        assert status == 200
    return order_id


BODIES: dict[str, dict[str, str]] = {"accept": {}, "dispatch": {"handling_unit": "承办单位"}, "sign": {},
                                     "on-site": {}, "feedback": {"result": "已办结"}, "close": {},
                                     "return": {"reason": "职责不符"}, "void": {"reason": "重复工单"}}


@pytest.mark.parametrize("state", ["pending", "accepted", "dispatched", "signed", "on_site", "feedback",
                                   "returned", "closed", "voided"])
async def test_when_each_action_is_tried_in_each_state_then_only_legal_ones_pass_and_others_are_409(
    api: Api, state: str
) -> None:
    for action, (to_status, _, _, _) in ACTIONS.items():
        order_id = await _order_in(api, state)
        status, body = await act(api, order_id, action, **BODIES[action])
        if to_status in TRANSITIONS[state]:
            assert (status, body["status"]) == (200, to_status), (state, action, body)
        else:
            assert status == 409, (state, action, body)
            assert (body["current_status"], body["wanted_status"]) == (state, to_status)
            _, unchanged = await api.call("GET", f"/api/orders/{order_id}")
            assert unchanged["status"] == state


async def test_when_an_order_is_edited_then_fields_change_and_the_edit_is_audited(api: Api) -> None:
    order = await create(api)
    status, body = await api.call("PATCH", f"/api/orders/{order['id']}",
                                  json={"peer_number": "GD-12345-77", "category": "QZ-1-06", "address": "新地址"})
    assert status == 200, body
    assert (body["peer_number"], body["category"], body["address"]) == ("GD-12345-77", "QZ-1-06", "新地址")
    _, events = await api.call("GET", f"/api/orders/{order['id']}/events")
    assert events["events"][-1]["kind"] == "updated"
    assert events["events"][-1]["detail"] == {
        "fields": {"peer_number": "GD-12345-77", "category": "QZ-1-06", "address": "新地址"},
        "old": {"peer_number": ONLINE["peer_number"], "category": ONLINE["category"], "address": ONLINE["address"]}}


@pytest.mark.parametrize("body,field", [
    ({**ONLINE, "citizen_number": 13800138000}, "citizen_number"),
    ({**ONLINE, "citizen_number": "138-0013"}, "citizen_number"),
    ({**ONLINE, "emergency": "yes"}, "emergency"),
    ({**ONLINE, "order_class": "critical"}, "order_class"),
    ({**ONLINE, "category": "QZ-9-99"}, "category"),
    ({**ONLINE, "category": "PL-3-01"}, "category"),          # another city's catalogue
    ({**ONLINE, "content": "很长" * 2001}, "content"),
    ({**ONLINE, "content": "含\x00字符"}, "content"),
    ({**ONLINE, "address": "第一行\r\n第二行"}, "address"),
    ({**ONLINE, "division_code": "45070"}, "division_code"),
    ({**ONLINE, "org_code": "not-a-code"}, "org_code"),
    ({**ONLINE, "source_centre": "119"}, "source_centre"),
    ({**ONLINE, "target_centre": "110"}, "target_centre"),
    ({**ONLINE, "colour": "red"}, "colour"),
    ({k: v for k, v in ONLINE.items() if k != "content"}, "content"),
    ({**ONLINE, "content": "   "}, "content"),
    ([ONLINE], "body"),
])
async def test_when_an_online_order_is_malformed_then_the_answer_is_400_naming_the_field(
    api: Api, body: Any, field: str
) -> None:
    status, answer = await api.call("POST", "/api/orders", json=body)
    assert status == 400, answer
    assert answer["field"] == field


async def test_when_a_body_is_not_json_then_the_answer_is_400_for_the_body(api: Api) -> None:
    status, answer = await api.call("POST", "/api/orders", data=b"{not json",
                                    headers={"Content-Type": "application/json"})
    assert (status, answer["field"]) == (400, "body")
    order = await create(api)
    status, answer = await api.call("POST", f"/api/orders/{order['id']}/dispatch", data=b"")
    assert (status, answer["field"]) == (400, "handling_unit")
    status, answer = await act(api, order["id"], "dispatch", handling_unit=42)
    assert (status, answer["field"]) == (400, "handling_unit")
    status, answer = await act(api, order["id"], "return")
    assert (status, answer["field"]) == (400, "reason")


@pytest.mark.parametrize("query,field", [
    ("from=2026-13-01", "from"),
    ("from=2026-11-25T09:00:00", "from"),            # no offset: refused, not guessed
    ("to=yesterday", "to"),
    ("from=0001-01-01", "from"),
    ("overdue=yes", "overdue"),
    ("limit=0", "limit"),
    ("limit=100000", "limit"),
    ("offset=-1", "offset"),
    ("status=lost", "status"),
    ("colour=red", "colour"),
    ("limit=1&limit=2", "limit"),
])
async def test_when_a_list_query_is_malformed_then_the_answer_is_400_naming_the_parameter(
    api: Api, query: str, field: str
) -> None:
    status, answer = await api.call("GET", f"/api/orders?{query}")
    assert (status, answer["field"]) == (400, field), answer


async def test_when_orders_are_listed_then_filters_and_the_china_day_apply(api: Api) -> None:
    first = await create(api)
    api.clock.advance(hours=16)  # 01:30 on 26 November in Beijing
    second = await create(api, order_class="general", category="QZ-1-06")
    status, body = await api.call("GET", "/api/orders?from=2026-11-26")
    assert (status, body["total"], [o["id"] for o in body["orders"]]) == (200, 1, [second["id"]])
    _, body = await api.call("GET", "/api/orders?to=2026-11-26&mode=online")
    assert [o["id"] for o in body["orders"]] == [first["id"]]
    _, body = await api.call("GET", "/api/orders?order_class=general&status=accepted")
    assert [o["number"] for o in body["orders"]] == ["110-20261126-0001"]
    _, body = await api.call("GET", "/api/orders?limit=1&offset=1")
    assert (body["total"], [o["id"] for o in body["orders"]]) == (2, [first["id"]])


async def test_when_an_order_or_route_is_unknown_then_the_answer_is_404(api: Api) -> None:
    status, body = await api.call("GET", "/api/orders/no-such-order")
    assert (status, body["kind"]) == (404, "order")
    status, _ = await act(api, "no-such-order", "sign")
    assert status == 404
    status, _ = await api.call("POST", "/api/orders/x/teleport", json={})
    assert status == 404


async def test_when_a_closed_order_is_patched_then_409_until_a_supervisor_reopens_it_with_a_reason(api: Api) -> None:
    order = await create(api)
    status, _ = await act(api, order["id"], "close")
    assert status == 200
    status, body = await api.call("PATCH", f"/api/orders/{order['id']}", json={"content": "改写后的诉求"})
    assert (status, body["current_status"]) == (409, "closed"), body
    status, body = await act(api, order["id"], "reopen", reason="市民反映未解决")
    assert status == 403  # a seat may not reopen
    status, body = await act(api, order["id"], "reopen", role="supervisor")
    assert (status, body["field"]) == (400, "reason")
    status, body = await act(api, order["id"], "reopen", role="supervisor", reason="市民反映未解决")
    assert (status, body["status"], body["closed_at"]) == (200, "accepted", None), body
    status, body = await api.call("PATCH", f"/api/orders/{order['id']}", json={"content": "改写后的诉求"})
    assert (status, body["content"]) == (200, "改写后的诉求")
    _, events = await api.call("GET", f"/api/orders/{order['id']}/events")
    reopened, updated = events["events"][-2:]
    assert (reopened["kind"], reopened["from_status"], reopened["to_status"]) == ("reopened", "closed", "accepted")
    assert reopened["actor"].startswith("supervisor:") and reopened["detail"]["reason"] == "市民反映未解决"
    assert updated["detail"] == {"fields": {"content": "改写后的诉求"}, "old": {"content": ONLINE["content"]}}
    status, body = await act(api, order["id"], "reopen", role="admin", reason="again")
    assert (status, body["current_status"]) == (409, "accepted")
