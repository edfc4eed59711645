"""The systems channel's route: ``POST /api/v1/systems/{system}/alarms``, with its OpenAPI
operation."""

from __future__ import annotations

from typing import Any

from gateway.channel import RouteCall
from gateway.channels.systems.service import SystemsChannel
from gateway.channels.systems.signature import SIGNATURE, TIMESTAMP
from gateway.http.openapi import UNAVAILABLE, error_response, link, ref, response


async def receive_alarm(systems: SystemsChannel, call: RouteCall) -> Any:
    receipt = await systems.receive(call.params["system"], call)
    return 201, receipt.to_json()


RECEIVE_ALARM: dict[str, Any] = {
    "operationId": "receiveSystemAlarm",
    "tags": ["intake", "systems"],
    "summary": "An alarm pushed by another information system (信息系统报警), signed",
    "description": "The body is the system's own JSON; `[channels.systems.sources.<system>]` "
    "maps it to a report (JSON Pointers, RFC 6901). Authenticated by its signature, not a "
    f"token: `{SIGNATURE}: sha256=<hex>`, HMAC-SHA256 by the system's secret over "
    f'`"<{TIMESTAMP}>." + body` (the exact octets sent), the timestamp within the replay '
    "window (`window_s`, default 300 s either way). Answers only after the report is "
    "durably stored; idempotent on the system and its key (Idempotency-Key, else the mapped "
    "external_id): a retry gets the same receipt and stores nothing twice.",
    "security": [],
    "parameters": [
        {
            "name": "system",
            "in": "path",
            "required": True,
            "description": "The system's code (its [channels.systems.sources.<system>]).",
            "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,31}$"},
        },
        {
            "name": TIMESTAMP,
            "in": "header",
            "required": True,
            "description": "When the request was signed, Unix seconds (no leading zero).",
            "schema": {"type": "string", "pattern": "^(0|[1-9][0-9]{0,11})$"},
        },
        {
            "name": SIGNATURE,
            "in": "header",
            "required": True,
            "description": "sha256= and the HMAC-SHA256 in hex.",
            "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "The alarm's key (it takes precedence over the mapped external_id); "
            "one of them is required. Printable ASCII. Not signed: a signed request seen "
            "with one key is refused with another inside the window.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 167, "pattern": "^[ -~]*$"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"description": "The system's own JSON."}}},
    },
    "responses": {
        "201": {
            **response(ref("Receipt"), "Stored (or a retry of a stored one): the receipt."),
            "links": {
                "GetReceiptStatus": link(
                    "getReceiptStatus",
                    "Follow the alarm by its receipt.",
                    receipt="$response.body#/receipt",
                ),
            },
        },
        "400": error_response("The body is not UTF-8 JSON, or is nested deeper than 32."),
        "401": {
            **error_response(
                "Missing or malformed signature headers, a signature that does not verify "
                "(also for a system that does not exist), or a timestamp outside the window "
                "(`unauthorized`). Logged; nothing stored."
            ),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        },
        "413": error_response("The body is too large (`too_large`)."),
        "415": error_response("The body is not application/json (`unsupported_media_type`)."),
        "422": error_response(
            "The body is not this system's alarm: a required field missing, a value that "
            "does not fit, no key (`invalid_report`; `field` is the JSON "
            "Pointer into the body, or Idempotency-Key)."
        ),
        "503": UNAVAILABLE,
    },
}
