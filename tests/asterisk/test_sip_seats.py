"""Seats are PJSIP endpoints a real softphone registers to: a second Asterisk
plays the phone, registering with the seat's generated password over SIP."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.pbx import Pbx
from tests.support.sip_phone import SipPhone
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
async def sip_pbx(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Pbx]:
    pbx = await Pbx.start(tmp_path_factory.mktemp("sip-pbx"), HOTLINE_SEAT_MODE="sip",
                          HOTLINE_CENTRES="12345:1001;110:2001", HOTLINE_RTP_PORTS="32000-32999")
    try:
        yield pbx
    finally:
        await pbx.stop()


@pytest.fixture
async def phone(sip_pbx: Pbx, tmp_path: Path) -> AsyncIterator[SipPhone]:
    ph = await SipPhone.start(tmp_path / "phone", sip_pbx.settings, "1001",
                              sip_pbx.secrets.seat_passwords["1001"])
    try:
        yield ph
    finally:
        await ph.stop()
        await sip_pbx.assert_nothing_left()


async def _registered(pbx: Pbx, aor: str, port: int = 0) -> bool:
    reply = await pbx.ami.send({"Action": "PJSIPShowContacts"})
    msgs = reply if isinstance(reply, list) else [reply]
    return any(m.get("Event") == "ContactList" and m.get("Endpoint") == aor and m.get("Status") != "Unreachable"
               and (not port or str(m.get("Uri", "")).endswith(f":{port}")) for m in msgs)


async def test_when_softphone_registers_with_generated_password_then_citizen_call_rings_it_showing_citizen_number(
        sip_pbx: Pbx, phone: SipPhone) -> None:
    await eventually(lambda: _registered(sip_pbx, "1001"), timeout=15, what="seat 1001 registered over SIP")

    call = await sip_pbx.citizen_dials("12345", "13800138000")
    rang = await phone.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                       what="the SIP phone answering")
    assert rang["ShownNum"] == "13800138000"
    assert "13800138000" in rang["PAI"]  # P-Asserted-Identity carries the citizen's number
    # the seat's leg says which seat it is (pjsip.conf set_var): the handoff key's fast path reads it
    leg = next(c for c in await sip_pbx.channels() if c["Channel"].startswith("PJSIP/1001-"))
    seat = await sip_pbx.ami.send({"Action": "Getvar", "Channel": leg["Channel"], "Variable": "HOTLINE_SEAT"})
    assert isinstance(seat, dict) and seat.get("Value") == "1001", seat
    await sip_pbx.hang_up(call.handset_id)
    await eventually(lambda: _no_channels(phone), timeout=10, what="the phone's call ended")


async def test_when_seat_signs_out_with_star5_then_its_phone_is_not_rung_until_it_signs_in_again(
        sip_pbx: Pbx, phone: SipPhone) -> None:
    # this phone's own contact (an earlier test's phone may have left its contact behind)
    await eventually(lambda: _registered(sip_pbx, "1001", port=phone.sip_port), timeout=15,
                     what="seat 1001 registered over SIP from this phone")
    await phone.dial("*5")  # 签出: from the phone, identified by its SIP account
    await eventually(lambda: _not_member(sip_pbx, "PJSIP/1001"), what="1001 out of both queues")
    await eventually(lambda: _no_channels(phone), timeout=10, what="the *5 call ended")

    call = await sip_pbx.citizen_dials("12345", "13800138000")
    await eventually(lambda: _waiting(sip_pbx, "hotline-12345"), what="the citizen waiting with nobody to ring")
    assert not phone.events.find(lambda e: e.get("UserEvent") == "PhoneRang")
    assert not await phone.channels()

    await phone.dial("*5")  # 签入: the waiting citizen rings the phone at once
    rang = await phone.events.wait_for(lambda e: e.get("UserEvent") == "PhoneRang", timeout=15,
                                       what="the SIP phone rung after signing in")
    assert rang["ShownNum"] == "13800138000"
    assert "PJSIP/1001" in await sip_pbx.members("hotline-12345-linkage")
    await sip_pbx.hang_up(call.handset_id)
    await eventually(lambda: _no_channels(phone), timeout=10, what="the phone's call ended")


async def _not_member(pbx: Pbx, interface: str) -> bool:
    return all([interface not in await pbx.members(q) for q in ("hotline-12345", "hotline-12345-linkage")])


async def _waiting(pbx: Pbx, queue: str) -> bool:
    reply = await pbx.ami.send({"Action": "QueueStatus", "Queue": queue})
    return any(m.get("Event") == "QueueEntry" for m in (reply if isinstance(reply, list) else [reply]))


async def _no_channels(phone: SipPhone) -> bool:
    return not await phone.channels()


async def test_when_phone_uses_a_wrong_password_then_it_is_not_registered(sip_pbx: Pbx, tmp_path: Path) -> None:
    bad = await SipPhone.start(tmp_path / "bad-phone", sip_pbx.settings, "2001", "not-the-password")
    try:
        attempts = await bad.events.wait_for(
            lambda e: e.get("Event") == "Registry" and e.get("Status") in ("Rejected", "Failed"),
            timeout=15, what="the registration refused")
        assert attempts["Status"] in ("Rejected", "Failed")
        assert not await _registered(sip_pbx, "2001")
    finally:
        await bad.stop()
