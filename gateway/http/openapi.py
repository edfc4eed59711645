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
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urldefrag, urljoin

import gateway
from gateway import discovery
from gateway.channel import Channel, resolve
from gateway.config import Config
from gateway.http import contract
from gateway.schemas import load_schema, with_categories
from gateway.workflow.table import TRANSITIONS, State

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


def ref(name: str, pointer: str = "") -> dict[str, str]:
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


def component_schema(filename: str, categories: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Schema file ``filename`` as embedded in the document (a new dict each call), with the
    city's category codes when ``categories`` (code → name) is given."""
    # load_schema's dict is shared: never mutate it
    schema = with_categories(copy.deepcopy(load_schema(filename)), filename, categories)
    return embedded(schema, filename)


def embedded(schema: dict[str, Any], filename: str) -> dict[str, Any]:
    """`schema` (of file `filename`, or assembled from it) as a component: no $id, its
    $refs pointing into the document."""
    schema = dict(schema)
    schema.pop("$id", None)
    schema.pop("$schema", None)
    rewritten: dict[str, Any] = _rewrite(schema, filename)
    return rewritten


def response(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_response(description: str) -> dict[str, Any]:
    return response(ref("Error"), description)


# GET /api/v1/incidents?state=…: one state or a comma-separated list of them.
_STATE = "(?:" + "|".join(sorted(State)) + ")"
_STATE_LIST = f"^{_STATE}(?:,{_STATE})*$"

# Text the server takes has no control characters (gateway.report refuses Cc), but for line
# breaks and tabs where it is multi-line.
NO_CONTROL = r"^[^\u0000-\u001f\u007f-\u009f]*$"
NO_CONTROL_BUT_LINES = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"

#: A receipt as people type it (read case-insensitively, O as 0, I and L as 1, hyphens
#: ignored: `gateway.workflow.records.normalise_receipt`); answers name it as stored.
RECEIPT_PARAMETER: dict[str, Any] = {
    "name": "receipt",
    "in": "path",
    "required": True,
    "description": "Receipt number (回执编号), as printed or as typed: any case, O for 0, "
    "I or L for 1, with hyphens (Crockford base32 reading rules). U is in no receipt.",
    "schema": {
        "type": "string",
        "maxLength": 64,
        "pattern": "^-*[0-9A-TV-Za-tv-z][-0-9A-TV-Za-tv-z]*$",
    },
}

UNAVAILABLE = {
    **error_response("The store is unavailable (temporary, `error: unavailable`): retry later."),
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def _core_components() -> dict[str, Any]:
    return {
        "Unit": {
            "description": "A unit of the org tree (组织机构) with its children; notify targets "
            "are not published, jurisdictions only by `GET /api/v1/units?format=geojson`.",
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "name", "tier", "children"],
            "properties": {
                "code": ref("Incident", "/$defs/unit_code"),
                "name": {"type": "string"},
                "tier": {
                    "description": "city 市局指挥中心, district 分县局, station 派出所, special "
                    "(traffic police and other units routed to by category).",
                    "enum": ["city", "district", "station", "special"],
                },
                "children": {"type": "array", "items": ref("Unit")},
            },
        },
        "UnitCollection": {
            "description": "The org tree's units as a GeoJSON FeatureCollection (RFC 7946: "
            "WGS84, [lon, lat]), shallower tiers first (a map that draws them in order puts "
            "each station above its district). `geometry` is the unit's jurisdiction (辖区), "
            "null for a unit without territory (traffic police and other `special` units).",
            "type": "object",
            "required": ["type", "features"],
            "properties": {
                "type": {"const": "FeatureCollection"},
                "features": {"type": "array", "items": ref("UnitFeature")},
            },
        },
        "UnitFeature": {
            "type": "object",
            "required": ["type", "id", "geometry", "properties"],
            "properties": {
                "type": {"const": "Feature"},
                "id": ref("Incident", "/$defs/unit_code"),
                "geometry": {"anyOf": [ref("Jurisdiction"), {"type": "null"}]},
                "properties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "name", "tier", "parent"],
                    "properties": {
                        "code": ref("Incident", "/$defs/unit_code"),
                        "name": {"type": "string"},
                        "tier": ref("Unit", "/properties/tier"),
                        "parent": {
                            "description": "The parent unit's code; null for the root.",
                            "anyOf": [ref("Incident", "/$defs/unit_code"), {"type": "null"}],
                        },
                    },
                },
            },
        },
        "Jurisdiction": {
            "description": "A GeoJSON Polygon or MultiPolygon (RFC 7946 §3.1.6-7), "
            "positions [lon, lat].",
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"enum": ["Polygon", "MultiPolygon"]},
                "coordinates": {"type": "array"},
            },
        },
        "IncidentList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["incidents"],
            "properties": {"incidents": {"type": "array", "items": ref("Incident")}},
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


def _paths(channels: Sequence[Channel], units: Sequence[str] = ()) -> dict[str, Any]:
    """The core's operations; `units`: the org tree's codes where a unit is a parameter."""
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "Incident number (警情编号).",
        "schema": ref("Incident", "/$defs/number"),
    }
    unauthorized = error_response("No, or an unknown or revoked, bearer token (`unauthorized`).")
    bad_json = error_response(
        "The body is not UTF-8 JSON, or is nested deeper than 32 (`bad_json`)."
    )
    forbidden = error_response("The token's role or unit may not do this (`forbidden`).")
    not_found = error_response("No such incident (`not_found`).")
    return {
        "/api/v1/receipts/{receipt}": {
            "get": {
                "operationId": "getReceiptStatus",
                "tags": ["public"],
                "summary": "Where is my report? (回执查询)",
                "description": "Public: shows state and milestones only, never personal data.",
                "security": [],
                "parameters": [RECEIPT_PARAMETER],
                "responses": {
                    "200": response(
                        ref("ReceiptStatus"),
                        "The incident's state and milestones; `receipt` as stored.",
                    ),
                    "400": error_response(
                        "A character that is in no receipt, e.g. U (`bad_receipt`)."
                    ),
                    "404": error_response("Unknown receipt (`not_found`)."),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/api/v1/units": {
            "get": {
                "operationId": "getUnits",
                "tags": ["org"],
                "summary": "The org tree (组织机构), from the city command center down",
                "description": "By default the tree: the root unit with its children, "
                "recursively. With `format=geojson` the units' jurisdictions (辖区) for a "
                "map, as a GeoJSON FeatureCollection (RFC 7946). Notify targets are never "
                "published.",
                "parameters": [
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "description": "`tree` (the default) or `geojson`.",
                        "schema": {"enum": ["tree", "geojson"]},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The tree (application/json), or with "
                        "`format=geojson` the jurisdictions (application/geo+json).",
                        "content": {
                            "application/json": {"schema": ref("Unit")},
                            "application/geo+json": {"schema": ref("UnitCollection")},
                        },
                    },
                    "400": error_response(
                        "An unknown parameter, or a `format` other than `tree` or `geojson` "
                        "(`bad_query`)."
                    ),
                    "401": unauthorized,
                    "503": UNAVAILABLE,
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
                        "schema": {"type": "string", "pattern": _STATE_LIST},
                    },
                    {
                        "name": "unit",
                        "in": "query",
                        "required": False,
                        "description": "Only incidents of this unit and the units below it.",
                        "schema": {"enum": list(units)}
                        if units
                        else ref("Incident", "/$defs/unit_code"),
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "description": "Only incidents created at or after this time.",
                        "schema": ref("Report", "/$defs/date_time"),
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
                    "200": response(
                        ref("IncidentList"),
                        "Incidents (list view: no reports, events or deliveries).",
                    ),
                    "400": error_response(
                        "An unknown parameter, state or unit, a `since` that is not a date-time "
                        "with offset, or a `limit` that is not a whole number from 1 to 1000 "
                        "(`bad_query`)."
                    ),
                    "401": unauthorized,
                    "403": error_response("`unit` is outside the token's scope (`forbidden`)."),
                    "503": UNAVAILABLE,
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
                    "200": response(ref("Incident"), "The incident (detail view)."),
                    "401": unauthorized,
                    "403": forbidden,
                    "404": not_found,
                    "503": UNAVAILABLE,
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
                    "content": {"application/json": {"schema": _action_body(channels)}},
                },
                "responses": {
                    "200": response(ref("Incident"), "The incident after the action."),
                    **_channel_action_answers(channels),
                    "400": bad_json,
                    "401": unauthorized,
                    "403": forbidden,
                    "404": not_found,
                    "409": error_response(
                        "The action is not allowed in the incident's state (`conflict`; the "
                        "message names the state and the action)."
                    ),
                    "413": error_response("The body is too large (`too_large`)."),
                    "415": error_response(
                        "The body is not application/json (`unsupported_media_type`)."
                    ),
                    "422": error_response(
                        "The body fails the schema (`invalid_action`) or lacks what the action "
                        "needs (`invalid`); `field` names the parameter (e.g. `result`, "
                        "`master` for a master that is missing or cannot take the reports)."
                    ),
                    "503": UNAVAILABLE,
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "tags": ["ops"],
                "security": [],
                "responses": {
                    "200": response(ref("Health"), "Running and the store answers."),
                    "503": UNAVAILABLE,
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
                    "200": response({"type": "object"}, "This document."),
                },
            }
        },
    }


def _action_body(channels: Sequence[Channel]) -> dict[str, Any]:
    """IncidentAction, and for each action the parameters it needs (the server answers 422
    naming the missing one): the workflow table's `needs`, detach's report, and the
    channels' actions' `required`."""
    needs: dict[str, tuple[str, ...]] = {
        **{str(t.action): t.needs for t in TRANSITIONS.values() if t.needs},
        "detach": ("report",),
        **{a.name: a.required for c in channels for a in c.actions if a.required},
    }
    return {
        "allOf": [
            ref("IncidentAction"),
            *(
                {
                    "if": {"required": ["action"], "properties": {"action": {"const": action}}},
                    "then": {"required": list(required)},
                }
                for action, required in sorted(needs.items())
            ),
        ]
    }


def link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: which parameters of `operation_id` an answer fills (for clients, and
    for schemathesis's stateful phase)."""
    return {"operationId": operation_id, "parameters": parameters, "description": description}


_NUMBER = "$response.body#/number"
#: (path, method, status) of the core's operations → the operations their answer leads to.
_LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/api/v1/incidents", "get", "200"): {
        "GetIncident": link(
            "getIncident",
            "The newest incident of the list in detail.",
            number="$response.body#/incidents/0/number",
        ),
    },
    ("/api/v1/incidents/{number}", "get", "200"): {
        "ActOnIncident": link("actOnIncident", "Work this incident.", number=_NUMBER),
        "GetReceiptStatus": link(
            "getReceiptStatus",
            "The public view of its first report.",
            receipt="$response.body#/reports/0/receipt",
        ),
    },
    ("/api/v1/incidents/{number}/actions", "post", "200"): {
        "GetIncident": link("getIncident", "The incident after the action.", number=_NUMBER),
        "ActOnIncident": link("actOnIncident", "The next step of the workflow.", number=_NUMBER),
    },
    ("/api/v1/incidents/{number}/actions", "post", "202"): {
        "GetIncident": link(
            "getIncident",
            "Where the events of the channel's action will land.",
            number="$response.body#/incident",
        ),
    },
    ("/api/v1/units", "get", "200"): {
        "ListIncidents": link(
            "listIncidents", "The root unit's incident queue.", unit="$response.body#/code"
        ),
    },
}


def _with_links(paths: dict[str, Any]) -> dict[str, Any]:
    for (path, method, status), links in _LINKS.items():
        responses = paths[path][method]["responses"]
        if status in responses:
            responses[status]["links"] = copy.deepcopy(links)
    return paths


def _channel_action_answers(channels: Sequence[Channel]) -> dict[str, Any]:
    """The answers of the channels' own actions other than 200 (202: the work goes on)."""
    by_status: dict[int, list[tuple[str, Any]]] = {}
    for channel in channels:
        for action in channel.actions:
            if action.status != 200 and action.response is not None:
                by_status.setdefault(action.status, []).append(
                    (
                        f"`{action.name}` ({channel.code}): {action.summary}",
                        resolve(action.response),
                    )
                )
    return {
        str(status): response(
            {"oneOf": [schema for _, schema in answers]} if len(answers) > 1 else answers[0][1],
            " ".join(text for text, _ in answers),
        )
        for status, answers in sorted(by_status.items())
    }


def openapi_document(config: Config | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a gateway with `config` (its enabled channels add their
    routes, actions and views); without one, of every installed channel. A new dict on each
    call: callers may change it."""
    categories: dict[str, str] | None = None
    units: list[str] = []
    if config is not None:
        channels = config.enabled_channels
        categories = {code: c.name for code, c in config.categories.items()}
        units = sorted(u.code for u in config.org.units())
    else:
        channels = tuple(discovery.declaration(code) for code in discovery.installed())
    schemas: dict[str, Any] = {
        name: component_schema(filename, categories) for filename, name in SCHEMA_COMPONENTS.items()
    }
    schemas["Incident"] = embedded(contract.incident_schema(channels), "incident.schema.json")
    schemas["IncidentAction"] = embedded(
        contract.action_schema(channels, categories, units), "action.schema.json"
    )
    schemas.update(_core_components())
    paths = _with_links(_paths(channels, units))
    from gateway.http import targets_openapi as targets  # imports this module: not at the top

    schemas.update(targets.openapi_components(units))
    paths.update(targets.openapi_paths(units))
    from gateway.eido import openapi as eido_openapi  # imports this module too

    eido_openapi.add_to(schemas, paths)
    from gateway.drills import openapi as drill_openapi  # and this one

    drill_openapi.add_to(schemas, paths)
    for channel in channels:
        if channel.openapi_components:
            schemas.update(resolve(channel.openapi_components))
        for r in channel.routes:
            paths.setdefault(r.path, {})[r.method.lower()] = resolve(r.openapi)
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
            targets.TAG,
            drill_openapi.TAG,
            {"name": "ops", "description": "Health, metrics and this document."},
        ],
        "security": [{"bearer": []}],
        "paths": paths,
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
