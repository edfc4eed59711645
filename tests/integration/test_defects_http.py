"""Defects a user found in the HTTP API, each pinned by a test against the real gateway
process (`tests/peers/gateway.py`), so that they hold whatever the code's layout."""

from __future__ import annotations

from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess

CITY, STATION = "530100000000", "530102510000"
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
