"""The Telegram channel's HTTP side: the webhook Telegram posts updates to (mode "webhook"),
the files of its reports, and the ``reply_telegram`` action (回复Telegram)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from gateway.channel import RouteCall
from gateway.channels.telegram import store
from gateway.channels.telegram.bot import TelegramUnavailable
from gateway.http.openapi import UNAVAILABLE, error_response, ref
from gateway.http.resource import HttpError
from gateway.report import InvalidReport
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
INLINE = frozenset({"image/jpeg", "image/png"})


async def webhook(channel: TelegramChannel, call: RouteCall) -> Any:
    """One update from Telegram: 200 only after it is dealt with (its report committed); a
    5xx otherwise, and Telegram posts it again (Bot API §setWebhook: "In case of an
    unsuccessful request, we will give up after a reasonable amount of attempts")."""
    s = channel.settings
    if s.mode != "webhook":
        raise HttpError(404, "not_found", "the Telegram channel is not in webhook mode")
    given = (call.header(SECRET_HEADER) or "").encode("latin-1")
    if not hmac.compare_digest(given, s.webhook_secret.encode()):
        raise HttpError(403, "forbidden", f"wrong or missing {SECRET_HEADER}")
    update = call.json()
    try:
        outcome = await channel.inflight.track(channel.take(update))
    except TelegramUnavailable as e:
        raise HttpError(
            503, "unavailable", f"Telegram file not fetched: {e}", headers={"Retry-After": "1"}
        ) from None
    return 200, {"ok": True, "outcome": outcome}


async def file(channel: TelegramChannel, call: RouteCall) -> Any:
    sha = call.params["sha256"]
    found = await channel.ctx.read(store.file_of, sha)
    if found is None:
        raise HttpError(404, "not_found", f"no Telegram file {sha}")
    row, units = found
    actor = call.actor
    if actor is None or not any(may_see(actor, u, channel.ctx.org) for u in units):
        raise HttpError(403, "forbidden", "the file's incident is outside your scope")
    content_type = row.content_type if row.content_type in INLINE else "application/octet-stream"
    return 200, bytes(row.data), content_type.encode()


async def reply(channel: TelegramChannel, actor: Actor, number: str, params: dict[str, Any]) -> Any:
    """回复Telegram: answer the citizen in the chat (202: queued; its sending lands on the
    incident as a telegram_sent or telegram_failed event)."""
    try:
        return await channel.sender.reply(
            number, actor, params["telegram_text"], params.get("telegram_chat")
        )
    except InvalidReport as e:
        raise HttpError(422, "invalid_action", e.problem, e.field) from None


TELEGRAM_QUEUED: dict[str, Any] = {
    "type": "object",
    "required": ["incident", "telegram"],
    "properties": {
        "incident": ref("Incident", "/$defs/number"),
        "telegram": {
            "type": "object",
            "required": ["chat", "text", "status"],
            "properties": {
                "chat": {"type": "integer"},
                "text": {"type": "string"},
                "status": {"enum": ["pending"]},
            },
        },
    },
}

WEBHOOK: dict[str, Any] = {
    "operationId": "telegramWebhook",
    "tags": ["telegram"],
    "summary": 'Telegram\'s webhook (mode = "webhook"): one Bot API Update; answered 200 only '
    "after its report is committed",
    "security": [],
    "parameters": [
        {
            "name": SECRET_HEADER,
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "the webhook_secret given to setWebhook",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": {
            "description": "Dealt with (stored, a duplicate, answered, or refused as unreadable).",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "400": error_response("Not JSON (`bad_json`)."),
        "403": error_response("Wrong or missing secret token (`forbidden`)."),
        "404": error_response("The channel is not in webhook mode (`not_found`)."),
        "503": UNAVAILABLE,
    },
}

FILE: dict[str, Any] = {
    "operationId": "telegramFile",
    "tags": ["telegram"],
    "summary": "A photo or voice message of a Telegram report, by its SHA-256 as the report's "
    "attachment names it",
    "parameters": [
        {
            "name": "sha256",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
    ],
    "responses": {
        "200": {
            "description": "The file: JPEG and PNG as they are, anything else (voice: OGG) as "
            "application/octet-stream.",
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in (*sorted(INLINE), "application/octet-stream")
            },
        },
        "401": error_response("No, or an unknown or revoked, bearer token (`unauthorized`)."),
        "403": error_response("No incident naming the file is in the token's scope (`forbidden`)."),
        "404": error_response("No such file (`not_found`)."),
        "503": UNAVAILABLE,
    },
}
