"""Cross-site request forgery and login throttling, in a real browser (Debian chromium).

An attacker's page auto-submits a form to the gateway while an admin is logged in: from
another site (localhost against 127.0.0.1) the SameSite=Strict cookie is not sent; from
the same site on another port (same-site, cross-origin) the cookie is sent, and the
missing CSRF token refuses it. The admin's own page does the same thing and succeeds."""

from __future__ import annotations

import http.server
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import city_config
from tests.peers.browser import desktop_context, screenshot
from tests.peers.gateway import GatewayProcess, free_port


def expect(target: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("csrf")
    g = GatewayProcess(tmp / "data", city_config(tmp))
    g.user("root", "admin")
    g.user("sup", "supervisor")
    g.start()
    yield g
    assert g.stop() == 0, g.log()


@pytest.fixture(scope="module")
def attacker() -> Iterator[tuple[int, dict[str, str]]]:
    """A web server of the attacker's: serves `pages[path]` as HTML."""
    pages: dict[str, str] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield port, pages
    server.shutdown()


def login(page: Any, gw: GatewayProcess, user: str, password: str = "correct-horse-1") -> None:
    page.goto(gw.base + "/console/login")
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("#login")


def forged(target: str) -> str:
    return (
        f'<form id="f" method="post" action="{target}"></form>'
        '<script>document.getElementById("f").submit()</script>'
    )


def test_a_forged_form_from_another_page_changes_nothing(
    gw: GatewayProcess, browser: Any, attacker: tuple[int, dict[str, str]]
) -> None:
    port, pages = attacker
    token = gw.token("feed", "integration")
    token_id = [x for x in gw.cli("token", "list").stdout.splitlines() if " feed " in x][0].split()[
        0
    ]
    revoke = f"{gw.base}/console/tokens/{token_id}/revoke"
    pages["/evil"] = forged(revoke)
    context = desktop_context(browser)
    try:
        page = context.new_page()
        login(page, gw, "root")
        expect(page.locator("#queue")).to_be_visible()
        # Same site (127.0.0.1), another origin: the cookie goes along, the token does not.
        page.goto(f"http://127.0.0.1:{port}/evil")
        page.wait_for_url(revoke)
        expect(page.locator("#error")).to_contain_text("页面已过期或来源不明")
        assert gw.request("GET", "/api/v1/incidents", token=token)[0] == 200
        # Another site (localhost): SameSite=Strict keeps the cookie home.
        page.goto(f"http://localhost:{port}/evil")
        page.wait_for_url(re.compile(r"/console/login"))
        assert gw.request("GET", "/api/v1/incidents", token=token)[0] == 200
        # The admin's own page, with its token, does revoke it.
        page.goto(gw.base + "/console/tokens")
        page.locator(f"#token-{token_id} button").click()
        expect(page.locator(f"#token-{token_id}")).to_contain_text("已吊销")
        assert gw.request("GET", "/api/v1/incidents", token=token)[0] == 401
    finally:
        context.close()


def test_login_throttling_in_the_browser(gw: GatewayProcess, browser: Any) -> None:
    context = desktop_context(browser)
    try:
        page = context.new_page()
        for _ in range(5):
            login(page, gw, "sup", "not the password")
            expect(page.locator("#login-error")).to_contain_text("用户名或密码错误")
        login(page, gw, "sup")  # the right password, too late
        expect(page.locator("#login-error")).to_contain_text("分钟后再试")
        screenshot(page, "console-login-throttled")
        assert "/console/login" in page.url
    finally:
        context.close()
