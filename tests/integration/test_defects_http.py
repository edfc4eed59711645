"""Defects a user found in the HTTP API, each pinned by a test against the real gateway
process (`tests/peers/gateway.py`), so that they hold whatever the code's layout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from gateway.config import sample_text
from tests.peers.gateway import GatewayProcess

CITY, STATION = "530100000000", "530102510000"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NANBA = {"lat": 24.98, "lon": 102.65, "accuracy_m": 20, "address": "南坝路8号"}


@pytest.fixture(scope="module")
def tokens(gateway: GatewayProcess) -> dict[str, str]:
    return {
        "calltaker": gateway.token("ct-defects", "calltaker"),
        "supervisor": gateway.token("sv-defects", "supervisor"),
    }


def new_incident(gw: GatewayProcess, **extra: Any) -> str:
    body = {"sender": {"kind": "web", "id": "anonymous"}, "text": "南坝路有人打架", **extra}
    status, receipt = gw.request("POST", "/api/v1/reports", body)
    assert status == 201, receipt
    number: str = receipt["incident"]["number"]
    return number


def act_raw(gw: GatewayProcess, token: str, number: str, raw: bytes) -> tuple[int, Any]:
    return gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        raw=raw,
        token=token,
        headers={"Content-Type": "application/json"},
    )


# -- 1. "priority": 1.0 answered 500 ------------------------------------------------------------


@pytest.mark.parametrize("priority", ["1.0", "4.0", "1e0"])
def test_accept_with_a_whole_float_priority(
    gateway: GatewayProcess, tokens: dict[str, str], priority: str
) -> None:
    number = new_incident(gateway, location=NANBA)
    raw = b'{"action": "accept", "category": "criminal", "priority": ' + priority.encode() + b"}"
    status, doc = act_raw(gateway, tokens["calltaker"], number, raw)
    assert status == 200, doc
    want = int(float(priority))
    assert doc["priority"] == want and type(doc["priority"]) is int
    [accept] = [e for e in doc["events"] if e["action"] == "accept"]
    assert accept["data"]["priority"] == want and type(accept["data"]["priority"]) is int
    status, again = gateway.request(
        "GET", f"/api/v1/incidents/{number}", token=tokens["supervisor"]
    )
    assert status == 200 and type(again["priority"]) is int


# -- 2. half a location replaced the incident's, unrouted and unlogged --------------------------


@pytest.mark.parametrize(
    ("location", "field"),
    [
        ({"lon": 100.0}, "location"),
        ({"lat": 1e-101}, "location"),
        ({"accuracy_m": 5}, "location"),
        ({"lat": 91, "lon": 102.65}, "location.lat"),
    ],
    ids=["lon-alone", "lat-alone", "accuracy-alone", "lat-range"],
)
def test_accept_refuses_half_a_location(
    gateway: GatewayProcess, tokens: dict[str, str], location: dict[str, float], field: str
) -> None:
    number = new_incident(gateway, location=NANBA)
    status, err = gateway.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "accept", "category": "criminal", "location": location},
        token=tokens["calltaker"],
    )
    assert status == 422 and err["field"] == field, err
    status, doc = gateway.request("GET", f"/api/v1/incidents/{number}", token=tokens["supervisor"])
    assert doc["state"] == "received" and doc["location"] == NANBA and doc["unit"] == STATION
    assert [e["action"] for e in doc["events"]] == ["create"]


def test_a_location_change_is_in_the_audit_log(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    number = new_incident(gateway, location=NANBA)
    moved = {"lat": 25.04, "lon": 102.71, "address": "青年路1号"}  # 青山派出所
    status, doc = gateway.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "accept", "category": "criminal", "location": moved},
        token=tokens["calltaker"],
    )
    assert status == 200, doc
    assert doc["location"] == moved and doc["unit"] == "530103520000"
    [accept] = [e for e in doc["events"] if e["action"] == "accept"]
    assert accept["actor"]["user"] == "ct-defects"
    assert accept["data"]["location"] == moved and accept["data"]["from_location"] == NANBA


# -- 5. category codes came from a fixed enum, not from the city's config -----------------------

WILDLIFE = '[categories.wildlife]\nname = "野生动物"\npriority = 3\n\n'


@pytest.fixture(scope="module")
def wildlife_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """A city that defines a category of its own (野生动物: a snake in a flat, a boar in town)."""
    tmp = tmp_path_factory.mktemp("wildlife")
    text = sample_text()
    assert "[categories.other]\n" in text
    config = tmp / "city.toml"
    config.write_text(text.replace("[categories.other]\n", WILDLIFE + "[categories.other]\n"))
    gw = GatewayProcess(tmp / "data", config)
    gw.start()
    yield gw
    assert gw.stop() == 0, gw.log()


def test_a_category_of_the_config_is_accepted_and_others_refused(
    wildlife_city: GatewayProcess,
) -> None:
    gw = wildlife_city
    calltaker = gw.token("ct-wild", "calltaker")
    number = new_incident(gw, location=NANBA, category="wildlife")
    status, doc = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "accept", "category": "wildlife"},
        token=calltaker,
    )
    assert status == 200, doc
    assert doc["category"] == "wildlife" and doc["priority"] == 3
    assert doc["reports"][0]["category"] == "wildlife"

    status, err = gw.request(
        "POST", "/api/v1/reports", {"sender": {"kind": "web", "id": "x"}, "category": "alien"}
    )
    assert status == 422 and err["field"] == "category", err
    other = new_incident(gw, location=NANBA)
    status, err = gw.request(
        "POST",
        f"/api/v1/incidents/{other}/actions",
        {"action": "accept", "category": "alien"},
        token=calltaker,
    )
    assert status == 422 and err["field"] == "category", err


def test_the_openapi_document_lists_the_config_categories(wildlife_city: GatewayProcess) -> None:
    status, spec = wildlife_city.request("GET", "/api/v1/openapi.json")
    assert status == 200
    schemas = spec["components"]["schemas"]
    codes = [
        "criminal", "public_order", "traffic", "fire", "disaster", "dispute", "assistance",
        "tip", "wildlife", "other",
    ]  # fmt: skip
    assert schemas["Report"]["$defs"]["category"]["enum"] == codes
    assert schemas["ReportSubmission"]["$defs"]["category"]["enum"] == codes
    assert schemas["IncidentAction"]["properties"]["category"]["enum"] == codes


# -- 6. a web report's phone was neither checked nor normalised ---------------------------------


def test_a_web_report_phone_must_look_like_one(gateway: GatewayProcess) -> None:
    before = gateway.request("GET", "/healthz")[1]["incidents"]
    for bad in ("abc", "12", "139-1111-222x"):
        status, err = gateway.request(
            "POST", "/api/v1/reports", {"sender": {"kind": "phone", "id": bad}, "text": "救命"}
        )
        assert status == 422 and err["field"] == "sender.id", (bad, err)
    form = urlencode({"token": "form-phone-abc", "text": "有人打架", "phone": "abc"}).encode()
    status, page = gateway.request(
        "POST", "/report", raw=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 400 and 'id="error"' in page and "电话" in page
    assert gateway.request("GET", "/healthz")[1]["incidents"] == before


def test_a_phone_correlates_however_it_is_written(gateway: GatewayProcess) -> None:
    def report(number: str) -> Any:
        status, body = gateway.request(
            "POST", "/api/v1/reports", {"sender": {"kind": "phone", "id": number}, "text": "救命"}
        )
        assert status == 201, body
        return body["incident"]["number"]

    first = report("+86 139 2222 3333")
    assert report("13922223333") == first
    assert report("0086-139-2222-3333") == first


def test_an_integration_may_file_a_withheld_caller(gateway: GatewayProcess) -> None:
    """A report that names its channel files what its peer says: a 110 call with a withheld
    number is phone `anonymous-<linkedid>`, and an integration naming its own channel may do
    the same. Without a channel (or with `web`) a phone must look like one, whoever sends it:
    the submission schema says so."""
    token = gateway.token("pbx", "integration")
    withheld = {"kind": "phone", "id": "anonymous-1764000000.12"}
    status, body = gateway.request(
        "POST",
        "/api/v1/reports",
        {"channel": "pbx", "sender": withheld, "text": "无声电话"},
        token=token,
    )
    assert status == 201, body
    status, body = gateway.request(
        "POST", "/api/v1/reports", {"sender": withheld, "text": "无声电话"}, token=token
    )
    assert (status, body["field"]) == (422, "sender.id"), body


# -- 7. HTTP API details ----------------------------------------------------------------------


def test_every_status_of_an_action_is_documented(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    number = new_incident(gateway)
    path = f"/api/v1/incidents/{number}/actions"
    big = b'{"action": "accept", "reason": "' + b"a" * (1 << 20) + b'"}'
    status, err = act_raw(gateway, tokens["calltaker"], number, big)
    assert status == 413 and err["error"] == "too_large", err
    status, err = gateway.request(
        "POST",
        path,
        raw=b'{"action": "accept"}',
        token=tokens["calltaker"],
        headers={"Content-Type": "text/plain"},
    )
    assert status == 415 and err["error"] == "unsupported_media_type", err
    spec = gateway.request("GET", "/api/v1/openapi.json")[1]
    documented = spec["paths"]["/api/v1/incidents/{number}/actions"]["post"]["responses"]
    assert {"413", "415"} <= set(documented)
    assert documented["413"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "1.0", "ten"])
def test_a_limit_out_of_range_is_refused(
    gateway: GatewayProcess, tokens: dict[str, str], limit: str
) -> None:
    status, err = gateway.request(
        "GET", f"/api/v1/incidents?limit={limit}", token=tokens["supervisor"]
    )
    assert status == 400 and err["error"] == "bad_query" and err["field"] == "limit", err


def test_limits_at_the_bounds_are_taken(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    new_incident(gateway)
    for limit, most in (("1", 1), ("1000", 1000)):
        status, body = gateway.request(
            "GET", f"/api/v1/incidents?limit={limit}", token=tokens["supervisor"]
        )
        assert status == 200 and 1 <= len(body["incidents"]) <= most, body


def test_merge_into_a_missing_or_closed_master_names_master(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    number = new_incident(gateway)
    path = f"/api/v1/incidents/{number}/actions"
    status, err = gateway.request(
        "POST",
        path,
        {"action": "merge", "master": "530100-20991231-000001"},
        token=tokens["calltaker"],
    )
    assert status == 422 and err["field"] == "master", err
    invalid = new_incident(gateway)
    status, doc = gateway.request(
        "POST",
        f"/api/v1/incidents/{invalid}/actions",
        {"action": "mark_invalid", "reason": "误报"},
        token=tokens["calltaker"],
    )
    assert status == 200, doc
    status, err = gateway.request(
        "POST", path, {"action": "merge", "master": invalid}, token=tokens["calltaker"]
    )
    assert status == 422 and err["field"] == "master" and "invalid" in err["message"], err
    status, doc = gateway.request("GET", f"/api/v1/incidents/{number}", token=tokens["supervisor"])
    assert doc["state"] == "received"


def _on_scene(gw: GatewayProcess, token: str) -> str:
    number = new_incident(gw, location=NANBA)
    for body in (
        {"action": "accept", "category": "criminal"},
        {"action": "dispatch"},
        {"action": "acknowledge"},
        {"action": "arrive"},
    ):
        status, doc = gw.request("POST", f"/api/v1/incidents/{number}/actions", body, token=token)
        assert status == 200, doc
    return number


@pytest.mark.parametrize(
    ("action", "field", "before"),
    [
        ("feedback", "result", "on_scene"),
        ("mark_invalid", "reason", "received"),
        ("cancel", "reason", "received"),
        ("accept", "category", "received"),
        ("merge", "master", "received"),
        ("transfer", "unit", "accepted"),
    ],
)
def test_a_missing_parameter_is_named(
    gateway: GatewayProcess, tokens: dict[str, str], action: str, field: str, before: str
) -> None:
    sv = tokens["supervisor"]
    if before == "on_scene":
        number = _on_scene(gateway, sv)
    else:
        number = new_incident(gateway, location=NANBA)
        if before == "accepted":
            body = {"action": "accept", "category": "criminal"}
            gateway.request("POST", f"/api/v1/incidents/{number}/actions", body, token=sv)
    status, err = gateway.request(
        "POST", f"/api/v1/incidents/{number}/actions", {"action": action}, token=sv
    )
    assert status == 422 and err["field"] == field and field in err["message"], err


# -- 8. times for a person are the city's, with its offset ----------------------------------------


def test_the_receipt_page_and_the_log_show_the_city_time(gateway: GatewayProcess) -> None:
    form = urlencode({"token": "form-times-1", "text": "有人打架", "phone": "13700002222"})
    before = datetime.now(UTC)
    status, page = gateway.request(
        "POST",
        "/report",
        raw=form.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    after = datetime.now(UTC)
    assert status == 201, page
    shown = re.search(r'id="received">(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+08:00<', page)
    assert shown, page
    at = datetime.strptime(shown[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI)
    assert before.replace(microsecond=0) <= at <= after
    # The log's timestamps too (twistd's format), every line of it.
    stamps = re.findall(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)([+-]\d{4}) ", gateway.log(), re.M)
    assert stamps and {offset for _, offset in stamps} == {"+0800"}, stamps[:3]
    # And the access lines inside it (twisted.web writes them in UTC by itself).
    access = re.findall(r'"POST /report HTTP/1.1" 201', gateway.log())
    clf = re.findall(r"\[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d) ([+-]\d{4})\]", gateway.log())
    assert access and clf and {offset for _, offset in clf} == {"+0800"}, clf[:3]
    logged = datetime.strptime(clf[-1][0], "%d/%b/%Y:%H:%M:%S").replace(tzinfo=SHANGHAI)
    assert before.replace(microsecond=0) <= logged <= after
    # The JSON API stays in UTC.
    receipt = re.search(r'id="receipt">([0-9A-Z]+)<', page)
    assert receipt
    status, public = gateway.request("GET", f"/api/v1/receipts/{receipt[1]}")
    assert status == 200 and public["received_at"].endswith("Z")
