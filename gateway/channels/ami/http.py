"""The AMI channel's HTTP side: the ``callback`` action (回拨) and the call-taker's screen pop
(来电弹屏), with their OpenAPI parts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.channel import RouteCall
from gateway.channels.ami import store
from gateway.channels.ami.views import CALL
from gateway.errors import ChannelUnavailable
from gateway.http.openapi import UNAVAILABLE, error_response, ref, response
from gateway.http.resource import HttpError
from gateway.workflow.machine import Actor

if TYPE_CHECKING:
    from gateway.channels.ami.service import AmiChannel


async def callback(channel: AmiChannel, actor: Actor, number: str, params: dict[str, Any]) -> Any:
    """回拨: ring the call-taker's softphone, then the caller (202: the call is under way;
    its outcome lands on the incident as a callback_result event)."""
    try:
        return await channel.as_deferred(
            channel.callbacks.start(number, actor, params["calltaker"])
        )
    except ChannelUnavailable as e:
        raise HttpError(
            503, "unavailable", f"电话系统暂不可用 ({e})", headers={"Retry-After": "5"}
        ) from None


async def current_call(channel: AmiChannel, call: RouteCall) -> Any:
    """The call-taker's screen pop: the call in progress, its incident, the caller's open
    incidents and reports from the same number in the last 30 days."""
    calltaker = call.params["calltaker"]
    ctx = channel.ctx
    doc = await ctx.read(store.current, calltaker, call.now, ctx.documents)
    if doc is None:
        raise HttpError(404, "not_found", f"call-taker {calltaker} has no call in progress")
    return 200, doc


CALLBACK_STARTED: dict[str, Any] = {
    "type": "object",
    "required": ["incident", "callback"],
    "properties": {
        "incident": ref("Incident", "/$defs/number"),
        "callback": {
            "type": "object",
            "required": ["status", "number", "calltaker"],
            "properties": {
                "status": {"enum": ["calling"]},
                "number": {"type": "string"},
                "calltaker": {"type": "string"},
            },
        },
    },
}

COMPONENTS: dict[str, Any] = {
    "Call": CALL,
    "CurrentCall": {
        "type": "object",
        "required": ["calltaker", "call", "incident", "history"],
        "properties": {
            "calltaker": {"type": "string"},
            "call": ref("Call"),
            "incident": ref("Incident"),
            "history": {
                "type": "object",
                "required": ["days", "open_incidents", "reports"],
                "properties": {
                    "days": {"type": "integer"},
                    "open_incidents": {"type": "array", "items": ref("Incident")},
                    "reports": {"type": "array", "items": {"type": "object"}},
                },
            },
        },
    },
}

CURRENT_CALL: dict[str, Any] = {
    "operationId": "currentCall",
    "tags": ["ami"],
    "summary": "Screen pop (来电弹屏): the call-taker's 110 call in progress, its incident, and "
    "the caller's open incidents and reports of the last 30 days",
    "parameters": [
        {
            "name": "calltaker",
            "in": "path",
            "required": True,
            "description": "The call-taker's seat, e.g. 1001 (the PJSIP endpoint).",
            "schema": {"type": "string", "pattern": "^[0-9A-Za-z_.-]{1,32}$"},
        }
    ],
    "responses": {
        "200": response(ref("CurrentCall"), "The call being answered."),
        "401": error_response("No, or an unknown or revoked, bearer token (`unauthorized`)."),
        "403": error_response("The token's role may not do this (`forbidden`)."),
        "404": error_response("The call-taker has no call in progress (`not_found`)."),
        "503": UNAVAILABLE,
    },
}
