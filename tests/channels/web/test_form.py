"""The citizen's form against a real gateway process: the geolocation fields reach the
stored report with their accuracy, the page is sound HTML with the ids a browser test uses
and no inline script, and every problem the form path can meet comes back as the form with
a Chinese message (never English, never JSON). Then the geolocation script itself, run by
node against a stand-in for the page and the browser's geolocation."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.channels.web import locate
from tests.channels.web.htmlcheck import check_page
from tests.peers.gateway import GatewayProcess

STATION = "530102510000"  # 南坝派出所: (24.98, 102.65) is in it
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_IDS = ("text", "address", "locate", "locate-status", "lat", "lon", "accuracy", "manual")


@pytest.fixture(scope="module")
def supervisor(gateway: GatewayProcess) -> str:
    return gateway.token("form-sv", "supervisor")


def post_form(gw: GatewayProcess, **fields: str) -> tuple[int, str]:
    status, page = gw.request("POST", "/report", raw=urlencode(fields).encode(), headers=FORM)
    assert isinstance(page, str), page  # HTML, never the API's JSON
    return status, page


def stored_report(gw: GatewayProcess, token: str, done: str) -> tuple[dict[str, Any], Any]:
    page = check_page(done, ("receipt", "incident"))
    number = page.text_by_id["incident"]
    status, incident = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
    assert status == 200, incident
    [report] = [r for r in incident["reports"] if r["receipt"] == page.text_by_id["receipt"]]
    return incident, report


def test_the_form_page(gateway: GatewayProcess) -> None:
    status, html = gateway.request("GET", "/report")
    assert status == 200
    page = check_page(html, FORM_IDS)
    assert page.ids["locate"]["tag"] == "button" and page.ids["locate"]["type"] == "button"
    assert page.text_by_id["locate"] == "使用我的位置"
    assert page.ids["accuracy"]["type"] == "hidden" and page.ids["accuracy"]["name"] == "accuracy"
    assert (page.ids["lat"]["name"], page.ids["lon"]["name"]) == ("lat", "lon")
    # Manual coordinates wait behind a closed <details>; the button only shows with the
    # script (its box is hidden until the script unhides it).
    assert page.ids["manual"]["tag"] == "details" and "open" not in page.ids["manual"]
    assert "手动填写经纬度" in html and "hidden" in page.ids["locate-box"]
    assert ("script", {"src": "/report/locate.js"}) in page.tags
    with urllib.request.urlopen(f"{gateway.base}/report/locate.js", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/javascript")
        assert answer.read().decode() == locate.SCRIPT


def test_geolocation_reaches_the_stored_report(gateway: GatewayProcess, supervisor: str) -> None:
    status, done = post_form(
        gateway, text="有人晕倒了", address="南坝路8号", lat="24.980000", lon="102.650000",
        accuracy="18",
    )  # fmt: skip
    assert status == 201, done
    incident, report = stored_report(gateway, supervisor, done)
    location = {"lat": 24.98, "lon": 102.65, "accuracy_m": 18, "address": "南坝路8号"}
    assert report["location"] == location
    assert incident["location"] == location and incident["unit"] == STATION


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"lat": " 24.98 ", "lon": "102.65"}, {"lat": 24.98, "lon": 102.65}),  # typed by hand
        ({"accuracy": "30"}, None),  # an accuracy without a point means nothing
        ({"accuracy": "30", "address": "明湖路12号"}, {"address": "明湖路12号"}),
        (
            {"lat": "24.98", "lon": "102.65", "accuracy": "12.5"},
            {"lat": 24.98, "lon": 102.65, "accuracy_m": 12.5},
        ),  # noqa: E501
    ],
    ids=["manual", "accuracy-alone", "accuracy-address", "fraction"],
)
def test_what_of_a_location_is_kept(
    gateway: GatewayProcess, supervisor: str, fields: dict[str, str], location: Any
) -> None:
    status, done = post_form(gateway, text="路口有车祸", **fields)
    assert status == 201, done
    _, report = stored_report(gateway, supervisor, done)
    assert report.get("location") == location


ERRORS = [
    # (the form's fields besides a valid text, what the citizen reads)
    ({"text": " "}, "请填写发生了什么"),
    ({"text": "救" * 10001}, "“发生了什么”过长（至多10000个字，现有10001个）"),
    ({"text": "有人\x01打架"}, "“发生了什么”中有无法识别的控制字符（U+0001），请删除后重新提交"),
    ({"address": "路" * 501}, "“事发地点”过长（至多500个字，现有501个）"),
    ({"address": "南坝路\x1b"}, "“事发地点”中有无法识别的控制字符（U+001B），请删除后重新提交"),
    ({"name": "张" * 201}, "“姓名”过长（至多200个字，现有201个）"),
    ({"name": "\x7f"}, "“姓名”中有无法识别的控制字符（U+007F），请删除后重新提交"),
    ({"lat": "24.98"}, "纬度和经度须同时填写"),
    ({"lat": "north", "lon": "102"}, "纬度须为 -90 到 90 之间的数字（如 25.04）"),
    ({"lat": "1e1", "lon": "102"}, "纬度须为 -90 到 90 之间的数字（如 25.04）"),
    ({"lat": "24", "lon": "181"}, "经度须为 -180 到 180 之间的数字（如 102.71）"),
    ({"lat": "24", "lon": "102", "accuracy": "-1"}, "定位精度须为 0 到 100000 米，请重新定位或手动填写经纬度"),  # noqa: E501
    ({"lat": "24", "lon": "102", "accuracy": "100001"}, "定位精度须为 0 到 100000 米，请重新定位或手动填写经纬度"),  # noqa: E501
    ({"accuracy": "NaN"}, "定位精度须为 0 到 100000 米，请重新定位或手动填写经纬度"),
    ({"phone": "abc"}, "联系电话请填写号码：数字，可带 +、空格或 -"),
    ({"phone": "1" * 201}, "联系电话过长（至多200个字符）"),
    ({"category": "alien_abduction"}, "请从列表中选择警情类别"),
    ({"token": "令牌"}, "表单已失效，请重新提交"),
    ({"token": "x" * 201}, "表单已失效，请重新提交"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "message"), ERRORS, ids=[m[:12] for _, m in ERRORS])
def test_every_problem_comes_back_in_chinese_on_the_form(
    gateway: GatewayProcess, fields: dict[str, str], message: str
) -> None:
    status, html = post_form(gateway, **{"text": "有人打架", **fields})
    assert status == 400
    page = check_page(html, ("error", *FORM_IDS))
    assert page.text_by_id["error"] == message
    assert not re.search("[A-Za-z]{2,}", message.replace("U+", ""))  # no English in it
    if "token" in fields:  # a fresh form: a fresh token
        assert f'value="{fields["token"]}"' not in html


def test_the_form_comes_back_as_filled(gateway: GatewayProcess) -> None:
    status, html = post_form(
        gateway, text="有人打架", lat="24.98", lon="102.65", accuracy="12", phone="abc"
    )
    assert status == 400
    page = check_page(html, FORM_IDS)
    assert (page.ids["lat"]["value"], page.ids["accuracy"]["value"]) == ("24.98", "12")
    assert page.text_by_id["locate-status"] == "已定位：精度约 12 米"
    assert "open" not in page.ids["manual"]  # located, not typed: nothing to show there
    status, html = post_form(gateway, text="有人打架", lat="24.98", lon="102.65", phone="abc")
    assert "open" in check_page(html, FORM_IDS).ids["manual"]  # typed: keep it in view


def test_a_body_over_the_limit_is_the_form_in_chinese(gateway: GatewayProcess) -> None:
    big = urlencode({"text": "救" * 200_000}).encode()  # 1.8 MB, over the 1 MiB limit
    status, html = gateway.request("POST", "/report", raw=big, headers=FORM)
    assert status == 413 and isinstance(html, str)
    page = check_page(html, ("error", *FORM_IDS))
    assert page.text_by_id["error"] == "提交的内容过长（至多 1048576 字节），请删减后重新提交"


# -- the script, run by node -------------------------------------------------------------------

HARNESS = r"""
const vm = require("vm");
const [script, scenario] = [process.argv[1], JSON.parse(process.argv[2])];
function element(id, value) {
  return {
    id, value: value || "", hidden: id === "locate-box", disabled: false, textContent: "",
    className: "", listeners: {},
    addEventListener(type, fn) { this.listeners[type] = fn; },
  };
}
const els = {};
for (const id of ["locate", "locate-box", "locate-status", "lat", "lon", "accuracy"]) {
  els[id] = element(id);
}
let asked = null;
const geolocation = {
  getCurrentPosition(ok, fail, options) {
    asked = options;
    if (scenario.error) fail({code: scenario.error});
    else ok({coords: scenario.coords});
  },
};
const context = {
  document: {getElementById: (id) => els[id] || null},
  navigator: scenario.noGeolocation ? {} : {geolocation},
  window: {isSecureContext: scenario.secure !== false},
  String, Math,
};
vm.runInNewContext(script, context);
const shown = !els["locate-box"].hidden;
if (scenario.typeAfter) {
  els.locate.listeners.click();
  els.lat.value = "25.1";
  els.lat.listeners.input();
} else {
  els.locate.listeners.click();
}
console.log(JSON.stringify({
  shown, asked, lat: els.lat.value, lon: els.lon.value, accuracy: els.accuracy.value,
  status: els["locate-status"].textContent, disabled: els.locate.disabled,
}));
"""

NODE = shutil.which("node") or shutil.which("nodejs")
COORDS = {"latitude": 24.98, "longitude": 102.65, "accuracy": 17.2}
SCENARIOS = [
    ({"coords": COORDS}, "24.980000", "102.650000", "18", "已定位：精度约 18 米"),
    ({"error": 1}, "", "", "", "未获得定位权限。请在浏览器中允许定位，或填写事发地点。"),
    ({"error": 2}, "", "", "", "暂时无法获取您的位置，请填写事发地点。"),
    ({"error": 3}, "", "", "", "定位超时，请重试，或填写事发地点。"),
    ({"secure": False}, "", "", "", "浏览器只在安全连接（HTTPS）下提供定位，请填写事发地点。"),
    ({"noGeolocation": True}, "", "", "", "此浏览器不支持定位，请填写事发地点。"),
    ({"coords": {**COORDS, "accuracy": 250_000}}, "", "", "", "定位精度太低，请填写事发地点。"),
    ({"coords": COORDS, "typeAfter": True}, "25.1", "102.650000", "", "已定位：精度约 18 米"),
]


@pytest.mark.skipif(NODE is None, reason="node is not installed (Debian: nodejs)")
@pytest.mark.parametrize(("scenario", "lat", "lon", "accuracy", "status"), SCENARIOS)
def test_the_geolocation_script(
    scenario: dict[str, Any], lat: str, lon: str, accuracy: str, status: str
) -> None:
    assert NODE is not None
    out = subprocess.run(
        [NODE, "-e", HARNESS, "--", locate.SCRIPT, json.dumps(scenario)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    got = json.loads(out.stdout)
    assert got["shown"] and not got["disabled"]
    assert (got["lat"], got["lon"], got["accuracy"], got["status"]) == (lat, lon, accuracy, status)
    if "coords" in scenario:
        assert got["asked"]["enableHighAccuracy"] is True
