"""The web channel's routes: ``POST /api/v1/reports`` (people and other systems) and the
citizen's form (``GET /``, ``GET /report``, ``POST /report``), with their OpenAPI
operations."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from gateway import phone
from gateway.channel import RouteCall
from gateway.channels.web import locate, pages, progress
from gateway.channels.web.service import WebChannel
from gateway.http.openapi import (
    NO_CONTROL,
    NO_CONTROL_BUT_LINES,
    RECEIPT_PARAMETER,
    UNAVAILABLE,
    error_response,
    link,
    ref,
    response,
)
from gateway.http.resource import HTML, HttpError
from gateway.report import InvalidReport, local_time
from gateway.store.engine import StoreUnavailable
from gateway.workflow import records


async def submit_report(web: WebChannel, call: RouteCall) -> Any:
    report = web.report(call, call.json())
    receipt = await web.ctx.submit(report)
    return 201, receipt.to_json()


def form(web: WebChannel, call: RouteCall) -> Any:
    return 200, pages.form_page(web.ctx.config.categories), HTML


async def submit_form(web: WebChannel, call: RouteCall) -> Any:
    """The form's POST: the receipt page, or the form again saying in Chinese what to fix
    (everything this path can refuse, down to the schema's checks and a tampered token)."""
    categories = web.ctx.config.categories
    if call.too_large:
        return 413, pages.too_large_page(categories, web.ctx.config.http.max_body), HTML
    fields = call.form()
    try:
        doc = pages.form_report(fields, categories)
    except ValueError as e:
        return 400, pages.form_page(categories, fields, str(e)), HTML
    try:
        report = web.report(call, doc, key=fields.get("token") or None)
    except (HttpError, InvalidReport) as e:
        if e.field == "Idempotency-Key":  # the hidden token: a fresh form, a fresh token
            fresh = {k: v for k, v in fields.items() if k != "token"}
            return 400, pages.form_page(categories, fresh, "表单已失效，请重新提交"), HTML
        return 400, pages.form_page(categories, fields, pages.form_problem(e.field)), HTML
    try:
        receipt = await web.ctx.submit(report)
    except StoreUnavailable:
        return 503, pages.unavailable_page(), HTML
    received = local_time(report.received_at, web.ctx.tz)
    return 201, pages.done_page(receipt.receipt, receipt.incident, received), HTML


def locate_script(web: WebChannel, call: RouteCall) -> Any:
    return 200, locate.SCRIPT.encode(), b"text/javascript; charset=utf-8"


async def receipt_page(web: WebChannel, call: RouteCall) -> Any:
    """GET /receipt/{receipt}: the status page of a receipt as typed (any case, O for 0,
    I or L for 1, hyphens)."""
    return await _status(web, unquote(call.params["receipt"]))


async def receipt_lookup(web: WebChannel, call: RouteCall) -> Any:
    """GET /receipt: the lookup form; with ``?r=`` (what the form sends), the status."""
    typed = call.query.get("r")
    if typed is None:
        return 200, progress.lookup_page(), HTML
    return await _status(web, typed)


async def _status(web: WebChannel, typed: str) -> Any:
    try:
        stored = records.normalise_receipt(typed)
    except records.NotAReceipt as e:
        return 400, progress.lookup_page(typed, progress.not_a_receipt(e)), HTML
    try:
        status = await web.ctx.read(records.receipt_status, stored)
    except StoreUnavailable:
        return 503, progress.busy_page(), HTML
    if status is None:
        return 404, progress.not_found_page(stored), HTML
    return 200, progress.status_page(status, web.ctx.tz), HTML


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

_BLANK = {"pattern": "^ *$"}


def _filled(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"pattern": "[^ ]"}}}


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
        "lat": {"description": "WGS84 latitude, with `lon` (the browser's geolocation "
                "fills both; a person may type them).",
                "type": "string", "anyOf": [_BLANK, {"pattern": pages.LAT}]},
        "lon": {"description": "WGS84 longitude, with `lat`.",
                "type": "string", "anyOf": [_BLANK, {"pattern": pages.LON}]},
        "accuracy": {"description": "Metres (the geolocation's estimate): the report's "
                     "`location.accuracy_m`; left out without `lat` and `lon`.",
                     "type": "string", "anyOf": [_BLANK, {"pattern": pages.ACCURACY}]},
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
        "413": {"description": "The body is too large: the form again, empty.", "content": _HTML},
        "503": {"description": "The store is unavailable: try again.", "content": _HTML},
    },
}
LOCATE_SCRIPT: dict[str, Any] = {
    "operationId": "locateScript",
    "tags": ["web"],
    "summary": "The form's geolocation script (使用我的位置): fills lat, lon and accuracy",
    "security": [],
    "responses": {
        "200": {
            "description": "JavaScript, no dependencies.",
            "content": {"text/javascript": {"schema": {"type": "string"}}},
        }
    },
}
_RECEIPT_PAGE_ANSWERS: dict[str, Any] = {
    "200": {"description": "The status (受理中, 已派警, 已到场, 已办结, …) and when each "
            "step was reached, in the city's time; nothing personal.", "content": _HTML},
    "400": {"description": "Nothing typed, or a character that is in no receipt (e.g. U): "
            "the lookup form, saying so.", "content": _HTML},
    "404": {"description": "No such receipt (未找到).", "content": _HTML},
    "503": {"description": "The store is unavailable: try again.", "content": _HTML},
}  # fmt: skip
RECEIPT_PAGE: dict[str, Any] = {
    "operationId": "receiptPage",
    "tags": ["web", "public"],
    "summary": "Where is my report? (报警进度, HTML)",
    "description": "The page of GET /api/v1/receipts/{receipt} for a person.",
    "security": [],
    "parameters": [RECEIPT_PARAMETER],
    "responses": _RECEIPT_PAGE_ANSWERS,
}
RECEIPT_LOOKUP: dict[str, Any] = {
    "operationId": "receiptLookup",
    "tags": ["web", "public"],
    "summary": "Look up a receipt (查询报警进度, HTML): the form, or with `r` the status",
    "security": [],
    "parameters": [
        {
            "name": "r",
            "in": "query",
            "required": False,
            "description": "The receipt as typed (spaces and hyphens ignored; any case; O for "
            "0, I or L for 1). Without it: the lookup form.",
            "schema": {
                "type": "string",
                "maxLength": 64,
                "pattern": "^[- ]*[0-9A-TV-Za-tv-z][- 0-9A-TV-Za-tv-z]*$",
            },
        }
    ],
    "responses": _RECEIPT_PAGE_ANSWERS,
}
