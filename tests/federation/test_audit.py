"""Every exchange between the platforms is auditable — who, when, what, which
peer, the answer — in both directions and for refused requests too; the
replay-window nonces are pruned once no request can carry them, the audit
log after its retention (issue 13)."""
from __future__ import annotations

import json
from datetime import timedelta

from prometheus_client import REGISTRY

from app.federation.refusals import RefusalAudit
from app.runtime.models import FederationExchange
from tests.federation.conftest import (
    SECRET,
    Pair,
    digest,
    document_bytes,
    signed_headers,
)
from tests.federation.test_two_platforms import hand_off, police_order
from tests.support.waiting import eventually


def _lines(exchanges: list[FederationExchange], **match: object) -> list[FederationExchange]:
    return [e for e in exchanges if all(getattr(e, k) == v for k, v in match.items())]


async def test_when_orders_flow_then_each_side_logs_who_when_what_and_the_answer(pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    status, _ = await pair.b.call("POST", f"/api/orders/{b_order.id}/sign")
    assert status == 200

    async def logged() -> bool:
        assert _lines(await pair.a.exchanges(), direction="in", answer=200), "12345 has not logged the 签收 yet"
        # 110's pusher writes its line once it has 12345's answer: after 12345's own line
        assert _lines(await pair.b.exchanges(), direction="out", kind="status"), "110 has not logged its push"
        return True
    await eventually(logged, timeout=10, what="the 签收 in both logs")

    a_log, b_log = await pair.a.exchanges(), await pair.b.exchanges()
    [pushed] = _lines(a_log, direction="out", kind="order")
    [taken] = _lines(b_log, direction="in", path="/api/federation/orders")
    [item] = [i for i in await pair.a.outbox() if i.kind == "order"]
    assert (pushed.peer, pushed.order_id, pushed.answer, pushed.method) == ("police-110", a_order["id"], 201, "POST")
    assert pushed.actor == "seat:seat-gov-12345"  # who handed it over (the seat's token)
    assert pushed.body_sha256 == taken.body_sha256 == digest(document_bytes(item.document))
    assert (taken.peer, taken.answer, taken.nonce) == ("gov-12345", 201, pushed.nonce)
    [signed_out] = _lines(b_log, direction="out", kind="status")
    [signed_in] = _lines(a_log, direction="in", answer=200)
    assert signed_out.actor and signed_out.actor.startswith("seat:")   # who signed for it on 110
    assert signed_out.order_id == b_order.id and signed_in.peer == "police-110"
    assert signed_in.path == f"/api/federation/orders/{b_order.id}/status"

    # a refused request is a line too: who tried, and why not
    body = b'{"version": 1}'
    path = "/api/federation/orders"
    assert pair.b.http is not None
    async with pair.b.http.post(pair.a.url + path, data=body,
                                headers=signed_headers("police-110", "a-wrong-secret-of-16+", path, body)) as r:
        assert r.status == 401
    [refused] = _lines(await pair.a.exchanges(), direction="in", answer=401)
    assert (refused.peer, refused.note, refused.body_sha256) == ("police-110", "bad signature", digest(body))


async def test_when_an_unproven_caller_floods_the_peer_api_then_only_its_first_refusals_are_written(
        pair: Pair) -> None:
    audit = RefusalAudit(per_address="3/second", in_all="100/minute")
    pair.a.federation.refusals = audit
    counted_before = REGISTRY.get_sample_value("hotline_federation_refused_total", {"reason": "unsigned"}) or 0
    path = "/api/federation/orders"
    assert pair.b.http is not None

    async def unsigned() -> int:
        assert pair.b.http is not None
        async with pair.b.http.post(pair.a.url + path, data=b"{}", headers={"X-Hotline-Peer": "anyone"}) as r:
            return r.status

    assert [await unsigned() for _ in range(20)] == [401] * 20
    refused = _lines(await pair.a.exchanges(), direction="in", answer=401)
    assert len(refused) == 3 and all((line.note or "").startswith("unsigned request") for line in refused)
    assert REGISTRY.get_sample_value("hotline_federation_refused_total", {"reason": "unsigned"}) \
        == counted_before + 20

    # once the address's window has moved on, its next refusal is written, saying how many were not
    sent = 20

    async def written_again() -> FederationExchange | None:
        nonlocal sent
        assert await unsigned() == 401
        sent += 1
        lines = _lines(await pair.a.exchanges(), direction="in", answer=401)
        return lines[3] if len(lines) > 3 else None
    line = await eventually(written_again, timeout=5, interval=0.2, what="a refusal written again")
    assert line is not None and line.note is not None
    assert line.note.endswith(f"({sent - 4} more from this address not written)")
    assert audit.unwritten == 0


async def test_when_nonces_outlive_the_replay_window_then_they_are_pruned_and_replays_stay_refused(
        pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    await police_order(pair, a_order)
    [item] = [i for i in await pair.a.outbox() if i.kind == "order"]
    body = document_bytes(item.document)
    headers = signed_headers("gov-12345", SECRET, item.path, body)
    http = pair.a.http
    assert http is not None

    async def post() -> int:
        async with http.post(pair.b.url + item.path, data=body, headers=headers) as response:
            return response.status

    assert await post() == 200          # the order again: same police order
    assert await post() == 401          # the same request again: a replay
    assert len(await pair.b.inbox()) == 2

    # 110's time moves past twice the window (the wall clock for signatures,
    # the orders' clock for the pruning round)
    service = pair.b.federation
    window = pair.b.settings.federation.window_s
    start = service.wall()
    service.wall = lambda: start + 2 * window + 61
    pair.b.clock.advance(seconds=2 * window + 61)

    async def pruned() -> bool:
        assert await pair.b.inbox() == [], "nonces not pruned yet"
        return True
    await eventually(pruned, timeout=10, what="the nonces pruned")
    assert await post() == 401          # its timestamp is out of the window: still refused
    kept = await pair.b.exchanges()
    assert [e.answer for e in _lines(kept, direction="in", path=item.path)] == [201, 200, 401, 401]

    # the audit log goes after its retention, not before
    pair.b.clock.advance(days=pair.b.settings.federation.audit_days - 1)
    pair.b.clock.advance(seconds=61)
    assert len(await pair.b.exchanges()) >= len(kept)
    pair.b.clock.advance(days=2)

    async def audit_pruned() -> bool:
        left = [e for e in await pair.b.exchanges() if e.at < pair.b.clock() - timedelta(days=1)]
        assert left == [], f"{len(left)} old audit lines left"
        return True
    await eventually(audit_pruned, timeout=10, what="the audit log past its retention pruned")


async def test_when_a_role_without_the_privilege_reads_either_side_then_the_citizen_number_is_masked(
        pair: Pair) -> None:
    a_order = await hand_off(pair.a)
    b_order = await police_order(pair, a_order)
    citizen = b_order.citizen_number
    masked = citizen[:3] + "****" + citizen[-4:]
    for side, order_id in ((pair.a, a_order["id"]), (pair.b, b_order.id)):
        status, seen = await side.call("GET", f"/api/orders/{order_id}", role="admin")  # not in unmasked_roles
        assert status == 200 and seen["citizen_number"] == masked
        status, seen = await side.call("GET", f"/api/orders/{order_id}", role="seat")
        assert seen["citizen_number"] == citizen
        # nor does any federation view or the order's audit trail show it in full
        for path in (f"/api/orders/{order_id}/events", "/api/federation/outbox", "/api/federation/status"):
            status, body = await side.call("GET", path, role="admin")
            assert status == 200 and citizen not in json.dumps(body, ensure_ascii=False), path
