"""The registry of targets in the OpenAPI document (`gateway.http.openapi` adds it): the
bodies of the PUTs, which the server also compiles and checks them with (so each is
self-contained), the documents it answers with, and the operations.

The bodies' schemas say what `gateway.targets.fields` takes from JSON, no more and no less:
schemathesis (tests/integration/test_schemathesis.py) sends what they allow and expects it
taken, and what they refuse and expects it refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.http.openapi import NO_CONTROL, UNAVAILABLE, error_response, link, ref, response
from gateway.phone import PATTERN as PHONE_PATTERN
from gateway.targets import fields, records

MAX_ID = 2**63 - 1  # a BIGINT

# Text as the registry takes it: no control characters, and where it is required, something
# besides white space (Python's str.isspace, outside the control characters).
_NOT_SPACE = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_SOME_TEXT = rf"^[^\u0000-\u001f\u007f-\u009f]*{_NOT_SPACE}[^\u0000-\u001f\u007f-\u009f]*$"
_HEX_OR_EMPTY = {"type": "string", "pattern": "^[0-9A-Fa-f]{0,6}$"}


def _terminal() -> dict[str, Any]:
    return {
        "description": "The terminal's phone number (终端手机号), decimal digits; leading "
        "zeros are not part of it (`013800138000` is `13800138000`).",
        "type": "string",
        "pattern": "^0*[1-9][0-9]*$",
        "maxLength": fields.MAX_TERMINAL_DIGITS,
    }


def _text(max_length: int, *, required: bool, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "type": "string",
        "maxLength": max_length,
        "pattern": _SOME_TEXT if required else NO_CONTROL,
    }


def _unit(units: Sequence[str], *, nullable: bool) -> dict[str, Any]:
    """The config's unit codes where they are known (the server's own validation), else
    any GA 380 code (a self-contained pattern: the server compiles this schema)."""
    schema: dict[str, Any] = (
        {"enum": [*units, *([None] if nullable else [])]}
        if units
        else {"type": ["string", "null"] if nullable else "string", "pattern": "^[0-9]{12}$"}
    )
    return {"description": "The owning unit's code (管辖单位), a unit of the org tree."} | schema


def _phones() -> dict[str, Any]:
    return {
        "description": "Contact phone numbers (联系电话).",
        "type": "array",
        "maxItems": fields.MAX_PHONES,
        "items": {"type": "string", "pattern": PHONE_PATTERN, "maxLength": fields.MAX_PHONE_LENGTH},
    }


def premises_input(units: Sequence[str] = ()) -> dict[str, Any]:
    """The body of ``PUT /api/v1/targets/premises``: the CSV's columns (self-contained,
    as the server compiles it)."""
    return {
        "description": "A premises with an alarm panel (固定目标), as a CSV row of `alarmgw "
        "targets import` gives it. Upserted by (account, receiver, line); every field but "
        "`key` is replaced (left out: empty). `key` left out keeps the stored key, `null` "
        "removes it.",
        "type": "object",
        "additionalProperties": False,
        "required": ["account", "name", "address", "unit"],
        "dependentRequired": {"lat": ["lon"], "lon": ["lat"]},
        "properties": {
            "account": {
                "description": "The panel's account (用户编号), 3 to 16 hex digits; stored "
                "upper-case.",
                "type": "string",
                "pattern": "^[0-9A-Fa-f]{3,16}$",
            },
            "receiver": _HEX_OR_EMPTY
            | {"description": "DC-09 receiver number (Rrcvr), 1 to 6 hex digits; empty: any."},
            "line": _HEX_OR_EMPTY
            | {"description": "DC-09 account prefix (Lpref), 1 to 6 hex digits; empty: any."},
            "name": _text(200, required=True, description="The premises' name (名称)."),
            "address": _text(500, required=True, description="Its address (地址)."),
            "lat": {
                "description": "WGS84 latitude.",
                "type": "number",
                "minimum": -90,
                "maximum": 90,
            },  # fmt: skip
            "lon": {
                "description": "WGS84 longitude.",
                "type": "number",
                "minimum": -180,
                "maximum": 180,
            },  # fmt: skip
            "unit": _unit(units, nullable=False),
            "phones": _phones(),
            "zones": {
                "description": "Zone number (防区号, no leading zeros) → its name, e.g. "
                '`{"1": "前门", "2": "金库"}`.',
                "type": "object",
                "maxProperties": fields.MAX_ZONES,
                "propertyNames": {"pattern": "^(0|[1-9][0-9]{0,3})$"},
                "additionalProperties": _text(
                    fields.MAX_ZONE_NAME, required=True, description="The zone's name."
                ),
            },
            "key": {
                "description": "The panel's AES key (DC-09 encryption), 32, 48 or 64 hex "
                "digits; write-only. Left out: the stored key stays; null: removed.",
                "type": ["string", "null"],
                "pattern": "^(?:[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}|[0-9A-Fa-f]{64})$",
            },
            "supervision_s": {
                "description": "The panel's supervision window (巡检周期) in seconds: silent "
                "longer, it becomes a comm-fault incident (通讯故障). Null or left out: none.",
                "type": ["integer", "null"],
                "minimum": fields.SUPERVISION_MIN_S,
                "maximum": fields.SUPERVISION_MAX_S,
            },
        },
    }


def vehicle_input(units: Sequence[str] = ()) -> dict[str, Any]:
    """The body of ``PUT /api/v1/targets/vehicles``: the CSV's columns."""
    return {
        "description": "A vehicle with a JT/T 808 terminal (移动目标), as a CSV row of "
        "`alarmgw vehicles import` gives it. Upserted by terminal; every field is replaced "
        "(left out: empty).",
        "type": "object",
        "additionalProperties": False,
        "required": ["terminal", "kind"],
        "properties": {
            "terminal": _terminal(),
            "plate": {
                "description": "The plate (车牌号), e.g. 云A12345; stored with Latin letters "
                "upper-case.",
                "type": ["string", "null"],
                "pattern": f"^{_NOT_SPACE}{{1,16}}$",
            },
            "plate_color": {
                "description": "JT/T 697.7 plate colour: "
                + ", ".join(f"{c} {n}" for c, n in fields.PLATE_COLORS_ZH.items())
                + ".",
                "enum": [*fields.PLATE_COLORS_ZH, None],
            },
            "kind": {
                "description": "What it is: "
                + ", ".join(f"{k} {n}" for k, n in fields.KIND_NAMES_ZH.items())
                + ".",
                "enum": list(fields.KIND_NAMES_ZH),
            },
            "company": _text(200, required=False, description="Its company (所属单位/公司)."),
            "unit": _unit(units, nullable=True),
            "phones": _phones(),
        },
    }


def _document_schemas() -> dict[str, Any]:
    date_time = ref("Report", "/$defs/date_time")
    maybe_time = {"anyOf": [date_time, {"type": "null"}]}
    unit_code = ref("Incident", "/$defs/unit_code")
    strings = {"type": "array", "items": {"type": "string"}}
    premises: dict[str, Any] = {
        "description": "A premises (固定目标) as stored: its key never, only `has_key`.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "account": {"type": "string", "pattern": "^[0-9A-F]{3,16}$"},
            "receiver": {"type": "string", "pattern": "^[0-9A-F]{0,6}$"},
            "line": {"type": "string", "pattern": "^[0-9A-F]{0,6}$"},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "lat": {"type": ["number", "null"]},
            "lon": {"type": ["number", "null"]},
            "unit": unit_code,
            "phones": strings,
            "zones": {"type": "object", "additionalProperties": {"type": "string"}},
            "has_key": {"description": "It has an AES key (it must encrypt).", "type": "boolean"},
            "supervision_s": {"type": ["integer", "null"]},
            "last_seen_at": maybe_time | {"description": "When it was last heard."},
            "last_signal": {
                "description": "What it said then (NULL, RP, BA …).",
                "type": ["string", "null"],
            },  # fmt: skip
            "fault_reported_at": maybe_time
            | {
                "description": "When its silence became a comm-fault incident (cleared when "
                "it is heard again)."
            },  # fmt: skip
            "created_at": date_time,
            "updated_at": date_time,
        },
    }
    premises["required"] = list(premises["properties"])
    vehicle: dict[str, Any] = {
        "description": "A vehicle (移动目标) as stored, with its latest position.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "terminal": _terminal(),
            "plate": {"type": ["string", "null"]},
            "plate_color": {"enum": [*fields.PLATE_COLORS_ZH, None]},
            "kind": {"enum": list(fields.KIND_NAMES_ZH)},
            "kind_name": {"description": "The kind in Chinese (出租车 …).", "type": "string"},
            "company": {"type": "string"},
            "unit": {"anyOf": [unit_code, {"type": "null"}]},
            "phones": strings,
            "position": {
                "description": "The latest fix (JT/T 808 0x0200), null before the first.",
                "anyOf": [
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["lat", "lon", "speed_kmh", "heading", "fix_at"],
                        "properties": {
                            "lat": {"type": "number"},
                            "lon": {"type": "number"},
                            "speed_kmh": {"type": ["number", "null"]},
                            "heading": {"type": ["integer", "null"]},
                            "fix_at": date_time,
                        },
                    },
                    {"type": "null"},
                ],
            },
            "last_seen_at": maybe_time,
            "alarm_flags": {
                "description": "The alarm word of the latest fix (JT/T 808).",
                "type": "integer",
                "minimum": 0,
            },  # fmt: skip
            "created_at": date_time,
            "updated_at": date_time,
        },
    }
    vehicle["required"] = list(vehicle["properties"])
    return {"Premises": premises, "Vehicle": vehicle}


def openapi_components(units: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "PremisesInput": premises_input(units),
        "VehicleInput": vehicle_input(units),
        **_document_schemas(),
        "PremisesList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["premises"],
            "properties": {"premises": {"type": "array", "items": ref("Premises")}},
        },
        "VehicleList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["vehicles"],
            "properties": {"vehicles": {"type": "array", "items": ref("Vehicle")}},
        },
    }


def openapi_paths(units: Sequence[str] = ()) -> dict[str, Any]:
    """The registry's operations; `units`: the org tree's codes, where they are known."""
    unauthorized = error_response("No, or an unknown or revoked, bearer token (`unauthorized`).")
    read_forbidden = error_response(
        "Not an admin, supervisor or dispatcher token, or the target is outside its scope "
        "(`forbidden`)."
    )
    write_forbidden = error_response(
        "Not an admin token, or the target's unit is outside its scope (`forbidden`)."
    )
    page = [
        {"name": "limit", "in": "query", "required": False,
         "description": "At most this many (default 100, at most 1000).",
         "schema": {"type": "integer", "minimum": 1, "maximum": records.MAX_LIST}},
        {"name": "after", "in": "query", "required": False,
         "description": "Only ids above this one (the last id of the previous page).",
         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID}},
    ]  # fmt: skip
    unit = {
        "name": "unit",
        "in": "query",
        "required": False,
        "description": "Only targets of this unit and the units below it.",
        "schema": {"enum": list(units)} if units else {"type": "string", "pattern": "^[0-9]{12}$"},
    }
    bad_query = error_response(
        "An unknown parameter, or one that is not as described (`bad_query`; `field` names it)."
    )
    premises_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "description": "The premises' id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    terminal = {
        "name": "terminal",
        "in": "path",
        "required": True,
        "description": "The vehicle's terminal phone number.",
        "schema": _terminal(),
    }

    def put(name: str, what: str, operation: str, links: dict[str, Any]) -> dict[str, Any]:
        stored = response(ref(name), f"The {what} as stored.") | {"links": links}
        return {
            "operationId": operation,
            "tags": ["targets"],
            "summary": f"Add or change a {what} (upsert; admin)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(f"{name}Input")}},
            },
            "responses": {
                "200": stored | {"description": f"Changed (or unchanged): the {what}."},
                "201": stored | {"description": f"Added: the {what}."},
                "400": error_response(
                    "The body is not UTF-8 JSON, or nested too deep (`bad_json`)."
                ),
                "401": unauthorized,
                "403": write_forbidden,
                "413": error_response("The body is too large (`too_large`)."),
                "415": error_response(
                    "The body is not application/json (`unsupported_media_type`)."
                ),
                "422": error_response(
                    "A field is wrong (`invalid`; `field` names the first, the message "
                    "lists every problem)."
                ),
                "503": UNAVAILABLE,
            },
        }

    def one(
        method: str, name: str, what: str, operation: str, parameter: dict[str, Any]
    ) -> dict[str, Any]:
        deleting = method == "delete"
        return {
            "operationId": operation,
            "tags": ["targets"],
            "summary": f"Delete a {what} (admin)" if deleting else f"One {what}",
            "parameters": [parameter],
            "responses": {
                "200": response(
                    ref(name), f"The {what}" + (", as it was deleted." if deleting else ".")
                ),
                "401": unauthorized,
                "403": write_forbidden if deleting else read_forbidden,
                "404": error_response(f"No such {what} (`not_found`)."),
                "503": UNAVAILABLE,
            },
        }

    def listing(name: str, what: str, operation: str, filters: list[Any]) -> dict[str, Any]:
        return {
            "operationId": operation,
            "tags": ["targets"],
            "summary": f"The {what}, by id, within the token's units",
            "parameters": [*filters, unit, *page],
            "responses": {
                "200": response(ref(f"{name}List"), f"The {what}."),
                "400": bad_query,
                "401": unauthorized,
                "403": error_response(
                    "Not an admin, supervisor or dispatcher token, or `unit` is outside its "
                    "scope (`forbidden`)."
                ),
                "503": UNAVAILABLE,
            },
        }

    by_id = {"id": "$response.body#/id"}
    by_terminal = {"terminal": "$response.body#/terminal"}
    premises_links = {
        "GetPremises": link("getPremises", "The premises as stored.", **by_id),
        "DeletePremises": link("deletePremises", "Delete it.", **by_id),
    }
    vehicle_links = {
        "GetVehicle": link("getVehicle", "The vehicle as stored.", **by_terminal),
        "DeleteVehicle": link("deleteVehicle", "Delete it.", **by_terminal),
    }
    premises_list = listing(
        "Premises",
        "premises",
        "listPremises",
        [
            {
                "name": "account",
                "in": "query",
                "required": False,
                "description": "Only this alarm account (any case).",
                "schema": {"type": "string", "pattern": "^[0-9A-Fa-f]{3,16}$"},
            }
        ],
    )
    premises_list["responses"]["200"]["links"] = {
        "GetPremises": link(
            "getPremises", "The first of the list.", id="$response.body#/premises/0/id"
        )
    }
    vehicle_list = listing(
        "Vehicle",
        "vehicles",
        "listVehicles",
        [
            {
                "name": "kind",
                "in": "query",
                "required": False,
                "description": "Only vehicles of this kind.",
                "schema": {"enum": list(fields.KIND_NAMES_ZH)},
            },
            {
                "name": "plate",
                "in": "query",
                "required": False,
                "description": "Only the vehicle with this plate (Latin letters in any case).",
                "schema": {"type": "string", "pattern": f"^{_NOT_SPACE}{{1,16}}$"},
            },
        ],
    )
    vehicle_list["responses"]["200"]["links"] = {
        "GetVehicle": link(
            "getVehicle", "The first of the list.", terminal="$response.body#/vehicles/0/terminal"
        )
    }
    get_premises = one("get", "Premises", "premises", "getPremises", premises_id)
    get_premises["responses"]["200"]["links"] = {"DeletePremises": premises_links["DeletePremises"]}
    get_vehicle = one("get", "Vehicle", "vehicle", "getVehicle", terminal)
    get_vehicle["responses"]["200"]["links"] = {"DeleteVehicle": vehicle_links["DeleteVehicle"]}
    return {
        "/api/v1/targets/premises": {
            "get": premises_list,
            "put": put("Premises", "premises", "putPremises", premises_links),
        },
        "/api/v1/targets/premises/{id}": {
            "get": get_premises,
            "delete": one("delete", "Premises", "premises", "deletePremises", premises_id),
        },
        "/api/v1/targets/vehicles": {
            "get": vehicle_list,
            "put": put("Vehicle", "vehicle", "putVehicle", vehicle_links),
        },
        "/api/v1/targets/vehicles/{terminal}": {
            "get": get_vehicle,
            "delete": one("delete", "Vehicle", "vehicle", "deleteVehicle", terminal),
        },
    }


TAG = {
    "name": "targets",
    "description": "The registry of targets: premises with alarm panels (固定目标) and "
    "vehicles with JT/T 808 terminals (移动目标) (bearer token: admin to write; admin, "
    "supervisor or dispatcher to read).",
}
