"""The scorecard's charts (matplotlib SVG, Chinese drawn as glyph paths), drawn with the
statistics page's font, style and lock (`gateway.console.plots.render_svg`).

- `svg_injects`: per inject, a timeline from its send through each step; a step over its
  SLA is hatched red, with a black line where it was due;
- `svg_units`: the same timeline of each owning unit's median times;
- `svg_trend_times`, `svg_trend_problems`: the earlier runs of the scenario and this one.

Times span seconds (the answer) to hours (the close), so the time axes are logarithmic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FixedLocator, MaxNLocator, NullLocator

from gateway.console.plots import Margins, inline, label_room, render_svg
from gateway.console.render import CHANNEL_BADGES_ZH
from gateway.drills.figures import STEP_NAMES_ZH, STEPS, InjectScore, RunSummary, Scorecard

MAX_ROWS = 60  # injects drawn in the timeline (a surge's thousands are in the table only)
STEP_COLOURS = {
    "answer": "#90a4ae",
    "accept": "#5c6bc0",
    "dispatch": "#26a69a",
    "acknowledge": "#9ccc65",
    "arrive": "#ffa726",
    "feedback": "#8d6e63",
    "close": "#546e7a",
}
LATE_COLOUR = "#c62828"
TICKS_S = (1, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 172800)
WIDTH = 10.0  # inches: an A4 landscape page's text width


@dataclass(frozen=True)
class Segment:
    step: str
    start: float  # seconds from the send
    end: float
    due: float | None = None  # where a late step should have ended


def tick_label(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g}秒"
    if seconds < 3600:
        return f"{seconds / 60:g}分"
    return f"{seconds / 3600:g}小时"


def _log_axis(axis: Any, top: float) -> None:
    """A logarithmic time axis from 1 s to past `top`, ticked in seconds, minutes, hours."""
    ticks = [t for t in TICKS_S if t <= top * 1.5] or [1]
    axis.set_major_locator(FixedLocator(ticks))
    axis.set_minor_locator(NullLocator())
    axis.set_ticklabels([tick_label(t) for t in ticks])


def _segments(times: Sequence[tuple[str, float | None, float | None, int | None]]) -> list[Segment]:
    """(step, seconds from the send, the step's own seconds, SLA) in order → the segments,
    each from the end of the one before (1 s at least: the axis is logarithmic)."""
    out = []
    prev = 1.0
    for step, seconds, step_s, sla in times:
        if seconds is None:
            continue
        end = max(seconds, prev)
        due = None
        if step_s is not None and sla is not None and step_s > sla:
            due = max(seconds - step_s + sla, 1.0)
        out.append(Segment(step, prev, end, due))
        prev = end
    return out


def _timeline(
    rows: Sequence[tuple[str, list[Segment], str | None]], title: str, note: str, late: bool
) -> str:
    """One horizontal bar a row, a segment a step; `note` explains the colours, `late` says
    whether late steps can be among them (a legend entry)."""
    labels = [label for label, _, _ in rows]
    # At least 10 s: the axis is logarithmic from 1 s, and a drill answered within a second
    # would give it no room.
    top = max((s.end for _, segs, _ in rows for s in segs), default=60.0)
    top = max(top, 10.0)

    def draw(fig: Figure, ax: Any) -> None:
        ax.set_title(title)
        if not rows:
            _nothing(ax)
            return
        y = np.arange(len(rows))
        for n, (_, segs, missing) in enumerate(rows):
            for s in segs:
                overdue = s.due is not None
                ax.barh(
                    n,
                    s.end - s.start,
                    left=s.start,
                    height=0.6,
                    color=STEP_COLOURS[s.step],
                    edgecolor=LATE_COLOUR if overdue else "white",
                    linewidth=1.2 if overdue else 0.5,
                    hatch="////" if overdue else None,
                )
                if s.due is not None:
                    ax.plot([s.due, s.due], [n - 0.38, n + 0.38], color="black", linewidth=1.2)
            if missing:
                ax.text(1.1, n, missing, va="center", fontsize=8, color=LATE_COLOUR)
        ax.set_xscale("log")
        ax.set_xlim(1, top * 1.5)
        _log_axis(ax.xaxis, top)
        ax.set_yticks(y, labels)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xlabel(f"自发出起的用时（对数刻度）· {note}")
        ax.grid(axis="y", visible=False)
        handles = [Patch(color=STEP_COLOURS[s], label=STEP_NAMES_ZH[s]) for s in STEPS]
        if late:
            handles.append(
                Patch(facecolor="white", edgecolor=LATE_COLOUR, hatch="////", label="超时")
            )
        fig.legend(
            handles=handles, loc="lower center", ncols=len(handles), fontsize=8, frameon=False
        )

    height = max(2.4, 1.5 + 0.28 * len(rows))
    return render_svg(draw, (WIDTH, height), Margins(left=label_room(labels), bottom=0.95))


def _nothing(ax: Any) -> None:
    ax.text(0.5, 0.5, "无数据", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _inject_row(i: InjectScore) -> tuple[str, list[Segment], str | None]:
    label = f"{i.id} · {CHANNEL_BADGES_ZH.get(i.kind, i.kind)}"
    if not i.sent:
        return label, [], "未发出"
    if not i.found:
        return label, [], "未找到报警"
    times = [(t.step, t.seconds, t.step_s, t.sla_s) for t in i.steps]
    return label, _segments(times), None if i.answered else "未接听"


def svg_injects(card: Scorecard) -> str:
    shown = card.injects[:MAX_ROWS]
    more = (
        f"（前 {MAX_ROWS} 条，共 {len(card.injects)} 条）" if len(card.injects) > MAX_ROWS else ""
    )
    return _timeline(
        [_inject_row(i) for i in shown],
        f"逐条模拟警情：各环节用时与时限{more}",
        "红色斜线为超时环节，黑线为应完成时刻",
        late=True,
    )


def svg_units(card: Scorecard) -> str:
    rows = []
    for u in card.units:
        times = [(s.step, s.p50, None, None) for s in u.steps]
        rows.append((u.name, _segments(times), None))
    return _timeline(rows, "按单位：自发出至各环节的中位用时", "各环节取中位数", late=False)


def _run_labels(card: Scorecard, runs: Sequence[RunSummary]) -> list[str]:
    tz = ZoneInfo(card.timezone)
    return [
        ("本次\n" if r.run_id == card.run_id else "") + f"{r.started_at.astimezone(tz):%m-%d %H:%M}"
        for r in runs
    ]


def svg_trend_times(card: Scorecard) -> str:
    runs = [*card.trend, card.summary]
    labels = _run_labels(card, runs)
    shown = ("answer", "accept", "dispatch", "acknowledge", "arrive")
    values = [v for r in runs for s in shown if (v := r.p50.get(s)) is not None]
    top = max(max(values, default=60.0), 10.0)  # as in _timeline

    def draw(fig: Figure, ax: Any) -> None:
        ax.set_title("历次演练：各环节中位用时")
        if not values:
            _nothing(ax)
            return
        x = np.arange(len(runs))
        for step in shown:
            ys = [r.p50.get(step) for r in runs]
            points = [(n, y) for n, y in zip(x, ys, strict=True) if y is not None]
            if points:
                px, py = zip(*points, strict=True)
                ax.plot(
                    px, np.maximum(py, 1), "o-", color=STEP_COLOURS[step], label=STEP_NAMES_ZH[step]
                )
        ax.set_yscale("log")
        ax.set_ylim(1, top * 1.5)
        _log_axis(ax.yaxis, top)
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.5, len(runs) - 0.5)
        ax.set_ylabel("中位用时（自发出起）")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, borderaxespad=0)
        ax.grid(axis="x", visible=False)

    return render_svg(draw, (WIDTH, 3.4), Margins(right=1.3, bottom=0.75))


PROBLEMS = (
    ("超时", "late", "#c62828"),
    ("错派", "misrouted", "#ef6c00"),
    ("定性错误", "miscategorised", "#f9a825"),
    ("漏并", "missed_merges", "#6a1b9a"),
    ("误并", "wrong_merges", "#ad1457"),
    ("未接听或未找到", "lost", "#546e7a"),
    ("未发出", "not_sent", "#b0bec5"),
)


def _lost(r: RunSummary) -> int:
    """Sent, but not found or not answered."""
    return r.not_found + (r.found - r.answered)


def svg_trend_problems(card: Scorecard) -> str:
    runs = [*card.trend, card.summary]
    labels = _run_labels(card, runs)

    def draw(fig: Figure, ax: Any) -> None:
        x = np.arange(len(runs))
        bottom = np.zeros(len(runs))
        for name, attr, colour in PROBLEMS:
            counts = np.array([_lost(r) if attr == "lost" else getattr(r, attr) for r in runs])
            ax.bar(x, counts, bottom=bottom, color=colour, label=name, width=0.6)
            bottom += counts
        ax.set_xticks(x, labels)
        ax.set_xlim(-0.5, len(runs) - 0.5)
        ax.set_ylim(0, max(1.0, float(bottom.max()) * 1.1))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("条数 / 起数")
        ax.set_title("历次演练：问题数")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, borderaxespad=0)
        ax.grid(axis="x", visible=False)

    return render_svg(draw, (WIDTH, 3.4), Margins(right=1.6, bottom=0.75))


def all_svgs(card: Scorecard) -> dict[str, str]:
    """Every chart of the scorecard, ready to put inline in one page: injects, units,
    trend_times, trend_problems (units only when an inject has an owning unit)."""
    out = {"injects": svg_injects(card)}
    if card.units:
        out["units"] = svg_units(card)
    out["trend_times"] = svg_trend_times(card)
    out["trend_problems"] = svg_trend_problems(card)
    return {name: own_ids(inline(svg), name) for name, svg in out.items()}


_ID = re.compile(r'(\bid="|xlink:href="#|href="#|url\(#)')


def own_ids(svg: str, prefix: str) -> str:
    """The SVG's element ids (matplotlib's glyphs, clip paths, groups) prefixed, and the
    references to them: charts put into one page must not share ids, which matplotlib's
    give them (the same glyph, the same clip box)."""
    return _ID.sub(lambda m: f"{m[1]}{prefix}-", svg)
