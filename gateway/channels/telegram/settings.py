"""The Telegram channel's settings (`[channels.telegram]`) and its texts (what a citizen and a
unit read: Chinese). The token is a secret: it never goes into a log line or an error."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.report import local_time

TELEGRAM = "https://api.telegram.org"

DEFAULT_WELCOME = (
    "这里是110报警服务。紧急情况请直接拨打110电话，不要只依靠本机器人。\n"
    "非紧急情况可以在这里发送文字、位置、照片或语音描述您遇到的情况，"
    "我们收到后会回复回执号。"
)
DEFAULT_RECEIPT = (
    "您的报警已收到，警情编号 {incident}，回执号 {receipt}（{time}）。"
    "我们会尽快处理。紧急情况请直接拨打110。"
)
DEFAULT_FOLLOWUP = "您的补充信息已收到，已并入警情 {incident}（回执号 {receipt}，{time}）。"
DEFAULT_UNSUPPORTED = "暂不支持这类消息。请发送文字、位置、照片或语音；紧急情况请直接拨打110。"
DEFAULT_UPDATES = {
    "accepted": "您的报警（编号{incident}）已受理。",
    "dispatched": "您的报警（编号{incident}）已派警处置，民警正在赶往现场。",
    "on_scene": "民警已到达现场（警情{incident}）。",
    "closed": "您的报警（编号{incident}）已处理完毕。如有新情况请再次报警。",
    "invalid": "您的报警（编号{incident}）经核实为无效警情。如有误，请拨打110。",
}
DEFAULT_NOTIFY = (
    "【110指挥中心】警情 {incident}（{category}，{priority}级）\n{summary}\n地址：{address}\n"
    "请点击下方“签收”按钮签收。"
)
TEMPLATE_FIELDS = frozenset(
    {"incident", "receipt", "time", "category", "priority", "summary", "address"}
)
TEMPLATE_KEYS = ("welcome_text", "receipt_text", "followup_text", "unsupported_text", "notify_text")


@dataclass(frozen=True)
class TelegramSettings:
    enabled: bool = False
    token: str = field(default="", repr=False)  # the bot's (from @BotFather): a secret
    base_url: str = TELEGRAM  # a local Bot API server has the same layout
    mode: str = "polling"  # or "webhook"
    poll_timeout: int = 25  # seconds a getUpdates long-polls
    retry_seconds: float = 2.0  # the first backoff after a failure (doubles, up to 60 s)
    webhook_url: str = ""  # the public URL of POST /api/v1/telegram/webhook
    webhook_secret: str = field(default="", repr=False)  # X-Telegram-Bot-Api-Secret-Token
    drill_chats: tuple[int, ...] = ()
    max_file_mb: float = 20.0  # the Bot API's getFile limit
    send_attempts: int = 8
    welcome_text: str = DEFAULT_WELCOME
    receipt_text: str = DEFAULT_RECEIPT
    followup_text: str = DEFAULT_FOLLOWUP
    unsupported_text: str = DEFAULT_UNSUPPORTED
    notify_text: str = DEFAULT_NOTIFY
    updates: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_UPDATES))

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> TelegramSettings:
        fields = dict(raw)
        if "drill_chats" in fields:
            fields["drill_chats"] = tuple(int(c) for c in fields["drill_chats"])
        if "updates" in fields:
            fields["updates"] = {**DEFAULT_UPDATES, **fields["updates"]}
        fields["base_url"] = str(fields.get("base_url", TELEGRAM)).rstrip("/")
        return cls(**fields)

    @property
    def api_url(self) -> str:
        """python-telegram-bot's base_url: the token is appended."""
        return f"{self.base_url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.base_url}/file/bot"

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say of [channels.telegram]."""
    problems: list[tuple[str, str]] = []
    if not section.get("enabled"):
        return problems
    token = section.get("token", "")
    if not token:
        problems.append(("token", "the bot's token (from @BotFather) is required"))
    elif ":" not in token:
        problems.append(("token", "is not a bot token (<bot id>:<secret>)"))
    if section.get("mode", "polling") == "webhook":
        if not section.get("webhook_url"):
            problems.append(("webhook_url", 'mode = "webhook" needs the public URL of the hook'))
        if len(section.get("webhook_secret", "")) < 16:
            problems.append(("webhook_secret", 'mode = "webhook" needs a secret of 16+ characters'))
    for key in TEMPLATE_KEYS:
        if key in section:
            problems += _template_problems(key, section[key])
    for state, text in section.get("updates", {}).items():
        problems += _template_problems(f"updates.{state}", text)
    return problems


def _template_problems(key: str, text: str) -> list[tuple[str, str]]:
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as e:
        return [(key, f"not a template: {e}")]
    unknown = sorted(names - TEMPLATE_FIELDS)
    if unknown:
        known = ", ".join(sorted(TEMPLATE_FIELDS))
        return [(key, f"unknown field(s) {', '.join(unknown)} (known: {known})")]
    return []


def fill(template: str, drill: bool, now: datetime, tz: ZoneInfo, **fields: Any) -> str:
    """A text of ours; drills are marked 【演练】 (the citizen is a drill coordinator then)."""
    values = {f: "" for f in TEMPLATE_FIELDS} | {"time": local_time(now, tz)[:16]} | fields
    text = template.format(**values)
    return f"【演练】{text}" if drill else text
