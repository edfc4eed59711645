"""The console's live stream (Server-Sent Events) against a real gateway process: ids are
the audit log's seq, an officer's stream carries only their station's incidents, and a
reconnect with Last-Event-ID replays what was missed — also across a restart."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import city_config
from tests.console.test_sessions import BEIMEN, NANBA, report
from tests.peers.console import ConsoleClient
from tests.peers.gateway import GatewayProcess

NANBA_CODE, BEIMEN_CODE = "530102510000", "530102530000"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("stream")
    gw = GatewayProcess(tmp / "data", city_config(tmp))
    gw.user("disp", "dispatcher")
    gw.user("nanba", "unit_officer", unit=NANBA_CODE)
    gw.user("beimen", "unit_officer", unit=BEIMEN_CODE)
    gw.start()
    yield gw
    assert gw.stop() == 0, gw.log()


def head(gw: GatewayProcess) -> int:
    conn = sqlite3.connect(Path(gw.data_dir) / "alarmgw.db")
    try:
        return int(conn.execute("SELECT seq FROM chain_head").fetchone()[0])
    finally:
        conn.close()


def logged_in(gw: GatewayProcess, user: str) -> ConsoleClient:
    c = ConsoleClient(gw.base)
    assert c.login(user, "correct-horse-1").status == 303
    return c


def creates(events: list[dict[str, Any]]) -> set[str]:
    return {e["data"]["incident"] for e in events if e["data"]["action"] == "create"}


def test_an_officer_never_receives_another_stations_incident(gw: GatewayProcess) -> None:
    start = head(gw)
    ours = [report(gw, NANBA, f"南坝 {i}") for i in range(3)]
    theirs = [report(gw, BEIMEN, f"北门 {i}") for i in range(3)]
    for user, mine, other, code in (
        ("nanba", ours, theirs, NANBA_CODE),
        ("beimen", theirs, ours, BEIMEN_CODE),
    ):
        c = logged_in(gw, user)
        got = c.events(lambda evs, mine=mine: set(mine) <= creates(evs), since=start)
        assert {e["data"]["incident"] for e in got}.isdisjoint(other)
        assert {e["data"]["unit"] for e in got} == {code}
        assert all(e["event"] == "incident" for e in got)
    # The city's dispatcher sees both.
    everyone = logged_in(gw, "disp").events(
        lambda evs: set(ours + theirs) <= creates(evs), since=start
    )
    ids = [e["id"] for e in everyone]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_a_transfer_away_is_seen_by_the_unit_it_left(gw: GatewayProcess) -> None:
    number = report(gw, NANBA, "转警测试")
    disp = logged_in(gw, "disp")
    assert disp.act(number, {"action": "accept", "category": "dispute"}).status == 200
    start = head(gw)
    answer = disp.act(number, {"action": "transfer", "unit": BEIMEN_CODE, "reason": "属北门辖区"})
    assert answer.status == 200, answer.text
    got = logged_in(gw, "nanba").events(
        lambda evs: any(e["data"]["action"] == "transfer" for e in evs), since=start
    )
    moved = [e for e in got if e["data"]["action"] == "transfer"][0]
    assert moved["data"]["unit"] == BEIMEN_CODE and moved["data"]["incident"] == number
    assert moved["data"]["data"]["from_unit"] == NANBA_CODE


def test_reconnect_after_a_restart_loses_no_update(gw: GatewayProcess) -> None:
    c = logged_in(gw, "disp")
    first = report(gw, NANBA, "重启前")
    seen = c.events(lambda evs: first in creates(evs), since=head(gw) - 5)
    last = seen[-1]["id"]
    gw.kill()  # kill -9: nothing is flushed on the way down
    gw.start()
    after = [report(gw, BEIMEN, f"重启后 {i}") for i in range(4)]
    n = after[0]
    assert c.act(n, {"action": "accept", "category": "criminal"}).status == 200
    # The browser reconnects with the id of the last event it had (EventSource does).
    replay = c.events(
        lambda evs: (
            set(after) <= creates(evs) and any(e["data"]["action"] == "accept" for e in evs)
        ),
        last_event_id=last,
    )
    ids = [e["id"] for e in replay]
    assert ids[0] > last and ids == sorted(ids)
    conn = sqlite3.connect(Path(gw.data_dir) / "alarmgw.db")
    try:
        logged = [
            seq
            for (seq,) in conn.execute(
                "SELECT seq FROM events WHERE seq > ? AND seq <= ? AND number IS NOT NULL"
                " ORDER BY seq",
                (last, ids[-1]),
            )
        ]
    finally:
        conn.close()
    assert ids == logged  # every incident event in between, in order, none twice


def test_a_stream_says_how_to_reconnect_and_keeps_proxies_from_buffering(
    gw: GatewayProcess,
) -> None:
    import http.client

    c = logged_in(gw, "disp")
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("GET", "/console/events", headers={"Cookie": c.cookie})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("X-Accel-Buffering") == "no"
    assert resp.getheader("Cache-Control") == "no-store"
    assert resp.readline().decode().startswith("retry: ")
    conn.close()
    # Without a session: 401, not a login page (EventSource retries).
    status, _ = gw.request("GET", "/console/events")
    assert status == 401
