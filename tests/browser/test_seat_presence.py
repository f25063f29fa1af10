"""The seat desk's sign-in and pause buttons (签入/签出, 示忙/示闲), and the dashboard showing them.

A seat signed in with its own token (`seat-1002`) pauses with a reason, resumes,
signs out and in again from its desk; Asterisk's queue says so after each
click and the dashboard shows the state, the reason and since when.
"""
from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Product
from tests.support.pbx import Pbx

SEAT = "1002"
IFACE = f"Local/{SEAT}@hotline-seat-phones/n"


async def _member(pbx: Pbx) -> dict | None:
    return (await pbx.members("hotline-12345")).get(IFACE)


async def test_when_the_seat_clicks_pause_with_a_reason_then_the_queue_pauses_it_and_the_dashboard_says_why(
        pbx: Pbx, product: Product, page: Page) -> None:
    status, body = await product.api("POST", "/api/tokens", json={"role": "seat", "name": f"seat-{SEAT}"})
    assert status == 201, body
    await page.goto(product.base_url + f"/#/seat/{SEAT}")
    await page.fill("#login-token", body["token"])
    await page.click("#login button[type=submit]")
    try:
        panel = page.locator('[data-action-panel="presence"]')
        await expect(panel).to_have_attribute("data-seat-state", "idle")
        await page.select_option("#pause-reason", "2")
        await panel.locator('[data-action="pause"]').click()
        await expect(page.locator(f'#seat-status [data-seat="{SEAT}"]')).to_have_attribute("data-state", "paused")
        member = await _member(pbx)
        assert member is not None and member["Paused"] == "1" and member["PausedReason"] == "培训"
        await expect(panel).to_contain_text("培训")

        await page.goto(product.base_url + "/#/")  # the dashboard: paused, why, since when
        seat = page.locator(f'[data-centre="12345"] .seat[data-seat="{SEAT}"]')
        await expect(seat).to_have_attribute("data-state", "paused")
        await expect(seat.locator(".pause-reason")).to_have_text("培训")
        await expect(seat.locator(".seat-since")).to_be_visible()

        await page.goto(product.base_url + f"/#/seat/{SEAT}")
        await page.locator('[data-action-panel="presence"] [data-action="unpause"]').click()
        await expect(page.locator(f'#seat-status [data-seat="{SEAT}"]')).to_have_attribute("data-state", "idle")
        await page.locator('[data-action-panel="presence"] [data-action="signout"]').click()
        await expect(page.locator(f'#seat-status [data-seat="{SEAT}"]')).to_have_attribute("data-state", "signed_out")
        assert await _member(pbx) is None
        await page.locator('[data-action-panel="presence"] [data-action="signin"]').click()
        await expect(page.locator(f'#seat-status [data-seat="{SEAT}"]')).to_have_attribute("data-state", "idle")
        assert await _member(pbx) is not None
    finally:
        await product.api("POST", f"/api/seats/{SEAT}/signin", role="supervisor")
        await product.api("POST", f"/api/seats/{SEAT}/unpause", role="supervisor")
