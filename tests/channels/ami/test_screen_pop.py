"""The call-taker's screen pop (来电弹屏) in the console, end to end: a sipp caller → the
real Asterisk 22 → the queue → the softphone of extension 1001 answers → AMI → the
gateway → the console of the user with extension 1001 (Debian chromium) opens the call's
incident with the caller's history by itself; another call-taker's console does not."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.peers.asterisk import Asterisk
from tests.peers.browser import desktop_context, screenshot
from tests.peers.gateway import GatewayProcess, sample_with_ami, wait_for
from tests.peers.sipp_peers import Sipp


@pytest.fixture(scope="module")
def gw(asterisk: Asterisk, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("pop")
    path = tmp / "city.toml"
    path.write_text(
        sample_with_ami(
            asterisk.ami_host,
            asterisk.ami_port,
            asterisk.ami_user,
            asterisk.ami_secret,
            f'recordings_dir = "{asterisk.recordings_dir}"\n',
        ),
        encoding="utf-8",
    )
    g = GatewayProcess(tmp / "data", path)
    g.user("wang.jiejing", "calltaker", extension="1001")
    g.user("zhao.jiejing", "calltaker", extension="1002")
    g.start()
    wait_for("AMI login", lambda: "AMI: reconciled" in g.log(), 20)
    yield g
    assert g.stop() == 0, g.log()


def login(page: Page, gw: GatewayProcess, user: str) -> None:
    page.goto(gw.base + "/console/login")
    page.fill("#user", user)
    page.fill("#password", "correct-horse-1")
    page.click("#login")
    expect(page.locator("#queue")).to_be_visible()
    expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))


def test_the_answered_call_pops_up_on_its_call_takers_console(
    gw: GatewayProcess, asterisk: Asterisk, desktop_page: Page, browser: object, ami: object
) -> None:
    caller = "13800138071"
    status, earlier = gw.request(
        "POST",
        "/api/v1/reports",
        {"sender": {"kind": "phone", "id": caller}, "text": "南坝路有人抢包（网上报警）"},
    )
    assert status == 201
    login(desktop_page, gw, "wang.jiejing")
    other_context = desktop_context(browser)  # type: ignore[arg-type]
    other = other_context.new_page()
    login(other, gw, "zhao.jiejing")
    phone = Sipp.softphone(asterisk, ext="1001", answer_after=0.5, talk=6)
    try:
        Sipp.call(asterisk, caller=caller, name="张三", hold=20, wait_bye=True)
        desktop_page.wait_for_url(
            re.compile(r"/console/incidents/\d{6}-\d{8}-\d{6}\?pop=1"), timeout=30_000
        )
        expect(desktop_page.locator("#screenpop")).to_be_visible()
        expect(desktop_page.locator("#calls")).to_contain_text(caller)
        expect(desktop_page.locator("#calls")).to_contain_text("张三")
        # The caller's history: the web report of a moment ago.
        expect(desktop_page.locator("body")).to_contain_text(earlier["incident"]["number"])
        screenshot(desktop_page, "console-screen-pop")
        pops = desktop_page.evaluate("window.alarmgwAlerts.filter(a => a.kind === 'screenpop')")
        assert len(pops) == 0  # the page it was on navigated away; the new page has none
        # The other call-taker's console stayed on its queue.
        assert other.url.endswith("/console/")
        assert (
            other.evaluate("window.alarmgwAlerts.filter(a => a.kind === 'screenpop').length") == 0
        )
        # Once the call is over its recording plays on the incident page.
        number = desktop_page.locator("#number").inner_text()
        token = gw.token("li.zhihui", "supervisor")

        def recorded() -> str | None:
            status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
            calls = doc.get("calls") or [{}]
            return calls[0].get("linkedid") if calls[0].get("recording") else None

        linkedid = wait_for("the recording", recorded, 40)
        desktop_page.reload()
        audio = desktop_page.locator("#calls audio")
        expect(audio).to_have_attribute("src", f"/api/v1/incidents/{number}/recordings/{linkedid}")
        wav = desktop_page.request.get(
            gw.base + f"/api/v1/incidents/{number}/recordings/{linkedid}"
        )
        assert wav.status == 200 and wav.body()[:4] == b"RIFF"
        assert wav.headers["content-type"] == "audio/wav"
    finally:
        phone.stop()
        other_context.close()
