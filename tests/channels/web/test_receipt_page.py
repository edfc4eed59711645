"""The citizen's receipt page as rendered from a real store's status (in simulated time, so
every time on it is known): a Chinese status for each state, each step with its time in
Beijing time, nothing personal, and HTML a browser test can rely on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.channels.web import progress
from gateway.report import Location
from gateway.workflow.records import NotAReceipt, ReceiptStatus, receipt_status
from gateway.workflow.table import State
from tests.channels.web.htmlcheck import check_page
from tests.conftest import T0
from tests.harness import STATION, Harness, actor

SHANGHAI = ZoneInfo("Asia/Shanghai")
NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15, address="南坝路8号")
STATUS_IDS = ("receipt", "state", "state-note", "milestones", "call-110")

CT, DP, SU = actor("calltaker"), actor("dispatcher"), actor("supervisor")
PO = actor("unit_officer", STATION)
TO_CLOSED: list[tuple[Any, str, dict[str, Any]]] = [
    (CT, "accept", {"category": "criminal"}),
    (DP, "dispatch", {"unit": STATION}),
    (PO, "acknowledge", {}),
    (PO, "arrive", {}),
    (PO, "feedback", {"result": "已处置"}),
    (SU, "close", {}),
]

# T0 is 09:00:00 in Shanghai; each step is taken one minute and five seconds after the last.
LINE = ["报警", "受理", "派警", "处警单位签收", "民警到场", "处置完毕", "办结"]
CASES = [
    # (steps taken, state, status shown); the timeline shows the first taken + 1 of LINE
    (0, "received", "受理中"),
    (1, "accepted", "受理中"),
    (2, "dispatched", "已派警"),
    (3, "acknowledged", "已派警"),
    (4, "on_scene", "已到场"),
    (5, "handled", "已办结"),
    (6, "closed", "已办结"),
]
CLOCK = ["09:00:00", "09:01:05", "09:02:10", "09:03:15", "09:04:20", "09:05:25", "09:06:30"]


@pytest.fixture
def h(store_url: str, config: Any) -> Iterator[Harness]:
    harness = Harness(store_url, config, T0)
    yield harness
    harness.close()


def status_of(h: Harness, receipt_number: str) -> ReceiptStatus:
    status = h.read(receipt_status, receipt_number)
    assert status is not None
    return status


def render(h: Harness, receipt_number: str) -> tuple[str, Any]:
    html = progress.status_page(status_of(h, receipt_number), SHANGHAI).decode()
    return html, check_page(html, STATUS_IDS)


def steps_of(page: Any) -> list[str]:
    return page.text_by_id["milestones"].split()


@pytest.mark.parametrize(("taken", "state", "label"), CASES, ids=[c[1] for c in CASES])
def test_each_state_in_chinese_with_beijing_times(
    h: Harness, taken: int, state: str, label: str
) -> None:
    r = h.submit(h.report(location=NANBA, text="我的电动车被偷了"))
    for who, action, params in TO_CLOSED[:taken]:
        h.advance(65)
        h.act(r.incident, action, who, **params)
    html, page = render(h, r.receipt)
    assert page.ids["state"]["data-state"] == state
    assert page.text_by_id["state"] == label
    assert page.text_by_id["receipt"] == r.receipt
    # Each step, then its date and time on the city's clock (UTC+8).
    reached = zip(LINE[: taken + 1], CLOCK[: taken + 1], strict=True)
    assert steps_of(page) == [x for step, t in reached for x in (step, "2026-11-24", t)]
    assert "办理经过（北京时间）" in html and "紧急情况请拨打" in html and "110" in html
    assert '<time datetime="2026-11-24T09:00:00+08:00">2026-11-24 09:00:00</time>' in html
    # Nothing of the report: not its text, place, phone, unit or incident number.
    for secret in ("电动车", "南坝", "1380000", STATION, r.incident):
        assert secret not in html


@pytest.mark.parametrize(
    ("action", "params", "state", "label", "last_step"),
    [
        ("cancel", {"reason": "当事人电话称已自行解决"}, "cancelled", "已撤销", "撤销"),
        ("mark_invalid", {"reason": "误拨"}, "invalid", "已作无效处理", "核实为无效警情"),
    ],
)
def test_off_the_main_line(
    h: Harness, action: str, params: dict[str, Any], state: str, label: str, last_step: str
) -> None:
    r = h.submit(h.report(location=NANBA))
    h.advance(65)
    h.act(r.incident, "accept", CT, category="criminal")
    h.advance(65)
    h.act(r.incident, action, SU, **params)
    html, page = render(h, r.receipt)
    assert (page.ids["state"]["data-state"], page.text_by_id["state"]) == (state, label)
    assert steps_of(page) == [
        *("报警", "2026-11-24", "09:00:00"),
        *("受理", "2026-11-24", "09:01:05"),
        *(last_step, "2026-11-24", "09:02:10"),
    ]
    assert params["reason"] not in html  # the reason is the staff's, not the public's


def test_a_merged_report_shows_its_master_and_says_so(h: Harness) -> None:
    master = h.submit(h.report(location=NANBA))
    h.advance(65)
    h.act(master.incident, "accept", CT, category="criminal")
    h.advance(65)
    h.act(master.incident, "dispatch", DP, unit=STATION)
    h.advance(65)
    other = h.submit(h.report(location=Location(lat=25.10, lon=102.77)))
    h.advance(65)
    h.act(other.incident, "merge", CT, master=master.incident)
    html, page = render(h, other.receipt)
    assert page.text_by_id["state"] == "已派警"
    assert "合并处理" in page.text_by_id["state-note"]
    # Its own report's time first, then the master's steps.
    assert steps_of(page)[:3] == ["报警", "2026-11-24", "09:03:15"]
    assert steps_of(page)[3:] == [
        *("受理", "2026-11-24", "09:01:05"),
        *("派警", "2026-11-24", "09:02:10"),
    ]
    assert master.incident not in html


def test_a_reopened_case_shows_no_step_it_is_not_at(h: Harness) -> None:
    r = h.submit(h.report(location=NANBA))
    for who, action, params in TO_CLOSED:
        h.advance(65)
        h.act(r.incident, action, who, **params)
    h.advance(65)
    h.act(r.incident, "reopen", SU, reason="当事人又来电")
    html, page = render(h, r.receipt)
    assert page.ids["state"]["data-state"] == "accepted"
    assert steps_of(page) == [*("报警", "2026-11-24", "09:00:00"), "受理", "2026-11-24", "09:07:35"]


def test_merged_state_itself_and_other_zones() -> None:
    """An incident in state merged (its reports normally move to the master) still reads
    honestly; a city not on UTC+8 gets its offset named instead of 北京时间."""
    status = ReceiptStatus(
        receipt="7K2MQ9XWRT",
        state=State.MERGED,
        received_at=T0,
        milestones={"received": "2026-11-24T01:00:00.000Z", "merged": "2026-11-24T03:05:03.000Z"},
        merged=False,
    )
    html = progress.status_page(status, SHANGHAI).decode()
    page = check_page(html, STATUS_IDS)
    assert page.text_by_id["state"] == "已合并处理"
    assert steps_of(page)[-3:] == ["合并处理", "2026-11-24", "11:05:03"]
    html = progress.status_page(status, ZoneInfo("Asia/Kathmandu")).decode()
    assert "办理经过（当地时间 UTC+05:45）" in html and "2026-11-24 06:45:00" in html


def test_lookup_and_not_found_pages() -> None:
    page = check_page(progress.lookup_page().decode(), ("receipt-query", "call-110"))
    assert page.ids["receipt-query"]["name"] == "r"
    html = progress.lookup_page("7K2U", progress.not_a_receipt(NotAReceipt("7K2U", "U"))).decode()
    page = check_page(html, ("receipt-query", "error"))
    assert page.ids["receipt-query"]["value"] == "7K2U"
    assert page.text_by_id["error"] == "回执号中没有字母 U，请核对后重新输入"
    html = progress.not_found_page("7K2MQ9XWRT").decode()
    page = check_page(html, ("receipt", "error", "receipt-query", "call-110"))
    assert "未找到" in html and page.text_by_id["receipt"] == "7K2MQ9XWRT"
    check_page(progress.busy_page().decode(), ("error", "call-110"))
