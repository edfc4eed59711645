"""What the AMI channel adds to an incident document: its 110 calls (detail view, key
``calls``) and, in the queue, the callback task of an abandoned call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gateway.channels.ami import store

CALL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["linkedid", "caller", "trunk", "state", "arrived_at"],
    "properties": {
        "linkedid": {
            "type": "string",
            "description": "Asterisk's Linkedid, also the report's external_id",
        },
        "caller": {
            "type": "string",
            "description": "the caller's number, or `anonymous` when withheld",
        },
        "caller_name": {"type": ["string", "null"]},
        "trunk": {"type": "string"},
        "drill": {"type": "boolean"},
        "state": {"enum": ["arrived", "queued", "ringing", "answered", "ended", "abandoned"]},
        "queue": {"type": ["string", "null"]},
        "calltaker": {"type": ["string", "null"]},
        "arrived_at": {"type": "string", "format": "date-time"},
        "answered_at": {"type": ["string", "null"], "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "hold_s": {"type": ["number", "null"]},
        "talk_s": {"type": ["number", "null"]},
        "hangup_by": {"enum": ["caller", "calltaker", "system", "unknown", None]},
        "end_reason": {
            "enum": ["completed", "caller_hangup", "timeout_then_hangup", "link_lost", None]
        },
        "queue_timeouts": {"type": "array", "items": {"type": "string"}},
        "recording": {"type": ["string", "null"]},
        "callback": {
            "enum": ["pending", "calling", "connected", "no_answer", "busy", "failed", None]
        },
        "callback_attempts": {"type": "integer", "minimum": 0},
    },
}
CALLS: dict[str, Any] = {"type": "array", "items": CALL}

# The callback task (in the queue's `tasks`).
CALLBACK_TASK: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "status"],
    "properties": {
        "kind": {"const": "callback"},
        "number": {"type": "string", "description": "the number to ring back"},
        "status": {"enum": list(store.CALLBACK_OPEN)},
        "attempts": {"type": "integer", "minimum": 0},
        "since": {"type": ["string", "null"], "format": "date-time"},
    },
}


def calls(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The calls filed under each incident (through their reports), oldest first."""
    return store.calls_of(conn, incident_ids)


def callbacks(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The open callback task of each incident that has one."""
    return {iid: [task] for iid, task in store.callbacks_open(conn, incident_ids).items()}
