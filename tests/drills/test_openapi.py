"""The drill API's answers against the OpenAPI document a real gateway serves
(gateway.drills.openapi): a web-only run started, followed as its first inject is sent,
found and accepted, listed, paused, resumed and aborted — each body valid against the
schema of its operation's documented status — and the errors and scorecards as documented.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.drills.http import COORDINATORS, READERS
from tests.peers.gateway import GatewayProcess, wait_for

DOC = "urn:alarmgw:openapi"
MINGHU = "530102520000"  # 明湖派出所

SCENARIO = f"""
name = "网页演练"
units = ["530102000000"]

[[inject]]
id = "noise"
at = "+0:00"
channel = "web"
from = "13800000204"
text = "明湖路66号楼上每天夜里敲打，请民警协调。"
location = {{ address = "示例市明湖区明湖路66号", lat = 25.030, lon = 102.660 }}
expect = {{ incident = "noise", category = "dispute", unit = "{MINGHU}" }}
note = "第一报警人"

[[inject]]
id = "again"
at = "+30:00"
channel = "web"
from = "13800000205"
text = "明湖路66号还在敲。"
expect = {{ incident = "noise" }}
"""

Check = Callable[[str, str, int, Any], None]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = GatewayProcess(tmp_path_factory.mktemp("drill-openapi"))
    g.start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def api(gw: GatewayProcess) -> dict[str, Any]:
    status, doc = gw.request("GET", "/api/v1/openapi.json")
    assert status == 200
    return doc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def check(api: dict[str, Any]) -> Check:
    """`check(method, path, status, body)`: `body` against the JSON schema the served
    document gives that operation's `status` answer (its `$ref`s resolved in the document)."""
    registry: Registry = Registry().with_resource(
        DOC, Resource.from_contents(api, default_specification=DRAFT202012)
    )

    def validate(method: str, path: str, status: int, body: Any) -> None:
        answers = api["paths"][path][method.lower()]["responses"]
        assert str(status) in answers, f"{method} {path}: {status} is not documented"
        pointer = "/".join(
            p.replace("~", "~0").replace("/", "~1")
            for p in ("paths", path, method.lower(), "responses", str(status), "content")
        )
        schema = {"$ref": f"{DOC}#/{pointer}/application~1json/schema"}
        jsonschema.Draft202012Validator(schema, registry=registry).validate(body)

    return validate


def test_the_answers_validate_against_the_served_schemas(gw: GatewayProcess, check: Check) -> None:
    coordinator = gw.token("drill-oa", "drill_coordinator")
    supervisor = gw.token("sup-oa", "supervisor")
    calltaker = gw.token("ct-oa", "calltaker")
    run_path = "/api/v1/drills/{run}"

    body = {"file": "web.toml", "scenario": SCENARIO}
    status, started = gw.request("POST", "/api/v1/drills", body, token=coordinator)
    assert status == 201, started
    check("POST", "/api/v1/drills", 201, started)
    run = started["id"]
    assert [i["status"] for i in started["injects"]] == ["pending", "pending"]

    def found() -> dict[str, Any] | None:
        status, doc = gw.request("GET", f"/api/v1/drills/{run}", token=supervisor)
        assert status == 200, doc
        return doc if doc["injects"][0]["report"] else None

    sent = wait_for("the first inject's report", found, timeout=30)
    check("GET", run_path, 200, sent)
    first = sent["injects"][0]
    assert (first["status"], first["incident_state"], first["accepted"]) == (
        "sent",
        "received",
        False,
    ), first
    assert first["note"] == "第一报警人" and sent["injects"][1]["note"] is None
    action = {"action": "accept", "category": "dispute", "priority": 3}
    path = f"/api/v1/incidents/{first['incident']}/actions"
    assert gw.request("POST", path, action, token=calltaker)[0] == 200
    status, accepted = gw.request("GET", f"/api/v1/drills/{run}", token=coordinator)
    check("GET", run_path, 200, accepted)
    assert accepted["injects"][0]["accepted"] and accepted["counts"]["accepted"] == 1
    assert accepted["counts"]["late"] == 0

    status, listed = gw.request("GET", "/api/v1/drills", token=supervisor)
    assert status == 200 and listed["runs"][0]["id"] == run, listed
    check("GET", "/api/v1/drills", 200, listed)

    for control, state in (("pause", "paused"), ("resume", "running"), ("abort", "aborted")):
        path = f"{run_path}/{control}"
        status, doc = gw.request("POST", f"/api/v1/drills/{run}/{control}", token=coordinator)
        assert status == 200 and doc["state"] == state, doc
        check("POST", path, 200, doc)
        status, err = gw.request("POST", f"/api/v1/drills/{run}/{control}", token=coordinator)
        assert (status, err["error"]) == (409, "conflict"), err
        check("POST", path, 409, err)
    assert [i["status"] for i in doc["injects"]] == ["sent", "cancelled"]
    assert doc["paused_at"] is None and doc["ended_at"] is not None

    status, err = gw.request("GET", "/api/v1/drills/999999", token=coordinator)
    assert status == 404
    check("GET", run_path, 404, err)
    status, err = gw.request("POST", "/api/v1/drills/999999/abort", token=coordinator)
    assert status == 404
    check("POST", f"{run_path}/abort", 404, err)
    status, err = gw.request("POST", f"/api/v1/drills/{run}/pause", token=supervisor)
    assert (status, err["error"]) == (403, "forbidden")
    check("POST", f"{run_path}/pause", 403, err)
    assert "Traceback" not in gw.log()  # a 404 or 409 is no failure of the store's writer


@pytest.mark.parametrize(
    "body, status, error",
    [
        ({"scenario": SCENARIO.replace(MINGHU, "530102599999")}, 422, "invalid_scenario"),
        ({"scenario": '[[inject]]\nchannel = ["web"]\n'}, 422, "invalid_scenario"),
        ({"scenario": SCENARIO, "files": {"../x": "eA=="}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "files": {"x": "eA"}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "files": {"a\u0000b": "eA=="}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "files": {"a" * 280: "eA=="}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "files": {"a": "eA==", "a/b": "eA=="}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "files": {"a/b": "eA==", "a": "eA=="}}, 400, "bad_request"),
        ({"scenario": SCENARIO, "file": "a\u0000.toml"}, 400, "bad_request"),
        ({"scenario": " \n"}, 400, "bad_request"),
        ([SCENARIO], 400, "bad_request"),
    ],
)
def test_a_bad_start_is_refused_as_documented(
    gw: GatewayProcess, check: Check, body: Any, status: int, error: str
) -> None:
    """What cannot be played or read is a 4xx of the document (never a 500)."""
    coordinator = gw.token("drill-bad", "drill_coordinator")
    got, err = gw.request("POST", "/api/v1/drills", body, token=coordinator)
    assert (got, err["error"]) == (status, error), err
    check("POST", "/api/v1/drills", status, err)
    assert "Traceback" not in gw.log()


def test_the_scorecards_have_the_documented_types(gw: GatewayProcess, api: dict[str, Any]) -> None:
    """Of a run that has sent nothing yet, too: a scorecard so far (no inject found, no
    step timed)."""
    coordinator = gw.token("drill-card", "drill_coordinator")
    later = SCENARIO.replace('at = "+0:00"', 'at = "+20:00"')
    status, started = gw.request("POST", "/api/v1/drills", {"scenario": later}, token=coordinator)
    assert status == 201, started
    for suffix, media_type, magic in (
        ("", "text/html", b"<!"),
        (".pdf", "application/pdf", b"%PDF"),
    ):
        request = urllib.request.Request(
            f"{gw.base}/api/v1/drills/{started['id']}/scorecard{suffix}",
            headers={"Authorization": f"Bearer {coordinator}"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            ctype = answer.headers["Content-Type"].split(";")[0]
            data = answer.read()
        documented = api["paths"][f"/api/v1/drills/{{run}}/scorecard{suffix}"]["get"]
        assert ctype == media_type and ctype in documented["responses"]["200"]["content"]
        assert data.lstrip().upper().startswith(magic.upper()), data[:40]


def test_the_document_names_the_roles_the_routes_take(api: dict[str, Any]) -> None:
    assert COORDINATORS == {"drill_coordinator", "admin"}
    assert READERS == COORDINATORS | {"supervisor"}
    operations = {
        (method, path): op
        for path, item in api["paths"].items()
        if path.startswith("/api/v1/drills")
        for method, op in item.items()
    }
    assert len(operations) == 8
    for (method, path), op in operations.items():
        roles = "drill_coordinator or admin" if method == "post" else "drill_coordinator, admin"
        assert op["description"].startswith(roles), (method, path)
        assert op["tags"] == ["drills"] and "security" not in op  # the document's bearer
        assert {"401", "403", "503"} <= set(op["responses"]), (method, path)
