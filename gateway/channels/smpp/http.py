"""The SMS channel's HTTP side: the ``reply`` action (回复短信)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.http.openapi import ref
from gateway.http.resource import HttpError
from gateway.report import InvalidReport
from gateway.workflow.machine import Actor

if TYPE_CHECKING:
    from gateway.channels.smpp.service import SmppChannel


async def reply(channel: SmppChannel, actor: Actor, number: str, params: dict[str, Any]) -> Any:
    """回复短信: answer the citizen by SMS (202: queued; its sending and delivery receipt land
    on the incident as sms_sent / sms_delivered events)."""
    try:
        return await channel.sender.reply(number, actor, params["text"], params.get("to"))
    except InvalidReport as e:
        raise HttpError(422, "invalid_action", e.problem, e.field) from None


SMS_QUEUED: dict[str, Any] = {
    "type": "object",
    "required": ["incident", "sms"],
    "properties": {
        "incident": ref("Incident", "/$defs/number"),
        "sms": {
            "type": "object",
            "required": ["to", "text", "status"],
            "properties": {
                "to": {"type": "string"},
                "text": {"type": "string"},
                "status": {"enum": ["pending"]},
            },
        },
    },
}
