"""The real gateway process over HTTP: a web report taken through the whole 110 workflow
by tokens with the right roles, the public receipt, scopes, escalation in real time, and
bad input refused with a clear error while the server keeps serving."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess

CITY, DISTRICT, STATION = "530100000000", "530102000000", "530102510000"
OTHER_STATION = "530103510000"
NANBA = {"lat": 24.98, "lon": 102.65, "accuracy_m": 20, "address": "南坝路8号"}


def post_report(gw: GatewayProcess, **extra: Any) -> tuple[int, Any]:
    body = {
        "sender": {"kind": "phone", "id": "13812345678", "name": "张三"},
        "text": "有人抢劫，嫌疑人往北跑了",
        "location": NANBA,
    }
    body.update(extra)
    return gw.request("POST", "/api/v1/reports", body)


def incident_count(gw: GatewayProcess) -> int:
    status, body = gw.request("GET", "/healthz")
    assert status == 200
    return int(body["incidents"])


@pytest.fixture(scope="module")
def tokens(gateway: GatewayProcess) -> dict[str, str]:
    return {
        "calltaker": gateway.token("ct1", "calltaker"),
        "dispatcher": gateway.token("dp1", "dispatcher"),
        "station": gateway.token("po1", "unit_officer", STATION),
        "other": gateway.token("po2", "unit_officer", OTHER_STATION),
        "district": gateway.token("do1", "unit_officer", DISTRICT),
        "supervisor": gateway.token("sv1", "supervisor"),
    }


def act(gw: GatewayProcess, token: str, number: str, action: str, **params: Any) -> tuple[int, Any]:
    return gw.request(
        "POST", f"/api/v1/incidents/{number}/actions", {"action": action, **params}, token=token
    )


def test_web_report_through_the_whole_workflow(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    status, body = post_report(gateway, category="criminal")
    assert status == 201, body
    number, receipt = body["incident"]["number"], body["receipt"]
    assert body["incident"]["state"] == "received"

    # The station that owns the location sees it in its queue; another station does not.
    status, queue = gateway.request(
        "GET", "/api/v1/incidents?state=received", token=tokens["station"]
    )
    assert status == 200 and number in [i["number"] for i in queue["incidents"]]
    status, queue = gateway.request("GET", "/api/v1/incidents", token=tokens["other"])
    assert number not in [i["number"] for i in queue["incidents"]]
    assert gateway.request("GET", f"/api/v1/incidents/{number}", token=tokens["other"])[0] == 403

    steps = [
        ("calltaker", "accept", {"category": "criminal", "priority": 2}, "accepted"),
        ("dispatcher", "dispatch", {}, "dispatched"),
        ("station", "acknowledge", {}, "acknowledged"),
        ("station", "arrive", {}, "on_scene"),
        ("station", "feedback", {"result": "嫌疑人已被抓获，财物已追回"}, "handled"),
        ("supervisor", "close", {}, "closed"),
    ]
    for who, action, params, state in steps:
        status, doc = act(gateway, tokens[who], number, action, **params)
        assert status == 200, (action, doc)
        assert doc["state"] == state
    assert doc["unit"] == STATION and doc["unit_assigned"]
    assert [e["action"] for e in doc["events"]] == [
        "create",
        "accept",
        "dispatch",
        "acknowledge",
        "arrive",
        "feedback",
        "close",
    ]
    assert doc["events"][2]["actor"] == {"user": "dp1", "role": "dispatcher", "unit": CITY}

    # The citizen's receipt shows state and times, and nothing personal.
    status, pub = gateway.request("GET", f"/api/v1/receipts/{receipt}")
    assert status == 200 and pub["state"] == "closed"
    assert "13812345678" not in str(pub) and "张三" not in str(pub)
    assert set(pub) == {"receipt", "state", "received_at", "milestones"}


def test_refusals(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    number = post_report(gateway)[1]["incident"]["number"]
    status, err = act(gateway, tokens["station"], number, "acknowledge")
    assert status == 409 and "received" in err["message"] and "acknowledge" in err["message"]
    status, err = act(gateway, tokens["station"], number, "accept", category="criminal")
    assert status == 403 and err["error"] == "forbidden"
    assert gateway.request("GET", "/api/v1/incidents")[0] == 401
    assert gateway.request("GET", "/api/v1/incidents", token="agw_nonsense")[0] == 401
    status, err = act(gateway, tokens["calltaker"], number, "accept")
    assert status == 422 and "category" in err["message"]
    status, err = act(gateway, tokens["calltaker"], number, "fly")
    assert status == 422 and err["field"] == "action"
    assert (
        act(gateway, tokens["calltaker"], "530100-20991231-000001", "accept", category="tip")[0]
        == 404
    )


def test_missed_acknowledgement_escalates_to_district(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    number = post_report(gateway, text="打架斗殴")[1]["incident"]["number"]
    assert act(gateway, tokens["calltaker"], number, "accept", category="public_order")[0] == 200
    assert act(gateway, tokens["dispatcher"], number, "dispatch")[0] == 200
    deadline = time.monotonic() + 20
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        doc = gateway.request("GET", f"/api/v1/incidents/{number}", token=tokens["supervisor"])[1]
        if doc["unit"] != STATION:
            break
        time.sleep(0.2)
    assert doc["unit"] == DISTRICT, doc
    assert "deadline_missed" in [e["action"] for e in doc["events"]]
    # Now it is the district's to acknowledge, no longer the station's.
    assert act(gateway, tokens["station"], number, "acknowledge")[0] == 403
    assert act(gateway, tokens["district"], number, "acknowledge")[0] == 200


def test_idempotency_key_gives_same_answer(gateway: GatewayProcess) -> None:
    before = incident_count(gateway)
    body = {"sender": {"kind": "web", "id": "anonymous"}, "text": "路边有可疑包裹"}
    key = {"Idempotency-Key": "retry-test-1"}
    first = gateway.request("POST", "/api/v1/reports", body, headers=key)
    second = gateway.request("POST", "/api/v1/reports", body, headers=key)
    assert first[0] == 201 and second[0] == 201
    assert first[1] == second[1]
    assert incident_count(gateway) == before + 1


BIG = b'{"sender":{"kind":"web","id":"x"},"text":"' + b"a" * (1 << 20) + b'"}'


@pytest.mark.parametrize(
    ("raw", "ctype", "status", "field"),
    [
        (b'{"sender": {"kind": "phone", "id": "1"}', "application/json", 400, None),
        (b"\xff\xfe", "application/json", 400, None),
        (b"[]", "application/json", 422, None),
        (b'{"sender": {"kind": "phone", "id": 5}}', "application/json", 422, "sender.id"),
        (b'{"sender": {"kind": "pigeon", "id": "1"}}', "application/json", 422, "sender.kind"),
        (
            b'{"sender": {"kind": "phone", "id": "1"}, "colour": "red"}',
            "application/json",
            422,
            "colour",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1", "age": 3}}',
            "application/json",
            422,
            "sender.age",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1"}, "location": {"lat": NaN, "lon": 0}}',
            "application/json",
            400,
            None,
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1"}, "location": {"lat": 91, "lon": 0}}',
            "application/json",
            422,
            "location.lat",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1"}, "location": {"lat": 20}}',
            "application/json",
            422,
            "location",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1"}, "text": "a\\u0000b"}',
            "application/json",
            422,
            "text",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "1\\u001b[2J"}}',
            "application/json",
            422,
            "sender.id",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "13800000001"}, "drill": true}',
            "application/json",
            403,
            "drill",
        ),
        (
            b'{"sender": {"kind": "phone", "id": "13800000001"}, "channel": "smpp"}',
            "application/json",
            403,
            "channel",
        ),
        (b'{"sender": {"kind": "phone", "id": "1"}}', "text/plain", 415, None),
        (BIG, "application/json", 413, None),
    ],
    ids=[
        "truncated",
        "not-utf8",
        "array",
        "wrong-type",
        "bad-enum",
        "unknown-field",
        "unknown-nested",
        "nan",
        "lat-range",
        "lat-alone",
        "nul-char",
        "escape-char",
        "drill-anon",
        "channel-anon",
        "content-type",
        "too-large",
    ],
)
def test_bad_input_is_refused_and_nothing_stored(
    gateway: GatewayProcess, raw: bytes, ctype: str, status: int, field: str | None
) -> None:
    before = incident_count(gateway)
    got, err = gateway.request("POST", "/api/v1/reports", raw=raw, headers={"Content-Type": ctype})
    assert got == status, err
    assert set(err) == {"error", "message", "field"} and err["message"]
    if field is not None:
        assert err["field"] == field, err
    assert incident_count(gateway) == before  # nothing stored, and still serving


def test_store_failure_is_a_temporary_error_and_retry_stores_once(gateway: GatewayProcess) -> None:
    """A real fault, not a mock: another process holds SQLite's write lock longer than the
    gateway's busy timeout (300 ms in this config)."""
    db = sqlite3.connect(gateway.data_dir / "alarmgw.db", timeout=10)
    db.isolation_level = None
    db.execute("BEGIN IMMEDIATE")
    try:
        status, err = gateway.request(
            "POST",
            "/api/v1/reports",
            {"sender": {"kind": "phone", "id": "13900000999"}, "text": "锁库测试"},
            headers={"Idempotency-Key": "locked-1"},
        )
        assert status == 503 and err["error"] == "unavailable"
    finally:
        db.execute("ROLLBACK")
        db.close()
    before = incident_count(gateway)
    body = {"sender": {"kind": "phone", "id": "13900000999"}, "text": "锁库测试"}
    first = gateway.request(
        "POST", "/api/v1/reports", body, headers={"Idempotency-Key": "locked-1"}
    )
    again = gateway.request(
        "POST", "/api/v1/reports", body, headers={"Idempotency-Key": "locked-1"}
    )
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert incident_count(gateway) == before + 1


def test_citizen_form_without_javascript(gateway: GatewayProcess) -> None:
    status, page = gateway.request("GET", "/report")
    assert status == 200 and "网上报警" in page and 'name="token"' in page
    token = page.split('name="token" value="')[1].split('"')[0]
    from urllib.parse import urlencode

    form = urlencode(
        {
            "token": token,
            "text": "我的电动车被偷了",
            "address": "明湖路12号",
            "phone": "13712345678",
            "category": "criminal",
        }
    ).encode()
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    status, done = gateway.request("POST", "/report", raw=form, headers=hdr)
    assert status == 201 and "回执号" in done
    again = gateway.request("POST", "/report", raw=form, headers=hdr)[1]
    receipt = done.split('id="receipt">')[1].split("<")[0]
    assert receipt in again  # a resubmitted form is the same report
    status, page = gateway.request(
        "POST", "/report", raw=urlencode({"text": ""}).encode(), headers=hdr
    )
    assert status == 400 and "请填写" in page


def test_units_openapi_metrics(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    status, tree = gateway.request("GET", "/api/v1/units", token=tokens["calltaker"])
    assert status == 200 and tree["code"] == CITY
    assert "secret" not in str(tree)
    status, spec = gateway.request("GET", "/api/v1/openapi.json")
    assert status == 200 and spec["openapi"].startswith("3.1")
    assert "/api/v1/reports" in spec["paths"]
    status, text = gateway.request("GET", "/metrics")
    assert status == 200
    assert 'alarmgw_reports_total{channel="web",outcome="stored"}' in text
    assert 'alarmgw_deliveries_total{kind="webhook",result="failed"}' in text
    assert "alarmgw_commit_seconds_bucket" in text and 'alarmgw_incidents{state="closed"}' in text
    assert gateway.request("DELETE", "/api/v1/reports")[0] == 405
    # Logs mask phone numbers (138****5678), never the whole number.
    assert "138****5678" in gateway.log() and "13812345678" not in gateway.log()
    assert gateway.request("GET", "/nope")[0] == 404


def test_drill_is_marked_end_to_end(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    coordinator = gateway.token("drill1", "drill_coordinator")
    status, body = gateway.request(
        "POST",
        "/api/v1/reports",
        {
            "sender": {"kind": "phone", "id": "13900001111"},
            "text": "【演练】银行抢劫",
            "location": NANBA,
            "drill": True,
        },
        token=coordinator,
    )
    assert status == 201, body
    number = body["incident"]["number"]
    status, doc = act(gateway, coordinator, number, "accept", category="criminal")
    assert status == 200 and doc["drill"] is True
    assert all(e["drill"] for e in doc["events"])
    assert doc["reports"][0]["drill"] is True
    # A drill coordinator cannot touch a real incident.
    real = post_report(gateway)[1]["incident"]["number"]
    status, err = act(gateway, coordinator, real, "accept", category="criminal")
    assert status == 403 and "drill" in err["message"]
