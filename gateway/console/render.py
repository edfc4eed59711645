"""Jinja2 rendering for the console's pages: autoescaped HTML, Chinese names of states,
priorities and tiers, and times in the city's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from gateway.workflow.table import STATE_NAMES_ZH, State

TEMPLATES = Path(__file__).with_name("templates")

# Priorities 1–4 as Chinese 110 centers show them (红 / 橙 / 黄 / 蓝).
PRIORITY_NAMES_ZH = {1: "一级（红）", 2: "二级（橙）", 3: "三级（黄）", 4: "四级（蓝）"}
PRIORITY_COLOURS = {1: "red", 2: "orange", 3: "yellow", 4: "blue"}
TIER_NAMES_ZH = {"city": "市局", "district": "分县局", "station": "派出所"}
# A report's channel: its full name (statistics, CSV) and the short badge of a queue row.
CHANNEL_NAMES_ZH = {
    "phone": "电话",
    "sms": "短信",
    "email": "电子邮件",
    "fax": "传真",
    "web": "网上报警",
    "telegram": "Telegram",
    "dc09": "联网报警",
    "jt808": "车载终端",
    "cap": "CAP 预警信息",
    "systems": "信息系统报警",
    "webhook": "系统接入",
    "": "未知",
}
CHANNEL_BADGES_ZH = {
    "phone": "电话",
    "sms": "短信",
    "email": "邮件",
    "fax": "传真",
    "web": "网页",
    "telegram": "Telegram",
    "dc09": "报警器",
    "jt808": "车载",
    "cap": "CAP",
    "systems": "系统",
    "cli": "命令行",
}
ROLE_NAMES_ZH = {
    "calltaker": "接警员",
    "dispatcher": "调度员",
    "unit_officer": "所队值班员",
    "supervisor": "指挥长",
    "drill_coordinator": "演练组织者",
    "integration": "外部系统",
    "admin": "系统管理员",
    "system": "系统",
}

ACTION_NAMES_ZH = {
    "accept": "受理",
    "mark_invalid": "无效警情",
    "merge": "合并",
    "unmerge": "拆分",
    "dispatch": "派警",
    "acknowledge": "签收",
    "arrive": "到场",
    "feedback": "处警反馈",
    "close": "结案",
    "reopen": "重开",
    "cancel": "撤销",
    "transfer": "转警",
    "escalate": "升级",
    "detach": "移出报告",
    "create": "接警",
    "attach": "并入报告",
    "deadline_missed": "超时",
    "notify": "通知",
    "call_answered": "电话接听",
    "call_ended": "通话结束",
    "call_abandoned": "来电放弃",
    "call_queue_timeout": "排队超时",
    "callback": "回拨",
    "callback_started": "开始回拨",
    "callback_result": "回拨结果",
    "reply": "短信回复",
    "reply_mail": "邮件回复",
    "sms_reply": "短信回复",
    "sms_sent": "短信已发",
    "sms_delivered": "短信已送达",
    "sms_undelivered": "短信未送达",
    "sms_failed": "短信发送失败",
    "sms_repeat": "重复短信",
    "reply_telegram": "Telegram 回复",
    "telegram_reply": "Telegram 回复",
    "telegram_sent": "Telegram 已发",
    "telegram_failed": "Telegram 发送失败",
}
# What a message the gateway sends (SMS, Telegram) is and where it stands.
MESSAGE_WORDS_ZH = {
    "receipt": "报警回执",
    "followup": "续报回执",
    "update": "进展通知",
    "reply": "接警员回复",
    "notice": "派警通知",
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "delivered": "已送达",
    "undelivered": "未送达",
    "failed": "发送失败，将重试",
    "gave_up": "已放弃发送",
}
PARAM_NAMES_ZH = {
    "text": "短信内容",
    "message": "回复内容",
    "address": "收件地址（默认回复报警人）",
    "calltaker": "接警席位（分机）",
    "telegram_text": "回复内容",
    "telegram_chat": "会话编号（默认最近来信的会话）",
}
ROUTE_REASONS_ZH = {
    "jurisdiction": "警情位置在该单位辖区内",
    "address": "地址含该单位辖区关键词",
    "default": "未能按位置确定辖区，由市局指挥中心决定",
    "category": "该类警情由此单位专办",
}


def to_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


@cache
def environment(timezone: str) -> jinja2.Environment:
    """One environment per city zone (in practice one)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,  # a document's optional keys read as empty
    )
    tz = ZoneInfo(timezone)

    def local(value: Any, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        t = to_datetime(value)
        return "" if t is None else t.astimezone(tz).strftime(fmt)

    def state_zh(value: Any) -> str:
        try:
            return STATE_NAMES_ZH[State(value)]
        except ValueError:
            return str(value)

    env.filters.update(
        local=local,
        state_zh=state_zh,
        priority_zh=lambda p: PRIORITY_NAMES_ZH.get(p, "未定级") if p else "未定级",
        priority_colour=lambda p: PRIORITY_COLOURS.get(p, "none"),
        tier_zh=lambda t: TIER_NAMES_ZH.get(t, t),
        role_zh=lambda r: ROLE_NAMES_ZH.get(str(r), str(r)),
        message_zh=lambda w: MESSAGE_WORDS_ZH.get(str(w), str(w)),
        # A vehicle's track for Leaflet: [[lat, lon], …] (jt808's `track` view).
        latlngs=lambda points: [[p["lat"], p["lon"]] for p in points],
    )
    env.globals["timezone"] = timezone
    return env


def render(timezone: str, template: str, /, **context: Any) -> bytes:
    return environment(timezone).get_template(template).render(**context).encode()
