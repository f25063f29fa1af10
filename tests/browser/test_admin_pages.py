"""Admin pages: remote seat groups and thresholds, the catalogue, tokens — the
API's validation, its errors next to the field, and role-aware navigation."""
from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Product, sign_in
from tests.support.pbx import Pbx


async def fill_group(page: Page, *, name: str, min_waiting: str) -> None:
    await page.fill("#group-form-name", name)
    await page.select_option("#group-form-centre", "12345")
    await page.fill("#group-form-members", "PJSIP/13800138000@gx-trunk, Local/9001@remote-phones")
    await page.fill("#group-form-priority", "2")
    await page.fill("#group-form-min_waiting", min_waiting)
    await page.fill("#group-form-max_wait_s", "30")


async def test_when_an_admin_adds_a_remote_group_in_the_page_then_the_api_shows_it(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "admin", "#/admin/overflow")
    await fill_group(page, name="nanning-remote", min_waiting="3")
    await page.click("#group-form button[type=submit]")

    row = page.locator('tr[data-group="nanning-remote"]')
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Local/9001@remote-phones")
    status, group = await product.api("GET", "/api/overflow/groups/nanning-remote")
    assert status == 200, group
    assert (group["centre"], group["members"], group["priority"], group["min_waiting"], group["max_wait_s"],
            group["when_no_local_free"], group["enabled"]) == (
        # /n added by the API
        "12345", ["PJSIP/13800138000@gx-trunk", "Local/9001@remote-phones/n"], 2, 3, 30, False, True)

    # a change of threshold through the page reaches the API too
    await row.locator("[data-edit]").click()
    await expect(page.locator("#group-form-name")).to_have_value("nanning-remote")
    await page.fill("#group-form-min_waiting", "8")
    await page.click("#group-form button[type=submit]")
    await expect(row.locator("td").nth(4)).to_have_text("8")
    assert (await product.api("GET", "/api/overflow/groups/nanning-remote"))[1]["min_waiting"] == 8


async def test_when_a_threshold_is_bad_then_the_error_shows_next_to_it_and_nothing_is_stored(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "admin", "#/admin/overflow")
    await fill_group(page, name="bad-threshold", min_waiting="-5")
    await page.click("#group-form button[type=submit]")

    error = page.locator('#group-form [data-error-for="min_waiting"]')
    await expect(error).to_contain_text("below 1")  # the API's own reason
    await expect(page.locator("#group-form-min_waiting")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator('#group-form [data-error-for="max_wait_s"]')).to_be_empty()
    assert (await product.api("GET", "/api/overflow/groups"))[1]["groups"] == []

    await page.fill("#group-form-min_waiting", "100000")
    await page.click("#group-form button[type=submit]")
    await expect(error).to_contain_text("absurd")
    assert (await product.api("GET", "/api/overflow/groups"))[1]["groups"] == []

    await page.fill("#group-form-min_waiting", "4")  # corrected: saved, the error gone
    await page.click("#group-form button[type=submit]")
    await expect(page.locator('tr[data-group="bad-threshold"]')).to_be_visible()
    await expect(error).to_be_empty()


async def test_when_an_admin_adds_a_catalogue_entry_then_bad_fields_are_named_and_good_ones_saved(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "admin", "#/admin/catalogue")
    await expect(page.locator('tr[data-code="QZ-1-01"]')).to_be_visible()  # the shipped catalogue
    await page.fill("#entry-form-code", "电梯困人")
    await page.fill("#entry-form-section", "附件2 补充")
    await page.fill("#entry-form-group", "特种设备")
    await page.fill("#entry-form-name", "电梯困人、电梯故障")
    await page.fill("#entry-form-destinations", "12345, 119")
    await page.fill("#entry-form-handling", "12345 派单至市场监管部门，困人时联动 119")
    await page.click("#entry-form button[type=submit]")
    await expect(page.locator('#entry-form [data-error-for="code"]')).not_to_be_empty()

    await page.fill("#entry-form-code", "QZ-9-01")
    await page.click("#entry-form button[type=submit]")
    await expect(page.locator('tr[data-code="QZ-9-01"]')).to_be_visible()
    status, entry = await product.api("GET", "/api/catalogue/QZ-9-01")
    assert status == 200 and entry["destinations"] == ["12345", "119"] and entry["name"] == "电梯困人、电梯故障"

    # an edit sends only what changed; a bad value is named
    await page.locator('tr[data-code="QZ-9-01"] [data-edit]').click()
    await page.fill("#entry-form-destinations", "")
    await page.click("#entry-form button[type=submit]")
    await expect(page.locator('#entry-form [data-error-for="destinations"]')).not_to_be_empty()
    await page.fill("#entry-form-destinations", "12365")
    await page.click("#entry-form button[type=submit]")
    await expect(page.locator('tr[data-code="QZ-9-01"]')).to_contain_text("12365")
    assert (await product.api("GET", "/api/catalogue/QZ-9-01"))[1]["destinations"] == ["12365"]


async def test_when_an_admin_makes_a_seat_token_then_its_holder_signs_in_without_admin_pages(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "admin", "#/admin/tokens")
    await page.fill("#token-form-name", "has spaces")
    await page.click("#token-form button[type=submit]")
    await expect(page.locator('#token-form [data-error-for="name"]')).not_to_be_empty()

    await page.fill("#token-form-name", "zhang-1001")
    await page.select_option("#token-form-role", "seat")
    await page.click("#token-form button[type=submit]")
    secret = await page.locator('output[data-token-for="zhang-1001"]').text_content()
    assert secret and secret.startswith("hl_")
    await expect(page.locator('tr[data-token="zhang-1001"]')).to_have_attribute("data-active", "true")
    await expect(page.locator('#nav [data-nav="admin"]')).to_be_visible()

    await page.click("#logout")
    await page.fill("#login-token", "hl_not-a-token")
    await page.click("#login button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("令牌无效")

    await page.fill("#login-token", secret)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#who [data-role=seat]")).to_be_visible()
    await expect(page.locator('#nav [data-nav="seat"]')).to_be_visible()
    await expect(page.locator('#nav [data-nav="admin"]')).to_have_count(0)
    await page.goto(f"{product.base_url}/#/admin/tokens")  # typed in by hand: back to the dashboard
    await expect(page.locator("#centres")).to_be_visible()
    await expect(page.locator("#admin-tokens")).to_have_count(0)
