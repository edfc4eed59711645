"""The e-mail channel's settings (`[channels.smtp]`) and its texts: what the listener (on the
reactor), its intake hook (in the writer, perhaps in the intake worker's process) and the
fax reader need, without the SMTP machinery."""

from __future__ import annotations

import ipaddress
import re
import string
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MiB = 1024 * 1024

DEFAULT_RECEIPT_SUBJECT = "【110】您的报警已收到（编号{incident}）"
DEFAULT_RECEIPT = (
    "您好：\n\n"
    "您发给110的邮件已收到，已登记为警情，编号 {incident}，回执号 {receipt}（{time}）。\n"
    "凭回执号可查询处理进度：{status_url}\n"
    "民警可能通过您留下的电话与您联系，请保持电话畅通。\n\n"
    "情况紧急请直接拨打110。本邮件由系统自动发送。\n\n"
    "{city}110指挥中心"
)
DEFAULT_FOLLOWUP_SUBJECT = "【110】补充信息已收到（编号{incident}）"
DEFAULT_FOLLOWUP = (
    "您好：\n\n您的补充信息已收到，已并入警情 {incident}（回执号 {receipt}，{time}）。\n\n"
    "情况紧急请直接拨打110。本邮件由系统自动发送。\n\n{city}110指挥中心"
)
DEFAULT_UPDATES = {
    "dispatched": "您的报警（编号{incident}）已派警处置，民警正在赶往现场。",
    "closed": "您的报警（编号{incident}）已处理完毕。如有新情况请再次报警。",
}
DEFAULT_UPDATE_SUBJECT = "【110】警情{incident}处理进展"
DEFAULT_REPLY_SUBJECT = "【110】关于您的报警（编号{incident}）"
DEFAULT_NOTIFY_SUBJECT = "【110指挥中心】警情{incident}（{category}，{priority}级）"
DEFAULT_NOTIFY = (
    "警情 {incident}（{category}，{priority}级）\n\n{summary}\n\n地址：{address}\n\n"
    "请及时签收处置。本邮件由110指挥中心系统自动发送。"
)

# Fields a template may use (the channel fills them).
TEMPLATE_FIELDS = frozenset(
    {"incident", "receipt", "time", "status_url", "city", "category", "priority", "summary"}
    | {"address"}
)
TEMPLATE_KEYS = (
    "receipt_subject",
    "receipt_text",
    "followup_subject",
    "followup_text",
    "update_subject",
    "reply_subject",
    "notify_subject",
    "notify_text",
)


@dataclass(frozen=True)
class RateLimit:
    """Per client address: at most `messages` per `seconds`, `connections` at once."""

    messages: int = 300
    seconds: float = 60.0
    connections: int = 20


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 2525
    hostname: str = "alarmgw.localdomain"
    recipients: tuple[str, ...] = ()  # the alarm addresses, lowercased
    fax_recipients: tuple[str, ...] = ()  # where the fax server delivers, lowercased
    max_message_size: int = 20 * MiB
    timeout: float = 300.0  # an idle client is dropped (RFC 5321 §4.5.3.2: 5 minutes)
    tls_cert: str | None = None
    tls_key: str | None = None
    require_tls: bool = False
    auth_users: Mapping[str, str] = field(default_factory=dict)  # user → "sha256:<hex>"
    auth_plaintext: bool = False  # AUTH allowed without STARTTLS (a loopback relay only)
    trusted_networks: tuple[str, ...] = ("127.0.0.0/8", "::1/128")
    rate: RateLimit = RateLimit()
    rate_exempt: tuple[str, ...] = ()  # networks not limited (the site's own relay)
    drill_senders: tuple[str, ...] = ()  # every mail from these is a drill
    drill_header_senders: tuple[str, ...] = ()  # may mark a mail drill (X-Alarmgw-Drill: 1)
    spool_dir: str = ""  # where a message waits for its commit; default: the temp dir
    # Mail out (receipts, updates, replies, duty notices), through the site's smarthost.
    smarthost: str = ""  # host:port; empty: the gateway sends no mail
    mail_from: str = ""  # the center's address on what it sends
    send_attempts: int = 8
    send_retry_seconds: float = 60.0
    receipt_subject: str = DEFAULT_RECEIPT_SUBJECT
    receipt_text: str = DEFAULT_RECEIPT
    followup_subject: str = DEFAULT_FOLLOWUP_SUBJECT
    followup_text: str = DEFAULT_FOLLOWUP
    update_subject: str = DEFAULT_UPDATE_SUBJECT
    updates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_UPDATES))
    reply_subject: str = DEFAULT_REPLY_SUBJECT
    notify_subject: str = DEFAULT_NOTIFY_SUBJECT
    notify_text: str = DEFAULT_NOTIFY
    # Fax pages: images for the console, then OCR in worker processes after the commit.
    ocr: bool = True
    ocr_lang: str = "chi_sim"
    ocr_workers: int = 1
    ocr_timeout: float = 120.0
    ocr_attempts: int = 3
    max_fax_pages: int = 50

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SmtpSettings:
        """`raw` has passed the channel's config.schema.json."""
        fields = {k: v for k, v in raw.items() if k not in ("enabled", "auth", "rate_limit")}
        for key in (
            "recipients",
            "fax_recipients",
            "drill_senders",
            "drill_header_senders",
        ):
            if key in fields:
                fields[key] = tuple(a.lower() for a in fields[key])
        for key in ("trusted_networks", "rate_exempt"):
            if key in fields:
                fields[key] = tuple(fields[key])
        auth = raw.get("auth", {})
        if auth:
            fields["auth_users"] = dict(auth.get("users", {}))
            fields["auth_plaintext"] = bool(auth.get("allow_without_tls", False))
        if "rate_limit" in raw:
            fields["rate"] = RateLimit(**raw["rate_limit"])
        return cls(**fields)

    @property
    def spool(self) -> Path:
        # By port by default: two gateways on one machine must not clear each other's.
        default = Path(tempfile.gettempdir()) / f"alarmgw-smtp-spool-{self.port}"
        return Path(self.spool_dir) if self.spool_dir else default

    def kind_of(self, recipient: str) -> str | None:
        """ "email" or "fax" for one of our addresses, None for any other (550 at RCPT)."""
        address = recipient.lower()
        if address in self.fax_recipients:
            return "fax"
        if address in self.recipients:
            return "email"
        return None

    def networks(self, names: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in names)


def fill(template: str, drill: bool, now: datetime, tz: ZoneInfo, **more: Any) -> str:
    """A template with its fields; a drill's text says so first. A field not given stays
    empty rather than failing the send (the config check refuses unknown names)."""
    local = now.astimezone(tz)
    text = template.format_map(_Blank(time=local.strftime("%Y-%m-%d %H:%M"), **more))
    return f"【演练】{text}" if drill else text


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


def host_port(value: str) -> tuple[str, int]:
    m = _HOST_PORT.match(value)
    if m is None:
        raise ValueError(f"not host:port: {value!r}")
    return m["host"].strip("[]"), int(m["port"])


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say of [channels.smtp]."""
    problems: list[tuple[str, str]] = []
    if not section.get("enabled"):
        return problems
    ours = [a.lower() for a in section.get("recipients", [])]
    fax = [a.lower() for a in section.get("fax_recipients", [])]
    if not ours and not fax:
        problems.append(("recipients", "name at least one alarm or fax address"))
    for a in sorted(set(ours) & set(fax)):
        problems.append(("fax_recipients", f"{a} is also an alarm address (recipients)"))
    if bool(section.get("tls_cert")) != bool(section.get("tls_key")):
        problems.append(("tls_key", "tls_cert and tls_key go together"))
    for key in ("tls_cert", "tls_key"):
        if section.get(key) and not Path(section[key]).is_file():
            problems.append((key, f"no such file: {section[key]}"))
    if section.get("require_tls") and not section.get("tls_cert"):
        problems.append(("require_tls", "needs tls_cert and tls_key"))
    auth = section.get("auth", {})
    if auth.get("users") and not section.get("tls_cert") and not auth.get("allow_without_tls"):
        problems.append(
            (
                "auth",
                "AUTH without TLS sends passwords in clear: set tls_cert and "
                "tls_key, or allow_without_tls = true for a loopback relay",
            )
        )
    for key in ("trusted_networks", "rate_exempt"):
        for n in section.get(key, []):
            try:
                ipaddress.ip_network(n, strict=False)
            except ValueError as e:
                problems.append((key, str(e)))
    if section.get("smarthost"):
        try:
            host_port(section["smarthost"])
        except ValueError as e:
            problems.append(("smarthost", str(e)))
        if not section.get("mail_from"):
            problems.append(("mail_from", "the address the gateway's mail comes from"))
    templates = {k: section[k] for k in TEMPLATE_KEYS if k in section}
    templates |= {f"updates.{k}": v for k, v in section.get("updates", {}).items()}
    for key, template in templates.items():
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as e:
            problems.append((key, str(e)))
            continue
        unknown = sorted(names - TEMPLATE_FIELDS)
        if unknown:
            known = ", ".join(sorted(TEMPLATE_FIELDS))
            problems.append((key, f"unknown field {{{unknown[0]}}} ({known})"))
    return problems
