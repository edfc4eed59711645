"""The statistics (`gateway.console.stats.Stats`) as CSV for Excel."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from gateway.console.stats import STEPS, Stats, channel_zh
from gateway.workflow.table import STATE_NAMES_ZH


def _n(value: float | None, digits: int = 1) -> str | float:
    if value is None:
        return ""
    return round(value, digits)


def _pct(value: float | None) -> str | float:
    return "" if value is None else round(value * 100, 1)


def to_csv(stats: Stats) -> str:
    """The statistics as CSV for Excel: UTF-8 with a BOM (Excel reads Chinese right only
    then), one section per table: a title row (【…】), a header row, the rows, a blank line.
    Shares are percentages (0–100, one decimal), times in seconds."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    q, t = stats.query, stats.totals

    def section(title: str, header: list[str], rows: Iterable[list[Any]]) -> None:
        w.writerow([f"【{title}】"])
        w.writerow(header)
        w.writerows(rows)
        w.writerow([])

    section(
        "汇总",
        ["指标", "数值"],
        [
            ["统计区间", f"{q.start.isoformat()} 至 {q.end.isoformat()}"],
            ["统计范围", f"{stats.scope_name}（{stats.scope}）"],
            ["数据类型", "演练" if q.drill else "真实警情"],
            ["接警总数", t.incidents],
            ["有效警情", t.effective],
            ["无效警情", t.invalid],
            ["合并", t.merged],
            ["撤销", t.cancelled],
            ["报警条数", t.reports],
            ["日均接警", _n(t.per_day)],
            ["日均有效警情", _n(t.effective_per_day)],
            ["上期接警总数", t.previous_incidents],
            ["接警环比(%)", _pct(t.change)],
            ["上期有效警情", t.previous_effective],
            ["有效警情环比(%)", _pct(t.effective_change)],
            ["派警数", t.orders],
            ["结案数", t.closed],
            ["未办结", t.unfinished],
        ],
    )
    channel_codes = [c.channel for c in stats.by_channel]
    section(
        "按日统计",
        ["日期", "接警", "有效警情", *(channel_zh(c) for c in channel_codes)],
        (
            [d.day.isoformat(), d.total, d.effective, *(d.by_channel[c] for c in channel_codes)]
            for d in stats.by_day
        ),
    )
    section(
        "按时段统计",
        ["时段", "接警", "有效警情"],
        ([f"{h.hour:02d}时", h.total, h.effective] for h in stats.by_hour),
    )
    section(
        "按渠道统计",
        ["渠道", "警情数", "报警条数"],
        ([c.name, c.incidents, c.reports] for c in stats.by_channel),
    )
    section(
        "按类别统计",
        ["类别", "接警", "有效警情"],
        ([c.name, c.total, c.effective] for c in stats.by_category),
    )
    section(
        "按分局统计",
        ["单位", "接警", "有效警情", "日均接警", "上期接警", "环比(%)"],
        (
            [b.name, b.total, b.effective, _n(b.total / t.days), b.previous_total, _pct(b.change)]
            for b in stats.by_branch
        ),
    )
    sla_steps = [s for s in STEPS if s.sla and stats.steps[s.code].with_sla]
    section(
        "按单位统计",
        [
            "单位编码",
            "单位",
            "接警",
            "有效警情",
            "派警数",
            "未办结",
            *(f"{s.name[:2]}达标率(%)" for s in sla_steps),
        ],
        (
            [u.code, u.name, u.total, u.effective, u.orders, u.unfinished]
            + [_pct(u.within.get(s.code)) for s in sla_steps]
            for u in stats.by_unit.values()
        ),
    )
    section(
        "各环节用时",
        ["环节", "样本数", "中位数(秒)", "90%分位(秒)", "平均(秒)", "时限内", "时限内占比(%)"],
        (
            [s.name, s.count, _n(s.p50), _n(s.p90), _n(s.mean), s.within if s.with_sla else ""]
            + [_pct(s.share_within)]
            for s in stats.steps.values()
        ),
    )
    for b in stats.buckets:
        header = ["单位编码", "单位", "派警数", *b.labels, b.pending_label]
        header += [f"{label}占比(%)" for label in (*b.labels, b.pending_label)]
        rank = {r.code: f"倒数第{i}" for i, r in enumerate(b.slowest, 1)}
        section(
            b.name,
            [*header, "排名靠后"],
            (
                [r.code, r.name, r.orders, *r.counts, r.pending]
                + [_pct(s) for s in (*r.shares, r.pending_share)]
                + [rank.get(r.code, "") if r is not b.total else ""]
                for r in (*b.rows, b.total)
            ),
        )
    u = stats.unfinished
    section(
        "未办结警情",
        ["单位编码", "单位", *(STATE_NAMES_ZH[s] for s in u.states), "合计"],
        (
            [r.code, r.name, *(r.by_state[str(s)] for s in u.states), r.total]
            for r in (*u.rows, u.total)
        ),
    )
    return out.getvalue()
