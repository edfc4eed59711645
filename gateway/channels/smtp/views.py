"""What the e-mail channel adds to an incident document (detail view): ``mail``, the mail the
gateway sent about it, and ``fax``, each fax document with its page images (served by
`http.file`) and their OCR text. The citizen's own mails and faxes are its reports
(channels ``email`` and ``fax``), with their attachments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from gateway.channels.smtp import store
from gateway.report import format_utc

_TIME = {"type": ["string", "null"]}

MAIL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "to", "subject", "text", "status", "attempts", "created_at"],
    "properties": {
        "kind": {
            "description": "receipt, followup, update: the gateway's own; reply: a call-taker's",
            "enum": ["receipt", "followup", "update", "reply"],
        },
        "to": {"type": "string"},
        "subject": {"type": "string"},
        "text": {"type": "string"},
        "status": {
            "description": "pending → sending → sent (the smarthost took it); failed (will "
            "retry) → gave_up",
            "enum": ["pending", "sending", "sent", "failed", "gave_up"],
        },
        "attempts": {"type": "integer", "minimum": 0},
        "error": {"type": ["string", "null"]},
        "by": {"description": "the call-taker who wrote a reply", "type": ["string", "null"]},
        "created_at": {"type": "string"},
        "sent_at": _TIME,
    },
}
SENT: dict[str, Any] = {"type": "array", "items": MAIL}

PAGE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["page", "image", "width", "height", "stretched", "text"],
    "properties": {
        "page": {"type": "integer", "minimum": 1},
        "image": {
            "description": "path of the PNG image (GET with the bearer token)",
            "type": "string",
        },
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "stretched": {
            "description": "a standard-resolution page (98 dpi), doubled vertically",
            "type": "boolean",
        },
        "text": {"description": "the OCR's text; null until read", "type": ["string", "null"]},
    },
}
FAX: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["receipt", "name", "file", "status", "pages"],
        "properties": {
            "receipt": {"description": "the report it came with", "type": "string"},
            "name": {"type": "string"},
            "file": {"description": "path of the document as received", "type": "string"},
            "status": {
                "description": "pending → paged (page images) → done (read); failed: "
                "unreadable or given up (error)",
                "enum": ["pending", "working", "paged", "done", "failed"],
            },
            "error": {"type": ["string", "null"]},
            "pages": {"type": "array", "items": PAGE},
        },
    },
}


def sent(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {iid: [] for iid in incident_ids}
    return out | {
        iid: [
            {
                "kind": r["kind"],
                "to": r["to_address"],
                "subject": r["subject"],
                "text": r["body"],
                "status": r["status"],
                "attempts": r["attempts"],
                "error": r["error"],
                "by": r["actor"],
                "created_at": format_utc(r["created_at"]),
                "sent_at": format_utc(r["sent_at"]) if r["sent_at"] else None,
            }
            for r in rows
        ]
        for iid, rows in store.sent_mail(conn, incident_ids).items()
    }


def faxes(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    numbers = store.numbers(conn, incident_ids)
    out: dict[int, list[dict[str, Any]]] = {iid: [] for iid in incident_ids}
    for iid, docs in store.fax_of(conn, incident_ids).items():
        base = f"/api/v1/incidents/{numbers[iid]}/files/"
        out[iid] = [
            {
                "receipt": d["receipt"],
                "name": d["name"],
                "file": base + d["sha256"],
                "status": d["status"],
                "error": d["error"],
                "pages": [p | {"image": base + p["image"]} for p in d["pages"]],
            }
            for d in docs
        ]
    return out
