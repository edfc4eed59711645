"""The console in a real browser against a real gateway process: what the people in the
center and on the street do with it, end to end.

One gateway (the sample city) serves the module. Its accept SLA for priority 1 is three
seconds, so that a missed deadline can be watched turning red; every other incident here is
of a lower priority and keeps the sample city's SLAs. Each report is filed from a phone
number and a place of its own (>200 m apart) so that correlation files it as a new
incident. The tests share the gateway but not their incidents: each looks only at its own.

Screenshots (desktop and phone) go to build/screenshots/ (tests/peers/browser.py) for a
person to look at."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from gateway.config import sample_text
from tests.peers.browser import desktop_context, phone_context, screenshot
from tests.peers.gateway import GatewayProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

NANBA = "530102510000"  # 南坝派出所: lon 102.62–102.68, lat 24.96–25.01 in the sample city
MINGHU = "530102520000"  # 明湖派出所, its neighbour to the north
PHONE_WIDTH = 390
RED = "rgb(198, 40, 40)"  # console.css --red, the background of a missed countdown

# Who uses the console here: name -> (role, unit; None is the city command center).
USERS: dict[str, tuple[str, str | None]] = {
    "calltaker1": ("calltaker", None),
    "dispatcher1": ("dispatcher", None),
    "officer510": ("unit_officer", NANBA),
    "supervisor1": ("supervisor", None),
}


def expect(target: Any) -> Any:
    """Playwright's `expect` (imported late: without playwright the tests skip, not fail
    to import)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def config_text() -> str:
    """The sample city, its accept SLA for priority 1 cut to three seconds."""
    text = sample_text()
    new = re.sub(r"(\[sla\.accept\][^\[]*?)p1 = \d+", r"\1p1 = 3", text, count=1)
    assert new != text, "the sample city's [sla.accept] changed"
    return new


@dataclass
class Console:
    gw: GatewayProcess
    passwords: dict[str, str]
    supervisor: str  # an API token of a supervisor (reads and acts on anything)
    drill: str  # an API token of a drill coordinator (may file drill reports)
    places: Iterator[int]

    @property
    def base(self) -> str:
        return self.gw.base

    def report(self, text: str, *, category: str | None = "criminal", drill: bool = False) -> str:
        """File a web report at a new place in 南坝派出所's area from a new phone: the
        number of the new incident."""
        i = next(self.places)
        lat = round(24.9625 + 0.0025 * (i % 18), 4)
        lon = round(102.625 + 0.005 * (i // 18), 3)
        assert lon < 102.68, "out of places in 南坝派出所's area"
        body: dict[str, Any] = {
            "text": text,
            "location": {"lat": lat, "lon": lon, "address": f"南坝路{100 + i}号"},
            "sender": {"kind": "phone", "id": f"1380000{i:04d}"},
        }
        if category:
            body["category"] = category
        if drill:
            body["drill"] = True
        status, doc = self.gw.request(
            "POST", "/api/v1/reports", body, token=self.drill if drill else None
        )
        assert status == 201, doc
        assert doc["incident"]["state"] == "received", f"correlated, not new: {doc}"
        number: str = doc["incident"]["number"]
        return number

    def act(self, number: str, **body: Any) -> dict[str, Any]:
        status, doc = self.gw.request(
            "POST", f"/api/v1/incidents/{number}/actions", body, token=self.supervisor
        )
        assert status == 200, doc
        return dict(doc)

    def incident(self, number: str) -> dict[str, Any]:
        status, doc = self.gw.request("GET", f"/api/v1/incidents/{number}", token=self.supervisor)
        assert status == 200, doc
        return dict(doc)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    config = tmp / "city.toml"
    config.write_text(config_text(), encoding="utf-8")
    gw = GatewayProcess(tmp / "data", config)
    gw.start()
    try:
        # Each `alarmgw` command takes seconds to start: make the users side by side.
        with ThreadPoolExecutor(len(USERS) + 2) as pool:
            users = {
                name: pool.submit(gw.user, name, role, unit) for name, (role, unit) in USERS.items()
            }
            supervisor = pool.submit(gw.token, "api-supervisor", "supervisor")
            drill = pool.submit(gw.token, "api-drill", "drill_coordinator")
            passwords = {name: f.result() for name, f in users.items()}
            c = Console(gw, passwords, supervisor.result(), drill.result(), itertools.count())
        yield c
    finally:
        code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"


def login(page: Page, c: Console, name: str) -> Page:
    page.goto(c.base + "/console/login")
    page.fill("#user", name)
    page.fill("#password", c.passwords[name])
    page.click("#login")
    page.wait_for_url(re.compile(r"/console/$"))
    return page


def live(page: Page) -> None:
    """Wait until the page's event stream is connected, then mark the page: a reload
    would lose the mark (see `not_reloaded`)."""
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    page.evaluate("window.__marker = 1")


def not_reloaded(page: Page) -> None:
    assert page.evaluate("window.__marker") == 1, "the page was reloaded"


def alerts(page: Page) -> list[dict[str, Any]]:
    return list(page.evaluate("window.alarmgwAlerts || []"))


def scroll_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def row(page: Page, number: str) -> Locator:
    return page.locator(f"#queue tr#row-{number}")


# -- 1. a new report appears in the call-taker's queue ------------------------------------------


def test_new_report_appears_in_the_queue_without_reload(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    page = login(desktop_page, console, "calltaker1")
    expect(page.locator("#queue")).to_be_visible()
    live(page)
    before = page.locator("#queue tr[data-number]").count()

    number = console.report("翠湖边有人抢包", category="criminal")

    r = row(page, number)
    expect(r).to_be_visible()
    expect(r.locator(".state")).to_have_attribute("data-state", "received")
    expect(r).to_contain_text("刑事")
    expect(r).to_contain_text("南坝派出所")
    expect(r).to_contain_text("翠湖边有人抢包")
    expect(r.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))  # ticking
    expect(page.locator("#count")).to_have_text(f"共 {before + 1} 起")
    not_reloaded(page)
    screenshot(page, "console-queue-desktop")


# -- 2. accept and dispatch from the incident page ----------------------------------------------


def test_dispatcher_accepts_and_dispatches(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    number = console.report("南坝路口两人持棍斗殴", category="public_order")
    page = login(desktop_page, console, "dispatcher1")
    page.goto(f"{console.base}/console/incidents/{number}")
    expect(page.locator("#state")).to_have_attribute("data-state", "received")

    page.click("#accept > summary")
    form = page.locator("form[data-action=accept]")
    form.locator("select[name=category]").select_option("criminal")
    form.locator("select[name=priority]").select_option("2")
    form.locator("input[name='location.address']").fill("南坝路与环城南路交叉口")
    form.locator("input[name='location.lat']").fill("24.9712")
    form.locator("input[name='location.lon']").fill("102.6433")
    form.locator("button[type=submit]").click()

    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#state")).to_have_attribute("data-state", "accepted")
    expect(page.locator("#summary")).to_contain_text("南坝路与环城南路交叉口")
    expect(page.locator("#summary")).to_contain_text("刑事")

    page.click("#dispatch > summary")
    expect(page.locator("#dispatch-unit")).to_have_value(NANBA)  # the suggestion comes first
    page.locator("#dispatch-unit").select_option(NANBA)
    page.locator("form[data-action=dispatch] button[type=submit]").click()

    state = page.locator("#state")
    expect(state).to_have_attribute("data-state", "dispatched")
    expect(state).to_have_text("派警")
    expect(page.locator("#done")).to_be_visible()
    timeline = page.locator("#timeline tr")
    for action in ("受理", "派警"):
        cell = page.locator("td:nth-child(2)", has_text=re.compile(f"^{action}$"))
        step = timeline.filter(has=cell)
        expect(step).to_have_count(1)
        expect(step).to_contain_text("dispatcher1")
    expect(timeline.filter(has_text="受理 → 派警")).to_contain_text("南坝派出所")

    doc = console.incident(number)
    assert (doc["state"], doc["unit"], doc["category"], doc["priority"]) == (
        "dispatched",
        NANBA,
        "criminal",
        2,
    )
    assert doc["location"]["address"] == "南坝路与环城南路交叉口"
    assert (doc["location"]["lat"], doc["location"]["lon"]) == (24.9712, 102.6433)
    screenshot(page, "console-incident-desktop")


# -- 3. the station officer on a phone -----------------------------------------------------------


def test_station_officer_works_the_order_on_a_phone(
    chromium: Any, phone_page: Page, console: Console
) -> None:
    page = login(phone_page, console, "officer510")
    page.goto(console.base + "/console/inbox")
    live(page)

    number = console.report("南坝村小卖部被盗", category="criminal")
    console.act(number, action="accept", category="criminal", priority=2)
    console.act(number, action="dispatch", unit=NANBA)

    item = page.locator(f"#inbox .item[data-number='{number}']")
    expect(item).to_be_visible()
    expect(item).to_have_attribute("data-state", "dispatched")
    not_reloaded(page)
    page.wait_for_function(
        "n => (window.alarmgwAlerts || []).some(a => a.kind === 'dispatched' && a.number === n)",
        arg=number,
    )
    assert page.viewport_size == {"width": PHONE_WIDTH, "height": 844}
    assert scroll_width(page) <= PHONE_WIDTH + 2, "the inbox scrolls sideways on a phone"
    screenshot(page, "console-inbox-phone")

    item.locator("button.do[data-action=acknowledge]").tap()
    expect(item).to_have_attribute("data-state", "acknowledged")
    assert console.incident(number)["state"] == "acknowledged"

    item.locator("button.do[data-action=arrive]").tap()
    expect(item).to_have_attribute("data-state", "on_scene")
    assert console.incident(number)["state"] == "on_scene"
    expect(item.locator("form.feedback")).to_be_visible()
    assert scroll_width(page) <= PHONE_WIDTH + 2, "the feedback form scrolls sideways"
    screenshot(page, "console-inbox-phone-on-scene")

    item.locator("form.feedback textarea[name=result]").fill("已到现场，失窃手机一部，已立案")
    item.locator("form.feedback button[type=submit]").tap()
    expect(item).to_have_count(0)  # handled: no longer the station's to do
    doc = console.incident(number)
    assert doc["state"] == "handled"
    assert doc["result"] == "已到现场，失窃手机一部，已立案"
    not_reloaded(page)


# -- 4. a missed deadline turns red and sounds ---------------------------------------------------


def test_missed_deadline_turns_red_and_sounds(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    page = login(desktop_page, console, "calltaker1")
    live(page)

    number = console.report("仓库起火，有人被困", category="fire")  # priority 1: 3 s to accept

    countdown = row(page, number).locator(".countdown")
    expect(countdown).to_be_visible()
    # The server's deadline_missed (not only the browser's clock) reached the row.
    expect(countdown).to_have_attribute("data-missed", "1", timeout=15_000)
    expect(countdown).to_have_class(re.compile(r"\bmissed\b"))
    expect(countdown).to_have_text(re.compile("超时"))
    assert countdown.evaluate("e => getComputedStyle(e).backgroundColor") == RED
    page.wait_for_function(
        "n => (window.alarmgwAlerts || []).some(a => a.kind === 'missed' && a.number === n)",
        arg=number,
    )
    missed = [a for a in alerts(page) if a["kind"] == "missed" and a["number"] == number]
    # Headless chromium lets a page play sound without a gesture first: the alarm sounds
    # ("running"; "suspended" where the browser holds it back, "unavailable" without audio).
    assert missed[0]["sound"] == "running", missed
    expect(page.locator("#alerts")).to_contain_text(f"超时：{number} 的受理时限已过")
    # A new priority-1 incident sounded as well, when it came in.
    assert any(a["kind"] == "priority1" and a["number"] == number for a in alerts(page))
    not_reloaded(page)
    screenshot(page, "console-queue-missed-desktop")
    # It stays missed after a reload (the server's state, not the tab's).
    page.reload()
    expect(row(page, number).locator(".countdown")).to_have_class(re.compile(r"\bmissed\b"))
    expect(row(page, number).locator(".countdown")).to_have_text(re.compile("已超时"))


# -- 5. a supervisor's statistics ---------------------------------------------------------------


def _count(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text().strip())


def _unit_total(page: Page, unit: str) -> int:
    cells = page.locator(f"#by-unit tr[data-unit='{unit}'] td")
    return int(cells.nth(1).inner_text()) if cells.count() else 0


def test_supervisor_sees_the_statistics_change(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    page = login(desktop_page, console, "supervisor1")
    page.goto(console.base + "/console/stats")
    expect(page.locator("#stats-form")).to_be_visible()
    total, effective = _count(page, "#total"), _count(page, "#effective")
    nanba = _unit_total(page, NANBA)

    console.report("南坝路有人醉酒闹事", category="public_order")

    page.reload()
    assert _count(page, "#total") == total + 1
    assert _count(page, "#effective") == effective + 1
    assert _unit_total(page, NANBA) == nanba + 1
    screenshot(page, "console-stats-desktop", full_page=False)


def test_statistics_are_for_supervisors_only(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    page = login(desktop_page, console, "dispatcher1")
    expect(page.locator("header nav a[href='/console/stats']")).to_have_count(0)
    response = page.goto(console.base + "/console/stats")
    assert response is not None and response.status == 403
    expect(page.locator("#total")).to_have_count(0)


# -- 7. drills are kept apart --------------------------------------------------------------------


def test_drills_are_only_in_the_queue_when_asked_for(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    page = login(desktop_page, console, "calltaker1")
    live(page)

    # A drill filed while the default queue is open: the page asks for its row and is told
    # that it is not in this queue.
    with page.expect_response(lambda r: "/console/rows/" in r.url) as asked:
        drill = console.report("【演练】南坝中学疏散演练", category="assistance", drill=True)
    assert asked.value.url.split("?")[0].endswith(f"/console/rows/{drill}")
    assert asked.value.status == 204
    real = console.report("南坝中学门口有人摔伤", category="assistance")
    expect(row(page, real)).to_be_visible()
    expect(row(page, drill)).to_have_count(0)
    assert console.incident(drill)["drill"] is True
    assert not any(a.get("number") == drill for a in alerts(page)), "a drill raised an alert"
    not_reloaded(page)

    # Not in the default queue as the server renders it either.
    page.reload()
    expect(page.locator("#f-drill")).to_have_value("0")
    expect(row(page, real)).to_be_visible()
    expect(row(page, drill)).to_have_count(0)
    expect(page.locator("#queue tr.drill")).to_have_count(0)

    # 含演练: both, the drill with its badge.
    page.select_option("#f-drill", label="含演练")
    page.locator("#filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"drill=all"))
    expect(row(page, drill)).to_be_visible()
    expect(row(page, drill).locator(".badge.drill")).to_have_text("演练")
    expect(row(page, real)).to_be_visible()
    expect(row(page, real).locator(".badge.drill")).to_have_count(0)
    expect(page.locator("h1 .badge.drill")).to_have_text("含演练")

    # 只看演练: the drill only.
    page.select_option("#f-drill", label="只看演练")
    page.locator("#filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"drill=1"))
    expect(row(page, drill)).to_be_visible()
    expect(row(page, real)).to_have_count(0)
    rows = page.locator("#queue tr[data-number]")
    expect(rows.filter(has_not=page.locator(".badge.drill"))).to_have_count(0)
    expect(page.locator("h1 .badge.drill")).to_have_text("只看演练")
    screenshot(page, "console-queue-drills-desktop")

    # The incident page says so too.
    page.goto(f"{console.base}/console/incidents/{drill}")
    expect(page.locator("#drill")).to_have_text("演练")


# -- the pages on a phone and on a desktop (screenshots for a person) ---------------------------


def _no_sideways_scroll(page: Page, what: str) -> None:
    width = scroll_width(page)
    assert width <= PHONE_WIDTH + 2, f"{what} is {width} px wide on a {PHONE_WIDTH} px phone"


def test_pages_on_a_phone_and_a_desktop(chromium: Any, browser: Browser, console: Console) -> None:
    number = console.report("南坝路公交站有人被抢手机", category="criminal")
    console.act(number, action="accept", category="criminal", priority=2)
    phone = phone_context(browser)
    desktop = desktop_context(browser)
    try:
        page = login(phone.new_page(), console, "supervisor1")
        expect(row(page, number)).to_be_visible()
        _no_sideways_scroll(page, "the queue")
        screenshot(page, "console-queue-phone")

        page.goto(f"{console.base}/console/incidents/{number}")
        expect(page.locator("#state")).to_have_attribute("data-state", "accepted")
        expect(page.locator("#map .leaflet-interactive").first).to_be_visible()
        _no_sideways_scroll(page, "the incident page")
        screenshot(page, "console-incident-phone")

        page.goto(console.base + "/console/map")
        expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9]"))
        _no_sideways_scroll(page, "the map")
        screenshot(page, "console-map-phone")

        page = login(desktop.new_page(), console, "supervisor1")
        page.goto(console.base + "/console/map")
        expect(page.locator("#map")).to_have_attribute("data-loaded", re.compile(r"^[1-9]"))
        # The jurisdictions in scope (the city, its districts and stations) and the open
        # incidents as points.
        expect(page.locator("#map path.leaflet-interactive").nth(5)).to_be_attached()
        screenshot(page, "console-map-desktop")

        page = login(desktop.new_page(), console, "officer510")
        page.goto(console.base + "/console/inbox")
        expect(page.locator("#inbox")).to_be_visible()
        screenshot(page, "console-inbox-desktop")
    finally:
        phone.close()
        desktop.close()


def test_console_never_shows_outside_scope(
    chromium: Any, desktop_page: Page, console: Console
) -> None:
    """The officer of 南坝 does not see, nor get streamed, 明湖's incidents."""
    page = login(desktop_page, console, "officer510")
    page.goto(console.base + "/console/inbox")
    live(page)
    status, doc = console.gw.request(
        "POST",
        "/api/v1/reports",
        {
            "text": "湖滨街有人溺水",
            "location": {"lat": 25.04, "lon": 102.65, "address": "湖滨街"},
            "sender": {"kind": "phone", "id": "13900000001"},
            "category": "assistance",
        },
    )
    assert status == 201, doc
    other = doc["incident"]["number"]
    console.act(other, action="accept", category="assistance", priority=3)
    console.act(other, action="dispatch", unit=MINGHU)
    mine = console.report("南坝路有人被困电梯", category="assistance")
    console.act(mine, action="accept", category="assistance", priority=3)
    console.act(mine, action="dispatch", unit=NANBA)
    expect(page.locator(f"#inbox .item[data-number='{mine}']")).to_be_visible()
    expect(page.locator(f"#inbox .item[data-number='{other}']")).to_have_count(0)
    assert not any(a.get("number") == other for a in alerts(page))
    response = page.goto(f"{console.base}/console/incidents/{other}")
    assert response is not None and response.status == 403
