"""The statistics page's charts, drawn on the server with matplotlib as SVG.

Each `svg_*` function takes a `stats.Stats` and returns a standalone SVG document. Text is
drawn as glyph paths (`svg.fonttype = "path"`), so Chinese shows in any browser and on
paper without a CJK font on the reader's side; the server needs one (Noto Sans CJK or
WenQuanYi Zen Hei).

No pyplot: a `Figure` is made directly, so nothing touches pyplot's global figure
manager. rcParams are global though, and matplotlib is not thread-safe, so drawing is
serialized by one lock (the twisted.web thread pool may render two pages at once).

`render_svg` (the font, the style, the lock) and `label_room` are shared: the drill
scorecard's charts (`gateway.drills.charts`) are drawn with them.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import matplotlib
import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from twisted.logger import Logger

from gateway.console.stats import BucketTable, Stats, StepStats
from gateway.fonts import CJK_FILES  # Debian's files, for a font matplotlib's cache lacks

log = Logger()

# In order of preference; the first one matplotlib knows is used.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "Noto Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
)

PRIORITY_SHORT = {1: "一级", 2: "二级", 3: "三级", 4: "四级"}
PRIORITY_COLOURS = {1: "#c62828", 2: "#ef6c00", 3: "#f9a825", 4: "#1565c0"}
BUCKET_COLOURS = ("#2e7d32", "#7cb342", "#fdd835", "#fb8c00", "#c62828")
PENDING_COLOUR = "#b0bec5"

_LOCK = threading.Lock()


@cache
def cjk_font() -> str | None:
    """The CJK font family to draw with; None (and a warning, once) if there is none."""
    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in known:
            return name
    for path in CJK_FILES:
        if os.path.exists(path):
            font_manager.fontManager.addfont(path)
    known = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in known:
            return name
    log.warn(
        "No CJK font for the statistics charts: Chinese shows as boxes. "
        "Install fonts-noto-cjk or fonts-wqy-zenhei."
    )
    # Said once here; matplotlib would warn again for every glyph of every chart.
    warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
    return None


def _rc() -> Any:  # matplotlib types the keys as a Literal of every rcParam
    font = cjk_font()
    return {
        "font.family": "sans-serif",
        "font.sans-serif": [*([font] if font else []), "DejaVu Sans"],
        "font.size": 10,
        "axes.unicode_minus": False,  # CJK fonts often lack U+2212
        "svg.fonttype": "path",
        "svg.hashsalt": "alarmgw",  # stable ids: the same stats give the same SVG
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }


@dataclass(frozen=True)
class Margins:
    """Room around the axes, in inches: fixed, not computed by a layout engine, which
    would lay the text out once more and cost a third of the drawing time."""

    left: float = 0.8
    right: float = 0.2
    bottom: float = 0.5
    top: float = 0.4


def render_svg(
    draw: Callable[[Figure, Any], None],
    size: tuple[float, float] = (8, 3.4),
    margins: Margins = Margins(),
) -> str:
    """One chart as an SVG document: `draw(fig, ax)` fills the axes, in the CJK font and
    this module's style, under the drawing lock."""
    with _LOCK, matplotlib.rc_context(_rc()):
        w, h = size
        fig = Figure(figsize=size)
        fig.subplots_adjust(
            left=margins.left / w,
            right=1 - margins.right / w,
            bottom=margins.bottom / h,
            top=1 - margins.top / h,
        )
        draw(fig, fig.subplots())
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def label_room(labels: list[str]) -> float:
    """Inches for tick labels at 10 pt: a CJK character is about 1 em wide."""
    width = max((sum(1.0 if ord(c) > 0x2E80 else 0.6 for c in s) for s in labels), default=0)
    return 0.45 + width * 10 / 72


def inline(svg: str) -> str:
    """The `<svg>` element alone, to put into an HTML page (no XML prolog or DOCTYPE)."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def _empty(ax: Any, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "本期无数据", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _period(stats: Stats) -> str:
    q = stats.query
    drill = "（演练）" if q.drill else ""
    return f"{q.start:%Y-%m-%d} 至 {q.end:%Y-%m-%d}{drill}"


def _counts_by_time(ax: Any, title: str) -> None:
    """The finish of the two count charts (per day, per hour): whole-number y axis, the
    legend beside the plot, no vertical grid."""
    ax.set_ylabel("警情数")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, borderaxespad=0)
    ax.grid(axis="x", visible=False)


def svg_daily(stats: Stats) -> str:
    """接警量 per day, stacked by the channel each incident came in by."""

    def draw(fig: Figure, ax: Any) -> None:
        title = f"每日接警量（按渠道）· {_period(stats)}"
        if not stats.totals.incidents:
            _empty(ax, title)
            return
        x = np.arange(len(stats.by_day))
        bottom = np.zeros(len(stats.by_day))
        colours = matplotlib.colormaps["tab10"]
        for i, ch in enumerate(stats.by_channel):
            if not ch.incidents:
                continue
            heights = np.array([d.by_channel[ch.channel] for d in stats.by_day])
            ax.bar(x, heights, bottom=bottom, label=ch.name, color=colours(i % 10), width=0.8)
            bottom += heights
        ax.plot(x, [d.effective for d in stats.by_day], "k.-", label="有效警情", linewidth=1)
        step = max(1, len(stats.by_day) // 15)
        ax.set_xticks(x[::step], [f"{d.day:%m-%d}" for d in stats.by_day][::step])
        _counts_by_time(ax, title)

    return render_svg(draw, margins=Margins(right=1.3))


def svg_hourly(stats: Stats) -> str:
    """接警量 per hour of the day (local time)."""

    def draw(fig: Figure, ax: Any) -> None:
        title = f"分时段接警量 · {_period(stats)}"
        if not stats.totals.incidents:
            _empty(ax, title)
            return
        hours = np.arange(24)
        ax.bar(hours, [h.total for h in stats.by_hour], color="#90a4ae", label="接警")
        ax.bar(hours, [h.effective for h in stats.by_hour], color="#1565c0", label="有效警情")
        ax.set_xticks(hours[::2], [f"{h:02d}时" for h in hours[::2]])
        ax.set_xlim(-0.6, 23.6)
        _counts_by_time(ax, title)

    return render_svg(draw, margins=Margins(right=1.3))


def svg_categories(stats: Stats) -> str:
    """接警量 per category, most frequent on top."""
    rows = stats.by_category
    names = [c.name for c in rows]

    def draw(fig: Figure, ax: Any) -> None:
        title = f"警情类别 · {_period(stats)}"
        if not rows:
            _empty(ax, title)
            return
        y = np.arange(len(rows))
        ax.barh(y, [c.total for c in rows], color="#90a4ae", label="接警")
        ax.barh(y, [c.effective for c in rows], color="#1565c0", label="有效警情", height=0.5)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlabel("警情数")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="y", visible=False)

    size = (8, max(2.4, 1.0 + 0.3 * len(rows)))
    return render_svg(draw, size, Margins(left=label_room(names)))


def _scale(st: StepStats) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever reads best for this step's times."""
    top = max([*st.seconds, *st.sla.values()], default=0)
    if top <= 600:
        return 1, "秒"
    if top <= 6 * 3600:
        return 60, "分钟"
    return 3600, "小时"


def svg_step(stats: Stats, step: str) -> str:
    """The distribution of one step's times, each priority's SLA as a dashed line and the
    share within the SLA in the title."""
    st = stats.steps[step]

    def draw(fig: Figure, ax: Any) -> None:
        share = st.share_within
        verdict = "无时限要求" if share is None else f"时限内 {share:.1%}"
        title = f"{st.name}用时分布 · {verdict}（{st.count} 起）"
        if not st.seconds:
            _empty(ax, title)
            return
        unit, unit_name = _scale(st)
        values = np.asarray(st.seconds) / unit
        # The long tail would flatten everything: the last bin holds all above the cap,
        # and an SLA far beyond the times (p4's 24 h) is named in the legend, not drawn.
        tail = float(np.percentile(values, 98))
        common = Counter(st.priorities).most_common(1)[0][0]
        shown = {p: v / unit for p, v in st.sla.items() if v / unit <= 2 * tail or p == common}
        cap = max([tail, *shown.values()]) * 1.1 or 1.0
        ax.hist(np.minimum(values, cap), bins=24, range=(0, cap), color="#5c6bc0")
        for p, limit in sorted(st.sla.items()):
            label = f"{PRIORITY_SHORT.get(p, p)}时限 {limit / unit:g}{unit_name}"
            ax.axvline(
                limit / unit if p in shown else cap,
                color=PRIORITY_COLOURS.get(p, "k"),
                linestyle="--" if p in shown else "None",
                linewidth=1.5,
                label=label if p in shown else f"{label}（图外）",
            )
        if st.sla:
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlabel(f"用时（{unit_name}）")
        ax.set_ylabel("起数")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)

    return render_svg(draw, (8, 3.2), Margins(bottom=0.55))


def svg_buckets(stats: Stats, code: str) -> str:
    """A speed table (签收 / 出警 / 反馈) per unit: stacked shares of all orders."""
    table: BucketTable = next(b for b in stats.buckets if b.code == code)
    rows = [*table.rows, table.total]
    names = [r.name for r in rows]

    def draw(fig: Figure, ax: Any) -> None:
        if not table.total.orders:
            _empty(ax, table.name)
            return
        y = np.arange(len(rows))
        left = np.zeros(len(rows))
        series = [
            *zip(table.labels, BUCKET_COLOURS, range(5), strict=True),
            (table.pending_label, PENDING_COLOUR, -1),
        ]
        for label, colour, i in series:
            widths = np.array(
                [100 * ((r.shares[i] if i >= 0 else r.pending_share) or 0.0) for r in rows]
            )
            ax.barh(y, widths, left=left, color=colour, label=label)
            left += widths
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("占派警数的百分比（%）")
        ax.set_title(f"{table.name} · {_period(stats)}")
        fig.legend(loc="lower center", ncols=6, fontsize=8, frameon=False)
        ax.grid(axis="y", visible=False)

    size = (8, max(2.6, 1.5 + 0.3 * len(rows)))
    return render_svg(draw, size, Margins(left=label_room(names), right=0.35, bottom=0.85))


def all_svgs(stats: Stats) -> dict[str, str]:
    """Every chart of the page, ready to put inline: daily, hourly, categories, one per
    measured step (`step_accept` …) and one per speed table (`buckets_acknowledge` …)."""
    out = {
        "daily": svg_daily(stats),
        "hourly": svg_hourly(stats),
        "categories": svg_categories(stats),
    }
    for code, st in stats.steps.items():
        if st.count:
            out[f"step_{code}"] = svg_step(stats, code)
    for b in stats.buckets:
        if b.total.orders:
            out[f"buckets_{b.code}"] = svg_buckets(stats, b.code)
    return {name: inline(svg) for name, svg in out.items()}
