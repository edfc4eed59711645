"""The supervisors' statistics against a real store: incidents made by intake and moved by
the workflow at controlled times, then counted, timed, exported as CSV, drawn as SVG and
rendered into the page."""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from twisted.logger import Logger, LogLevel

from gateway.console import plots
from gateway.console.render import render
from gateway.console.stats import Query, Stats, compute, percentile
from gateway.console.stats_csv import to_csv
from gateway.report import Location
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role
from tests.conftest import PG_URL, fresh_pg_schema, pg_available
from tests.harness import CITY, DISTRICT, STATION, Harness, actor

NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15)  # 南坝派出所 (明湖分局)
LUOFENG = Location(lat=24.98, lon=102.71, accuracy_m=15)  # 螺峰派出所 (青山分局)
LUOFENG_STATION = "530103510000"
QINGSHAN = "530103000000"
SVG = "{http://www.w3.org/2000/svg}"

# The week asked for: 2026-11-24 and 25 in Beijing time.
WEEK = Query(date(2026, 11, 24), date(2026, 11, 25))


@dataclass
class Scenario:
    h: Harness
    numbers: dict[str, str] = field(default_factory=dict)

    def stats(self, query: Query = WEEK) -> Stats:
        return self.h.read(lambda c: compute(c, self.h.config, query))


def _at(h: Harness, t: datetime) -> None:
    h.now = t


def _answered(h: Harness, number: str, seconds: float) -> None:
    """What the AMI channel writes when a call is picked up (gateway/channels/ami/store.py)."""

    def write(ctx: WriteContext) -> None:
        row = records.load(ctx.conn, number)
        draft = EventDraft(
            "call_answered",
            None,
            None,
            Actor("ami", Role.SYSTEM, None),
            data={"calltaker": "8001", "queue": "110", "time_to_answer_s": seconds},
        )
        records.add_event(ctx, row["id"], number, draft, h.now, row["drill"])

    h.db.run_sync(write)


def _build(h: Harness) -> Scenario:
    s = Scenario(h)
    officer_nanba = actor("unit_officer", STATION)
    officer_luofeng = actor("unit_officer", LUOFENG_STATION)
    ct, di, su = actor("calltaker"), actor("dispatcher"), actor("supervisor")

    # A: 09:00 Beijing on the 24th, web, 南坝; the whole life, every step within its SLA (p2).
    _at(h, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    a = s.numbers["A"] = h.submit(h.report(location=NANBA)).incident
    for wait, action, who, params in (
        (40, "accept", ct, {"category": "criminal", "priority": 2}),
        (60, "dispatch", di, {}),
        (25, "acknowledge", officer_nanba, {}),
        (400, "arrive", officer_nanba, {}),
        (1000, "feedback", officer_nanba, {"result": "已处置"}),
        (600, "close", su, {}),
    ):
        h.advance(wait)
        h.act(a, action, who, **params)

    # B: 10:00 on the 24th, a phone call to 螺峰, p1, every step late; left on scene.
    _at(h, datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    b = s.numbers["B"] = h.submit(h.report(channel="phone", location=LUOFENG)).incident
    _answered(h, b, 12.5)
    for wait, action, who, params in (
        (50, "accept", ct, {"category": "public_order", "priority": 1}),
        (90, "dispatch", di, {}),
        (200, "acknowledge", officer_luofeng, {}),
        (700, "arrive", officer_luofeng, {}),
    ):
        h.advance(wait)
        h.act(b, action, who, **params)

    # C: 23:30 UTC on the 24th is 07:30 on the 25th in Beijing: SMS, 南坝, invalid.
    _at(h, datetime(2026, 11, 24, 23, 30, tzinfo=UTC))
    c = s.numbers["C"] = h.submit(h.report(channel="sms", location=NANBA)).incident
    h.advance(20)
    h.act(c, "mark_invalid", ct, reason="误拨")

    # D: 23:59 on the 24th in Beijing, web, nowhere known: not yet accepted.
    _at(h, datetime(2026, 11, 24, 15, 59, tzinfo=UTC))
    s.numbers["D"] = h.submit(h.report()).incident

    # E: a drill on the 24th, accepted.
    _at(h, datetime(2026, 11, 24, 4, 0, tzinfo=UTC))
    e = s.numbers["E"] = h.submit(h.report(location=NANBA, drill=True)).incident
    h.advance(10)
    h.act(e, "accept", ct, category="criminal")

    # P: the period before (the 23rd): for 环比.
    _at(h, datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
    s.numbers["P"] = h.submit(h.report(location=NANBA)).incident
    return s


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, config: Any
) -> Iterator[Scenario]:
    drop = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('stats') / 'alarmgw.db'}"
    else:
        reason = pg_available()
        if reason:
            if os.environ.get("ALARMGW_REQUIRE_PG"):
                pytest.fail(reason)
            pytest.skip(reason)
        url, drop = fresh_pg_schema(PG_URL)
    h = Harness(url, config, datetime(2026, 11, 24, 1, 0, tzinfo=UTC))
    try:
        yield _build(h)
    finally:
        h.close()
        if drop is not None:
            drop()


# -- counts ----------------------------------------------------------------------------------


def test_totals_and_previous_period(scenario: Scenario) -> None:
    t = scenario.stats().totals
    assert (t.incidents, t.effective, t.invalid, t.closed) == (4, 3, 1, 1)
    assert t.orders == 2 and t.unfinished == 2  # B on scene, D received
    assert t.reports == 4
    assert t.days == 2 and t.per_day == 2.0 and t.effective_per_day == 1.5
    assert (t.previous_incidents, t.previous_effective) == (1, 1)
    assert t.change == 3.0 and t.effective_change == 2.0


def test_days_and_hours_are_beijing_time(scenario: Scenario) -> None:
    st = scenario.stats()
    assert [(d.day, d.total, d.effective) for d in st.by_day] == [
        (date(2026, 11, 24), 3, 3),
        (date(2026, 11, 25), 1, 0),  # C, 23:30 UTC on the 24th
    ]
    assert dict(st.by_day[0].by_channel) == {"web": 2, "phone": 1}
    assert dict(st.by_day[1].by_channel) == {"sms": 1}
    hours = {h.hour: h.total for h in st.by_hour if h.total}
    assert hours == {7: 1, 9: 1, 10: 1, 23: 1}
    assert len(st.by_hour) == 24


def test_channels_and_categories(scenario: Scenario) -> None:
    st = scenario.stats()
    channels = {c.channel: (c.name, c.incidents, c.reports) for c in st.by_channel}
    assert channels == {"web": ("网上报警", 2, 2), "phone": ("电话", 1, 1), "sms": ("短信", 1, 1)}
    cats = {c.name: (c.total, c.effective) for c in st.by_category}
    assert cats == {"刑事": (1, 1), "治安": (1, 1), "未分类": (2, 1)}


def test_durations_and_share_within_sla(scenario: Scenario) -> None:
    steps = scenario.stats().steps
    # A is p2 (accept 60, dispatch 120, acknowledge 180, arrive 900, feedback 7200 s),
    # B is p1 (30, 60, 60, 600) and late at each step.
    expect = {
        "accept": ([40, 50], 0.5),
        "dispatch": ([60, 90], 0.5),
        "acknowledge": ([25, 200], 0.5),
        "arrive": ([400, 700], 0.5),
        "feedback": ([1000], 1.0),
        "close": ([2125], None),  # created → closed, no SLA
        "answer": ([12.5], None),  # the call's time to answer, no SLA configured
    }
    for code, (seconds, share) in expect.items():
        st = steps[code]
        assert sorted(st.seconds) == seconds, code
        assert st.share_within == share, code
    assert steps["acknowledge"].sla == {1: 60, 2: 180}
    assert steps["acknowledge"].p50 == 112.5 and steps["acknowledge"].p90 == pytest.approx(182.5)
    assert steps["close"].with_sla == 0


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([7], 90) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(range(101), 90) == 90


def test_speed_buckets_per_unit_and_slowest(scenario: Scenario) -> None:
    st = scenario.stats()
    tables = {b.code: b for b in st.buckets}
    ack = tables["acknowledge"]
    rows = {r.code: r for r in ack.rows}
    assert rows[STATION].counts == [1, 0, 0, 0, 0]  # 25 s
    assert rows[LUOFENG_STATION].counts == [0, 0, 0, 0, 1]  # 200 s
    assert ack.total.orders == 2 and ack.total.shares[0] == 0.5
    assert [r.code for r in ack.slowest] == [LUOFENG_STATION]
    arrive = {r.code: r for r in tables["arrive"].rows}
    assert arrive[STATION].counts == [0, 1, 0, 0, 0]  # dispatched → on scene 425 s
    assert arrive[LUOFENG_STATION].counts == [0, 0, 1, 0, 0]  # 900 s: up to 15 min inclusive
    # Both are at 0 % within 5 min: 南坝 is ahead within 10 min.
    assert [r.code for r in tables["arrive"].slowest] == [LUOFENG_STATION]
    feedback = {r.code: r for r in tables["feedback"].rows}
    assert feedback[STATION].counts == [1, 0, 0, 0, 0]  # 1425 s
    assert feedback[LUOFENG_STATION].pending == 1 and feedback[LUOFENG_STATION].pending_share == 1
    assert tables["feedback"].labels[-1] == "4小时以上"


def test_units_and_unfinished(scenario: Scenario) -> None:
    st = scenario.stats()
    assert list(st.by_unit)[0] == CITY  # tree order, D (no unit) is the root's
    u = st.by_unit[STATION]
    assert (u.name, u.total, u.effective, u.orders, u.unfinished) == ("南坝派出所", 2, 1, 1, 0)
    assert u.within["acknowledge"] == 1.0 and u.p50["arrive"] == 400
    assert st.by_unit[LUOFENG_STATION].within["acknowledge"] == 0.0
    unfinished = {r.code: dict(r.by_state) for r in st.unfinished.rows}
    assert unfinished == {CITY: {"received": 1}, LUOFENG_STATION: {"on_scene": 1}}
    assert st.unfinished.total.total == 2
    branches = {b.code: (b.total, b.previous_total) for b in st.by_branch if b.total}
    assert branches == {CITY: (1, 0), DISTRICT: (2, 1), QINGSHAN: (1, 0)}
    assert st.by_branch[0].name == "示例市公安局指挥中心（本级）"
    assert {b.code for b in st.by_branch} >= {"530100170000", DISTRICT, QINGSHAN}


def test_drills_are_counted_apart(scenario: Scenario) -> None:
    st = scenario.stats(Query(WEEK.start, WEEK.end, drill=True))
    assert st.totals.incidents == 1 and st.totals.previous_incidents == 0
    assert sorted(st.steps["accept"].seconds) == [10]
    real = scenario.stats()
    assert 10 not in real.steps["accept"].seconds


def test_unit_scope_is_the_subtree(scenario: Scenario) -> None:
    district = scenario.stats(Query(WEEK.start, WEEK.end, unit=DISTRICT))
    assert (district.totals.incidents, district.totals.effective) == (2, 1)  # A and C
    assert set(district.by_unit) == {STATION}
    assert district.totals.previous_incidents == 1  # P, at 南坝
    assert [b.code for b in district.by_branch] == [STATION, "530102520000", "530102530000"]
    assert district.scope_name == "示例市公安局明湖分局"
    station = scenario.stats(Query(WEEK.start, WEEK.end, unit=LUOFENG_STATION))
    assert station.totals.incidents == 1 and station.steps["answer"].seconds == [12.5]
    assert station.by_branch[0].name == "螺峰派出所（本级）"
    city = scenario.stats(Query(WEEK.start, WEEK.end, unit=CITY))
    assert city.totals.incidents == 4
    with pytest.raises(ValueError):
        scenario.stats(Query(WEEK.start, WEEK.end, unit="999999999999"))


def test_query_from_form() -> None:
    today = date(2026, 11, 30)
    q = Query.from_form({}, today)
    assert (q.start, q.end, q.drill, q.unit) == (date(2026, 11, 24), today, False, None)
    q = Query.from_form({"start": "2026-11-01", "end": "2026-11-02", "drill": "1"}, today)
    assert (
        q.days == 2
        and q.drill
        and q.previous() == Query(date(2026, 10, 30), date(2026, 10, 31), True)
    )
    for bad in ({"start": "2026-11-03", "end": "2026-11-02"}, {"start": "11/03/2026"}):
        with pytest.raises(ValueError):
            Query.from_form(bad, today)


# -- CSV ---------------------------------------------------------------------------------------


def _sections(text: str) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for row in csv.reader(io.StringIO(text)):
        if len(row) == 1 and row[0].startswith("【"):
            current = out.setdefault(row[0].strip("【】"), [])
        elif row and current is not None:
            current.append(row)
        else:
            current = None if not row else current
    return out


def test_csv_reads_back(scenario: Scenario) -> None:
    text = to_csv(scenario.stats())
    assert text.startswith("\ufeff")
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    sections = _sections(data.decode("utf-8-sig"))
    summary = dict(sections["汇总"][1:])
    assert summary["接警总数"] == "4" and summary["有效警情"] == "3"
    assert summary["日均接警"] == "2.0" and summary["接警环比(%)"] == "300.0"
    days = sections["按日统计"]
    assert days[0][:3] == ["日期", "接警", "有效警情"]
    assert days[1][:3] == ["2026-11-24", "3", "3"] and days[2][:3] == ["2026-11-25", "1", "0"]
    steps = {r[0]: r for r in sections["各环节用时"][1:]}
    assert sections["各环节用时"][0][-1] == "时限内占比(%)"
    assert steps["签收（派警→签收）"][1:3] == ["2", "112.5"]
    assert steps["签收（派警→签收）"][-1] == "50.0"
    assert steps["结案（接警→结案）"][-1] == ""
    ack = sections["签收速度（派警→签收）"]
    assert ack[0][:8] == ["单位编码", "单位", "派警数", "0–30秒", "30–60秒", "60–120秒"] + [
        "120–180秒",
        "180秒以上",
    ]
    by_code = {r[0]: r for r in ack[1:] if r[0]}
    assert by_code[LUOFENG_STATION][2:9] == ["1", "0", "0", "0", "0", "1", "0"]
    assert ack[0][-1] == "排名靠后" and by_code[LUOFENG_STATION][-1] == "倒数第1"
    assert by_code[STATION][-1] == "" and ack[-1][1] == "合计"
    units = {r[0]: r for r in sections["按单位统计"][1:]}
    assert units[STATION][1:6] == ["南坝派出所", "2", "1", "1", "0"]
    unfinished = sections["未办结警情"]
    assert unfinished[0] == ["单位编码", "单位", "接警", "受理", "派警", "签收", "到场"] + [
        "处警反馈",
        "合计",
    ]
    assert unfinished[-1][1:] == ["合计", "1", "0", "0", "0", "1", "0", "2"]


# -- plots -------------------------------------------------------------------------------------


def _check_svg(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    # Text is drawn as glyph paths: no <text> element, many <path>s.
    assert not list(root.iter(f"{SVG}text"))
    assert len(list(root.iter(f"{SVG}path"))) > 20
    assert len(text) > 5000
    return root


def test_plots_are_svg_with_glyph_paths(scenario: Scenario) -> None:
    st = scenario.stats()
    for text in (
        plots.svg_daily(st),
        plots.svg_hourly(st),
        plots.svg_categories(st),
        plots.svg_step(st, "acknowledge"),
        plots.svg_step(st, "close"),
        plots.svg_buckets(st, "arrive"),
    ):
        _check_svg(text)
    page = plots.all_svgs(st)
    assert {"daily", "hourly", "categories", "step_acknowledge", "buckets_feedback"} <= set(page)
    assert all(svg.startswith("<svg") for svg in page.values())


def test_plots_from_several_threads(scenario: Scenario) -> None:
    """The web server renders pages in a thread pool: charts drawn at once come out the
    same as drawn one by one (rcParams are global; plots serializes drawing)."""
    st = scenario.stats()
    alone = plots.svg_hourly(st)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda _: plots.svg_hourly(st), range(4)))
    assert together == [alone] * 4


def test_plots_use_a_cjk_font(scenario: Scenario) -> None:
    font = plots.cjk_font()
    if font is None:
        pytest.skip("no CJK font on this machine (fonts-noto-cjk or fonts-wqy-zenhei)")
    svg = plots.svg_step(scenario.stats(), "acknowledge")
    # Glyph outlines are defined once each, with ids that name their font: the title's
    # Chinese characters come from the CJK font (Noto Sans CJK or WenQuanYi Zen Hei).
    glyphs = set(re.findall(r'<path id="([^"]+)-\d+"', svg))
    cjk = {g for g in glyphs if "CJK" in g or "Hei" in g}
    assert cjk, glyphs
    defs = re.findall(r'<path id="(?:NotoSansCJK|WenQuanYi)[^"]*"', svg)
    assert len(defs) >= len(set("签收派警用时分布限内起")), len(defs)
    assert "时限内 50.0%" in svg  # matplotlib keeps the text as a comment


def test_without_a_cjk_font_it_still_draws_and_warns_once(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    said: list[dict[str, Any]] = []
    monkeypatch.setattr(plots, "CJK_FONTS", ("No Such Font",))
    monkeypatch.setattr(plots, "CJK_FILES", ())
    monkeypatch.setattr(plots, "log", Logger(observer=said.append))
    plots.cjk_font.cache_clear()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            st = scenario.stats()
            _check_svg(plots.svg_hourly(st))
            _check_svg(plots.svg_categories(st))
        assert len([e for e in said if e["log_level"] == LogLevel.warn]) == 1
        assert not [w for w in caught if "missing from font" in str(w.message)]
    finally:
        plots.cjk_font.cache_clear()


def test_empty_period(scenario: Scenario) -> None:
    st = scenario.stats(Query(date(2020, 1, 1), date(2020, 1, 7)))
    assert st.totals.incidents == 0 and st.totals.change is None
    assert all(b.total.orders == 0 and b.slowest == [] for b in st.buckets)
    for text in (
        plots.svg_daily(st),
        plots.svg_step(st, "accept"),
        plots.svg_buckets(st, "arrive"),
    ):
        ET.fromstring(text)
    assert "接警总数,0" in to_csv(st)


# -- the page ----------------------------------------------------------------------------------


@dataclass
class FakeUser:
    name: str = "王指挥"
    role: str = "supervisor"
    unit_name: str = "示例市公安局指挥中心"
    extension: str | None = None
    unit: str = CITY
    scope: tuple[str, ...] = (CITY,)


def _page(scenario: Scenario, query: Query) -> str:
    st = scenario.stats(query)
    org = scenario.h.config.org
    body = render(
        scenario.h.config.city.timezone,
        "stats.html",
        stats=st,
        query=query,
        plots=plots.all_svgs(st),
        units=[(u.code, u.name) for u in org.units()],
        csv_url="/console/stats.csv?start=2026-11-24&end=2026-11-25",
        user=FakeUser(),
        csrf="csrf-token",
        nav="stats",
    )
    return body.decode()


def test_page_renders(scenario: Scenario) -> None:
    html = _page(scenario, WEEK)
    for heading in ("警情统计", "接警总数", "有效警情", "各环节用时", "签收速度（派警→签收）"):
        assert heading in html
    for id_ in ("total", "effective", "by-unit", "stats-form"):
        assert f'id="{id_}"' in html
    assert re.search(r'id="total">4<', html) and re.search(r'id="effective">3<', html)
    assert "+300.0%" in html  # 环比
    assert "排名靠后：螺峰派出所（0–30秒 0.0%，未签收 0.0%）" in html
    assert "排名靠后：螺峰派出所（0–5分钟 0.0%，未到场 0.0%）" in html  # ranked on 0–10 min
    assert html.count("<svg") >= 5
    assert "<?xml" not in html
    assert 'class="noprint' in html or "noprint" in html
    assert "演练</span>" not in html
    assert 'aria-current="page">统计' in html


def test_drill_page_has_badge(scenario: Scenario) -> None:
    html = _page(scenario, Query(WEEK.start, WEEK.end, drill=True))
    assert 'class="badge drill"' in html and 'name="drill" value="1" checked' in html
