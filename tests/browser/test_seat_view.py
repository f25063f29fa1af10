"""The seat desk: the current call with the citizen's number, the transfer
button (the same API as the key), and the order popping up at the receiving seat."""
from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, Product, sign_in
from tests.support.pbx import Pbx

CITIZEN = "13800138000"


async def test_when_the_seat_clicks_transfer_then_the_110_seat_answers_showing_the_citizens_number(
        pbx: Pbx, product: Product, page: Page) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    first = await pbx.seat_answered(CITIZEN)
    seat = first["Seat"]
    pbx.events.clear()

    await sign_in(page, product, "seat", f"#/seat/{seat}")
    await expect(page.locator(f'#seat-status [data-seat="{seat}"]')).to_have_attribute("data-state", "in_call")
    await expect(page.locator("#citizen-number")).to_have_text(CITIZEN)
    await expect(page.locator("#seat-order")).to_have_attribute("data-order", "")  # a direct call: no handoff yet

    await page.fill("#transfer-note", "邻居持刀威胁，需警方处置")
    await page.click('[data-action="transfer"][data-target="110"]')

    answered = await pbx.seat_answered(CITIZEN)
    assert answered["Centre"] == "110"
    assert answered["ShownNum"] == CITIZEN and answered["ShownConnectedNum"] == CITIZEN  # not the 12345 seat's
    done = page.locator("#seat-flash .ok")
    await expect(done).to_be_visible()
    handoff = await done.get_attribute("data-handoff")
    assert handoff and answered["Handoff"] == handoff
    # 成功转: the transferring seat is free once 110 answered
    await expect(page.locator(f'#seat-status [data-seat="{seat}"]')).to_have_attribute("data-state", "idle")

    # the receiving seat's desk shows the citizen and pops the order
    await page.goto(f"{product.base_url}/#/seat/{answered['Seat']}")
    card = page.locator(f'#seat-order[data-order="{handoff}"]')
    await expect(card).to_have_attribute("data-status", "accepted")
    await expect(card).to_contain_text("邻居持刀威胁")
    await expect(card).to_contain_text(f"{seat} → {answered['Seat']}")
    await expect(page.locator("#citizen-number")).to_have_text(CITIZEN)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "seat.png"))

    await pbx.hang_up(call.handset_id)
    await expect(page.locator(f'#seat-status [data-seat="{answered["Seat"]}"]')).to_have_attribute(
        "data-state", "idle")


async def test_when_the_transfer_is_refused_then_the_seat_sees_why_and_keeps_the_citizen(
        pbx: Pbx, product: Product, page: Page) -> None:
    call = await pbx.citizen_dials("12345", CITIZEN)
    seat = (await pbx.seat_answered(CITIZEN))["Seat"]

    await sign_in(page, product, "seat", f"#/seat/{seat}")
    await expect(page.locator("#citizen-number")).to_have_text(CITIZEN)
    await page.fill("#transfer-target", "12345")  # its own centre
    await page.click("#transfer button[type=submit]")
    await expect(page.locator('#seat-flash .refused[data-reason="own_centre"]')).to_be_visible()

    await page.fill("#transfer-target", "110,Hangup")  # not a destination: the API names the field
    await page.click("#transfer button[type=submit]")
    await expect(page.locator('#transfer [data-error-for="target"]')).not_to_be_empty()
    await expect(page.locator("#transfer-target")).to_have_attribute("aria-invalid", "true")

    member = await pbx.seat_member_leg(seat)
    leg = await pbx.channel_by_uniqueid(call.pbx_leg_id)
    assert member is not None and leg is not None and leg["BridgeId"] == member["BridgeId"]  # still talking
    await pbx.hang_up(call.handset_id)
