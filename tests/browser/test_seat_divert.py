"""The seat desk's 分流查询: what the citizen said -> the catalogue entry -> the
transfer form, from the keyboard alone."""
from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import ARTIFACTS, Product, sign_in
from tests.support.pbx import Pbx


def a_12345_seat(pbx: Pbx) -> str:
    centre = next(c for c in pbx.settings.site.centres if c.id == "12345")
    return centre.seats[0].extension


async def test_when_a_seat_types_what_the_citizen_said_then_the_keyboard_picks_the_entry_into_the_transfer_form(
        pbx: Pbx, product: Product, page: Page) -> None:
    await sign_in(page, product, "seat", f"#/seat/{a_12345_seat(pbx)}")
    box = page.locator("#divert-q")
    await expect(box).to_be_visible()

    # a colloquial phrase, never the seed's wording (烟草警情 -> 12313 in Qinzhou, the deployment's catalogue)
    await box.focus()
    await page.keyboard.type("小卖部在偷偷卖假烟")
    options = page.locator("#divert-results [role=option]")
    await expect(options.first).to_have_attribute("data-code", "QZ-2-01")
    await expect(box).to_have_attribute("aria-expanded", "true")
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await expect(options.first).to_contain_text("12313")
    await expect(options.first).to_contain_text("假烟")           # why it matched
    await page.keyboard.press("ArrowDown")
    if await options.count() > 1:
        await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("ArrowUp")
    await expect(options.first).to_have_attribute("aria-selected", "true")
    await page.keyboard.press("Enter")

    await expect(page.locator("#transfer-target")).to_have_value("12313")
    await expect(page.locator("#transfer-category")).to_have_value("QZ-2-01")
    await expect(page.locator("#transfer-note")).to_be_focused()   # the seat goes on typing the note
    await expect(page.locator("#divert-results [role=option]")).to_have_count(0)

    # danger comes first: a gas smell is 119's, whatever the local list says
    await box.fill("")
    await box.focus()
    await page.keyboard.type("厨房里一股煤气味")
    await expect(options.first).to_have_attribute("data-emergency", "119")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "seat-divert.png"))
    await page.keyboard.press("Enter")
    await expect(page.locator("#transfer-target")).to_have_value("119")
    await expect(page.locator("#transfer-category")).to_have_value("")   # the built-in service: no catalogue code

    # nothing matches: said plainly, with the closest groups
    await box.fill("")
    await box.focus()
    await page.keyboard.type("今天天气怎么样")
    await expect(page.locator('#divert-status [data-nomatch="true"]')).to_be_visible()
    await expect(page.locator("#divert-results [role=option]")).to_have_count(0)
