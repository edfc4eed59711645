"""A real browser for the console tests: Debian's chromium driven by Playwright's sync API.

    with Chromium() as browser:
        context = phone_context(browser)          # or desktop_context(browser)
        page = context.new_page()
        page.goto(gateway.base + "/console/")
        screenshot(page, "queue-phone")           # build/screenshots/queue-phone.png

Playwright cannot download its own browser here (`playwright install` is not run): it
launches Debian's `/usr/bin/chromium` (`executable_path`; `$ALARMGW_CHROMIUM` names another),
which `scripts/install-peers` installs together with a CJK font. Without that font Chinese
renders as boxes (the smoke test tests/console/test_browser_peer.py checks for it).

The sync API runs its own asyncio loop in a greenlet of its own and needs the thread's
"running loop" to be that loop whenever the browser is used (it sets it after each call);
it refuses to start while another loop counts as running. Under pytest-twisted the reactor's
loop counts as running in the main greenlet once any test has run the reactor, and that
reactor's code must not see Playwright's loop either. So `Chromium.start()`/`stop()` and
`Chromium.active()` switch the thread's running loop to Playwright's for the time the browser
is used and back afterwards; `with Chromium() as browser:` is active for its whole block, and
tests/console/conftest.py makes it active around each test that uses the session's browser
(and calls that test outside the reactor: pytest-twisted runs every test function inside
the reactor's loop). The gateway under test runs as a separate process
(tests/peers/gateway.py), not in this one.

Screenshots go to `$ALARMGW_SCREENSHOTS`, else `<repo>/build/screenshots/` (not committed).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
LOCALE = "zh-CN"
TIMEZONE = "Asia/Shanghai"

# As root chromium needs --no-sandbox (Playwright adds it with chromium_sandbox=False, the
# default; said here too so that it does not depend on that default). Debian's launcher
# script (/etc/chromium.d/dev-shm) means to add --disable-dev-shm-usage when /dev/shm is
# small, as in containers, but its test breaks where findmnt prints two lines ("[: unexpected
# operator" on stderr, seen here): always add it.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]

# An iPhone 12/13/14-sized phone (CSS pixels) and a common laptop screen.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {
    "viewport": {"width": 1366, "height": 768},
    "device_scale_factor": 1,
    "is_mobile": False,
    "has_touch": False,
}


def _wanted() -> str:
    return os.environ.get("ALARMGW_CHROMIUM") or CHROMIUM


def chromium_path() -> str | None:
    """The chromium executable Playwright launches ($ALARMGW_CHROMIUM, else Debian's
    /usr/bin/chromium, else a `chromium` on PATH), or None where there is none."""
    path = _wanted()
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    if os.environ.get("ALARMGW_CHROMIUM"):
        return None
    return shutil.which("chromium")


def available() -> str | None:
    """None when a browser can be launched here, else the plain reason why not."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python's playwright is not installed: pip install -e '.[test]'"
    if chromium_path() is None:
        return f"no chromium at {_wanted()} (Debian package chromium): run scripts/install-peers"
    return None


def require_env() -> bool:
    """True where the browser must be there (CI sets ALARMGW_REQUIRE_BROWSER=1)."""
    return os.environ.get("ALARMGW_REQUIRE_BROWSER") == "1"


@contextmanager
def running_loop(loop: asyncio.AbstractEventLoop | None) -> Iterator[None]:
    """Make LOOP the thread's running loop for the block, then restore the one that was
    (None, or pytest-twisted's reactor loop, suspended in its greenlet)."""
    saved = asyncio._get_running_loop()
    asyncio._set_running_loop(loop)
    try:
        yield
    finally:
        asyncio._set_running_loop(saved)


class Chromium:
    """Playwright plus one headless chromium. As a context manager it yields the Browser and
    keeps Playwright's loop active for the block; a fixture that keeps the browser for a
    session calls `start()` and `stop()` and uses the browser only inside `active()`."""

    def __init__(self, executable: str | None = None, args: list[str] | None = None) -> None:
        self.executable = executable or chromium_path()
        self.args = [*LAUNCH_ARGS, *(args or [])]
        self._playwright: Playwright | None = None
        self.browser: Browser | None = None
        self._block: AbstractContextManager[None] | None = None

    def start(self) -> Browser:
        from playwright.sync_api import sync_playwright

        if self.executable is None:
            raise RuntimeError(available() or "no chromium")
        with running_loop(None):  # sync_playwright() makes its own loop, running from here
            self._playwright = sync_playwright().start()
            try:
                self.browser = self._playwright.chromium.launch(
                    executable_path=self.executable,
                    headless=True,
                    chromium_sandbox=False,
                    args=self.args,
                )
            except BaseException:
                self._playwright.stop()
                self._playwright = None
                raise
        return self.browser

    def active(self) -> AbstractContextManager[None]:
        """A block in which this browser can be used (Playwright's loop is the running one)."""
        if self._playwright is None:
            raise RuntimeError("the browser is not started")
        return running_loop(self._playwright._loop)

    def stop(self) -> None:
        if self._playwright is None:
            return
        with self.active():
            try:
                if self.browser is not None:
                    self.browser.close()
            finally:
                self.browser = None
                self._playwright.stop()
                self._playwright = None

    @property
    def version(self) -> str:
        return self.browser.version if self.browser else ""

    def __enter__(self) -> Browser:
        browser = self.start()
        self._block = self.active()
        self._block.__enter__()
        return browser

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            if self._block is not None:
                self._block.__exit__(None, None, None)
                self._block = None


def new_context(browser: Browser, device: dict[str, Any], **kw: Any) -> BrowserContext:
    """A fresh context (own cookies and storage) in Chinese and Shanghai time."""
    options = {**device, "locale": LOCALE, "timezone_id": TIMEZONE, **kw}
    return browser.new_context(**options)


def phone_context(browser: Browser, **kw: Any) -> BrowserContext:
    """A touch phone, 390x844 CSS pixels (for a duty officer's inbox on the street)."""
    return new_context(browser, PHONE, **kw)


def desktop_context(browser: Browser, **kw: Any) -> BrowserContext:
    """A desktop screen, 1366x768 (a call-taker's or dispatcher's console)."""
    return new_context(browser, DESKTOP, **kw)


def screenshot_dir() -> Path:
    path = Path(os.environ.get("ALARMGW_SCREENSHOTS") or ROOT / "build" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save a PNG of the page as NAME.png in the screenshot folder; returns its path."""
    stem = re.sub(r"[^\w.-]+", "_", name.removesuffix(".png")).strip("_") or "page"
    path = screenshot_dir() / f"{stem}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
