"""The web channel's routes: ``POST /api/v1/reports`` (people and other systems) and the
citizen's form (``GET /``, ``GET /report``, ``POST /report``), with their OpenAPI
operations."""

from __future__ import annotations

from typing import Any

from gateway.channel import RouteCall
from gateway.channels.web import pages
from gateway.channels.web.service import WebChannel
from gateway.http.openapi import UNAVAILABLE, error_response, ref, response
from gateway.http.resource import HTML, HttpError
from gateway.report import InvalidReport, local_time
from gateway.store.db import StoreUnavailable


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
            "body's); without either the server generates a UUID.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 200},
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ref("ReportSubmission")}},
    },
    "responses": {
        "201": response(ref("Receipt"), "Stored; the receipt (回执) and its incident."),
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
        "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
    },
    "responses": {
        "201": {"description": "Stored: the receipt page.", "content": _HTML},
        "400": {"description": "The form again, with the problem.", "content": _HTML},
        "413": error_response("The body is too large (`too_large`)."),
        "503": {"description": "The store is unavailable: try again.", "content": _HTML},
    },
}
