"""What the SMS channel adds to an incident document: the SMS the gateway sent about it
(detail view, key ``sms``); the citizen's own SMS are its reports (channel ``sms``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gateway.channels.smpp import store

SMS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "to", "text", "parts", "status", "attempts", "created_at"],
    "properties": {
        "kind": {
            "description": "receipt, followup, update, reply: to the citizen; notice: to a "
            "unit's duty phone",
            "enum": ["receipt", "followup", "update", "reply", "notice"],
        },
        "to": {"type": "string"},
        "text": {"type": "string"},
        "parts": {"type": "integer", "minimum": 1},
        "status": {
            "description": "pending → sending → sent → delivered | undelivered (the SMSC's "
            "delivery receipts of all parts); failed (will retry) → gave_up",
            "enum": ["pending", "sending", "sent", "delivered", "undelivered", "failed", "gave_up"],
        },
        "attempts": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"]},
        "by": {"description": "the call-taker who wrote a reply", "type": ["string", "null"]},
        "created_at": {"type": "string"},
        "sent_at": {"type": ["string", "null"]},
        "done_at": {"type": ["string", "null"]},
    },
}
THREAD: dict[str, Any] = {"type": "array", "items": SMS}


def thread(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The SMS sent about each incident, oldest first."""
    return store.thread(conn, incident_ids)
