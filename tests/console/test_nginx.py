"""The console's live stream behind a real nginx with its default settings (proxy
buffering on): each event reaches the browser at once, not when a buffer fills or the
stream ends — the gateway sends `X-Accel-Buffering: no`."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import city_config
from tests.console.test_sessions import NANBA, report
from tests.peers.console import ConsoleClient, read_events
from tests.peers.gateway import GatewayProcess
from tests.peers.nginx import Nginx, available


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayProcess, Nginx]]:
    reason = available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("nginx")
    gw = GatewayProcess(tmp / "data", city_config(tmp))
    gw.user("disp", "dispatcher")
    gw.start()
    proxy = Nginx(tmp / "nginx", gw.port)
    proxy.start()
    yield gw, proxy
    proxy.stop()
    assert gw.stop() == 0, gw.log()


def test_events_pass_through_nginx_at_once(proxied: tuple[GatewayProcess, Nginx]) -> None:
    gw, proxy = proxied
    c = ConsoleClient(proxy.base)
    assert c.login("disp", "correct-horse-1").status == 303  # through nginx too
    import threading

    sent: dict[str, float] = {}
    got: list[dict[str, Any]] = []

    def post() -> None:
        time.sleep(1.0)  # the stream is open by then
        for i in range(3):
            number = report(gw, NANBA, f"经代理 {i}")
            sent[number] = time.monotonic()
            time.sleep(0.5)

    poster = threading.Thread(target=post)
    poster.start()

    def seen(evs: list[dict[str, Any]]) -> bool:
        for e in evs[len(got) :]:
            got.append(dict(e, received=time.monotonic()))
        return len(sent) == 3 and set(sent) <= {
            e["data"]["incident"] for e in got if e["data"]["action"] == "create"
        }

    read_events(proxy.base, c.cookie, seen, timeout=30)
    poster.join()
    for e in got:
        number = e["data"]["incident"]
        if e["data"]["action"] == "create" and number in sent:
            # Well under the 0.5 s between reports: not held back by nginx.
            assert e["received"] - sent[number] < 0.4, (number, e["received"] - sent[number])
