"""The citizen's side in a real browser (Debian chromium, phone width): the form's
"使用我的位置" button takes the browser's position (WGS84, with its accuracy) into the
report, and the receipt link opens the Chinese progress page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import city_config
from tests.peers.browser import phone_context, screenshot
from tests.peers.gateway import GatewayProcess


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("citizen")
    g = GatewayProcess(tmp / "data", city_config(tmp))
    g.start()
    yield g
    assert g.stop() == 0, g.log()


def test_use_my_location_fills_the_report_and_the_receipt_opens_its_page(
    gw: GatewayProcess, browser: Any
) -> None:
    context = phone_context(
        browser,
        geolocation={"latitude": 24.9851, "longitude": 102.6502, "accuracy": 35},
        permissions=["geolocation"],
    )
    try:
        page = context.new_page()
        page.goto(gw.base + "/report")
        page.fill("#text", "我在南坝路，有人跟踪我")
        page.click("#locate")
        expect(page.locator("#locate-status")).to_contain_text("精度约")
        expect(page.locator("#lat")).to_have_value(re.compile(r"^24\.985"))
        expect(page.locator("#lon")).to_have_value(re.compile(r"^102\.650"))
        screenshot(page, "citizen-form-located-phone")
        page.locator("button[type=submit]").click()
        expect(page.locator("#receipt")).to_be_visible()
        number = page.locator("#incident").inner_text()
        token = gw.token("audit", "supervisor")
        status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
        assert status == 200
        loc = doc["location"]
        assert abs(loc["lat"] - 24.9851) < 1e-6 and abs(loc["lon"] - 102.6502) < 1e-6
        assert loc["accuracy_m"] == 35
        assert doc["unit"] == "530102510000"  # 南坝派出所: the point routed it
        page.locator("a[href^='/receipt/']").first.click()
        expect(page.locator("#state")).to_contain_text("受理中")
        assert page.evaluate("document.documentElement.scrollWidth") <= 392
        screenshot(page, "citizen-receipt-phone")
    finally:
        context.close()


def test_a_refused_location_says_so_in_chinese(gw: GatewayProcess, browser: Any) -> None:
    context = phone_context(browser)  # no permission granted
    try:
        page = context.new_page()
        page.goto(gw.base + "/report")
        page.click("#locate")
        expect(page.locator("#locate-status")).to_contain_text(re.compile("[\u4e00-\u9fff]"))
        expect(page.locator("#lat")).to_have_value("")
    finally:
        context.close()
