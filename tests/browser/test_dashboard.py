"""The live dashboard follows a real call: waiting, answered, handed over to 110.

Each change must reach the page within `LIVE_DEADLINE_S` of Asterisk reporting
it (the rig's own AMI client sees the same event the bridge does); the
handoff's outcome, which lands in the database, within `ORDERS_DEADLINE_S`.
The test leaves a screenshot of the dashboard in artifacts/dashboard.png.
"""
from __future__ import annotations

import time

from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, Product, sign_in
from tests.support.pbx import Pbx

CITIZEN = "13800138000"
SEATS_12345 = ("1001", "1002", "1003", "1004")
LIVE_DEADLINE_S = 1.0
ORDERS_DEADLINE_S = 3.0


async def pause(pbx: Pbx, seats: tuple[str, ...], paused: bool) -> None:
    """Seats take a break (示忙) or come back, as a seat's pause key would do."""
    for seat in seats:
        reply = await pbx.action(Action="QueuePause", Interface=f"Local/{seat}@hotline-seat-phones/n",
                                 Paused="true" if paused else "false", Reason="browser test")
        assert reply.get("Response") == "Success", reply


async def within(deadline_s: float, check) -> float:
    """Run a Playwright expectation with `deadline_s` as its timeout; returns the time it took."""
    started = time.monotonic()
    await check(int(deadline_s * 1000))
    return time.monotonic() - started


async def test_when_a_citizen_calls_then_the_dashboard_shows_the_wait_the_seat_in_call_and_the_handoff(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "supervisor")
    centre = page.locator('[data-centre="12345"]')
    centre_110 = page.locator('[data-centre="110"]')
    await expect(centre.locator('[data-stat="waiting"]')).to_have_attribute("data-value", "0")
    await expect(page.locator("#ami-state")).to_have_attribute("data-connected", "true")

    await pause(pbx, SEATS_12345, True)
    try:
        await expect(centre.locator('.seat[data-seat="1001"]')).to_have_attribute("data-state", "paused")

        # 1. the citizen waits: every 12345 seat is on a break
        call = await pbx.citizen_dials("12345", CITIZEN)
        await pbx.events.wait_for(lambda e: e.get("Event") == "QueueCallerJoin" and e.get("CallerIDNum") == CITIZEN,
                                  what="the citizen joining the 12345 queue")
        took = await within(LIVE_DEADLINE_S, lambda ms: expect(
            centre.locator(f'.entries li[data-caller="{CITIZEN}"]')).to_be_visible(timeout=ms))
        await expect(centre.locator('[data-stat="waiting"]')).to_have_attribute("data-value", "1")
        print(f"waiting call shown {took * 1000:.0f} ms after Asterisk queued it")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard-waiting.png"))

        # 2. seat 1001 comes back and answers
        await pause(pbx, ("1001",), False)
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Seat"] == "1001"
        took = await within(LIVE_DEADLINE_S, lambda ms: expect(
            centre.locator('.seat[data-seat="1001"]')).to_have_attribute("data-state", "in_call", timeout=ms))
        await expect(centre.locator(".entries li")).to_have_count(0)
        print(f"seat in call shown {took * 1000:.0f} ms after it answered")

        # 3. the seat presses the transfer key: the citizen goes to 110
        pbx.events.clear()
        await pbx.press_key("1001", "*1")
        target = await pbx.seat_answered(CITIZEN)
        assert target["Centre"] == "110" and target["ShownNum"] == CITIZEN
        row = page.locator('table.handoffs tr[data-status="accepted"]')
        took = await within(ORDERS_DEADLINE_S, lambda ms: expect(row).to_have_count(1, timeout=ms))
        await expect(row).to_contain_text(CITIZEN)
        await expect(row).to_contain_text("12345 → 110")
        await expect(row).to_contain_text(f"1001 → {target['Seat']}")
        await expect(row).to_contain_text("已受理")
        await expect(centre_110.locator(f'.seat[data-seat="{target["Seat"]}"]')).to_have_attribute(
            "data-state", "in_call")
        await expect(centre.locator('.seat[data-seat="1001"]')).to_have_attribute("data-state", "idle")
        print(f"handoff shown {took * 1000:.0f} ms after the 110 seat answered")

        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"))

        await pbx.hang_up(call.handset_id)
        await expect(centre_110.locator(f'.seat[data-seat="{target["Seat"]}"]')).to_have_attribute(
            "data-state", "idle")
    finally:
        await pause(pbx, SEATS_12345, False)


async def test_when_a_surge_opens_then_the_dashboard_shows_remote_seats_and_the_overflowed_call(
        pbx: Pbx, product: Product, page: Page) -> None:
    status, _ = await product.api("POST", "/api/overflow/groups", json={
        "name": "gx-remote", "centre": "12345", "members": ["Local/9001@hotline-seat-phones"],
        "priority": 5, "min_waiting": 1})
    assert status == 201
    await sign_in(page, product, "supervisor")
    centre = page.locator('[data-centre="12345"]')
    await expect(centre.locator(".badge.surge")).to_have_attribute("data-surge", "off")

    await pause(pbx, SEATS_12345, True)
    try:
        call = await pbx.citizen_dials("12345", CITIZEN)  # no local seat: the group opens
        await expect(centre.locator(".badge.surge")).to_have_attribute("data-surge", "on", timeout=5000)
        await expect(centre.locator(".badge.surge")).to_contain_text("gx-remote")
        answered = await pbx.seat_answered(CITIZEN)
        assert answered["Seat"] == "9001" and answered["ShownNum"] == CITIZEN
        row = page.locator('table.handoffs tr[data-status="accepted"]')
        await expect(row).to_contain_text("远程溢出", timeout=int(ORDERS_DEADLINE_S * 1000))
        await expect(row).to_contain_text(CITIZEN)
        await pbx.hang_up(call.handset_id)
        await expect(centre.locator(".badge.surge")).to_have_attribute("data-surge", "off", timeout=5000)
    finally:
        await pause(pbx, SEATS_12345, False)
        await product.api("DELETE", "/api/overflow/groups/gx-remote")
