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
    )
    env.globals["timezone"] = timezone
    return env


def render(timezone: str, template: str, /, **context: Any) -> bytes:
    return environment(timezone).get_template(template).render(**context).encode()
