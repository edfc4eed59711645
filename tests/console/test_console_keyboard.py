"""The queue and the incident page by keyboard alone, as a call-taker works a busy shift:
move through the queue, open an incident, accept it choosing its category and priority,
dispatch it to the suggested unit, back to the queue — no mouse, no touch.

A gateway of the sample city (its own SLAs) serves the module; the browser is Debian's
chromium (tests/console/conftest.py). Every page records pointer presses
(`window.__pointer`), to show that none happened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from gateway.config import sample_text
from tests.peers.browser import screenshot
from tests.peers.gateway import GatewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

NANBA = "530102510000"  # 南坝派出所 (lon 102.62–102.68, lat 24.96–25.01)
POINTER = """
window.__pointer = 0;
addEventListener("pointerdown", function () { window.__pointer++; }, true);
addEventListener("mousedown", function () { window.__pointer++; }, true);
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@dataclass
class Desk:
    gw: GatewayProcess
    password: str  # the dispatcher's
    token: str  # a supervisor's API token

    def report(self, i: int, text: str) -> str:
        """A web report at a place of its own (no correlation), without a category."""
        status, doc = self.gw.request(
            "POST",
            "/api/v1/reports",
            {
                "text": text,
                "location": {"lat": 24.965 + 0.01 * i, "lon": 102.65, "address": f"南坝路{i}号"},
                "sender": {"kind": "phone", "id": f"1390000{i:04d}"},
            },
        )
        assert status == 201 and doc["incident"]["state"] == "received", doc
        number: str = doc["incident"]["number"]
        return number

    def incident(self, number: str) -> dict[str, Any]:
        status, doc = self.gw.request("GET", f"/api/v1/incidents/{number}", token=self.token)
        assert status == 200, doc
        return dict(doc)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("keyboard")
    config = tmp / "city.toml"
    config.write_text(sample_text(), encoding="utf-8")
    gw = GatewayProcess(tmp / "data", config)
    gw.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            password = pool.submit(gw.user, "dispatcher1", "dispatcher")
            token = pool.submit(gw.token, "api-supervisor", "supervisor")
            d = Desk(gw, password.result(), token.result())
        yield d
    finally:
        code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"


def selected(page: Page) -> str | None:
    number = page.evaluate(
        "(document.querySelector('#queue tr.sel') || {dataset: {}}).dataset.number || null"
    )
    return None if number is None else str(number)


def focused(page: Page) -> str:
    """The focused element: tag, then #id or [name] ('BODY' when nothing is)."""
    return str(
        page.evaluate(
            """(() => { const e = document.activeElement;
                 return e.tagName + (e.id ? '#' + e.id : e.name ? '[' + e.name + ']' : ''); })()"""
        )
    )


def no_pointer(page: Page) -> None:
    assert page.evaluate("window.__pointer") == 0, "a mouse or touch was used"


def test_queue_and_incident_by_keyboard_only(chromium: Any, desktop_page: Page, desk: Desk) -> None:
    first = desk.report(1, "南坝路有人打架")
    second = desk.report(2, "南坝村有人报失窃")
    page = desktop_page
    page.context.add_init_script(POINTER)
    keys = page.keyboard

    page.goto(desk.gw.base + "/console/login")
    page.fill("#user", "dispatcher1")
    page.fill("#password", desk.password)
    keys.press("Enter")
    page.wait_for_url(re.compile(r"/console/$"))
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    expect(page.locator("#queue tr[data-number]")).to_have_count(2)
    assert focused(page) == "BODY"
    assert selected(page) is None

    # Move: down, down, up, j, k (the oldest first).
    for key, want in (
        ("ArrowDown", first),
        ("ArrowDown", second),
        ("ArrowDown", second),  # stays on the last
        ("ArrowUp", first),
        ("j", second),
        ("k", first),
    ):
        keys.press(key)
        assert selected(page) == want, key
    assert focused(page) == f"TR#row-{first}"
    screenshot(page, "console-keyboard-queue")

    # Enter opens the selected incident.
    keys.press("Enter")
    page.wait_for_url(re.compile(f"/console/incidents/{first}$"))
    expect(page.locator("#state")).to_have_attribute("data-state", "received")

    # a: the accept form opens with its first field, the category, focused.
    keys.press("a")
    expect(page.locator("#accept")).to_have_attribute("open", "")
    assert focused(page) == "SELECT[category]"
    category = page.locator("form[data-action=accept] select[name=category]")
    # The options: 请选择, then the city's categories in order (刑事, 治安, …).
    keys.press("ArrowDown")
    keys.press("ArrowDown")
    expect(category).to_have_value("public_order")
    keys.press("Tab")
    assert focused(page) == "SELECT[priority]"
    keys.press("ArrowDown")
    keys.press("ArrowDown")  # 按类别默认, 一级, 二级
    expect(page.locator("form[data-action=accept] select[name=priority]")).to_have_value("2")
    keys.press("Tab")
    assert focused(page) == "INPUT[location.address]"
    keys.press("Enter")  # sends the form

    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#state")).to_have_attribute("data-state", "accepted")
    doc = desk.incident(first)
    assert (doc["state"], doc["category"], doc["priority"]) == ("accepted", "public_order", 2)

    # d: the dispatch form, the suggested unit chosen; Enter dispatches.
    keys.press("d")
    expect(page.locator("#dispatch")).to_have_attribute("open", "")
    assert focused(page) == "SELECT#dispatch-unit"
    expect(page.locator("#dispatch-unit")).to_have_value(NANBA)
    keys.press("Enter")

    expect(page.locator("#state")).to_have_attribute("data-state", "dispatched")
    expect(page.locator("#timeline")).to_contain_text("派警")
    doc = desk.incident(first)
    assert (doc["state"], doc["unit"]) == ("dispatched", NANBA)
    no_pointer(page)
    screenshot(page, "console-keyboard-incident")

    # q: back to the queue; the next one, straight to its accept form with `a`.
    keys.press("q")
    page.wait_for_url(re.compile(r"/console/$"))
    expect(page.locator(f"#row-{first} .state")).to_have_attribute("data-state", "dispatched")
    keys.press("ArrowDown")
    keys.press("ArrowDown")
    assert selected(page) == second
    keys.press("a")
    # (The page drops the #accept it was opened with once it has opened the form.)
    page.wait_for_url(re.compile(f"/console/incidents/{second}(#accept)?$"))
    expect(page.locator("#accept")).to_have_attribute("open", "")
    expect(page.locator("form[data-action=accept] select[name=category]")).to_be_focused()

    # Escape closes the form; the shortcuts work again (s has no form here: nothing).
    keys.press("Escape")
    expect(page.locator("#accept")).not_to_have_attribute("open", "")
    keys.press("q")
    page.wait_for_url(re.compile(r"/console/$"))
    no_pointer(page)
    assert desk.incident(second)["state"] == "received"
