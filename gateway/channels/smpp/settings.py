"""The SMS channel's settings (`[channels.smpp]`) and its texts: what both the channel (on
the reactor) and its intake hook (in the writer, perhaps in the intake worker's process)
need, without the SMPP machinery."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway import phone
from gateway.channels.smpp.esme import BindSettings

DEFAULT_RECEIPT = "【110】您的报警已收到，编号{incident}，请保持手机畅通。情况紧急请直接拨打110。"
DEFAULT_FOLLOWUP = "【110】补充信息已收到（编号{incident}）。"
DEFAULT_UPDATES = {
    "dispatched": "【110】已派警处置您的报警（编号{incident}），请保持手机畅通。",
    "closed": "【110】您的报警（编号{incident}）已处理完毕。如有新情况请再次报警。",
}
DEFAULT_NOTIFY = (
    "【110指挥中心】警情{incident}（{category}，{priority}级）：{summary} 地址：{address}。"
    "签收请回复：1 {incident}"
)
DEFAULT_ACK = r"^\s*1\s*(?P<incident>\d{6}-\d{8}-\d{6})\s*$"


@dataclass(frozen=True)
class SmscTestAccount:
    """The operator's test account (测试账号, `[channels.smpp.test_account]`): a second ESME
    at the SMSC whose submit_sm to our service number the SMSC delivers to us as any
    handset's SMS. The drill runner sends SMS injects through it (`drill`)."""

    system_id: str
    password: str
    host: str | None = None  # None: the channel's SMSC
    port: int | None = None
    system_type: str = ""


@dataclass(frozen=True)
class SmppSettings:
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    address_range: str = ""
    addr_ton: int = 0
    addr_npi: int = 0
    mode: str = "transceiver"  # or "receiver+transmitter"
    sessions: int = 1  # binds of that mode (pairs for receiver+transmitter)
    source_addr: str = "12110"
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    enquire_link: float = 30.0
    response_timeout: float = 10.0
    reconnect_max: float = 60.0
    window: int = 100
    reassembly_timeout: float = 60.0
    redelivery_window: float = 86_400.0
    tps: float = 10.0
    throttle_pause: float = 1.0
    send_attempts: int = 5
    send_retry_seconds: float = 30.0
    registered_delivery: bool = True
    drill_numbers: tuple[str, ...] = ()
    test_account: SmscTestAccount | None = None
    reply_receipt: str = DEFAULT_RECEIPT
    reply_followup: str = DEFAULT_FOLLOWUP
    reply_updates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_UPDATES))
    notify_text: str = DEFAULT_NOTIFY
    ack_pattern: str = DEFAULT_ACK

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SmppSettings:
        """`raw` has passed `schemas/config.schema.json` (channels.smpp)."""
        fields = {k: v for k, v in raw.items() if k != "enabled"}
        if "drill_numbers" in fields:
            fields["drill_numbers"] = tuple(fields["drill_numbers"])
        if "test_account" in fields:
            fields["test_account"] = SmscTestAccount(**fields["test_account"])
        return cls(**fields)

    def binds(self) -> list[BindSettings]:
        modes = ["transceiver"] if self.mode == "transceiver" else ["receiver", "transmitter"]
        return [
            BindSettings(
                name=f"{mode[:2] if mode != 'transceiver' else 'trx'}{i}",
                host=self.host,
                port=self.port,
                system_id=self.system_id,
                password=self.password,
                mode=mode,  # type: ignore[arg-type]
                system_type=self.system_type,
                address_range=self.address_range,
                addr_ton=self.addr_ton,
                addr_npi=self.addr_npi,
                enquire_link=self.enquire_link,
                response_timeout=self.response_timeout,
                reconnect_max=self.reconnect_max,
                window=self.window,
            )
            for i in range(self.sessions)
            for mode in modes
        ]


def is_drill_number(number: str, drill_numbers: Iterable[str]) -> bool:
    """Whether `number` is one of `drill_numbers`: a drill phone whose messages are drills
    (the drill runner's senders), or a drill destination the operator routes to us (a
    ``1211099``). Compared as the gateway knows numbers: ``+86 138…`` is ``138…``."""
    n = phone.normalise(number)
    return bool(n) and any(phone.normalise(d) == n for d in drill_numbers)


def fill(
    template: str, incident: str, drill: bool, now: datetime, tz: ZoneInfo, **more: Any
) -> str:
    """A template with its fields ({incident}, {time}, …); a drill's text says so first.
    A field not given stays empty rather than failing the send (the config check refuses
    unknown names)."""
    local = now.astimezone(tz)
    text = template.format_map(_Blank(incident=incident, time=local.strftime("%H:%M"), **more))
    return f"【演练】{text}" if drill else text


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


# Fields a template may use (the channel fills them).
TEMPLATE_FIELDS = frozenset({"incident", "time", "category", "priority", "summary", "address"})


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say of [channels.smpp]: the acknowledgement pattern must
    compile and name its `incident` group; a template may only use known fields."""
    problems: list[tuple[str, str]] = []
    pattern = section.get("ack_pattern")
    if pattern is not None:
        try:
            if "incident" not in re.compile(pattern).groupindex:
                problems.append(("ack_pattern", "needs a group named incident, (?P<incident>…)"))
        except re.error as e:
            problems.append(("ack_pattern", f"not a regular expression: {e}"))
    templates = {
        k: section[k] for k in ("reply_receipt", "reply_followup", "notify_text") if k in section
    }
    templates |= {f"reply_updates.{k}": v for k, v in section.get("reply_updates", {}).items()}
    for key, template in templates.items():
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as e:
            problems.append((key, str(e)))
            continue
        unknown = sorted(fields - TEMPLATE_FIELDS)
        if unknown:
            known = ", ".join(sorted(TEMPLATE_FIELDS))
            problems.append((key, f"unknown field {{{unknown[0]}}} ({known})"))
    return problems
