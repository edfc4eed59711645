"""The citizen's receipt against a real gateway process: the form's receipt page links to
the status page; the page and the JSON route read a receipt as people type it (any case,
O for 0, I or L for 1, hyphens), refuse U plainly, answer an unknown one with a Chinese 404,
and follow the incident through the workflow with the times of the JSON route in Beijing
time."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.channels.web.htmlcheck import check_page
from tests.channels.web.test_reports import post_report
from tests.peers.gateway import GatewayProcess

STATION = "530102510000"
BEIJING = timezone(timedelta(hours=8))
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def tokens(gateway: GatewayProcess) -> dict[str, str]:
    return {
        "calltaker": gateway.token("rc-ct", "calltaker"),
        "dispatcher": gateway.token("rc-dp", "dispatcher"),
        "supervisor": gateway.token("rc-sv", "supervisor"),
    }


def status_page(gw: GatewayProcess, path: str) -> tuple[int, str, Any]:
    status, html = gw.request("GET", path)
    assert isinstance(html, str), html  # HTML, never the API's JSON
    return status, html, check_page(html)


def readings(receipt: str) -> list[str]:
    """The receipt as a person may type it."""
    as_letters = receipt.replace("0", "O").replace("1", "l")
    return [
        receipt.lower(),
        f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}",
        as_letters,
        as_letters.lower().replace("l", "I"),
    ]


def test_done_page_links_to_the_status_page(gateway: GatewayProcess) -> None:
    form = urlencode({"text": "楼下有人打架", "address": "明湖路12号"}).encode()
    status, done = gateway.request("POST", "/report", raw=form, headers=FORM)
    assert status == 201, done
    page = check_page(done, ("receipt", "status-link"))
    receipt = page.text_by_id["receipt"]
    assert page.ids["status-link"]["href"] == f"/receipt/{receipt}"
    status, html, page = status_page(gateway, f"/receipt/{receipt}")
    assert status == 200
    assert page.text_by_id["receipt"] == receipt and page.text_by_id["state"] == "受理中"
    assert "楼下有人打架" not in html and "明湖路" not in html


def test_receipts_are_read_as_people_type_them(gateway: GatewayProcess) -> None:
    # A receipt with a 0 or a 1 in it (about every other one has), to read as O, I or L.
    for _ in range(40):
        receipt = post_report(gateway)[1]["receipt"]
        if re.search("[01]", receipt):
            break
    else:
        pytest.fail("forty receipts without a 0 or a 1")
    for typed in readings(receipt):
        status, body = gateway.request("GET", f"/api/v1/receipts/{quote(typed)}")
        assert status == 200 and body["receipt"] == receipt, (typed, body)
        status, _, page = status_page(gateway, f"/receipt/{quote(typed)}")
        assert status == 200 and page.text_by_id["receipt"] == receipt, typed
        status, _, page = status_page(gateway, "/receipt?" + urlencode({"r": typed}))
        assert status == 200 and page.text_by_id["receipt"] == receipt, typed
    status, _, page = status_page(gateway, "/receipt?" + urlencode({"r": f" {receipt.lower()} "}))
    assert status == 200 and page.text_by_id["receipt"] == receipt


def test_unknown_and_impossible_receipts(gateway: GatewayProcess) -> None:
    status, html, page = status_page(gateway, "/receipt/zzzz-zzzz-zz")
    assert status == 404 and "未找到此回执号" in html and page.text_by_id["receipt"] == "ZZZZZZZZZZ"
    assert "110" in html and "receipt-query" in page.ids  # and the form, to try again
    assert gateway.request("GET", "/api/v1/receipts/zzzz-zzzz-zz")[0] == 404

    status, html, page = status_page(gateway, "/receipt/7K2U")
    assert status == 400 and page.text_by_id["error"] == "回执号中没有字母 U，请核对后重新输入"
    assert page.ids["receipt-query"]["value"] == "7K2U"
    status, err = gateway.request("GET", "/api/v1/receipts/7k2u")
    assert status == 400 and err["error"] == "bad_receipt" and err["field"] == "receipt"
    assert "U" in err["message"]
    status, err = gateway.request("GET", f"/api/v1/receipts/{quote('7K#2')}")
    assert status == 400 and "'#'" in err["message"]

    status, html, page = status_page(gateway, "/receipt?r=")
    assert status == 400 and page.text_by_id["error"] == "请输入回执号"
    status, html, page = status_page(gateway, "/receipt")
    assert status == 200 and "查询报警进度" in html and "error" not in page.ids


def beijing(utc: str) -> str:
    t = datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone(BEIJING)
    return f"{t:%Y-%m-%d %H:%M:%S}"


def test_the_status_follows_the_workflow_in_beijing_time(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    _, body = post_report(gateway, category="criminal")
    number, receipt = body["incident"]["number"], body["receipt"]
    steps = [
        (None, None, {}, "受理中"),
        ("calltaker", "accept", {"category": "criminal", "priority": 2}, "受理中"),
        ("dispatcher", "dispatch", {"unit": STATION}, "已派警"),
        # The dispatcher, not the station: this gateway escalates an unacknowledged
        # dispatch after 2 s, out of the station's hands.
        ("dispatcher", "acknowledge", {}, "已派警"),
        ("dispatcher", "arrive", {}, "已到场"),
        ("dispatcher", "feedback", {"result": "已处置"}, "已办结"),
        ("supervisor", "close", {}, "已办结"),
    ]
    for who, action, params, label in steps:
        if who is not None:
            status, doc = gateway.request(
                "POST",
                f"/api/v1/incidents/{number}/actions",
                {"action": action, **params},
                token=tokens[who],
            )
            assert status == 200, doc
        status, public = gateway.request("GET", f"/api/v1/receipts/{receipt}")
        status, html, page = status_page(gateway, f"/receipt/{receipt}")
        assert status == 200 and page.text_by_id["state"] == label, (action, html)
        assert page.ids["state"]["data-state"] == public["state"]
        # Every time shown is one of the JSON route's, on Beijing's clock.
        shown = re.findall(r"<time datetime=\"[^\"]+\">([^<]+)</time>", html)
        expected = [beijing(public["received_at"])] + [
            beijing(t) for s, t in public["milestones"].items() if s != "received"
        ]
        assert sorted(shown) == sorted(expected), (shown, public)
        assert "13812345678" not in html and "张三" not in html and number not in html
