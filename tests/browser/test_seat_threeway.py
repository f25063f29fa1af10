"""The seat desk's three-way buttons (三方通话): start, leave & hand over,
cancel (the initiator's) and emergency — the same API and service as the keys,
on the real Asterisk.  Each test asserts who is in the conference
(ConfbridgeList), the number the 110 seat sees and the order's outcome read
through the API; the `pbx` fixture then checks nothing is left."""
from __future__ import annotations

import re

from playwright.async_api import Page, expect

from core.threeway import conference_name
from tests.browser.conftest import Product, sign_in
from tests.support.pbx import Pbx
from tests.support.waiting import eventually

CITIZEN = "13700137000"
RING = "Local/t"  # the Local channel ringing the other centre; its far half is bridged to the answering seat


def _citizen(centre: str) -> str:
    return f"Local/{centre}@hotline-inbound-"


def _seat(seat: str) -> str:
    return f"Local/{seat}@hotline-seat-phones-"


async def _members(pbx: Pbx, threeway_id: str, *prefixes: str) -> list[str]:
    """The conference holds exactly one channel per prefix (polled)."""
    async def check() -> list[str]:
        reply = await pbx.ami.send({"Action": "ConfbridgeList", "Conference": conference_name(threeway_id)})
        msgs = reply if isinstance(reply, list) else [reply]
        members = sorted(m["Channel"] for m in msgs if m.get("Event") == "ConfbridgeList")
        assert len(members) == len(prefixes) and all(any(m.startswith(p) for m in members) for p in prefixes), \
            f"members {members}, expected {prefixes}"
        return members
    return await eventually(check, timeout=10, what=f"the conference holding {prefixes}")


async def _no_channel(pbx: Pbx, seat: str) -> bool:
    assert await pbx.seat_channel(seat) is None, f"seat {seat} still has a channel"
    return True


async def test_when_the_12345_seat_clicks_three_way_then_leave_then_110_accepts_by_agreement(
        pbx: Pbx, product: Product, page: Page) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    seat = (await pbx.seat_answered(CITIZEN))["Seat"]
    pbx.events.clear()
    await sign_in(page, product, "seat", f"#/seat/{seat}")
    await expect(page.locator("#citizen-number")).to_have_text(CITIZEN)
    panel = page.locator('[data-action-panel="threeway"]')
    await expect(panel).to_have_attribute("data-threeway", "")

    await page.click('[data-action="threeway"]:not([data-emergency])')

    invited = await pbx.seat_answered(CITIZEN)
    assert invited["Centre"] == "110"
    assert invited["ShownNum"] == CITIZEN  # the citizen's number, not the 12345 seat's
    await expect(page.locator("#seat-flash .ok")).to_be_visible()
    await expect(panel).to_have_attribute("data-threeway", re.compile(r".+"))
    threeway_id = await panel.get_attribute("data-threeway")
    assert threeway_id
    await _members(pbx, threeway_id, _citizen("12345"), _seat(seat), RING)

    # the 110 seat's desk finds the call by itself; only the initiator may cancel
    await page.goto(f"{product.base_url}/#/seat/{invited['Seat']}")
    await expect(panel).to_have_attribute("data-threeway", threeway_id)
    await expect(panel).to_have_attribute("data-role", "invited")
    await page.click('[data-action="threeway-cancel"]')
    await expect(page.locator('#seat-flash .refused[data-reason="not_initiator"]')).to_contain_text("仅发起方可取消")
    await _members(pbx, threeway_id, _citizen("12345"), _seat(seat), RING)  # nothing changed

    # back at the 12345 seat's desk, after a reload: leave and hand over
    await page.goto(f"{product.base_url}/#/seat/{seat}")
    await page.reload()
    await expect(panel).to_have_attribute("data-threeway", threeway_id)
    await expect(panel).to_have_attribute("data-role", "initiator")
    await page.click('[data-action="threeway-leave"]')

    await _members(pbx, threeway_id, _citizen("12345"), RING)
    await eventually(lambda: _no_channel(pbx, seat), what="the 12345 seat is free")
    await expect(panel).to_have_attribute("data-threeway", "")  # its desk is back to a call-less start
    status, state = await product.api("GET", f"/api/threeway/{threeway_id}", role="seat")
    assert status == 200, state
    assert state["present"] == ["citizen", "invited"]
    order = state["order"]
    assert order["status"] == "accepted" and order["handoff_rule"] == "agreed"
    assert order["target_centre"] == "110" and order["target_seat"] == invited["Seat"]

    await pbx.hang_up(call.handset_id)
    await pbx.assert_nothing_left()
    status, state = await product.api("GET", f"/api/threeway/{threeway_id}", role="seat")
    assert state["order"]["handoff_rule"] == "agreed"  # the agreement stands


async def test_when_the_seat_starts_an_emergency_three_way_then_110_accepts_and_dispatches_first(
        pbx: Pbx, product: Product, page: Page) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    seat = (await pbx.seat_answered(CITIZEN))["Seat"]
    pbx.events.clear()
    await sign_in(page, product, "seat", f"#/seat/{seat}")
    await expect(page.locator("#citizen-number")).to_have_text(CITIZEN)

    await page.click('[data-action="threeway"][data-emergency="true"]')

    invited = await pbx.seat_answered(CITIZEN)
    assert invited["Centre"] == "110" and invited["ShownNum"] == CITIZEN
    panel = page.locator('[data-action-panel="threeway"]')
    await expect(panel).to_have_attribute("data-threeway", re.compile(r".+"))
    threeway_id = await panel.get_attribute("data-threeway")
    assert threeway_id
    await _members(pbx, threeway_id, _citizen("12345"), _seat(seat), RING)
    _status, state = await product.api("GET", f"/api/threeway/{threeway_id}", role="seat")
    order = state["order"]
    assert order["status"] == "accepted" and order["handoff_rule"] == "emergency" and order["emergency"] is True
    assert order["target_centre"] == "110"

    # marking it again from the desk changes nothing: the emergency rule stands
    await page.click('[data-action="threeway-emergency"]')
    await expect(page.locator("#seat-flash .ok")).to_contain_text("110")
    await _members(pbx, threeway_id, _citizen("12345"), _seat(seat), RING)

    await pbx.hang_up(call.handset_id)
    await pbx.assert_nothing_left()
    _status, state = await product.api("GET", f"/api/threeway/{threeway_id}", role="seat")
    assert state["order"]["handoff_rule"] == "emergency" and state["order"]["target_centre"] == "110"
