"""A real browser for the console tests: one headless Debian chromium for the session
(`browser`), driven by Playwright's sync API (tests/peers/browser.py), and a fresh page per
test in a desktop (`desktop_page`, 1366x768) or phone (`phone_page`, 390x844, touch)
context, in zh-CN and Asia/Shanghai time. The gateway under test runs as its own process
(the `gateway` fixture of tests/conftest.py).

Where chromium or Python's playwright is missing the tests skip with the reason;
`scripts/install-peers` installs chromium and the CJK font, `pip install -e '.[test]'`
playwright. CI sets `ALARMGW_REQUIRE_BROWSER=1`, which turns the skip into a failure.

A test that uses the browser must be a plain function, and runs as one: pytest-twisted runs
every test function inside the reactor's asyncio loop, where Playwright's sync API cannot
run, so `pytest_pyfunc_call` below calls such a test directly, outside the reactor (no
Deferreds, no `async def`, no pytest_twisted decorators in it). The test and its
function-scoped fixtures run inside `chromium.active()`: Playwright's loop is the thread's
running loop, and the reactor's is put back afterwards. A fixture of a wider scope than a
test that calls Playwright must use `with chromium.active():` itself (the `chromium` fixture
is the `Chromium` harness)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.peers.browser import (
    Chromium,
    available,
    desktop_context,
    phone_context,
    require_env,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    reason = available()
    if reason:
        if require_env():
            pytest.fail(f"ALARMGW_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    # An installed chromium that does not start is an error, not a reason to skip.
    peer = Chromium()
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def browser(chromium: Chromium) -> Browser:
    assert chromium.browser is not None
    return chromium.browser


def _uses_browser(item: pytest.Item) -> bool:
    return "chromium" in getattr(item, "fixturenames", ())


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Call a test that uses the browser directly (pytest's own way), not in the reactor."""
    if not _uses_browser(pyfuncitem):
        return None
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        pytest.fail("a test that uses the browser must be a plain function, not async def")
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    result = pyfuncitem.obj(**args)
    if result is not None:
        pytest.fail(f"a test that uses the browser returned {result!r} (a Deferred?)")
    return True


@pytest.fixture(autouse=True)
def _browser_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Playwright's loop is the running one during a test that uses the browser (set up
    before, and torn down after, the test's function-scoped fixtures)."""
    if not _uses_browser(request.node):
        yield
        return
    chromium: Chromium = request.getfixturevalue("chromium")
    with chromium.active():
        yield


@pytest.fixture
def desktop_page(browser: Browser) -> Iterator[Page]:
    context = desktop_context(browser)
    yield context.new_page()
    context.close()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    context = phone_context(browser)
    yield context.new_page()
    context.close()
