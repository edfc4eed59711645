"""Signed alarms end to end: the test signs as a system would (`gateway.notify.webhook.sign`,
the scheme of the gateway's own webhooks) and POSTs to a real gateway process.

Good → 201 and an incident; bad signature, tampered body, unknown system, late or future
timestamp → 401, a log line naming the system and the reason (not the secret, not the
body), nothing stored; the same request again → the same receipt, one report; a store
failure (a real SQLite lock) → 503, the retry → one report; kill -9 after a 201 → the
report is there after the restart."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.systems.city import (
    DRILL,
    DRILL_SECRET,
    FIRE,
    FIRE_SECRETS,
    SETTINGS,
    encode,
    fire_alarm,
    signed,
)
from tests.peers.gateway import GatewayProcess, LogMark, channel_gateway, db

PATH = "/api/v1/systems/{}/alarms"


def start(tmp: Path, busy_timeout_ms: int = 300) -> GatewayProcess:
    gw = channel_gateway(tmp, "systems", SETTINGS, busy_timeout_ms=busy_timeout_ms, listen=False)
    gw.start()
    return gw


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = start(tmp_path_factory.mktemp("systems"))
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def post(
    gw: GatewayProcess, body: bytes, headers: dict[str, str], system: str = FIRE
) -> tuple[int, Any]:
    return gw.request("POST", PATH.format(system), raw=body, headers=headers)


def stored(gw: GatewayProcess, external_id: str) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.receipt, r.doc, i.number, i.category, i.priority, i.drill "
            "FROM reports r JOIN incidents i ON i.id = r.incident_id "
            "WHERE r.channel = 'systems' AND r.external_id = ?",
            (external_id,),
        ).fetchall()
    return [{**dict(r), "doc": json.loads(r["doc"])} for r in rows]


def test_a_signed_alarm_becomes_an_incident(gw: GatewayProcess) -> None:
    body = encode(fire_alarm("G-1"))
    status, answer = post(gw, body, signed(body))
    assert status == 201, answer
    (r,) = stored(gw, "fire119:G-1")
    assert r["receipt"] == answer["receipt"] and r["number"] == answer["incident"]["number"]
    assert (r["category"], r["priority"], r["drill"]) == ("fire", 1, 0)
    assert r["doc"]["sender"] == {"kind": "system", "id": FIRE, "name": "119消防接处警系统"}
    assert r["doc"]["location"] == {"lat": 24.98, "lon": 102.65, "address": "南坝路1号"}
    assert r["doc"]["received_at"] == "2026-11-26T09:30:00.000Z"
    supervisor = gw.token("sys-sup", "supervisor")
    status, doc = gw.request("GET", f"/api/v1/incidents/{r['number']}", token=supervisor)
    assert status == 200, doc
    assert [x["channel"] for x in doc["reports"]] == ["systems"]


def test_the_same_request_again_gets_the_same_receipt(gw: GatewayProcess) -> None:
    body = encode(fire_alarm("G-2"))
    headers = signed(body)
    first = post(gw, body, headers)
    again = post(gw, body, headers)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    resigned = post(gw, body, signed(body, FIRE_SECRETS[1]))  # a retry, signed anew
    assert resigned == first
    assert len(stored(gw, "fire119:G-2")) == 1


def test_a_drill_system_files_drills(gw: GatewayProcess) -> None:
    body = encode({"msg": "演练：南坝路1号起火"})
    headers = signed(body, DRILL_SECRET) | {"Idempotency-Key": "drill-1"}
    status, answer = post(gw, body, headers, DRILL)
    assert status == 201, answer
    (r,) = stored(gw, "drillsys:drill-1")
    assert r["drill"] == 1 and r["doc"]["drill"] is True


def _tampered(body: bytes) -> dict[str, str]:
    return signed(body.replace(b"G-3", b"G-4"))


REFUSALS = [
    # (name, system, headers of the body, reason in the log)
    ("bad signature", FIRE, lambda b: signed(b, "fire119-stolen-guess-0000"), "bad_signature"),
    ("tampered body", FIRE, _tampered, "bad_signature"),
    ("unknown system", "police-x", lambda b: signed(b), "unknown_system"),
    ("late", FIRE, lambda b: signed(b, timestamp=int(time.time()) - 301), "late"),
    ("from the future", FIRE, lambda b: signed(b, timestamp=int(time.time()) + 400), "early"),
    ("no signature", FIRE, lambda b: {"Content-Type": "application/json"}, "no_timestamp"),
]


@pytest.mark.parametrize(
    ("system", "headers", "reason"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_refused_with_401_logged_and_nothing_stored(
    gw: GatewayProcess, system: str, headers: Any, reason: str
) -> None:
    body = encode(fire_alarm("G-3"))
    mark = LogMark(gw)
    status, answer = post(gw, body, headers(body), system)
    assert status == 401 and answer["error"] == "unauthorized", answer
    assert not stored(gw, "fire119:G-3")
    line = next(x for x in mark.text().splitlines() if "Refused an alarm" in x)
    assert f"from system {system}: {reason}" in line
    log = mark.text()
    assert not any(s in log for s in FIRE_SECRETS) and "仓库起火" not in log
    if reason == "unknown_system":  # what a bad signature hears, word for word
        bad = post(gw, body, signed(body, "fire119-stolen-guess-0000"))
        assert (status, answer) == bad


def test_the_refusals_are_counted(gw: GatewayProcess) -> None:
    body = encode(fire_alarm("G-5"))
    post(gw, body, signed(body, "fire119-stolen-guess-0000"))
    post(gw, body, signed(body), "nobody")
    status, text = gw.request("GET", "/metrics")
    assert status == 200
    assert 'alarmgw_systems_refused_total{reason="bad_signature",system="fire119"}' in text
    assert 'alarmgw_systems_refused_total{reason="unknown_system",system="unknown"}' in text
    assert "nobody" not in text


def test_a_body_that_is_no_alarm_is_422_naming_the_pointer(gw: GatewayProcess) -> None:
    body = encode({"alarm": {"id": "G-6", "position": {"lat": 24.98, "lng": 102.65}}})
    status, answer = post(gw, body, signed(body))
    assert status == 422 and answer["field"] == "/alarm/content", answer
    assert not stored(gw, "fire119:G-6")


def test_a_store_failure_is_503_and_the_retry_is_one_report(gw: GatewayProcess) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout. 503 (temporary); the system's retry after it is one report."""
    body = encode(fire_alarm("G-7"))
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        status, answer = post(gw, body, signed(body))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert status == 503 and answer["error"] == "unavailable", answer
    assert not stored(gw, "fire119:G-7")
    assert post(gw, body, signed(body))[0] == 201
    assert post(gw, body, signed(body))[0] == 201
    assert len(stored(gw, "fire119:G-7")) == 1


def test_the_route_is_in_the_openapi_document(gw: GatewayProcess) -> None:
    status, doc = gw.request("GET", "/api/v1/openapi.json")
    assert status == 200
    op = doc["paths"]["/api/v1/systems/{system}/alarms"]["post"]
    assert op["security"] == [] and "401" in op["responses"]


def test_kill_9_after_a_201_loses_nothing(tmp_path: Path) -> None:
    gw = start(tmp_path, busy_timeout_ms=5000)
    receipts = {}
    try:
        for i in range(20):
            body = encode(fire_alarm(f"K-{i}"))
            status, answer = post(gw, body, signed(body))
            assert status == 201, answer
            receipts[f"fire119:K-{i}"] = answer["receipt"]
        gw.kill()
        gw.start()
        for external_id, receipt in receipts.items():
            assert [r["receipt"] for r in stored(gw, external_id)] == [receipt]
        body = encode(fire_alarm("K-0"))  # the system's retry after the restart
        assert post(gw, body, signed(body))[1]["receipt"] == receipts["fire119:K-0"]
    finally:
        assert gw.stop() == 0, gw.log()
