"""The OpenAPI 3.1 document of the HTTP API, served at ``GET /api/v1/openapi.json``.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so the files in ``schemas/`` are embedded as
they are under ``components/schemas``. Only two things change on the way in: the root
``$id``/``$schema`` are dropped (with an ``$id`` a 2020-12 resolver would resolve the
component's ``$ref``s against ``https://alarmgw.invalid/…`` instead of this document), and
every ``$ref`` — inside one file (``#/$defs/x``) or between files
(``report.schema.json#/$defs/x``) — is rewritten to point into ``#/components/schemas/…``.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urldefrag, urljoin

import gateway
from gateway.schemas import load_schema

SCHEMA_BASE = "https://alarmgw.invalid/schemas/"

#: schema file → component name. Every file here is embedded; every cross-file ``$ref`` in
#: them must point to one of these files.
SCHEMA_COMPONENTS: dict[str, str] = {
    "report.schema.json": "Report",
    "report-submission.schema.json": "ReportSubmission",
    "incident.schema.json": "Incident",
    "event.schema.json": "Event",
    "receipt.schema.json": "Receipt",
    "receipt-status.schema.json": "ReceiptStatus",
    "error.schema.json": "Error",
    "action.schema.json": "IncidentAction",
}


def _ref(name: str, pointer: str = "") -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}{pointer}"}


def _rewrite_ref(ref: str, filename: str) -> str:
    target, fragment = urldefrag(urljoin(SCHEMA_BASE + filename, ref))
    if not target.startswith(SCHEMA_BASE) or target[len(SCHEMA_BASE) :] not in SCHEMA_COMPONENTS:
        raise ValueError(f"{filename}: $ref {ref!r} points outside the embedded schemas")
    if fragment and not fragment.startswith("/"):
        raise ValueError(f"{filename}: $ref {ref!r}: only JSON-pointer fragments are supported")
    return f"#/components/schemas/{SCHEMA_COMPONENTS[target[len(SCHEMA_BASE) :]]}{fragment}"


def _rewrite(node: Any, filename: str) -> Any:
    if isinstance(node, dict):
        return {
            key: _rewrite_ref(value, filename)
            if key == "$ref" and isinstance(value, str)
            else _rewrite(value, filename)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item, filename) for item in node]
    return node


def component_schema(filename: str) -> dict[str, Any]:
    """Schema file ``filename`` as embedded in the document (a new dict each call)."""
    schema = copy.deepcopy(load_schema(filename))  # load_schema's dict is shared: never mutate
    schema.pop("$id", None)
    schema.pop("$schema", None)
    rewritten: dict[str, Any] = _rewrite(schema, filename)
    return rewritten


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_UNAVAILABLE = {
    **_error("The store is unavailable (temporary, `error: unavailable`): retry later."),
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def _extra_components() -> dict[str, Any]:
    return {
        "Unit": {
            "description": "A unit of the org tree (组织机构) with its children; notify targets "
            "and jurisdictions are not published.",
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "name", "tier", "children"],
            "properties": {
                "code": _ref("Incident", "/$defs/unit_code"),
                "name": {"type": "string"},
                "tier": {
                    "description": "city 市局指挥中心, district 分县局, station 派出所, special "
                    "(traffic police and other units routed to by category).",
                    "enum": ["city", "district", "station", "special"],
                },
                "children": {"type": "array", "items": _ref("Unit")},
            },
        },
        "IncidentList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["incidents"],
            "properties": {"incidents": {"type": "array", "items": _ref("Incident")}},
        },
        "CallbackStarted": {
            "type": "object",
            "required": ["incident", "callback"],
            "properties": {
                "incident": _ref("Incident", "/$defs/number"),
                "callback": {
                    "type": "object",
                    "required": ["status", "number", "calltaker"],
                    "properties": {
                        "status": {"enum": ["calling"]},
                        "number": {"type": "string"},
                        "calltaker": {"type": "string"},
                    },
                },
            },
        },
        "SmsQueued": {
            "type": "object",
            "required": ["incident", "sms"],
            "properties": {
                "incident": _ref("Incident", "/$defs/number"),
                "sms": {
                    "type": "object",
                    "required": ["to", "text", "status"],
                    "properties": {
                        "to": {"type": "string"},
                        "text": {"type": "string"},
                        "status": {"enum": ["pending"]},
                    },
                },
            },
        },
        "CurrentCall": {
            "type": "object",
            "required": ["calltaker", "call", "incident", "history"],
            "properties": {
                "calltaker": {"type": "string"},
                "call": _ref("Incident", "/$defs/call"),
                "incident": _ref("Incident"),
                "history": {
                    "type": "object",
                    "required": ["days", "open_incidents", "reports"],
                    "properties": {
                        "days": {"type": "integer"},
                        "open_incidents": {"type": "array", "items": _ref("Incident")},
                        "reports": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
        "Health": {
            "description": "The gateway runs and its store answers (fields may be added).",
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"const": "ok"},
                "database": {"type": "string"},
                "incidents": {"type": "integer", "minimum": 0},
            },
        },
    }


def _paths() -> dict[str, Any]:
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "Incident number (警情编号).",
        "schema": _ref("Incident", "/$defs/number"),
    }
    unauthorized = _error("No, or an unknown or revoked, bearer token (`unauthorized`).")
    bad_json = _error("The body is not UTF-8 JSON, or is nested deeper than 32 (`bad_json`).")
    forbidden = _error("The token's role or unit may not do this (`forbidden`).")
    not_found = _error("No such incident (`not_found`).")
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/api/v1/reports": {
            "post": {
                "operationId": "submitReport",
                "tags": ["intake"],
                "summary": "Submit an alarm report (报警)",
                "description": "Answers only after the report is durably stored. Idempotent on "
                "(channel, external_id): a retry with the same Idempotency-Key (or external_id) "
                "gets the same receipt back and stores nothing twice. Anonymous (channel `web`) "
                "or with an integration's bearer token (channel `api` or its own; it may also "
                "set `received_at`). Drill reports need a drill_coordinator or integration token.",
                "security": [{}, {"bearer": []}],
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "Becomes `external_id` (it takes precedence over the "
                        "body's); without either the server generates a UUID.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ReportSubmission")}},
                },
                "responses": {
                    "201": _json(_ref("Receipt"), "Stored; the receipt (回执) and its incident."),
                    "400": bad_json,
                    "401": unauthorized,
                    "403": _error(
                        "A channel other than `web`, or the drill flag, without a token that "
                        "may use it (`forbidden`)."
                    ),
                    "413": _error("The body is too large (`too_large`)."),
                    "415": _error("The body is not application/json (`unsupported_media_type`)."),
                    "422": _error(
                        "The report fails the schema or its checks (`invalid_report`; `field` "
                        "names the field)."
                    ),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/receipts/{receipt}": {
            "get": {
                "operationId": "getReceiptStatus",
                "tags": ["public"],
                "summary": "Where is my report? (回执查询)",
                "description": "Public: shows state and milestones only, never personal data.",
                "security": [],
                "parameters": [
                    {
                        "name": "receipt",
                        "in": "path",
                        "required": True,
                        "schema": _ref("Receipt", "/$defs/receipt"),
                    }
                ],
                "responses": {
                    "200": _json(_ref("ReceiptStatus"), "The incident's state and milestones."),
                    "404": _error("Unknown receipt (`not_found`)."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/units": {
            "get": {
                "operationId": "getUnits",
                "tags": ["org"],
                "summary": "The org tree (组织机构), from the city command center down",
                "responses": {
                    "200": _json(_ref("Unit"), "The root unit with its children, recursively."),
                    "401": unauthorized,
                },
            }
        },
        "/api/v1/incidents": {
            "get": {
                "operationId": "listIncidents",
                "tags": ["incidents"],
                "summary": "Incident queue (警情列表), newest first, within the token's units",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "required": False,
                        "description": "One state, or several separated by commas.",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "unit",
                        "in": "query",
                        "required": False,
                        "description": "Only incidents of this unit and the units below it.",
                        "schema": _ref("Incident", "/$defs/unit_code"),
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": "Only incidents created at or after this time.",
                        "schema": _ref("Report", "/$defs/date_time"),
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "description": "At most this many (default 100, at most 1000).",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                    },
                ],  # fmt: skip
                "responses": {
                    "200": _json(
                        _ref("IncidentList"),
                        "Incidents (list view: no reports, events or deliveries).",
                    ),
                    "400": _error("An unknown parameter, state or unit (`bad_query`)."),
                    "401": unauthorized,
                    "403": _error("`unit` is outside the token's scope (`forbidden`)."),
                    "422": _error("`since` is not a date-time with offset."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/incidents/{number}": {
            "get": {
                "operationId": "getIncident",
                "tags": ["incidents"],
                "summary": "One incident with its reports, events and deliveries",
                "parameters": [number],
                "responses": {
                    "200": _json(_ref("Incident"), "The incident (detail view)."),
                    "401": unauthorized,
                    "403": forbidden,
                    "404": not_found,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/incidents/{number}/actions": {
            "post": {
                "operationId": "actOnIncident",
                "tags": ["incidents"],
                "summary": "Apply a workflow action (受理, 派警, 签收, 到场, 反馈, 结案, …)",
                "parameters": [number],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("IncidentAction")}},
                },
                "responses": {
                    "200": _json(_ref("Incident"), "The incident after the action."),
                    "202": _json(
                        {"oneOf": [_ref("CallbackStarted"), _ref("SmsQueued")]},
                        "`callback`: the call-taker's softphone is ringing; the outcome comes "
                        "as a `callback_result` event on the incident. `reply`: the SMS to the "
                        "citizen is queued; `sms_sent` and `sms_delivered` events follow.",
                    ),
                    "400": bad_json,
                    "401": unauthorized,
                    "403": forbidden,
                    "404": not_found,
                    "409": _error(
                        "The action is not allowed in the incident's state (`conflict`; the "
                        "message names the state and the action)."
                    ),
                    "422": _error(
                        "The body fails the schema (`invalid_action`) or lacks what the action "
                        "needs (`invalid`)."
                    ),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/calltakers/{calltaker}/current": {
            "get": {
                "operationId": "currentCall",
                "tags": ["telephony"],
                "summary": "Screen pop (来电弹屏): the call-taker's 110 call in progress, its "
                "incident, and the caller's open incidents and reports of the last 30 days",
                "parameters": [
                    {
                        "name": "calltaker",
                        "in": "path",
                        "required": True,
                        "description": "The call-taker's seat, e.g. 1001 (the PJSIP endpoint).",
                        "schema": {"type": "string", "pattern": "^[0-9A-Za-z_.-]{1,32}$"},
                    }
                ],
                "responses": {
                    "200": _json(_ref("CurrentCall"), "The call being answered."),
                    "401": unauthorized,
                    "403": forbidden,
                    "404": _error("The call-taker has no call in progress (`not_found`)."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/": {
            "get": {
                "operationId": "formHome",
                "tags": ["public"],
                "summary": "The citizen's report form (HTML), same as /report",
                "security": [],
                "responses": {"200": {"description": "The form.", "content": html}},
            }
        },
        "/report": {
            "get": {
                "operationId": "form",
                "tags": ["public"],
                "summary": "The citizen's report form (网上报警, HTML)",
                "security": [],
                "responses": {"200": {"description": "The form.", "content": html}},
            },
            "post": {
                "operationId": "submitForm",
                "tags": ["public"],
                "summary": "Submit the form; answers with the receipt page (HTML)",
                "security": [],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": {"type": "object"}}
                    },
                },
                "responses": {
                    "201": {"description": "Stored: the receipt page.", "content": html},
                    "400": {"description": "The form again, with the problem.", "content": html},
                    "413": _error("The body is too large (`too_large`)."),
                    "503": {"description": "The store is unavailable: try again.", "content": html},
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": _json(_ref("Health"), "Running and the store answers."),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "This document."),
                },
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a new dict on each call: callers may change it)."""
    schemas: dict[str, Any] = {
        name: component_schema(filename) for filename, name in SCHEMA_COMPONENTS.items()
    }
    schemas.update(_extra_components())
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "alarmgw — 110 alarm-intake gateway",
            "version": gateway.__version__,
            "summary": "Alarms in from many channels, one standard incident, the 110 "
            "dispatch workflow (接处警) out.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "intake", "description": "Reports in (报警)."},
            {"name": "public", "description": "What a reporter may look up."},
            {"name": "incidents", "description": "The incident workflow (bearer token)."},
            {"name": "org", "description": "The org tree (bearer token)."},
            {"name": "ops", "description": "Health, metrics and this document."},
        ],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A user's or an integration's API token.",
                }
            },
        },
    }
