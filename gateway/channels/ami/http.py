"""The AMI channel's HTTP side: the ``callback`` action (回拨) and the call-taker's screen pop
(来电弹屏), with their OpenAPI parts."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from twisted.internet import threads

from gateway.channel import RouteCall
from gateway.channels.ami import store
from gateway.channels.ami.views import CALL
from gateway.errors import ChannelUnavailable
from gateway.http.openapi import UNAVAILABLE, error_response, ref, response
from gateway.http.resource import HttpError
from gateway.workflow.machine import Actor
from gateway.workflow.service import may_see

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


async def recording(channel: AmiChannel, call: RouteCall) -> Any:
    """The recording of one 110 call of an incident (WAV), for the console's player."""
    number, linkedid = call.params["number"], call.params["linkedid"]
    ctx = channel.ctx
    found = await ctx.read(store.recording_of, number, linkedid)
    if found is None:
        raise HttpError(404, "not_found", f"call {linkedid} of {number} has no recording")
    unit, path = found
    assert call.actor is not None
    if not may_see(call.actor, unit, ctx.org):
        raise HttpError(403, "forbidden", f"incident {number} is outside your scope")
    folder = channel.settings.recordings_dir
    if not folder:
        raise HttpError(404, "not_found", "录音不在本机 (set [channels.ami] recordings_dir)")
    # Only the file's name counts: Asterisk's path is its own (a chroot, another host).
    name = PurePosixPath(path).name
    file = Path(folder) / name
    try:
        data = await threads.deferToThread(file.read_bytes)
    except OSError:
        raise HttpError(404, "not_found", f"recording {name} is not in {folder}") from None
    return 200, data, b"audio/wav"


RECORDING: dict[str, Any] = {
    "operationId": "callRecording",
    "tags": ["ami"],
    "summary": "The recording of a 110 call of the incident (WAV; 录音)",
    "parameters": [
        {
            "name": "number",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]{6}-[0-9]{8}-[0-9]{6}$"},
        },
        {
            "name": "linkedid",
            "in": "path",
            "required": True,
            "description": "The call's Linkedid (`calls[].linkedid` of the incident).",
            "schema": {"type": "string", "pattern": "^[0-9.]{1,40}$"},
        },
    ],
    "responses": {
        "200": {
            "description": "The recording.",
            "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
        },
        "401": error_response("No, or an unknown or revoked, bearer token (`unauthorized`)."),
        "403": error_response("Outside the token's scope, or a role that may not (`forbidden`)."),
        "404": error_response("No such call of this incident, not recorded, or not here."),
        "503": UNAVAILABLE,
    },
}

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
