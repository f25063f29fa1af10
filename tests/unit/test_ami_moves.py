"""A move's preparatory AMI actions are sent together (`AmiTelephony._all_ok`):
nothing waits for one answer before sending the next, and once all have
answered the first failure in their order is the move's reason.  The
three-way key's move waits until the key's leg is out of its feature."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agi.background import wait_for
from app.handoff.telephony import AmiTelephony, MoveFailed
from app.threeway.telephony import AmiThreeWayTelephony
from core.centres import parse_centres

CENTRES = parse_centres("12345:1001-1002;110:2001")


class _HeldAmi:
    """Records each action and answers it only when the test says."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.answers: list[asyncio.Future[dict[str, str]]] = []

    async def send(self, action: dict[str, str], **_: Any) -> dict[str, str]:
        self.sent.append(action)
        answer: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return await answer


def _actions(n: int) -> list[tuple[dict[str, str], str]]:
    return [({"Action": "Setvar", "Channel": "PJSIP/1001-00000001", "Variable": f"V{i}", "Value": "x"}, f"reason{i}")
            for i in range(n)]


async def _sent(ami: _HeldAmi, n: int) -> None:
    for _ in range(100):
        if len(ami.sent) == n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(ami.sent)} of {n} actions sent")


async def test_when_a_move_is_prepared_then_every_action_is_sent_before_any_answer() -> None:
    ami = _HeldAmi()
    telephony = AmiTelephony(ami, CENTRES)  # type: ignore[arg-type]
    prepared = asyncio.create_task(telephony._all_ok(_actions(5)))
    await _sent(ami, 5)                     # all five out, none answered yet
    assert not prepared.done()
    for answer in ami.answers:
        answer.set_result({"Response": "Success"})
    await wait_for(prepared, 5)
    assert [a["Variable"] for a in ami.sent] == ["V0", "V1", "V2", "V3", "V4"]


async def test_when_several_actions_are_refused_then_the_first_in_order_is_the_reason_once_all_answered() -> None:
    ami = _HeldAmi()
    telephony = AmiTelephony(ami, CENTRES)  # type: ignore[arg-type]
    prepared = asyncio.create_task(telephony._all_ok(_actions(4)))
    await _sent(ami, 4)
    ami.answers[3].set_result({"Response": "Error", "Message": "No such channel"})
    ami.answers[0].set_result({"Response": "Success"})
    ami.answers[2].set_result({"Response": "Error", "Message": "No such channel"})
    await asyncio.sleep(0.01)
    assert not prepared.done()              # the second has not answered yet
    ami.answers[1].set_result({"Response": "Success"})
    with pytest.raises(MoveFailed) as refused:
        await prepared
    assert refused.value.reason == "reason2"


class _ContextsAmi:
    """Answers each Getvar of CONTEXT with the next of `contexts` (then the last)."""

    def __init__(self, contexts: list[str]) -> None:
        self.contexts = contexts
        self.asked = 0

    async def send(self, action: dict[str, str], **_: Any) -> dict[str, str]:
        assert action == {"Action": "Getvar", "Channel": "Local/1001@hotline-seat-phones-00000001;1",
                          "Variable": "CONTEXT"}
        value = self.contexts[min(self.asked, len(self.contexts) - 1)]
        self.asked += 1
        return {"Response": "Success", "Variable": "CONTEXT", "Value": value}


async def test_when_the_key_leg_is_still_in_the_routes_gosub_then_the_move_waits_for_its_bridge() -> None:
    # the route has answered; the leg returns through hotline-agi and the
    # feature's context before it is back where the bridge left it
    ami = _ContextsAmi(["hotline-threeway-key", "hotline-agi", "hotline-agi", "hotline-threeway-key",
                        "hotline-seat-phones"])
    telephony = AmiThreeWayTelephony(ami, CENTRES)  # type: ignore[arg-type]
    await telephony._wait_out_of_feature("Local/1001@hotline-seat-phones-00000001;1")
    assert ami.asked == 5


async def test_when_the_key_leg_never_leaves_its_feature_then_the_move_is_refused_as_seat_busy() -> None:
    ami = _ContextsAmi(["hotline-agi"])
    telephony = AmiThreeWayTelephony(ami, CENTRES, feature_wait_s=0.1)  # type: ignore[arg-type]
    with pytest.raises(MoveFailed) as refused:
        await telephony._wait_out_of_feature("Local/1001@hotline-seat-phones-00000001;1")
    assert refused.value.reason == "seat_busy"
