"""The browser peer itself: Debian's chromium under Playwright opens a page served by a plain
`http.server`, reads its Chinese text back, and draws it with a CJK font — not as the boxes
("tofu") chromium draws when no installed font has the glyphs. The screenshot stays in
build/screenshots/ (or $ALARMGW_SCREENSHOTS) for a person to look at."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest
from PIL import Image, ImageChops

from tests.peers.browser import screenshot

if TYPE_CHECKING:
    from playwright.sync_api import Page

# U+0378 is unassigned: no font has it, so chromium draws the missing-glyph box for it; a
# Chinese character drawn the same way means there was no font for it either.
PAGE = """<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>接警台</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { margin: 24px; font: 48px sans-serif; background: #fff; color: #000; }
  span { display: inline-block; padding: 4px; }
</style></head>
<body>
<h1 id="title">110 接警台：报警受理</h1>
<p><span id="bao">报</span><span id="jing">警</span><span id="none">&#x378;</span></p>
<p id="time"></p>
<script>
  // 2026-11-24 01:00 UTC is 09:00 in Shanghai.
  document.getElementById("time").textContent =
    new Date(Date.UTC(2026, 10, 24, 1, 0, 0)).toLocaleString();
</script>
</body></html>
"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = PAGE.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join(5)


def _crop(shot: Image.Image, page: Page, selector: str) -> Image.Image:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return shot.crop(
        (
            round(box["x"]),
            round(box["y"]),
            round(box["x"] + box["width"]),
            round(box["y"] + box["height"]),
        )
    ).convert("L")


def _differ(a: Image.Image, b: Image.Image) -> bool:
    size = (min(a.width, b.width), min(a.height, b.height))
    a, b = a.crop((0, 0, *size)), b.crop((0, 0, *size))
    return a.size != b.size or ImageChops.difference(a, b).getbbox() is not None


def _fonts_used(page: Page, selector: str) -> list[str]:
    """The platform fonts chromium drew the element's text with (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    try:
        root = cdp.send("DOM.getDocument")["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        cdp.send("CSS.enable")
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return [f"{f['familyName']} ({f['glyphCount']} glyphs)" for f in fonts]
    finally:
        cdp.detach()


def test_chinese_page_renders_in_chromium(desktop_page: Page, site: str) -> None:
    page = desktop_page
    page.goto(site)
    assert page.title() == "接警台"
    assert page.locator("#title").inner_text() == "110 接警台：报警受理"
    # The context's locale and time zone reach the page's JavaScript.
    assert page.evaluate("navigator.language") == "zh-CN"
    assert page.locator("#time").inner_text() == "2026/11/24 09:00:00"

    path = screenshot(page, "browser-peer-chinese")
    shot = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
    assert shot.width >= 1366

    # Not blank: a white page with a good deal of dark ink on it.
    gray = shot.convert("L")
    lo, hi = gray.getextrema()
    assert (lo, hi) != (hi, hi), f"blank screenshot {path}"
    ink = sum(gray.histogram()[:128])
    assert ink > 2000, f"only {ink} dark pixels in {path}"

    # Drawn with a font that has the glyphs: 报 and 警 look different from each other and
    # from the box of a character no font has. Without a CJK font all three are that box.
    fonts = _fonts_used(page, "#bao")
    bao, jing, none = (_crop(shot, page, s) for s in ("#bao", "#jing", "#none"))
    assert _differ(bao, jing), f"报 and 警 are drawn alike (boxes?) in {path}; fonts: {fonts}"
    assert _differ(bao, none), f"报 is drawn as the missing-glyph box in {path}; fonts: {fonts}"


def test_phone_context(phone_page: Page, site: str) -> None:
    page = phone_page
    page.goto(site)
    assert page.viewport_size == {"width": 390, "height": 844}
    assert page.evaluate("window.innerWidth") == 390
    assert page.evaluate("navigator.maxTouchPoints") > 0
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Shanghai"
    path = screenshot(page, "browser-peer-phone")
    assert Image.open(path).width == 390 * 3
