"""One real Asterisk for the whole session (`asterisk`), the sipp peers (`sipp`) and an AMI
connection as the gateway's user (`ami`) per test, and a known state after each test that
used them: no sipp peer left (softphones unregistered), no call up, the dialplan globals as
shipped. Where Asterisk cannot run, the tests skip with the reason; CI sets
`ALARMGW_REQUIRE_ASTERISK=1`, which turns the skip into a failure. A failing test shows the
end of Asterisk's log and the messages of the sipp peers it started."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from tests.peers.ami import AmiSession
from tests.peers.asterisk import Asterisk, available
from tests.peers.sipp_peers import Sipp

SHIPPED_GLOBALS = {"QUEUE_WAIT": "15", "OVERFLOW_WAIT": "15", "DISTRICT_DUTY": ""}
FAILED = pytest.StashKey[bool]()
SHOWN = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    reason = available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_ASTERISK") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_ASTERISK=1 but {reason}")
        pytest.skip(reason)
    ast = Asterisk(tmp_path_factory.mktemp("asterisk"))
    Sipp.base_dir = tmp_path_factory.mktemp("sipp")
    ast.start()
    yield ast
    Sipp.stop_all()
    ast.stop()


def known_state(asterisk: Asterisk, request: pytest.FixtureRequest, first_peer: int) -> None:
    if request.node.stash.get(FAILED, False) and not request.node.stash.get(SHOWN, False):
        request.node.stash[SHOWN] = True
        print(asterisk.log_tail(150))
        for run in Sipp.running[first_peer:]:
            print(run.log())
    Sipp.stop_all()
    if not asterisk.running:
        return
    for name, value in SHIPPED_GLOBALS.items():
        asterisk.set_global(name, value)
    asterisk.cli("channel request hangup all")
    deadline = time.monotonic() + 10
    while "0 active channels" not in asterisk.cli("core show channels count"):
        assert time.monotonic() < deadline, asterisk.cli("core show channels")
        time.sleep(0.1)


@pytest.fixture
def sipp(asterisk: Asterisk, request: pytest.FixtureRequest) -> Iterator[Sipp]:
    """`sipp.call(asterisk, ...)`, `sipp.softphone(...)` ... (tests/peers/sipp_peers.py)."""
    first_peer = len(Sipp.running)
    yield Sipp()
    known_state(asterisk, request, first_peer)


@pytest.fixture
def ami(asterisk: Asterisk, request: pytest.FixtureRequest) -> Iterator[AmiSession]:
    """The gateway's AMI user (least privilege), logged in with events on."""
    first_peer = len(Sipp.running)
    session = AmiSession(
        asterisk.ami_host, asterisk.ami_port, asterisk.ami_user, asterisk.ami_secret
    ).connect()
    yield session
    session.close()
    known_state(asterisk, request, first_peer)


# The console's real browser, for the call-taker's screen pop (test_screen_pop.py).
from tests.console.conftest import (  # noqa: E402, F401
    _browser_loop,
    browser,
    chromium,
    desktop_page,
    pytest_pyfunc_call,
)
