"""工单⇄警单 between two real platforms: 12345 (A) hands an order to 110 (B),
B's 签收 / 退单 / 反馈 / 办结 come back to A — over signed HTTP, from durable
outboxes, in order, once (issue 13)."""
from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from app.runtime.models import Order
from tests.federation.conftest import (
    ORG_12345,
    SECRET,
    Instance,
    Pair,
    digest,
    document_bytes,
    new_key,
    signed_headers,
)
from tests.support.waiting import eventually

CITIZEN = "13800138000"


async def hand_off(a: Instance, **extra: Any) -> dict[str, Any]:
    """A 12345 seat hands a matter to 110 (online transfer to the peer's centre)."""
    body = {"source_centre": "12345", "target_centre": "110", "citizen_number": CITIZEN,
            "content": "市民反映小区门口有人持刀争吵", "address": "钦南区扬帆大道1号", "order_class": "urgent",
            "division_code": "450702", **extra}
    status, order = await a.call("POST", "/api/orders", json=body, headers={"Idempotency-Key": new_key()})
    assert status == 201, order
    return order


async def police_order(pair: Pair, a_order: dict[str, Any]) -> Order:
    async def arrived() -> Order:
        orders = [o for o in await pair.b.orders() if o.peer_order_id == a_order["id"]]
        assert len(orders) == 1, f"{len(orders)} orders on 110 for {a_order['number']}"
        return orders[0]
    return await eventually(arrived, timeout=10, what="the police order on 110")


async def a_order_when(pair: Pair, order_id: str, **expected: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        status, order = await pair.a.call("GET", f"/api/orders/{order_id}")
        assert status == 200
        wrong = {k: order[k] for k, v in expected.items() if order[k] != v}
        assert not wrong, f"12345 order has {wrong}, waiting for {expected}"
        return order
    return await eventually(check, timeout=10, what=f"12345 order with {expected}")


async def test_when_12345_hands_off_to_110_then_110_has_a_police_order_with_both_numbers(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    assert a_order["status"] == "dispatched" and a_order["peer"] == "police-110"

    b_order = await police_order(pair, a_order)
    assert b_order.number.startswith("110-") and b_order.peer_number == a_order["number"]
    assert (b_order.status, b_order.peer, b_order.peer_side) == ("dispatched", "gov-12345", "in")
    assert (b_order.citizen_number, b_order.order_class, b_order.division_code) == (CITIZEN, "urgent", "450702")
    assert b_order.sign_due_at is not None  # 110 owes the sign-for within the urgent limit
    shown = await a_order_when(pair, a_order["id"], peer_number=b_order.number, peer_order_id=b_order.id)
    assert shown["number"] == a_order["number"] and shown["peer_status"] == "dispatched"

    # what was really sent: the bytes 110 logged are the document 12345 queued
    [sent] = [i for i in await pair.a.outbox() if i.order_id == a_order["id"]]
    [received] = [r for r in await pair.b.inbox() if r.path == "/api/federation/orders"]
    assert received.body_sha256 == digest(document_bytes(sent.document)) and received.answer == 201
    assert sent.state == "sent" and sent.document["sender"] == {
        "platform": "gov-12345", "org_code": ORG_12345, "division_code": "450700", "unit": "钦州市gov-12345"}
    assert received.peer == "gov-12345"


async def test_when_online_order_is_posted_twice_with_one_idempotency_key_then_one_order_on_each_side(
        pair: Pair) -> None:
    body = {"source_centre": "12345", "target_centre": "110", "citizen_number": CITIZEN, "content": "噪音扰民"}
    key = {"Idempotency-Key": new_key()}
    first = await pair.a.call("POST", "/api/orders", json=body, headers=key)
    again = await pair.a.call("POST", "/api/orders", json=body, headers=key)
    other = await pair.a.call("POST", "/api/orders", json={**body, "content": "另一件事"}, headers=key)
    assert (first[0], again[0], other[0]) == (201, 200, 409)
    assert again[1]["id"] == first[1]["id"]
    await police_order(pair, first[1])
    assert len(await pair.a.orders()) == 1 and len(await pair.b.orders()) == 1


async def test_when_110_signs_for_then_12345_order_shows_signed(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    status, signed = await pair.b.call("POST", f"/api/orders/{b_order.id}/sign", json={"note": "已签收"})
    assert status == 200 and signed["status"] == "signed"

    shown = await a_order_when(pair, a_order["id"], status="signed", peer_status="signed")
    assert shown["peer_number"] == b_order.number and shown["signed_at"] is not None
    [event] = [e for e in await pair.a.events(a_order["id"]) if e.to_status == "signed"]
    assert event.actor == "peer:police-110" and event.detail["label"] == "签收"
    assert event.detail["by"]["unit_code"] == b_order.org_code


async def test_when_110_returns_order_then_12345_supervisor_sees_it_with_reason(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    reason = "不属于公安机关职责范围，属城管执法事项"
    status, _ = await pair.b.call("POST", f"/api/orders/{b_order.id}/return", json={"reason": reason})
    assert status == 200

    await a_order_when(pair, a_order["id"], status="returned")
    status, listing = await pair.a.call("GET", "/api/orders?status=returned", role="supervisor")
    assert status == 200
    [seen] = [o for o in listing["orders"] if o["id"] == a_order["id"]]
    assert (seen["return_reason"], seen["peer_status"], seen["peer_number"]) == (reason, "returned", b_order.number)
    [event] = [e for e in await pair.a.events(a_order["id"]) if e.to_status == "returned"]
    assert event.detail["work_item"] == "supervisor" and event.detail["reason"] == reason
    assert event.detail["by"]["name"].startswith("seat:") and event.detail["by"]["unit"] == "钦州市police-110"
    assert event.detail["at"]  # when 110 returned it

    # 12345 sends it again: 110's order is dispatched again
    status, _ = await pair.a.call("POST", f"/api/orders/{a_order['id']}/dispatch",
                                  json={"handling_unit": "police-110", "note": "补充材料后重新派发"})
    assert status == 200

    async def redispatched() -> bool:
        [order] = [o for o in await pair.b.orders() if o.id == b_order.id]
        assert order.status == "dispatched", order.status
        return True
    await eventually(redispatched, timeout=10, what="110 order dispatched again")


async def test_when_peer_is_down_for_ten_minutes_then_every_update_arrives_in_order_after_it_returns(
        pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    await a_order_when(pair, a_order["id"], peer_order_id=b_order.id)
    await pair.a.stop()  # 12345 goes down

    for action, body in (("sign", {}), ("on-site", {}),
                         ("feedback", {"result": "已劝离，双方和解", "note": "民警到场调解"})):
        status, answer = await pair.b.call("POST", f"/api/orders/{b_order.id}/{action}", json=body)
        assert status == 200, answer

    async def first_item() -> Any:
        items = [i for i in await pair.b.outbox() if i.order_id == b_order.id]
        assert [i.seq for i in items] == [1, 2, 3]
        return items[0]

    # ten minutes of 110's time pass; the first update is retried and fails, the others wait behind it
    tries = 0
    for _ in range(20):
        pair.b.clock.advance(seconds=30)
        item = await first_item()
        if item.next_attempt_at <= pair.b.clock():
            async def tried(before: int = item.attempts) -> bool:
                again = await first_item()
                assert again.attempts > before, "waiting for a try"
                return True
            await eventually(tried, timeout=10, what="a retry of the first update")
            tries += 1
    items = [i for i in await pair.b.outbox() if i.order_id == b_order.id]
    assert tries >= 4 and [i.state for i in items] == ["pending"] * 3
    assert [i.attempts for i in items[1:]] == [0, 0]  # held back: never sent before the first
    assert "ClientConnectorError" in (items[0].last_error or "")

    await pair.a.start()  # 12345 is back, on the same database
    pair.b.clock.advance(seconds=300)  # past the next try
    shown = await a_order_when(pair, a_order["id"], status="feedback", peer_status="feedback")
    assert shown["result"] == "已劝离，双方和解"
    peer_events = [e.to_status for e in await pair.a.events(a_order["id"]) if e.actor == "peer:police-110"
                   and e.kind == "transition"]
    assert peer_events == ["signed", "on_site", "feedback"]

    async def all_sent() -> bool:  # 110 marks the last one sent once 12345's answer is in
        assert [i.state for i in await pair.b.outbox()] == ["sent"] * 3
        return True
    await eventually(all_sent, timeout=10, what="every update marked sent on 110")


async def _post(session: aiohttp.ClientSession, base: str, path: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, Any]:
    async with session.post(base + path, data=body, headers=headers) as response:
        return response.status, await response.json()


async def test_when_push_is_replayed_or_reordered_then_orders_do_not_change(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    await pair.b.call("POST", f"/api/orders/{b_order.id}/sign")
    await a_order_when(pair, a_order["id"], status="signed")
    [order_doc] = [i for i in await pair.a.outbox() if i.kind == "order"]
    [sign_doc] = [i for i in await pair.b.outbox() if i.order_id == b_order.id]
    before_a = [(e.kind, e.to_status) for e in await pair.a.events(a_order["id"])]
    before_b = [(e.kind, e.to_status) for e in await pair.b.events(b_order.id)]
    http = pair.a.http
    assert http is not None

    # the order pushed again (a retry whose answer was lost): the same police order
    body = document_bytes(order_doc.document)
    status, answer = await _post(http, pair.b.url, order_doc.path, body,
                                 signed_headers("gov-12345", SECRET, order_doc.path, body))
    assert (status, answer["id"]) == (200, b_order.id)
    # the 签收 pushed again: nothing changes
    body = document_bytes(sign_doc.document)
    headers = signed_headers("police-110", SECRET, sign_doc.path, body)
    status, answer = await _post(http, pair.a.url, sign_doc.path, body, headers)
    assert (status, answer["outcome"]) == (200, "duplicate")
    # the very same request replayed (same nonce): refused
    async with http.post(pair.a.url + sign_doc.path, data=body, headers=headers) as response:
        assert response.status == 401
    # a later update arriving before the one it follows: refused until the gap is filled
    ahead = {**sign_doc.document, "seq": sign_doc.document["seq"] + 2, "status": "feedback", "result": "提前到达"}
    body = document_bytes(ahead)
    status, answer = await _post(http, pair.a.url, sign_doc.path, body,
                                 signed_headers("police-110", SECRET, sign_doc.path, body))
    assert (status, answer["expected_seq"]) == (409, 2)

    assert [(e.kind, e.to_status) for e in await pair.a.events(a_order["id"])] == before_a
    assert [(e.kind, e.to_status) for e in await pair.b.events(b_order.id)] == before_b
    assert len(await pair.a.orders()) == 1 and len(await pair.b.orders()) == 1
    [shown] = [o for o in await pair.a.orders()]
    assert (shown.status, shown.peer_seq) == ("signed", 1)


async def test_when_unsigned_request_or_other_peer_then_rejected(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    http = pair.a.http
    assert http is not None
    path = f"/api/federation/orders/{a_order['id']}/status"
    doc = {"version": 1, "kind": "status", "seq": 2, "status": "voided", "at": "2026-11-25T10:00:00+08:00",
           "sender": {"platform": "gov-12345"}, "order": {"id": a_order["id"]}, "your_order": {"id": b_order.id},
           "by": {"name": "mallory"}}
    body = json.dumps(doc).encode()
    url = pair.b.url + path

    async def answer(headers: dict[str, str], data: bytes = body) -> int:
        async with http.post(url, data=data, headers=headers) as response:
            return response.status

    good = signed_headers("gov-12345", SECRET, path, body)
    assert await answer({"Content-Type": "application/json"}) == 401                      # unsigned
    assert await answer({"Authorization": f"Bearer {pair.b.tokens['admin']}"}) == 401     # a token is no signature
    assert await answer({**good, "X-Hotline-Signature": "v1=" + "0" * 64}) == 401          # forged
    assert await answer(signed_headers("gov-12345", "not-the-shared-secret!!", path, body)) == 401
    assert await answer(signed_headers("nobody", SECRET, path, body)) == 401               # unknown peer
    stale = str(int(time.time()) - 3600)
    assert await answer(signed_headers("gov-12345", SECRET, path, body, timestamp=stale)) == 401
    assert await answer(good, data=body.replace(b"mallory", b"malloryX")) == 401           # body changed
    # another declared peer, correctly signed, on an order it is not party to
    other = "secret-of-fire-119-only-xx"
    assert await answer(signed_headers("fire-119", other, path, body)) == 403
    order_doc = next(i for i in await pair.a.outbox() if i.kind == "order").document
    forged = json.dumps({**order_doc, "order": {**order_doc["order"], "id": "fire-made-up-1"}}).encode()
    async with http.post(pair.b.url + "/api/federation/orders", data=forged,
                         headers=signed_headers("fire-119", other, "/api/federation/orders", forged)) as response:
        assert response.status == 403  # 119 cannot hand over an order from 12345
    [order] = [o for o in await pair.b.orders()]
    assert order.status == "dispatched" and len(await pair.b.orders()) == 1
    refused = [r for r in await pair.b.inbox() if r.peer == "fire-119"]
    assert [r.answer for r in refused] == [403, 403]  # who tried, when, what: in the log
