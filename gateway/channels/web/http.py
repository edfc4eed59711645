"""The web channel's routes: ``POST /api/v1/reports`` (people and other systems) and the
citizen's form (``GET /``, ``GET /report``, ``POST /report``), with their OpenAPI
operations."""

from __future__ import annotations

from typing import Any

from gateway import phone
from gateway.channel import RouteCall
from gateway.channels.web import pages
from gateway.channels.web.service import WebChannel
from gateway.http.openapi import (
    NO_CONTROL,
    NO_CONTROL_BUT_LINES,
    UNAVAILABLE,
    error_response,
    link,
    ref,
    response,
)
from gateway.http.resource import HTML, HttpError
from gateway.report import InvalidReport, local_time
from gateway.store.engine import StoreUnavailable


async def submit_report(web: WebChannel, call: RouteCall) -> Any:
    report = web.report(call, call.json())
    receipt = await web.ctx.submit(report)
    return 201, receipt.to_json()


def form(web: WebChannel, call: RouteCall) -> Any:
    return 200, pages.form_page(web.ctx.config.categories), HTML


async def submit_form(web: WebChannel, call: RouteCall) -> Any:
    categories = web.ctx.config.categories
    if call.too_large:
        raise HttpError(413, "too_large", f"body over {web.ctx.config.http.max_body} bytes")
    fields = call.form()
    try:
        report = web.report(call, pages.form_report(fields), key=fields.get("token") or None)
    except (ValueError, HttpError) as e:
        message = e.message if isinstance(e, HttpError) else str(e)
        if isinstance(e, InvalidReport | HttpError) and getattr(e, "field", None):
            message = f"{message}（{e.field}）"  # type: ignore[union-attr]
        return 400, pages.form_page(categories, fields, message), HTML
    try:
        receipt = await web.ctx.submit(report)
    except StoreUnavailable:
        return 503, pages.unavailable_page(), HTML
    received = local_time(report.received_at, web.ctx.tz)
    return 201, pages.done_page(receipt.receipt, receipt.incident, received), HTML


SUBMIT_REPORT: dict[str, Any] = {
    "operationId": "submitReport",
    "tags": ["web"],
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
            "body's); without either the server generates a UUID. Printable ASCII only "
            "(the IETF idempotency-key draft's string).",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[ -~]*$"},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ref("ReportSubmission")}},
    },
    "responses": {
        "201": {
            **response(ref("Receipt"), "Stored; the receipt (回执) and its incident."),
            "links": {
                "GetIncident": link(
                    "getIncident",
                    "The incident the report created or was attached to.",
                    number="$response.body#/incident/number",
                ),
                "ActOnIncident": link(
                    "actOnIncident",
                    "Work the incident (受理, 派警, …).",
                    number="$response.body#/incident/number",
                ),
                "GetReceiptStatus": link(
                    "getReceiptStatus",
                    "Follow the report by its receipt.",
                    receipt="$response.body#/receipt",
                ),
            },
        },
        "400": error_response(
            "The body is not UTF-8 JSON, or is nested deeper than 32 (`bad_json`)."
        ),
        "401": error_response("An unknown or revoked bearer token (`unauthorized`)."),
        "403": error_response(
            "A channel other than `web`, or the drill flag, without a token that "
            "may use it (`forbidden`)."
        ),
        "413": error_response("The body is too large (`too_large`)."),
        "415": error_response("The body is not application/json (`unsupported_media_type`)."),
        "422": error_response(
            "The report fails the schema or its checks (`invalid_report`; `field` names the field)."
        ),
        "503": UNAVAILABLE,
    },
}

_HTML = {"text/html": {"schema": {"type": "string"}}}

# Latitude and longitude as the form's text fields carry them (decimal degrees, in range).
_LAT = r"^-?(?:[0-8]?[0-9](?:\.[0-9]{1,15})?|90(?:\.0{1,15})?)$"
_LON = r"^-?(?:(?:1[0-7][0-9]|[0-9]?[0-9])(?:\.[0-9]{1,15})?|180(?:\.0{1,15})?)$"


def _filled(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"minLength": 1}}}


#: POST /report: the citizen form's fields (pages.py), each a string as browsers send them;
#: blank ones count as not given. The report they make is checked like any
#: ReportSubmission (control characters refused, …); a 400 page names the problem.
FORM_FIELDS: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "token": {
            "description": "The form's one-time token: the idempotency key (a resubmission "
            "of the same form stores one report).",
            "type": "string", "maxLength": 200, "pattern": r"^(?:|[ -~]*[!-~][ -~]*)$",
        },
        "text": {
            "description": "What happened (必填): at least one character that is not a space.",
            "type": "string", "maxLength": 10000,
            "allOf": [{"pattern": r"\S"}, {"pattern": NO_CONTROL_BUT_LINES}],
        },
        "address": {"type": "string", "maxLength": 500, "pattern": NO_CONTROL},
        "lat": {"description": "WGS84 latitude, with `lon`.", "anyOf": [
            {"const": ""}, {"type": "string", "pattern": _LAT}
        ]},
        "lon": {"description": "WGS84 longitude, with `lat`.", "anyOf": [
            {"const": ""}, {"type": "string", "pattern": _LON}
        ]},
        "category": {"anyOf": [{"const": ""}, ref("ReportSubmission", "/$defs/category")]},
        "phone": {"description": "The reporter's phone number (the sender), or blank.",
                  "type": "string", "maxLength": 200,
                  "anyOf": [{"pattern": "^ *$"}, {"pattern": phone.PATTERN}]},
        "name": {"type": "string", "maxLength": 200, "pattern": NO_CONTROL},
    },
    # Latitude and longitude come together or not at all.
    "allOf": [
        {"if": _filled("lat"), "then": _filled("lon")},
        {"if": _filled("lon"), "then": _filled("lat")},
    ],
}  # fmt: skip
FORM_HOME: dict[str, Any] = {
    "operationId": "formHome",
    "tags": ["web"],
    "summary": "The citizen's report form (HTML), same as /report",
    "security": [],
    "responses": {"200": {"description": "The form.", "content": _HTML}},
}
FORM: dict[str, Any] = {
    "operationId": "form",
    "tags": ["web"],
    "summary": "The citizen's report form (网上报警, HTML)",
    "security": [],
    "responses": {"200": {"description": "The form.", "content": _HTML}},
}
SUBMIT_FORM: dict[str, Any] = {
    "operationId": "submitForm",
    "tags": ["web"],
    "summary": "Submit the form; answers with the receipt page (HTML)",
    "security": [],
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": FORM_FIELDS}},
    },
    "responses": {
        "201": {"description": "Stored: the receipt page.", "content": _HTML},
        "400": {"description": "The form again, with the problem.", "content": _HTML},
        "413": error_response("The body is too large (`too_large`)."),
        "503": {"description": "The store is unavailable: try again.", "content": _HTML},
    },
}
