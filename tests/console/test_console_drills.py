"""The console's drill pages in a real browser (chromium): a coordinator starts a drill from
a scenario file, follows it live (sent, accepted, pending, late), pauses, resumes and aborts
it; a supervisor follows without the controls; a call-taker does not see the pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.peers.browser import screenshot
from tests.peers.gateway import GatewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Page

PHONE_WIDTH = 390
SCENARIO = """
name = "网页接警演练"
units = ["530102000000"]

[[inject]]
id = "first"
at = "+0:00"
channel = "web"
from = "13800000203"
text = "明湖路66号楼上每天夜里敲打，请民警协调。"
location = { address = "示例市明湖区明湖路66号", lat = 25.030, lon = 102.660 }
expect = { incident = "noise", category = "dispute", unit = "530102520000" }
note = "第一条"

[[inject]]
id = "second"
at = "+10:00"
channel = "web"
from = "13800000204"
text = "北门街圆通巷口有人聚众赌博。"
location = { address = "示例市明湖区北门街圆通巷口", lat = 25.045, lon = 102.640 }
expect = { incident = "gambling", category = "tip", priority = 4, unit = "530102530000" }
"""


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = GatewayProcess(tmp_path_factory.mktemp("drill-console") / "data")
    g.start()
    g.user("coord1", "drill_coordinator")
    g.user("sup1", "supervisor")
    g.user("ct1", "calltaker")
    yield g
    g.stop()


def login(page: Page, gw: GatewayProcess, name: str) -> Page:
    page.goto(gw.base + "/console/login")
    page.fill("#user", name)
    page.fill("#password", "correct-horse-1")
    page.click("#login")
    page.wait_for_url(re.compile(r"/console/$"))
    return page


def test_a_coordinator_starts_follows_pauses_and_aborts_a_drill(
    desktop_page: Page, gw: GatewayProcess, tmp_path: Path
) -> None:
    page = login(desktop_page, gw, "coord1")
    page.click("header nav a[href='/console/drills']")
    page.wait_for_url(re.compile(r"/console/drills$"))
    scenario = tmp_path / "网页接警演练.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    page.set_input_files("#start input[name=scenario]", str(scenario))
    page.click("#start button[type=submit]")
    page.wait_for_url(re.compile(r"/console/drills/\d+$"))
    first = page.locator("#injects tr[data-seq='0']")
    expect(first).to_contain_text("已发送", timeout=15000)
    expect(first.locator("a[href^='/console/incidents/']")).to_be_visible()
    expect(first).to_contain_text("接警")  # not accepted yet
    expect(page.locator("#counts")).to_contain_text("已发送 1/2 · 已受理 0 · 待受理 1")
    second = page.locator("#injects tr[data-seq='1']")
    expect(second).to_contain_text("待发送")
    expect(second).to_contain_text("北门派出所")
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))  # it follows the run
    screenshot(page, "console-drill-running")

    page.click("#controls button[data-do=pause]")
    expect(page.locator("#state")).to_have_text("已暂停")
    expect(page.locator("#controls button[data-do=resume]")).to_be_visible()
    page.click("#controls button[data-do=resume]")
    expect(page.locator("#state")).to_have_text("进行中")
    page.once("dialog", lambda d: d.accept())
    page.click("#controls button[data-do=abort]")
    expect(page.locator("#state")).to_have_text("已中止")
    expect(second).to_contain_text("已取消")
    expect(page.locator("#card-links")).to_be_visible()
    expect(page.locator("#controls button[data-do=abort]")).to_be_hidden()
    screenshot(page, "console-drill-aborted")
    page.click("#card-links a[href$='/scorecard']")
    page.wait_for_url(re.compile(r"/api/v1/drills/\d+/scorecard$"))
    expect(page.locator("h1")).to_contain_text("演练成绩单")
    expect(page.locator("body")).to_contain_text("网页接警演练")
    screenshot(page, "console-drill-scorecard")
    page.go_back()

    page.click("header nav a[href='/console/drills']")
    run = page.locator("#runs tr[data-run]").first
    expect(run).to_contain_text("网页接警演练")
    expect(run).to_contain_text("已中止")
    expect(run).to_contain_text("1/2")


def test_a_broken_scenario_is_refused_on_the_page(
    desktop_page: Page, gw: GatewayProcess, tmp_path: Path
) -> None:
    page = login(desktop_page, gw, "coord1")
    page.goto(gw.base + "/console/drills")
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace('unit = "530102530000"', 'unit = "530102599999"'), "utf-8")
    page.set_input_files("#start input[name=scenario]", str(bad))
    page.click("#start button[type=submit]")
    message = page.locator("#start .msg")
    expect(message).to_be_visible()
    expect(message).to_contain_text("脚本有误，无法开始")
    expect(message).to_contain_text("bad.toml:")
    expect(message).to_contain_text("530102599999")
    assert page.url.endswith("/console/drills")


def test_a_supervisor_follows_on_a_phone_without_the_controls(
    phone_page: Page, gw: GatewayProcess
) -> None:
    token = gw.token("coord-api", "drill_coordinator")
    status, doc = gw.request(
        "POST", "/api/v1/drills", {"file": "x.toml", "scenario": SCENARIO}, token=token
    )
    assert status == 201, doc
    page = login(phone_page, gw, "sup1")
    page.goto(f"{gw.base}/console/drills/{doc['id']}")
    expect(page.locator("#injects tr[data-seq='0']")).to_contain_text("已发送", timeout=15000)
    assert page.locator("#controls").count() == 0
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH + 2, "the drill page scrolls sideways on a phone"
    screenshot(page, "console-drill-phone")
    gw.request("POST", f"/api/v1/drills/{doc['id']}/abort", token=token)


def test_a_calltaker_does_not_see_the_drill_pages(desktop_page: Page, gw: GatewayProcess) -> None:
    page = login(desktop_page, gw, "ct1")
    assert page.locator("header nav a[href='/console/drills']").count() == 0
    response = page.goto(gw.base + "/console/drills")
    assert response is not None and response.status == 403
