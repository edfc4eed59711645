"""The registry's admin API against a real gateway process: roles, scopes, the key never
shown, upserts, errors naming the field, and answers that match the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.config import load_config
from gateway.http.openapi import openapi_document
from tests.peers.gateway import GatewayProcess

CITY, NANBA, QINGSHAN = "530100000000", "530102510000", "530103000000"
LUOFENG = "530103510000"  # 螺峰派出所, under 青山分局
KEY = "00112233445566778899aabbccddeeff"
PREMISES = "/api/v1/targets/premises"
VEHICLES = "/api/v1/targets/vehicles"


@pytest.fixture(scope="module")
def tokens(gateway: GatewayProcess) -> dict[str, str]:
    return {
        "admin": gateway.token("t-admin", "admin"),
        "supervisor": gateway.token("t-sup", "supervisor"),
        "dispatcher": gateway.token("t-disp", "dispatcher"),
        "calltaker": gateway.token("t-ct", "calltaker"),
        "qingshan": gateway.token("t-qs", "dispatcher", QINGSHAN),
        "qingshan_admin": gateway.token("t-qs-admin", "admin", QINGSHAN),
    }


@pytest.fixture(scope="module")
def check() -> Any:
    """`check(component, document)`: the document against the served OpenAPI document."""
    doc = openapi_document(load_config(None))
    uri = "urn:alarmgw:openapi"
    registry: Registry = Registry().with_resource(
        uri, Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def validate(component: str, instance: Any) -> None:
        schema = {"$ref": f"{uri}#/components/schemas/{component}"}
        jsonschema.Draft202012Validator(schema, registry=registry).validate(instance)

    return validate


def bank(**changes: Any) -> dict[str, Any]:
    return {
        "account": "a1b2",
        "name": "示例银行青山支行",
        "address": "螺峰街1号",
        "lat": 24.985,
        "lon": 102.71,
        "unit": LUOFENG,
        "phones": ["0871-60000901"],
        "zones": {"1": "前门", "2": "金库"},
        "key": KEY,
        "supervision_s": 90,
    } | changes


def test_auth_and_roles(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    assert gateway.request("GET", PREMISES)[0] == 401
    assert gateway.request("PUT", PREMISES, bank())[0] == 401
    for role in ("admin", "supervisor", "dispatcher"):
        assert gateway.request("GET", PREMISES, token=tokens[role])[0] == 200, role
        assert gateway.request("GET", VEHICLES, token=tokens[role])[0] == 200, role
    status, err = gateway.request("GET", PREMISES, token=tokens["calltaker"])
    assert (status, err["error"]) == (403, "forbidden")
    for role in ("supervisor", "dispatcher"):
        assert gateway.request("PUT", PREMISES, bank(), token=tokens[role])[0] == 403, role
        assert gateway.request("DELETE", f"{PREMISES}/1", token=tokens[role])[0] == 403, role
        assert gateway.request("PUT", VEHICLES, {"terminal": "1", "kind": "taxi"},
                               token=tokens[role])[0] == 403  # fmt: skip
    status, err = gateway.request("POST", PREMISES, bank(), token=tokens["admin"])
    assert (status, err["error"]) == (405, "method_not_allowed")


def test_premises_upsert_and_the_key_never_shown(
    gateway: GatewayProcess, tokens: dict[str, str], check: Any
) -> None:
    admin = tokens["admin"]
    status, doc = gateway.request("PUT", PREMISES, bank(), token=admin)
    assert status == 201, doc
    check("Premises", doc)
    assert doc["account"] == "A1B2" and doc["has_key"] is True
    assert "key" not in doc and "aes_key" not in doc
    assert doc["zones"] == {"1": "前门", "2": "金库"} and doc["supervision_s"] == 90
    assert doc["created_at"].endswith("Z") and doc["last_seen_at"] is None
    pid = doc["id"]

    again = gateway.request("PUT", PREMISES, bank(), token=admin)
    assert again == (200, doc)  # unchanged: the same document, updated_at and all

    # A round trip without the key keeps it; null removes it.
    status, changed = gateway.request(
        "PUT", PREMISES, {k: v for k, v in bank(name="示例银行青山支行（新）").items()
                          if k != "key"}, token=admin,
    )  # fmt: skip
    assert status == 200 and changed["has_key"] is True and changed["id"] == pid
    assert changed["updated_at"] > doc["updated_at"]

    for path in (f"{PREMISES}/{pid}", f"{PREMISES}?account=a1b2", PREMISES):
        status, body = gateway.request("GET", path, token=tokens["supervisor"])
        assert status == 200
        text = json.dumps(body)
        assert KEY not in text.lower() and "aes_key" not in text
    status, listed = gateway.request("GET", f"{PREMISES}?account=A1B2", token=admin)
    check("PremisesList", listed)
    assert [p["id"] for p in listed["premises"]] == [pid]

    status, removed = gateway.request("PUT", PREMISES, bank(key=None), token=admin)
    assert status == 200 and removed["has_key"] is False

    status, gone = gateway.request("DELETE", f"{PREMISES}/{pid}", token=admin)
    assert status == 200 and gone["id"] == pid
    assert gateway.request("GET", f"{PREMISES}/{pid}", token=admin)[0] == 404
    assert gateway.request("DELETE", f"{PREMISES}/{pid}", token=admin)[0] == 404
    assert gateway.request("GET", f"{PREMISES}/99999999999999999999", token=admin)[0] == 404


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        (bank(lon="102.71"), "lon", "number"),  # a number, not text as in a CSV cell
        ({k: v for k, v in bank().items() if k != "lon"}, "lon", "lat is given without lon"),
        (bank(key="abcd"), "key", "32, 48 or 64 hex digits"),
        (bank(unit="530199000000"), "unit", "unknown unit code"),
        (bank(account="XYZ"), "account", "hex digits"),
        (bank(name="   "), "name", "is required"),
        (bank(lat=91), "lat", "out of range"),
        (bank(phones=["12"]), "phones", "not a phone number"),
        (bank(zones={"1": ""}), "zones", "no name"),
        (bank(zones={"01": "前门"}), "zones", ""),  # the API takes zones as numbers are written
        (bank(phones="13800000000"), "phones", ""),  # a list, not text as in a CSV cell
        (bank(supervision_s=0), "supervision_s", "out of range"),
        (bank(colour="红"), "colour", "unknown column"),
        ({"name": "x"}, "account", "is required"),
    ],
)
def test_premises_validation_names_the_field(
    gateway: GatewayProcess, tokens: dict[str, str], body: Any, field: str, says: str
) -> None:
    status, err = gateway.request("PUT", PREMISES, body, token=tokens["admin"])
    assert status == 422, err
    assert err["error"] == "invalid" and err["field"].startswith(field), err
    assert says in err["message"]


def test_bad_bodies_and_queries(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    assert gateway.request("PUT", PREMISES, [1], token=admin)[0] == 422
    status, err = gateway.request("PUT", PREMISES, raw=b"{", token=admin,
                                  headers={"Content-Type": "application/json"})  # fmt: skip
    assert (status, err["error"]) == (400, "bad_json")
    for query, field in (
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("account=xyz", "account"),
        ("unit=1", "unit"),
        ("colour=red", "colour"),
        ("after=-1", "after"),
    ):
        status, err = gateway.request("GET", f"{PREMISES}?{query}", token=admin)
        assert (status, err["error"], err["field"]) == (400, "bad_query", field), query
    status, err = gateway.request("GET", f"{VEHICLES}?kind=car", token=admin)
    assert (status, err["field"]) == (400, "kind")


def test_scope_by_unit(gateway: GatewayProcess, tokens: dict[str, str]) -> None:
    admin = tokens["admin"]
    nanba = bank(account="B001", unit=NANBA, lat=24.98, lon=102.65, address="南坝路2号")
    status, south = gateway.request("PUT", PREMISES, nanba, token=admin)
    assert status == 201, south
    status, east = gateway.request("PUT", PREMISES, bank(account="B002"), token=admin)
    assert status == 201, east

    # 青山分局's dispatcher: its own subtree only.
    qs = tokens["qingshan"]
    status, listed = gateway.request("GET", PREMISES, token=qs)
    assert {p["account"] for p in listed["premises"]} == {"B002"}
    assert gateway.request("GET", f"{PREMISES}/{south['id']}", token=qs)[0] == 403
    assert gateway.request("GET", f"{PREMISES}/{east['id']}", token=qs)[0] == 200
    assert gateway.request("GET", f"{PREMISES}?unit={NANBA}", token=qs)[0] == 403
    status, listed = gateway.request("GET", f"{PREMISES}?unit={NANBA}", token=admin)
    assert {p["account"] for p in listed["premises"]} == {"B001"}

    # 青山分局's admin writes only there, and cannot take a premises from elsewhere.
    qa = tokens["qingshan_admin"]
    assert gateway.request("PUT", PREMISES, bank(account="B003"), token=qa)[0] == 201
    status, err = gateway.request("PUT", PREMISES, nanba | {"unit": LUOFENG}, token=qa)
    assert (status, err["error"], err["field"]) == (403, "forbidden", "unit")
    assert gateway.request("DELETE", f"{PREMISES}/{south['id']}", token=qa)[0] == 403

    # Paging by id.
    status, first = gateway.request("GET", f"{PREMISES}?limit=1", token=admin)
    (one,) = first["premises"]
    status, rest = gateway.request("GET", f"{PREMISES}?after={one['id']}", token=admin)
    assert all(p["id"] > one["id"] for p in rest["premises"]) and rest["premises"]


def test_vehicles(gateway: GatewayProcess, tokens: dict[str, str], check: Any) -> None:
    admin = tokens["admin"]
    van = {"terminal": "013900139101", "plate": "云aj2101", "plate_color": 1,
           "kind": "cash_van", "company": "示例押运公司", "unit": QINGSHAN,
           "phones": ["0871-60002001"]}  # fmt: skip
    status, doc = gateway.request("PUT", VEHICLES, van, token=admin)
    assert status == 201, doc
    check("Vehicle", doc)
    assert (doc["terminal"], doc["plate"], doc["kind_name"]) == (
        "13900139101",
        "云AJ2101",
        "运钞车",
    )
    assert doc["position"] is None and doc["alarm_flags"] == 0
    assert gateway.request("PUT", VEHICLES, van, token=admin) == (200, doc)
    status, taxi = gateway.request(
        "PUT", VEHICLES, {"terminal": "13900139102", "kind": "taxi"}, token=admin
    )
    assert status == 201 and taxi["unit"] is None and taxi["plate"] is None

    status, got = gateway.request("GET", f"{VEHICLES}/0013900139101", token=tokens["dispatcher"])
    assert (status, got) == (200, doc)
    status, listed = gateway.request("GET", f"{VEHICLES}?kind=cash_van", token=admin)
    check("VehicleList", listed)
    assert [v["terminal"] for v in listed["vehicles"]] == ["13900139101"]
    status, listed = gateway.request("GET", f"{VEHICLES}?plate={quote('云aj2101')}", token=admin)
    assert [v["terminal"] for v in listed["vehicles"]] == ["13900139101"]
    # A vehicle of no unit is the root's: not in a district's list.
    status, listed = gateway.request("GET", VEHICLES, token=tokens["qingshan"])
    assert [v["terminal"] for v in listed["vehicles"]] == ["13900139101"]
    assert gateway.request("GET", f"{VEHICLES}/13900139102", token=tokens["qingshan"])[0] == 403

    for body, field in (
        ({"terminal": "0000", "kind": "taxi"}, "terminal"),
        ({"terminal": "13900139103", "kind": "car"}, "kind"),
        ({"terminal": "13900139103", "kind": "taxi", "plate_color": 7}, "plate_color"),
        ({"terminal": "13900139103", "kind": "taxi", "plate": "云A 1"}, "plate"),
        ({"terminal": "13900139103", "kind": "taxi", "unit": "1"}, "unit"),
    ):
        status, err = gateway.request("PUT", VEHICLES, body, token=admin)
        assert (status, err["field"]) == (422, field), err

    status, gone = gateway.request("DELETE", f"{VEHICLES}/13900139102", token=admin)
    assert status == 200 and gone["terminal"] == "13900139102"
    assert gateway.request("GET", f"{VEHICLES}/13900139102", token=admin)[0] == 404
    assert gateway.request("GET", f"{VEHICLES}/0000", token=admin)[0] == 404


def test_the_document_describes_the_routes(gateway: GatewayProcess) -> None:
    status, api = gateway.request("GET", "/api/v1/openapi.json")
    assert status == 200
    assert {"get", "put"} == set(api["paths"][PREMISES]) == set(api["paths"][VEHICLES])
    assert {"get", "delete"} == set(api["paths"][f"{PREMISES}/{{id}}"])
    assert {"get", "delete"} == set(api["paths"][f"{VEHICLES}/{{terminal}}"])
    put = api["components"]["schemas"]["PremisesInput"]
    assert put["properties"]["unit"]["enum"][0] == CITY  # the served city's units
    assert (
        "key" in put["properties"]
        and "key" not in api["components"]["schemas"]["Premises"]["properties"]
    )
