"""How a channel plays a drill inject: the `drill` entry of its declaration.

A channel that can play drill injects names an injector in its declaration
(``Channel.drill``): ``async def inject(service, drill: DrillInject) -> Sent``, called on the
reactor's asyncio loop with the channel's running service (blocking work goes to a thread).
It sends the inject the way that channel's alarms really come — a call over the drill trunk,
an SMS through the SMSC's test account, a mail to the SMTP listener from a drill sender, … —
marked as a drill from the first byte, and returns how its report will be known (`Sent`).
Where the far side cannot be played (no test account at the operator), the injector hands
the inject to its adapter's own input path and says so in `Sent.via`.

It raises `InjectError` with a plain reason when the inject cannot be sent (the channel's
drill identity is not configured, the peer refused it); the run records the reason and goes
on with the next inject. Anything else it raises is recorded as a failure too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.drills.scenario import Inject

# The scenario's channel kinds and the channel (its `[channels.<code>]`) that plays each.
KIND_CHANNEL = {
    "phone": "ami",
    "sms": "smpp",
    "web": "web",
    "email": "smtp",
    "fax": "smtp",
    "dc09": "dc09",
    "jt808": "jt808",
    "telegram": "telegram",
    "cap": "cap",
}


class InjectError(Exception):
    """The inject cannot be sent; the message says why, for the coordinator."""


@dataclass(frozen=True)
class Sent:
    """What an injector sent: how its report will be known, and how it went.

    The runner finds the report by `external_id` when given (``(report_channel,
    external_id)`` is unique), else as the first drill report on `report_channel` from
    `sender_key` (``phone:13800000201``, as `gateway.workflow.correlate.sender_key` makes
    it) received after the send and not yet claimed by an earlier inject."""

    report_channel: str
    sender_key: str | None = None
    external_id: str | None = None
    via: str = ""  # 经短信中心测试账号, 适配器演练注入, … (shown to the coordinator)


@dataclass(frozen=True)
class DrillInject:
    """One inject to play: the run it belongs to, the inject, and the files the scenario
    named (attachments, fax pages, CAP alerts) by the path the inject gives."""

    run: int
    inject: Inject
    files: Mapping[str, bytes]
    send: int = 0  # its drill_sends row

    def file(self, path: str) -> bytes:
        try:
            return self.files[path]
        except KeyError:
            raise InjectError(f"{path}: not among the files sent with the scenario") from None


Injector = Callable[[Any, DrillInject], Awaitable[Sent]]
