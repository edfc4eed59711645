"""What the Telegram channel adds to an incident document: what the bot sent about it (detail
view, key ``telegram``); the citizen's own messages are its reports (channel ``telegram``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gateway.channels.telegram import store

MESSAGE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "chat", "text", "status", "attempts", "created_at"],
    "properties": {
        "kind": {
            "description": "receipt, followup, update, reply: to the citizen's chat; notice: "
            "to a unit's registered chat (with the 签收 button)",
            "enum": ["receipt", "followup", "update", "reply", "notice"],
        },
        "chat": {"type": "integer"},
        "text": {"type": "string"},
        "status": {
            "description": "pending → sending → sent; failed (will retry) → gave_up",
            "enum": ["pending", "sending", "sent", "failed", "gave_up"],
        },
        "attempts": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"]},
        "by": {"description": "the call-taker who wrote a reply", "type": ["string", "null"]},
        "created_at": {"type": "string"},
        "sent_at": {"type": ["string", "null"]},
    },
}
THREAD: dict[str, Any] = {"type": "array", "items": MESSAGE}


def thread(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The messages the bot sent about each incident, oldest first."""
    return store.thread(conn, incident_ids)
