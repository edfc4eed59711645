"""A drill run's scorecard printed (演练成绩单): `html` makes a standalone page (its style
and charts inline, Chinese, city time) that the console can serve and a browser can print;
`pdf` makes a PDF of the same page with WeasyPrint, which finds the CJK font through
fontconfig (fonts-noto-cjk). The figures come from `gateway.drills.score` (`score` here for
the API), the charts from `gateway.drills.charts`; `write` is ``alarmgw drill report RUN``.

The template (``templates/scorecard.html``) uses the console's filters (`local` for the
city's time, `state_zh`, `priority_zh`, `role_zh`) and the few below.
"""

from __future__ import annotations

from base64 import b64encode
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Connection

from gateway.console.render import CHANNEL_NAMES_ZH, environment
from gateway.drills.charts import all_svgs
from gateway.drills.figures import STEP_NAMES_ZH, STEPS, Scorecard
from gateway.drills.rules import format_offset
from gateway.drills.runs import SEND_STATES_ZH, STATES_ZH
from gateway.drills.score import score_run

TEMPLATES = Path(__file__).with_name("templates")

JOINED_ZH = {"opened": "立案", "attached": "自动并入", "merged": "合并"}


def duration_zh(seconds: float | None) -> str:
    """38秒, 5分10秒, 1小时05分; — for none."""
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return f"{s}秒"
    if s < 3600:
        return f"{s // 60}分{s % 60:02d}秒"
    return f"{s // 3600}小时{s % 3600 // 60:02d}分"


@cache
def _environment(timezone: str) -> jinja2.Environment:
    env = environment(timezone).overlay(loader=jinja2.FileSystemLoader(TEMPLATES))
    # A copy: an overlay shares its filters with the console's environment.
    env.filters = dict(
        env.filters,
        duration_zh=duration_zh,
        offset=format_offset,
        kind_zh=lambda k: CHANNEL_NAMES_ZH.get(k, k),  # a scenario's kinds are channel names
        run_state_zh=lambda s: STATES_ZH.get(s, s),
        send_status_zh=lambda s: SEND_STATES_ZH.get(s, s),
        joined_zh=lambda j: JOINED_ZH.get(j, j) if j else "",
    )
    return env


def html(card: Scorecard) -> str:
    """The scorecard as one standalone HTML page, the charts inline."""
    return _page(card, all_svgs(card))


def pdf(card: Scorecard) -> bytes:
    """The same page as a PDF (A4 landscape). The charts go in as SVG images, not inline:
    WeasyPrint checks an inline SVG's style attributes as the page's CSS and logs a warning
    for each (hundreds a chart); as images its SVG renderer draws them the same, quietly."""
    import weasyprint  # a heavy import, needed only here

    images = {
        name: f'<img alt="" src="data:image/svg+xml;base64,{b64encode(svg.encode()).decode()}">'
        for name, svg in all_svgs(card).items()
    }
    document: Any = weasyprint.HTML(string=_page(card, images), base_url=str(TEMPLATES))
    return bytes(document.write_pdf())


def _page(card: Scorecard, plots: dict[str, str]) -> str:
    env = _environment(card.timezone)
    return env.get_template("scorecard.html").render(
        card=card, plots=plots, steps=STEPS, step_names=STEP_NAMES_ZH
    )


def score(conn: Connection, run_id: int, config: Any) -> Scorecard:
    """The figures of run `run_id` (`gateway.drills.score.score_run`)."""
    return score_run(conn, run_id, config)


def write(config: Any, db: Any, run_id: int, folder: Path) -> list[Path]:
    """``alarmgw drill report RUN``: the run's sent injects tied to their reports (as the
    API does before scoring), then its scorecard written into `folder` as
    ``drill-RUN-scorecard.html`` and ``.pdf``; returns the two paths. `db` is the store
    (`gateway.store.db.Database`), used from this thread."""
    from gateway.drills import runs

    db.run_sync(runs.match_reports, run_id)
    with db.read_engine.connect() as conn:
        card = score_run(conn, run_id, config)
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / f"drill-{run_id}-scorecard.html"
    page.write_text(html(card), encoding="utf-8")
    printed = page.with_suffix(".pdf")
    printed.write_bytes(pdf(card))
    return [page, printed]
