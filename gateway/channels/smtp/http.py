"""The e-mail channel's HTTP side: the ``reply`` action (回复邮件) and the files of an
incident's mails and faxes (raw messages, attachments, fax page images)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.channel import RouteCall
from gateway.channels.smtp import store
from gateway.http.openapi import UNAVAILABLE, error_response, ref
from gateway.http.resource import HttpError
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see

if TYPE_CHECKING:
    from gateway.channels.smtp.service import SmtpChannel

# Served inline only where a browser cannot run them; anything else is a download.
INLINE = frozenset({"image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain"})


async def reply(channel: SmtpChannel, actor: Actor, number: str, params: dict[str, Any]) -> Any:
    """回复邮件: answer the citizen by mail (202: queued; its sending lands on the incident
    as a mail_sent or mail_failed event)."""
    queued = await channel.mailer.reply(actor, number, params["message"], params.get("address"))
    return {"incident": number, "mail": {"to": queued["to"], "status": "pending"}}


async def file(channel: SmtpChannel, call: RouteCall) -> Any:
    number, sha = call.params["number"], call.params["sha256"]
    found = await channel.ctx.read(store.file_of, number, sha)
    if found is None:
        raise HttpError(404, "not_found", f"incident {number} has no file {sha}")
    unit, blob = found
    if call.actor is None or not may_see(call.actor, unit, channel.ctx.org):
        raise HttpError(403, "forbidden", f"incident {number} is outside your scope")
    content_type = blob.content_type if blob.content_type in INLINE else "application/octet-stream"
    return 200, bytes(blob.data), content_type.encode()


MAIL_QUEUED: dict[str, Any] = {
    "type": "object",
    "required": ["incident", "mail"],
    "properties": {
        "incident": ref("Incident", "/$defs/number"),
        "mail": {
            "type": "object",
            "required": ["to", "status"],
            "properties": {"to": {"type": "string"}, "status": {"enum": ["pending"]}},
        },
    },
}

FILE: dict[str, Any] = {
    "operationId": "incidentFile",
    "tags": ["smtp"],
    "summary": "A file of an incident's mails and faxes (the raw message, an attachment, a "
    "fax page image), by its SHA-256 as the incident document names it",
    "parameters": [
        {
            "name": "number",
            "in": "path",
            "required": True,
            "schema": ref("Incident", "/$defs/number"),
        },
        {
            "name": "sha256",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        },
    ],
    "responses": {
        "200": {
            "description": "The file: PNG, JPEG, GIF, PDF and plain text as they are, anything "
            "else as application/octet-stream.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in (*sorted(INLINE), "application/octet-stream")
            },
        },
        "401": error_response("No, or an unknown or revoked, bearer token (`unauthorized`)."),
        "403": error_response("The incident is outside the token's scope (`forbidden`)."),
        "404": error_response("No such incident, or no such file of it (`not_found`)."),
        "503": UNAVAILABLE,
    },
}
