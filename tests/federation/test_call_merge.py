"""The receiving platform's order of a call handoff, without a PBX: the call
reported twice is one order and one merge; a three-way call that 12345 keeps
after all withdraws the order it had pushed to 110.  (The call and the push in
either order, over real trunks: tests/asterisk/test_trunk_orders.py.)"""
from __future__ import annotations

from app.federation.services import PeerCall
from tests.federation.conftest import Pair
from tests.support.waiting import eventually

CITIZEN = "13800138000"


async def test_when_the_same_call_is_reported_again_then_110_has_one_order_and_one_merge(pair: Pair) -> None:
    call = PeerCall(handoff_id="3f0c6a8e-5d1e-4c51-9b62-7a1f0e2d9c11", source_centre="12345", seat="1001",
                    order_number="12345-20261130-0042", centre="110", citizen=CITIZEN, linkedid="1764500000.7",
                    channel="PJSIP/peer-12345-00000007", trunk="peer-12345")
    service = pair.b.federation
    first = await service.receive_call(call)
    again = await service.receive_call(call)
    assert first is not None and again is not None and first[1] and not again[1]
    [order] = await pair.b.orders()
    assert (order.peer, order.peer_order_id, order.peer_number, order.peer_status, order.status) == (
        "gov-12345", call.handoff_id, call.order_number, "pending", "dispatched")
    assert [e.kind for e in await pair.b.events(order.id)] == ["created"]  # the same call: nothing new
    other_leg = await service.receive_call(PeerCall(**{**call.__dict__, "linkedid": "1764500001.9",
                                                       "channel": "PJSIP/peer-12345-00000009"}))
    assert other_leg is not None and other_leg[0].id == order.id
    [merged] = [e for e in await pair.b.events(order.id) if e.kind == "peer_call_merged"]
    assert merged.detail["channel"] == "PJSIP/peer-12345-00000009" and merged.detail["filled"] == {}
    # no peer runs 120
    assert (await service.receive_call(PeerCall(**{**call.__dict__, "source_centre": "120"}))) is None


async def test_when_12345_keeps_a_three_way_call_after_all_then_110s_order_is_withdrawn(pair: Pair) -> None:
    orders_a = pair.a.federation.orders
    order = await orders_a.create(mode="three_way", source_centre="12345", target_centre="110",
                                  citizen_number=CITIZEN, actor="seat:1001", source_seat="1001")

    async def pushed() -> str:
        found = [o for o in await pair.b.orders() if o.peer_order_id == order.id]
        assert found, "not on 110 yet"
        return found[0].id
    b_id = await eventually(pushed, timeout=10, what="the three-way order on 110")
    await orders_a.transition(order.id, "accepted", actor="seat:1001", target_centre="12345",
                              handoff_rule="first_contact")

    async def withdrawn() -> bool:
        [b_order] = [o for o in await pair.b.orders() if o.id == b_id]
        assert (b_order.status, b_order.peer_status) == ("voided", "voided"), b_order.status
        return True
    await eventually(withdrawn, timeout=10, what="110's order withdrawn")
    [event] = [e for e in await pair.b.events(b_id) if e.to_status == "voided"]
    assert event.detail["reason"] == "kept by 12345: first_contact"
