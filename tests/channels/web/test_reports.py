"""The web channel's reports API and the citizen's form against a real gateway process:
the Idempotency-Key, bad input refused with a clear error and nothing stored, a store
failure answered as temporary and its retry stored once, the form without JavaScript."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess

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
