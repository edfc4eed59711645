"""The CAP channel's routes: ``POST /api/v1/cap`` (a CAP 1.2 message in) and
``GET /api/v1/cap/feed`` (the consumer's Atom feed of CAP messages), with their OpenAPI
operations."""

from __future__ import annotations

from typing import Any

from gateway.channel import RouteCall
from gateway.channels.cap.message import CapError
from gateway.channels.cap.service import CapChannel, Refusal
from gateway.http.openapi import UNAVAILABLE, error_response, ref, response
from gateway.http.resource import HttpError
from gateway.report import InvalidReport, parse_utc

MEDIA_TYPES = ("application/cap+xml", "application/xml", "text/xml")
ATOM = b"application/atom+xml; charset=utf-8"
MAX_LIMIT = 500


async def receive(cap: CapChannel, call: RouteCall) -> Any:
    data = call.body(*MEDIA_TYPES)
    try:
        outcome = await cap.receive(data, call.now)
    except CapError as e:
        raise HttpError(e.status, e.code, e.message, e.element) from None
    except Refusal as e:
        raise HttpError(e.status, e.code, e.text, e.element) from None
    return outcome.status, outcome.body


async def feed(cap: CapChannel, call: RouteCall) -> Any:
    assert call.actor is not None  # the route requires a token
    args = call.query
    unknown = sorted(set(args) - {"since", "limit"})
    if unknown:
        raise HttpError(400, "bad_query", f"unknown parameter {unknown[0]}", unknown[0])
    since = None
    if "since" in args:
        try:
            since = parse_utc(args["since"], "since")
        except InvalidReport as e:
            raise HttpError(400, "bad_query", e.problem, "since") from None
    limit_text = args.get("limit", str(cap.settings.feed_limit))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise HttpError(400, "bad_query", f"limit must be a whole number 1 to {MAX_LIMIT}", "limit")
    body = await cap.feed(call.actor, "/api/v1/cap/feed", since, int(limit_text), call.now)
    return 200, body, ATOM


_XML_BODY = {"schema": {"type": "string", "description": "A CAP 1.2 <alert> (OASIS CAP-v1.2.xsd)."}}

RECEIVE: dict[str, Any] = {
    "operationId": "receiveCapAlert",
    "tags": ["cap"],
    "summary": "Take in a CAP 1.2 alert (OASIS Common Alerting Protocol)",
    "description": "Validated against the OASIS CAP 1.2 schema (bundled); each <info> becomes "
    "a report: its circle's centre and radius, or its polygon's centroid, is the place; the "
    "city's rules ([channels.cap] rules) map event, category, urgency, severity and "
    "certainty to the category and priority. status=Exercise files drills. msgType Update "
    "(with references) joins the earlier alert's incident; Cancel cancels it while it is "
    "not yet dispatched, and afterwards attaches the cancel for the call-taker. "
    "status Test, System, Draft and msgType Ack, Error are validated and answered 200 with "
    "nothing stored. Answers after the commit; idempotent on sender + identifier: a repeat "
    "gets the same receipts (200) and stores nothing. A DOCTYPE is refused.",
    "security": [{"bearer": []}],
    "requestBody": {
        "required": True,
        "content": {t: _XML_BODY for t in MEDIA_TYPES},
    },
    "responses": {
        "201": response(ref("CapReceipts"), "Stored: one receipt per <info>."),
        "200": response(
            ref("CapReceipts"),
            "A repeat of a stored message (the same receipts), or a message that is not "
            "for action (Test, System, Draft, Ack, Error; `stored: false`).",
        ),
        "400": error_response("Not well-formed XML, or a DOCTYPE (`bad_xml`)."),
        "401": error_response("No or an unknown token (`unauthorized`)."),
        "403": error_response(
            "Not an integration token, or an Update/Cancel of another sender's message "
            "(`forbidden`; `field` alert/references)."
        ),
        "409": error_response(
            "An Update or Cancel referencing no stored message (`unknown_reference`)."
        ),
        "413": error_response("The body is too large (`too_large`)."),
        "415": error_response(
            "Not application/cap+xml, application/xml or text/xml (`unsupported_media_type`)."
        ),
        "422": error_response(
            "Not a CAP 1.2 alert the schema accepts, or a value the standard forbids "
            "(`invalid_cap`; `field` is the element's path, e.g. alert/info[1]/urgency, and "
            "the message gives its line)."
        ),
        "503": UNAVAILABLE,
    },
}

FEED: dict[str, Any] = {
    "operationId": "capFeed",
    "tags": ["cap"],
    "summary": "Atom feed of incidents as CAP 1.2 messages, for other city departments",
    "description": "One entry per incident in the token's unit scope, the latest change "
    "first; its content is the CAP 1.2 message of the incident's latest version "
    "(identifier <number>.<version>; msgType Alert, then Update, Cancel once cancelled, "
    "invalid or merged; status Exercise for drills; scope Restricted). Only category, "
    "place, state, times and unit: no reporter, no report text.",
    "security": [{"bearer": []}],
    "parameters": [
        {
            "name": "since",
            "in": "query",
            "required": False,
            "description": "Only incidents changed at or after this RFC 3339 time.",
            "schema": {"type": "string", "format": "date-time"},
        },
        {
            "name": "limit",
            "in": "query",
            "required": False,
            "description": "Entries in the page (default [channels.cap] feed_limit, 50).",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        },
    ],
    "responses": {
        "200": {
            "description": "The Atom feed (RFC 4287).",
            "content": {"application/atom+xml": {"schema": {"type": "string"}}},
        },
        "400": error_response("A bad `since` or `limit` (`bad_query`)."),
        "401": error_response("No or an unknown token (`unauthorized`)."),
        "403": error_response("Not an integration token (`forbidden`)."),
        "503": UNAVAILABLE,
    },
}

_RECEIPT = {
    "type": "object",
    "required": ["receipt", "incident"],
    "properties": {
        "receipt": {"type": "string"},
        "incident": {
            "type": "object",
            "required": ["number", "state"],
            "properties": {"number": {"type": "string"}, "state": {"type": "string"}},
        },
    },
}


COMPONENTS: dict[str, Any] = {
    "CapReceipts": {
        "type": "object",
        "required": ["identifier", "sender", "status", "msgType", "stored", "receipts"],
        "properties": {
            "identifier": {"type": "string"},
            "sender": {"type": "string"},
            "status": {"enum": ["Actual", "Exercise", "System", "Test", "Draft"]},
            "msgType": {"enum": ["Alert", "Update", "Cancel", "Ack", "Error"]},
            "stored": {"type": "boolean", "description": "false: nothing was for action"},
            "receipts": {"type": "array", "items": _RECEIPT},
            "incident": {
                "description": "A Cancel's incident, after it.",
                "type": "object",
                "properties": {"number": {"type": "string"}, "state": {"type": "string"}},
            },
            "cancelled": {"type": "boolean", "description": "A Cancel: was it carried out"},
            "note": {"type": "string"},
        },
    }
}
