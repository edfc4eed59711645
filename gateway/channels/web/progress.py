"""The citizen's receipt pages (报警进度查询): where is my report?

What `GET /api/v1/receipts/{receipt}` gives as JSON (`records.ReceiptStatus`), in Chinese
for a person: the state and when each step was reached, in the city's time. Never who
reported or what they said, the unit or the incident number: a receipt may be passed on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from gateway.channels.web.pages import page
from gateway.report import parse_utc
from gateway.workflow.records import NotAReceipt, ReceiptStatus
from gateway.workflow.table import FORWARD, State

#: What a citizen is told of each state: the short status, and a sentence.
STATUS: dict[State, tuple[str, str]] = {
    State.RECEIVED: ("受理中", "您的报警已登记，正在等待接警员受理。"),
    State.ACCEPTED: ("受理中", "接警员已受理您的报警，正在调派警力。"),
    State.DISPATCHED: ("已派警", "已指派处警单位处置。"),
    State.ACKNOWLEDGED: ("已派警", "处警单位已接收指令，民警正在赶往现场。"),
    State.ON_SCENE: ("已到场", "民警已到达现场处置。"),
    State.HANDLED: ("已办结", "民警已处置完毕。"),
    State.CLOSED: ("已办结", "此警情已办结。"),
    State.CANCELLED: ("已撤销", "此报警已撤销（报警人撤回，或经指挥中心核实后撤销）。"),
    State.INVALID: (
        "已作无效处理",
        "经接警员核实，此报警无需出警（如误报、测试等）。如您确有警情，请立即拨打110。",
    ),
    State.MERGED: ("已合并处理", "您的报警与同一事件的其他报警已合并处理。"),
}

#: Each step of the timeline; `received` is the citizen's own report.
STEP: dict[State, str] = {
    State.RECEIVED: "报警",
    State.ACCEPTED: "受理",
    State.DISPATCHED: "派警",
    State.ACKNOWLEDGED: "处警单位签收",
    State.ON_SCENE: "民警到场",
    State.HANDLED: "处置完毕",
    State.CLOSED: "办结",
    State.CANCELLED: "撤销",
    State.INVALID: "核实为无效警情",
    State.MERGED: "合并处理",
}

CALL_110 = '<p class="notice" id="call-110">紧急情况请拨打 <strong>110</strong>。</p>'

LOOKUP_FORM = """<form method="get" action="/receipt">
<label for="receipt-query">回执号</label>
<input id="receipt-query" name="r" value="{typed}" maxlength="64" required
 autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="如：7K2MQ9XWRT">
<button type="submit">查询</button>
</form>
<p>回执号由数字和字母组成，不区分大小写；
字母 O 按数字 0、字母 I 和 L 按数字 1 读，可带连字符。</p>"""

LOOKUP = """<h1>查询报警进度</h1>
{call_110}
{error}
{form}
<p><a href="/report">网上报警</a></p>"""

STATUS_PAGE = """<h1>报警处理进度</h1>
{call_110}
<p>回执号：<strong id="receipt">{receipt}</strong></p>
<p class="{css}">当前状态：<strong id="state" data-state="{state}">{label}</strong><br>
<span id="state-note">{note}</span></p>
<h2>办理经过（{zone}）</h2>
<ol id="milestones">
{steps}
</ol>
<p><a id="refresh" href="/receipt/{receipt}">刷新</a> ·
<a href="/receipt">查询其他回执号</a> · <a href="/report">网上报警</a></p>"""

NOT_FOUND = """<h1>未找到此回执号</h1>
{call_110}
<p class="error" id="error">没有回执号为 <strong id="receipt">{receipt}</strong> 的报警。
请核对后重新输入。</p>
{form}"""


def lookup_page(typed: str = "", error: str | None = None) -> bytes:
    """The form where a citizen types a receipt; with `error`, why the last one was not."""
    body = LOOKUP.format(
        call_110=CALL_110,
        error=f'<p class="error" id="error">{escape(error)}</p>' if error else "",
        form=LOOKUP_FORM.format(typed=escape(typed)),
    )
    return page("查询报警进度", body, head=_NOINDEX)


def not_found_page(receipt: str) -> bytes:
    body = NOT_FOUND.format(
        call_110=CALL_110, receipt=escape(receipt), form=LOOKUP_FORM.format(typed=escape(receipt))
    )
    return page("未找到此回执号", body, head=_NOINDEX)


def busy_page() -> bytes:
    body = (
        f'<h1>暂时无法查询</h1>{CALL_110}<p class="error" id="error">系统繁忙，请稍后再查询。</p>'
    )
    return page("暂时无法查询", body, head=_NOINDEX)


def status_page(status: ReceiptStatus, tz: ZoneInfo) -> bytes:
    label, note = STATUS[status.state]
    if status.merged and status.state is not State.MERGED:
        note = "您的报警与同一事件的其他报警已合并处理，以下是合并后警情的进度。" + note
    steps = "\n".join(
        f'<li data-state="{state}">{STEP[state]} <time datetime="{machine_time(at, tz)}">'
        f"{local_clock(at, tz)}</time></li>"
        for state, at in timeline(status)
    )
    closed = status.state in (State.HANDLED, State.CLOSED)
    body = STATUS_PAGE.format(
        call_110=CALL_110,
        receipt=escape(status.receipt),
        css="ok" if closed else "notice",
        state=status.state,
        label=label,
        note=escape(note),
        zone=zone_name(tz),
        steps=steps,
    )
    return page(f"报警处理进度：{label}", body, head=_NOINDEX)


def timeline(status: ReceiptStatus) -> list[tuple[State, datetime]]:
    """The steps reached, in the order of the incident's life, with when (UTC).

    Milestones say when the incident *last* entered each state, so after a reopen a later
    step's time may be from before it: only the steps up to the current one count on the
    main line; an incident off it (cancelled, invalid, merged) shows the steps reached
    before it left, then that."""
    reached: dict[State, datetime] = {}
    for name, at in status.milestones.items():
        if name in State.__members__.values():
            reached[State(name)] = parse_utc(at, f"milestones.{name}")
    steps: list[tuple[State, datetime]] = [(State.RECEIVED, status.received_at)]
    if status.state in FORWARD:
        line = FORWARD[1 : FORWARD.index(status.state) + 1]
        return steps + [(s, reached[s]) for s in line if s in reached]
    left = reached.get(status.state)
    steps += [
        (s, reached[s])
        for s in FORWARD[1:]
        if s in reached and (left is None or reached[s] <= left)
    ]
    return steps + ([(status.state, left)] if left is not None else [])


def machine_time(t: datetime, tz: ZoneInfo) -> str:
    """The same time for <time datetime>: with its offset, whole seconds (HTML allows at
    most three digits of fraction)."""
    return t.astimezone(tz).isoformat(timespec="seconds")


def local_clock(t: datetime, tz: ZoneInfo) -> str:
    """`2026-11-26 11:05:03`: the city's wall clock (the heading names the zone)."""
    return f"{t.astimezone(tz):%Y-%m-%d %H:%M:%S}"


def zone_name(tz: ZoneInfo) -> str:
    """北京时间 for UTC+8 (the whole of China keeps it), else the offset."""
    offset = datetime.now(tz).utcoffset() or timedelta(0)
    if offset == timedelta(hours=8):
        return "北京时间"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"当地时间 UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def not_a_receipt(e: NotAReceipt) -> str:
    """Why what was typed is no receipt, in Chinese."""
    if e.char is None:
        return "请输入回执号"
    if e.char.upper() == "U":
        return "回执号中没有字母 U，请核对后重新输入"
    return f"回执号只含数字和字母，不含“{e.char}”，请核对后重新输入"


_NOINDEX = '<meta name="robots" content="noindex">\n'
