"""The scorecard printed (gateway.drills.scorecard): the page's sections and figures in
Chinese and Beijing time, nothing in English a person would read, the charts drawn in the
CJK font, and the PDF — rendered back to PNG with poppler's pdftoppm, read back with
pdftotext (Debian's poppler-utils; the PDF's tests skip without them)."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from gateway.console import plots
from gateway.drills import charts, scorecard
from gateway.drills.figures import Scorecard
from gateway.drills.score import score_run
from tests.drills.conftest import T0, Played

NOW = T0 + timedelta(seconds=1800)
SVG = "{http://www.w3.org/2000/svg}"
TITLE = "<h1>演练成绩单 "
SECTIONS = ("概况", "逐条模拟警情", "按单位", "按接警员", "与预期不符", "历次演练趋势")
HEADINGS = ("演练成绩单", *SECTIONS)
# Names a Chinese page shows as they are (the console shows them so too).
PROPER_NAMES = {"Telegram", "CAP"}


@pytest.fixture(scope="module")
def card(played_sqlite: Played) -> Scorecard:
    p = played_sqlite
    return p.read(lambda c: score_run(c, p.run, p.h.config, now=NOW))


@pytest.fixture(scope="module")
def page(card: Scorecard) -> str:
    return scorecard.html(card)


def test_the_page_has_every_section_in_order(page: str) -> None:
    at = [page.find(TITLE), *(page.find(f"<h2>{h}</h2>") for h in SECTIONS)]
    assert -1 not in at and at == sorted(at), dict(zip(HEADINGS, at, strict=True))
    assert page.startswith("<!doctype html>") and '<html lang="zh-CN">' in page
    assert "<?xml" not in page and "<link" not in page and "<script" not in page  # standalone
    assert page.count("<svg") == 4


def test_the_page_shows_the_figures(page: str, card: Scorecard, played_sqlite: Played) -> None:
    n = played_sqlite.numbers
    text = _visible_text(page)
    assert "开始时间 2026-11-26 10:00:00" in text  # 02:00 UTC in Beijing time
    assert "结束时间 2026-11-26 10:25:00" in text
    assert "历时 25分00秒（其中暂停 30秒）" in text
    assert "组织者 周演练（演练组织者）" in text
    for card_id, value in (("n-injects", 8), ("n-sent", 7), ("n-answered", 5), ("n-late", 3)):
        assert re.search(rf'id="{card_id}">{value}<', page), card_id
    assert 'id="within">80.0%<' in page
    # The call's accept: 40 s from its send, 38 s of its 30 s.
    row = _between(page, 'id="inject-0"', "</tr>")
    assert "40秒" in row and "38秒 / 限30秒 超时" in row and 'class="n late"' in row
    assert "10:00:00" in row and f"{n['call']}（立案）" in row
    assert f"{n['call']}（合并）" in _between(page, 'id="inject-1"', "</tr>")
    assert "未发出" in _between(page, 'id="inject-6"', "</tr>")
    assert "传真服务器拒收：线路忙" in _between(page, 'id="inject-6"', "</tr>")
    assert "未找到报警" in _between(page, 'id="inject-7"', "</tr>")
    misrouted = _between(page, 'id="misrouted"', "</table>")
    assert "noise" in misrouted and "明湖派出所" in misrouted and "南坝派出所" in misrouted
    wrong = _between(page, 'id="miscategorised"', "</table>")
    assert "举报" in wrong and "治安" in wrong and "四级（蓝）" in wrong and "三级（黄）" in wrong
    missed = _between(page, 'id="missed-merges"', "</table>")
    assert f"{n['call']}：call、sms" in missed and f"{n['witness']}：witness" in missed
    assert "误并（0）" in text
    assert "仍未办结（4）" in text
    trend = _between(page, 'id="trend"', "</section>")
    assert "2026-11-19 10:00" in trend and "已中止" in trend and "（本次）" in trend
    people = _between(page, 'id="people"', "</table>")
    assert "王接警" in people and "40秒" in people and "1分40秒" in people


def test_no_english_a_person_reads(page: str, card: Scorecard) -> None:
    """Every word a person reads is Chinese, except what the scenario and the store hold
    (inject ids, labels, receipts, the file's name) and names shown as they are."""
    text = _visible_text(page)
    data = {card.file, card.sha256[:16], *PROPER_NAMES}
    for i in card.injects:
        data |= {i.id, i.expect.incident, i.receipt or "", i.incident or ""}
    for value in sorted(data, key=len, reverse=True):
        if value:
            text = text.replace(value, " ")
    assert re.findall(r"[A-Za-z]{2,}", text) == []


def test_charts_are_svg_in_the_cjk_font(card: Scorecard) -> None:
    drawn = {
        "injects": charts.svg_injects(card),
        "units": charts.svg_units(card),
        "trend_times": charts.svg_trend_times(card),
        "trend_problems": charts.svg_trend_problems(card),
    }
    for name, svg in drawn.items():
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg", name
        assert len(list(root.iter(f"{SVG}path"))) > 20, name
    if plots.cjk_font() is None:
        pytest.skip("no CJK font on this machine (fonts-noto-cjk or fonts-wqy-zenhei)")
    for name, svg in drawn.items():
        glyphs = set(re.findall(r'<path id="([^"]+)-\d+"', svg))
        assert {g for g in glyphs if "CJK" in g or "Hei" in g}, name
    assert "逐条模拟警情：各环节用时与时限" in drawn["injects"]  # kept as a comment
    assert "未找到报警" in drawn["injects"] and "未接听" in drawn["injects"]


def test_a_run_with_nothing_yet(played_sqlite: Played) -> None:
    """A run with no injects sent and no earlier run: every section still there."""
    p = played_sqlite
    other = p.read(lambda c: score_run(c, p.other, p.h.config, now=NOW))
    page = scorecard.html(other)
    assert TITLE in page and all(f"<h2>{h}</h2>" in page for h in SECTIONS)
    assert "此前没有同名演练" in page and page.count("<svg") == 3  # no unit to draw


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: poppler-utils)")
    return path


def test_the_pdf_renders_with_chinese_text(card: Scorecard, tmp_path: Path) -> None:
    pdftoppm, pdftotext = _tool("pdftoppm"), _tool("pdftotext")
    pdf = scorecard.pdf(card)
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / "card.pdf"
    path.write_bytes(pdf)
    subprocess.run([pdftoppm, "-png", "-r", "60", path, tmp_path / "page"], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    for png in pages:
        with Image.open(png) as image:
            grey = image.convert("L")
            width, height = grey.size
            assert width > height  # A4 landscape
            inked = sum(grey.histogram()[:200])  # pixels darker than near-white
            assert inked > 0.005 * width * height, f"{png.name} is blank"
    text = subprocess.run(
        [pdftotext, "-layout", path, "-"], check=True, capture_output=True, text=True
    ).stdout
    for heading in HEADINGS:
        assert heading in text, heading
    assert "南坝派出所" in text and "2026-11-26 10:00:00" in text
    assert "第 1 页，共" in text  # the page footer


def test_the_command_writes_html_and_pdf(played_sqlite: Played, tmp_path: Path) -> None:
    """`alarmgw drill report RUN` (gateway.cli) writes what `scorecard.write` makes."""
    p = played_sqlite
    paths = scorecard.write(p.h.config, p.h.db, p.run, tmp_path / "out")
    assert [x.name for x in paths] == [
        f"drill-{p.run}-scorecard.html",
        f"drill-{p.run}-scorecard.pdf",
    ]
    page, pdf = paths
    assert TITLE in page.read_text(encoding="utf-8")
    assert pdf.read_bytes().startswith(b"%PDF-")


# -- reading the page ----------------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a person reads: not the style, not the charts (their text is drawn as
    paths; the SVG keeps it only as comments)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "svg", "script"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "svg", "script"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def _visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def _between(page: str, start: str, end: str) -> str:
    i = page.index(start)
    return page[i : page.index(end, i)]
