"""The real gateway process over HTTP: a web report taken through the whole 110 workflow
by tokens with the right roles, the public receipt, scopes, escalation in real time, and
bad input refused with a clear error while the server keeps serving."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from shapely.geometry import Point, shape

from tests.channels.web.test_reports import NANBA, post_report
from tests.peers.gateway import GatewayProcess

CITY, DISTRICT, STATION = "530100000000", "530102000000", "530102510000"
OTHER_STATION = "530103510000"


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


def test_units_as_geojson_for_the_map(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    """`?format=geojson`: each unit's jurisdiction, as GeoJSON a map library (and shapely)
    reads, served as application/geo+json; no notify target or secret."""
    request = urllib.request.Request(
        f"{gateway.base}/api/v1/units?format=geojson",
        headers={"Authorization": f"Bearer {tokens['dispatcher']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "application/geo+json; charset=utf-8"
        doc = json.loads(answer.read())
    assert doc["type"] == "FeatureCollection"
    _, tree = gateway.request("GET", "/api/v1/units", token=tokens["dispatcher"])

    def codes(unit: dict[str, Any]) -> list[str]:
        return [unit["code"], *(c for kid in unit["children"] for c in codes(kid))]

    assert sorted(f["id"] for f in doc["features"]) == sorted(codes(tree))
    for feature in doc["features"]:
        if feature["properties"]["tier"] == "special":
            assert feature["geometry"] is None
            continue
        polygon = shape(feature["geometry"])
        assert polygon.geom_type == "Polygon" and polygon.is_valid and polygon.area > 0
    [nanba] = [f for f in doc["features"] if f["id"] == STATION]
    assert shape(nanba["geometry"]).contains(Point(NANBA["lon"], NANBA["lat"]))
    assert nanba["properties"] == {
        "code": STATION, "name": "南坝派出所", "tier": "station", "parent": DISTRICT
    }  # fmt: skip
    assert "secret" not in json.dumps(doc) and "127.0.0.1" not in json.dumps(doc)
    assert gateway.request("GET", "/api/v1/units?format=geojson")[0] == 401
    for query, field in (("format=kml", "format"), ("colour=red", "colour")):
        status, err = gateway.request("GET", f"/api/v1/units?{query}", token=tokens["dispatcher"])
        assert status == 400 and err["error"] == "bad_query" and err["field"] == field


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
