"""Fixed and mobile targets on the console, in a real browser against a real gateway with both
machine channels on: a taxi's emergency button (JT/T 808) shows its plate, company and track
on the incident's map, and the call-taker's 受理 on the page reaches the terminal as 0x8203;
a bank's hold-up alarm (SIA DC-09) shows the premises, the zone's name and the contact
phones. Screenshots (desktop and phone) go to build/screenshots/."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from gateway.channels.dc09 import frame as dc09
from gateway.config import sample_text
from tests.peers.browser import screenshot
from tests.peers.gateway import GatewayProcess, free_port, wait_for
from tests.peers.jt808 import Terminal

if TYPE_CHECKING:
    from playwright.sync_api import Page

NANBA = "530102510000"
PREMISES = (
    "account,name,address,lat,lon,unit,phones,zones\n"
    f'8888,示例银行环城南路支行,环城南路18号,24.972,102.633,{NANBA},"0871-6500018;13800001818",'
    '"1:大门, 2:金库"\n'
)
VEHICLES = (
    "terminal,plate,plate_color,kind,company,unit,phones\n"
    f"13900000101,云A8T101,2,taxi,示例出租汽车公司,{NANBA},0871-6500200\n"
)


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


class Targets:
    def __init__(self, gw: GatewayProcess, ports: tuple[int, int], password: str, token: str):
        self.gw, (self.dc09_port, self.jt808_port) = gw, ports
        self.password, self.token = password, token


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Targets]:
    tmp: Path = tmp_path_factory.mktemp("targets")
    dc09_port, jt808_port = free_port(), free_port()
    text = sample_text()
    for code, port, extra in (
        ("dc09", dc09_port, ""),
        ("jt808", jt808_port, 'auth_secret = "browser-test"\nflush_s = 0.2\n'),
    ):
        old = f"[channels.{code}]\nenabled = false\n"
        assert old in text
        text = text.replace(
            old, f'[channels.{code}]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n{extra}'
        )
    config = tmp / "city.toml"
    config.write_text(text, encoding="utf-8")
    gw = GatewayProcess(tmp / "data", config)
    gw.channel_ports += [dc09_port, jt808_port]
    (tmp / "premises.csv").write_text(PREMISES, encoding="utf-8")
    (tmp / "vehicles.csv").write_text(VEHICLES, encoding="utf-8")
    gw.cli("targets", "import", str(tmp / "premises.csv"))
    gw.cli("vehicles", "import", str(tmp / "vehicles.csv"))
    password = gw.user("calltaker1", "calltaker", None)
    token = gw.token("api-supervisor", "supervisor")
    gw.start()
    try:
        yield Targets(gw, (dc09_port, jt808_port), password, token)
    finally:
        code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"


def login(page: Page, t: Targets) -> None:
    page.goto(t.gw.base + "/console/login")
    page.fill("#user", "calltaker1")
    page.fill("#password", t.password)
    page.click("#login")
    page.wait_for_url("**/console/")


def number_of(t: Targets, sender: str) -> str:
    def find() -> str | None:
        status, doc = t.gw.request("GET", "/api/v1/incidents?limit=50", token=t.token)
        assert status == 200
        for inc in doc["incidents"]:
            if sender in (inc.get("summary") or ""):
                return str(inc["number"])
        return None

    return wait_for(f"the incident of {sender}", find)


def test_a_taxi_emergency_shows_its_track_and_the_accept_reaches_the_terminal(
    chromium: Any, desktop_page: Page, phone_page: Page, targets: Targets
) -> None:
    with Terminal("13900000101", targets.jt808_port) as taxi:
        assert taxi.authenticate(taxi.register("云A8T101")) == 0
        sos = taxi.position(24.9700, 102.6300, alarm=1, speed_kmh=36)
        assert taxi.answer(sos) == 0
        for i in range(1, 5):  # driving on with the button pressed: the track
            assert (
                taxi.answer(taxi.position(24.9700 + i * 0.001, 102.6300 + i * 0.0005, alarm=1)) == 0
            )
        number = number_of(targets, "云A8T101")

        page = desktop_page
        login(page, targets)
        page.goto(f"{targets.gw.base}/console/incidents/{number}")
        report = page.locator(".report").first
        expect(report).to_contain_text("车辆：云A8T101，出租车，示例出租汽车公司")
        expect(report).to_contain_text("报警：紧急报警")
        expect(page.locator("#track")).to_contain_text("共 4 个位置")
        page.wait_for_function("() => document.getElementById('map').dataset.loaded !== undefined")
        drawn = page.evaluate(
            "() => Object.values(window.alarmgwMap._layers)"
            ".filter(l => l instanceof L.Polyline && !(l instanceof L.Polygon))"
            ".map(l => l.getLatLngs().length)"
        )
        assert 4 in drawn, f"no 4-point track on the map: {drawn}"
        screenshot(page, "console-incident-vehicle-track")

        page.click("#accept > summary")
        form = page.locator("form[data-action=accept]")
        form.locator("select[name=category]").select_option("criminal")
        form.locator("select[name=priority]").select_option("1")
        form.locator("button[type=submit]").click()
        expect(page.locator("#state")).to_have_attribute("data-state", "accepted")
        confirm = taxi.receive(0x8203, timeout=10)
        assert confirm is not None, "the terminal got no 0x8203 after the accept"
        assert int.from_bytes(confirm.body[:2], "big") == sos

    login(phone_page, targets)
    phone_page.goto(f"{targets.gw.base}/console/incidents/{number}")
    expect(phone_page.locator("#track")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 392
    screenshot(phone_page, "console-incident-vehicle-track-phone")


def test_a_bank_hold_up_shows_the_premises_zone_and_phones(
    chromium: Any, desktop_page: Page, targets: Targets
) -> None:
    raw = dc09.build("SIA-DCS", "0042", "8888", "#8888|NHA2", timestamp=datetime.now(UTC))
    with socket.create_connection(("127.0.0.1", targets.dc09_port), timeout=10) as s:
        s.sendall(raw)
        assert b'"ACK"' in s.recv(1024)
    number = number_of(targets, "示例银行环城南路支行")
    page = desktop_page
    login(page, targets)
    page.goto(f"{targets.gw.base}/console/incidents/{number}")
    expect(page.locator("#summary")).to_contain_text("劫警")
    report = page.locator(".report").first
    expect(report).to_contain_text("防区：2 金库")
    expect(report).to_contain_text("联系电话：0871-6500018、13800001818")
    expect(report).to_contain_text("联网报警")
    screenshot(page, "console-incident-panel-alarm")
