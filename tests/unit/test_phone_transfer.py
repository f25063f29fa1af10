"""The phone's own attended transfer as a handoff (pure): Asterisk's
AttendedTransfer event read by the translator, decided by core, acted on by
the journal (stand-ins for AMI and the service).  On the real Asterisk with
real SIP phones: tests/asterisk/test_phone_transfer.py."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ami_bridge.translate import attended_transfer
from app.handoff.journal import HandoffJournal
from core.centres import parse_centres
from core.handoff import AttendedTransfer, PhoneHandoff, phone_attended_handoff
from tests.unit.test_handoff_journal import Ami, AstDb

CENTRES = parse_centres("12345:1001-1002;110:2001")

# Recorded from Asterisk 22.10.1 (test_when_seat_attended_transfers_to_110_then_order_is_accepted:
# SIP phone 1001 consulted 110, then REFER with Replaces), the headers read, as panoramisk hands them.
RECORDED: dict[str, Any] = {
    "Event": "AttendedTransfer", "Result": "Success",
    "OrigTransfererChannel": "PJSIP/1001-00000000", "OrigTransfererUniqueid": "1796069734.2",
    "OrigTransfererLinkedid": "citizen-aa54568d65c6",
    "SecondTransfererChannel": "PJSIP/1001-00000001", "SecondTransfererUniqueid": "1796069735.3",
    "SecondTransfererChanVariable": ["HOTLINE_CENTRE=110", "HOTLINE_CITIZEN=1001", "HOTLINE_HANDOFF_ID="],
    "TransfereeChannel": "Local/12345@hotline-inbound-00000000;2", "TransfereeUniqueid": "citizen-leg-b4ccb916c2e9",
    "TransfereeLinkedid": "citizen-aa54568d65c6",
    "TransfereeChanVariable": ["HOTLINE_CENTRE=12345", "HOTLINE_CITIZEN=13800138000", "HOTLINE_HANDOFF_ID="],
    "TransferTargetChannel": "PJSIP/2001-00000002", "TransferTargetUniqueid": "1796069735.4",
    "TransferTargetChanVariable": ["HOTLINE_CENTRE=110", "HOTLINE_CITIZEN=1001", "HOTLINE_HANDOFF_ID="],
    "IsExternal": "No", "DestType": "Link",
}
TRANSFER = attended_transfer(RECORDED)
EXPECTED = PhoneHandoff(
    handoff_id="1796069734.2", source_centre="12345", source_seat="1001", target_centre="110", target_seat="2001",
    seat_channel="PJSIP/1001-00000000", citizen_channel="Local/12345@hotline-inbound-00000000;2",
    citizen_number="13800138000", linkedid="citizen-aa54568d65c6", target_channel="PJSIP/2001-00000002")


def test_the_recorded_event_reads_as_the_seat_s_two_legs_the_citizen_and_the_target() -> None:
    assert TRANSFER == AttendedTransfer(
        result="Success", transferer_channel="PJSIP/1001-00000000", transferer_uniqueid="1796069734.2",
        consult_channel="PJSIP/1001-00000001", transferee_channel="Local/12345@hotline-inbound-00000000;2",
        citizen_number="13800138000", centre="12345", linkedid="citizen-aa54568d65c6",
        target_channel="PJSIP/2001-00000002")


def test_when_a_12345_seat_completes_a_transfer_to_a_110_seat_then_it_is_a_handoff_accepted_by_that_seat() -> None:
    assert phone_attended_handoff(CENTRES, TRANSFER) == EXPECTED


@pytest.mark.parametrize("change, why", [
    ({"result": "Fail"}, "the transfer failed"),
    ({"target_channel": "PJSIP/1002-00000002"}, "a colleague of the same centre: a transfer within 12345"),
    ({"target_channel": "Local/110@hotline-phone-transfer-00000003;1"},
     "the target is not a seat's leg (#2: the journal first finds the seat behind the Local channel)"),
    ({"transferer_channel": "PJSIP/peer-12345-00000001"}, "not a seat's transfer"),
    ({"consult_channel": "PJSIP/1002-00000001"}, "the consultation was another seat's call"),
    ({"transferee_channel": "PJSIP/1002-00000009"}, "no citizen: a seat was on the first call"),
    ({"transferee_channel": ""}, "nobody on the first call (a bigger bridge: no one transferee)"),
    ({"transferer_uniqueid": "x\r\nAction: Hangup"}, "an id not safe to record"),
    ({"linkedid": "a b"}, "a call id not safe to record"),
])
def test_when_it_is_not_a_seat_handing_a_citizen_to_another_centre_then_no_handoff(change: dict[str, str],
                                                                                 why: str) -> None:
    assert phone_attended_handoff(CENTRES, replace(TRANSFER, **change)) is None, why


def test_when_the_citizen_withheld_the_number_then_the_order_says_0() -> None:
    handoff = phone_attended_handoff(CENTRES, replace(TRANSFER, citizen_number=""))
    assert handoff is not None and handoff.citizen_number == "0"


class Service:
    def __init__(self) -> None:
        self.transferred: list[PhoneHandoff] = []

    async def phone_transferred(self, handoff: PhoneHandoff) -> Any:
        self.transferred.append(handoff)
        return type("Order", (), {"id": handoff.handoff_id})()


class SendingAmi(Ami):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict[str, str]] = []

    async def send(self, action: dict[str, str]) -> dict[str, str]:
        self.sent.append(action)
        return {"Response": "Success"}


async def test_when_the_event_comes_then_the_order_is_recorded_and_its_id_put_on_both_channels() -> None:
    ami, service = SendingAmi(), Service()
    journal = HandoffJournal(ami, service, astdb=AstDb(), centres=CENTRES)  # type: ignore[arg-type]
    ami.fire({**RECORDED, "Result": "Fail"})
    ami.fire(RECORDED)
    await journal.drain()
    assert service.transferred == [EXPECTED]
    assert ami.sent == [{"Action": "Setvar", "Channel": channel, "Variable": "HOTLINE_HANDOFF_ID",
                         "Value": "1796069734.2"}
                        for channel in ("Local/12345@hotline-inbound-00000000;2", "PJSIP/2001-00000002")]



class ChannelsAmi(SendingAmi):
    """CoreShowChannels answers with the calls after a `#2` transfer: the citizen
    bridged with the consultation's Local channel, whose other half is
    bridged with the 110 seat's leg."""

    ROWS = (("Local/12345@hotline-inbound-00000003;2", "b1"), ("Local/110@hotline-phone-transfer-00000005;1", "b1"),
            ("Local/110@hotline-phone-transfer-00000005;2", "b2"), ("Local/2001@hotline-seat-phones-00000006;1", "b2"),
            ("Local/2001@hotline-seat-phones-00000006;2", ""))

    async def send(self, action: dict[str, str]) -> Any:
        if action["Action"] == "CoreShowChannels":
            return [{"Event": "CoreShowChannel", "Channel": c, "BridgeId": b} for c, b in self.ROWS]
        return await super().send(action)


async def test_when_hash_2_completes_then_the_seat_behind_the_local_channel_accepts_even_if_the_event_names_none(
        ) -> None:
    """Asterisk's AttendedTransfer for `#2` names the consultation's Local
    channel as target, or (seen on a loaded machine) no target at all."""
    ami, service = ChannelsAmi(), Service()
    journal = HandoffJournal(ami, service, astdb=AstDb(), centres=CENTRES)  # type: ignore[arg-type]
    hash_2 = {**RECORDED, "OrigTransfererChannel": "Local/1001@hotline-seat-phones-00000004;1",
              "SecondTransfererChannel": "Local/1001@hotline-seat-phones-00000004;1",
              "TransfereeChannel": "Local/12345@hotline-inbound-00000003;2"}
    hash_2.pop("TransferTargetChannel")
    ami.fire(hash_2)
    await journal.drain()
    assert [h.target_channel for h in service.transferred] == ["Local/2001@hotline-seat-phones-00000006;1"]
    assert service.transferred[0].source_seat == "1001" and service.transferred[0].target_seat == "2001"
