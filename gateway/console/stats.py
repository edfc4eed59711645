"""The supervisors' statistics (统计): what a 110 center's weekly report holds, for a date
range, a unit's subtree, real incidents or drills (never both).

`compute` reads the period's incidents once (one row each, milestones included), their
reports' channels and the answered calls' times (SQL does the filtering by period, drill
flag and scope, and the previous period's counts), and counts in Python: per local day and
hour, channel, category and unit; the time each step took against its SLA; the Chinese
speed buckets of 签收 / 出警 / 反馈 per unit as shares of all orders, with the slowest
units named; the orders not yet finished. `to_csv` writes the same tables for Excel.

What is counted as what:
- an incident belongs to the day and hour (city time) it was created, to its current unit
  (none, or one the tree no longer has: the root's) and to the channel of the report that
  opened it; 有效警情 are those neither invalid, merged nor cancelled;
- the steps are the machine's deadlines (accept: created → accepted, dispatch, acknowledge,
  arrive: acknowledged → on scene, feedback: on scene → handled), each judged against the
  SLA of the incident's current priority; "close" is created → closed, with no SLA;
- the speed tables count orders (incidents that were dispatched) from their dispatch: to
  签收, to 到场 (出警) and to 反馈 (handled); an order not there yet is 未签收/未到场/未反馈.

Times are the incidents' milestones, the time each state was last entered: a transfer or a
reopen moves them, and a step whose end came before its start is left out.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, String, Text, and_, func, select, type_coerce

from gateway.console.render import CHANNEL_NAMES_ZH
from gateway.store.tables import events, incidents, reports
from gateway.workflow.machine import DEFAULT_PRIORITY
from gateway.workflow.table import FORWARD, State

MAX_DAYS = 367  # a year, both ends included (2025-01-01 … 2026-01-01)
NOT_EFFECTIVE = frozenset({State.INVALID, State.CANCELLED, State.MERGED})  # 有效警情: the rest
UNFINISHED_STATES: tuple[State, ...] = FORWARD[:-1]  # received … handled, not yet closed


def channel_zh(code: str) -> str:
    return CHANNEL_NAMES_ZH.get(code, code)


@dataclass(frozen=True, slots=True)
class StepDef:
    """A measured step: from one milestone to another ("created" is the incident's
    creation, when the accept deadline is armed); `sla` names the SLA step, if any."""

    code: str
    name: str  # 中文, with the interval it measures
    start: str | None  # None: the answered calls' own times
    end: str | None
    sla: str | None


# The intervals are the machine's deadlines (`machine.arm`): each is armed on entering
# the start state and met on reaching the end state.
STEPS: tuple[StepDef, ...] = (
    StepDef("answer", "接听（来电→接听）", None, None, "answer"),
    StepDef("accept", "受理（接警→受理）", "created", "accepted", "accept"),
    StepDef("dispatch", "派警（受理→派警）", "accepted", "dispatched", "dispatch"),
    StepDef("acknowledge", "签收（派警→签收）", "dispatched", "acknowledged", "acknowledge"),
    StepDef("arrive", "到场（签收→到场）", "acknowledged", "on_scene", "arrive"),
    StepDef("feedback", "反馈（到场→反馈）", "on_scene", "handled", "feedback"),
    StepDef("close", "结案（接警→结案）", "created", "closed", None),
)


@dataclass(frozen=True, slots=True)
class BucketDef:
    """A speed table of the weekly report: orders (incidents dispatched to a unit) by the
    time from `start` to `end`. A bucket holds times up to and including its upper bound."""

    code: str
    name: str
    start: str
    end: str
    bounds: tuple[int, ...]  # seconds; one more bucket above the last
    labels: tuple[str, ...]
    pending: str  # the column of orders that have not reached `end`


BUCKETS: tuple[BucketDef, ...] = (
    BucketDef(
        "acknowledge",
        "签收速度（派警→签收）",
        "dispatched",
        "acknowledged",
        (30, 60, 120, 180),
        ("0–30秒", "30–60秒", "60–120秒", "120–180秒", "180秒以上"),
        "未签收",
    ),
    BucketDef(
        "arrive",
        "出警速度（派警→到场）",
        "dispatched",
        "on_scene",
        (300, 600, 900, 1800),
        ("0–5分钟", "5–10分钟", "10–15分钟", "15–30分钟", "30分钟以上"),
        "未到场",
    ),
    BucketDef(
        "feedback",
        "反馈速度（派警→反馈）",
        "dispatched",
        "handled",
        (1800, 3600, 7200, 14400),
        ("0–30分钟", "30–60分钟", "1–2小时", "2–4小时", "4小时以上"),
        "未反馈",
    ),
)
SLOWEST = 3  # units named as 排名靠后 per speed table


@dataclass(frozen=True)
class Query:
    start: date  # local dates in the city's zone, both inclusive
    end: date
    drill: bool = False  # False: real incidents only; True: drills only
    unit: str | None = None  # that unit's subtree; None: the whole city

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("结束日期早于开始日期")
        if self.days > MAX_DAYS:
            raise ValueError(f"统计区间最长 {MAX_DAYS} 天")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Query:
        """The period of the same length just before (环比)."""
        return Query(
            self.start - timedelta(days=self.days),
            self.start - timedelta(days=1),
            self.drill,
            self.unit,
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str], today: date, org: Any = None) -> Query:
        """From the page's GET fields (start, end, unit, drill); the last 7 days by default.
        Raises ValueError with a message for the person who typed it."""
        try:
            end = date.fromisoformat(form["end"]) if form.get("end") else today
            start = (
                date.fromisoformat(form["start"]) if form.get("start") else end - timedelta(days=6)
            )
        except ValueError:
            raise ValueError("日期格式应为 YYYY-MM-DD") from None
        unit = form.get("unit") or None
        if unit is not None and org is not None and unit not in org:
            raise ValueError(f"没有单位 {unit}")
        drill = form.get("drill", "") in ("1", "on", "true", "yes")
        return cls(start, end, drill, unit)


@dataclass
class Totals:
    incidents: int = 0  # 接警总数
    effective: int = 0  # 有效警情
    invalid: int = 0
    merged: int = 0
    cancelled: int = 0
    reports: int = 0  # 报警条数: every report of these incidents, repeats included
    orders: int = 0  # 派警数: dispatched to a unit
    closed: int = 0
    unfinished: int = 0
    days: int = 1
    previous_incidents: int = 0
    previous_effective: int = 0

    @property
    def per_day(self) -> float:
        return self.incidents / self.days

    @property
    def effective_per_day(self) -> float:
        return self.effective / self.days

    @property
    def change(self) -> float | None:
        """环比: relative change against the previous period (None when it had none)."""
        return _change(self.incidents, self.previous_incidents)

    @property
    def effective_change(self) -> float | None:
        return _change(self.effective, self.previous_effective)


@dataclass
class DayRow:
    day: date
    total: int = 0
    effective: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)


@dataclass
class HourRow:
    hour: int
    total: int = 0
    effective: int = 0


@dataclass
class ChannelRow:
    channel: str
    name: str
    incidents: int = 0  # opened by a report on this channel
    reports: int = 0  # all reports on this channel


@dataclass
class CategoryRow:
    category: str | None
    name: str
    total: int = 0
    effective: int = 0


@dataclass
class UnitRow:
    code: str
    name: str
    total: int = 0
    effective: int = 0
    orders: int = 0
    unfinished: int = 0
    within: dict[str, float | None] = field(default_factory=dict)  # step → share within SLA
    p50: dict[str, float | None] = field(default_factory=dict)  # step → median seconds


@dataclass
class BranchRow:
    """Per district (the scope's children), with the subtree rolled up, and 环比."""

    code: str
    name: str
    total: int = 0
    effective: int = 0
    previous_total: int = 0
    previous_effective: int = 0

    @property
    def change(self) -> float | None:
        return _change(self.total, self.previous_total)


@dataclass
class StepStats:
    step: str
    name: str
    seconds: list[float] = field(default_factory=list)
    priorities: list[int] = field(default_factory=list)  # of each sample, in order
    units: list[str] = field(default_factory=list)  # of each sample, in order
    sla: dict[int, int] = field(default_factory=dict)  # priority → SLA seconds, as seen
    within: int = 0
    with_sla: int = 0  # samples that have an SLA

    @property
    def count(self) -> int:
        return len(self.seconds)

    @property
    def p50(self) -> float | None:
        return percentile(self.seconds, 50)

    @property
    def p90(self) -> float | None:
        return percentile(self.seconds, 90)

    @property
    def mean(self) -> float | None:
        return sum(self.seconds) / len(self.seconds) if self.seconds else None

    @property
    def share_within(self) -> float | None:
        return self.within / self.with_sla if self.with_sla else None


@dataclass
class BucketRow:
    code: str
    name: str
    orders: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * 5)
    pending: int = 0

    @property
    def shares(self) -> list[float | None]:
        """Each bucket as a share of all orders (the pending ones included)."""
        return [c / self.orders if self.orders else None for c in self.counts]

    @property
    def pending_share(self) -> float | None:
        return self.pending / self.orders if self.orders else None


@dataclass
class BucketTable:
    code: str
    name: str
    labels: tuple[str, ...]
    pending_label: str
    rows: list[BucketRow]
    total: BucketRow
    slowest: list[BucketRow]  # 排名靠后: the slowest units below the total's pace (`_pace`)


@dataclass
class UnfinishedRow:
    code: str
    name: str
    by_state: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.by_state.values())


@dataclass
class UnfinishedTable:
    states: tuple[State, ...]
    rows: list[UnfinishedRow]
    total: UnfinishedRow


@dataclass
class Stats:
    query: Query
    timezone: str
    scope: str  # the unit whose subtree is counted (the root when the query names none)
    scope_name: str
    totals: Totals
    by_day: list[DayRow]
    by_hour: list[HourRow]
    by_channel: list[ChannelRow]
    by_category: list[CategoryRow]
    by_unit: dict[str, UnitRow]
    by_branch: list[BranchRow]
    steps: dict[str, StepStats]
    buckets: list[BucketTable]
    unfinished: UnfinishedTable


def percentile(values: Iterable[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def _change(now: int, before: int) -> float | None:
    return (now - before) / before if before else None


def _utc_range(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    lo = datetime.combine(start, time(), tz).astimezone(UTC)
    hi = datetime.combine(end + timedelta(days=1), time(), tz).astimezone(UTC)
    return lo, hi


def _where(query: Query, org: Any, tz: ZoneInfo) -> list[ColumnElement[bool]]:
    lo, hi = _utc_range(query.start, query.end, tz)
    clauses = [
        incidents.c.created_at >= lo,
        incidents.c.created_at < hi,
        incidents.c.drill == query.drill,
    ]
    # Incidents without a unit (or with one the tree no longer has) are the root's.
    if query.unit is not None and query.unit != org.root.code:
        clauses.append(incidents.c.unit.in_(sorted(org.subtree(query.unit))))
    return clauses


def _utc(value: str | datetime) -> datetime:
    """A stored time, read past its column type (SQLite gives text, PostgreSQL a naive
    datetime): SQLAlchemy's processors cost more than the rest of `compute`."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _tree_order(org: Any, scope: str) -> list[str]:
    out: list[str] = []
    stack = [scope]
    while stack:
        code = stack.pop()
        out.append(code)
        stack.extend(reversed([u.code for u in org.children(code)]))
    return out


_SECOND = timedelta(seconds=1)  # a timedelta / _SECOND is its exact seconds, as a float
# The milestones the steps and the speed tables read.
_TIMED = tuple(
    sorted(
        ({m for s in STEPS for m in (s.start, s.end) if m} | {b.end for b in BUCKETS})
        - {"created"}  # the incident's own column, not a milestone
    )
)


def compute(conn: Connection, config: Any, query: Query) -> Stats:
    org = config.org
    if query.unit is not None and query.unit not in org:
        raise ValueError(f"没有单位 {query.unit}")
    tz = ZoneInfo(config.city.timezone)
    root = org.root.code
    scope = query.unit or root
    where = _where(query, org, tz)

    def unit_name(code: str) -> str:
        return org.get(code).name if code in org else code

    rows = conn.execute(
        select(
            incidents.c.id,
            type_coerce(incidents.c.created_at, String),
            incidents.c.state,
            incidents.c.category,
            incidents.c.priority,
            incidents.c.unit,
            type_coerce(incidents.c.milestones, Text),
        ).where(*where)
    ).all()

    # The channel an incident was opened by (its first own report) and every report's.
    opened_by: dict[int, str] = {}
    report_channels: Counter[str] = Counter()
    for home, channel in conn.execute(
        select(reports.c.home_incident_id, reports.c.channel)
        .join(incidents, incidents.c.id == reports.c.home_incident_id)
        .where(*where)
        .order_by(reports.c.id)
    ):
        opened_by.setdefault(home, channel)
        report_channels[channel] += 1

    answered = conn.execute(
        select(events.c.data["time_to_answer_s"].as_float(), incidents.c.priority, incidents.c.unit)
        .join(incidents, incidents.c.id == events.c.incident_id)
        .where(events.c.action == "call_answered", *where)
    ).all()

    steps = {s.code: StepStats(s.code, s.name) for s in STEPS}
    # Milestones by position (index 0: the creation), so the loop does no dict lookups.
    at = {m: i for i, m in enumerate(("created", *_TIMED))}
    timed_steps = [(at[s.start], at[s.end], steps[s.code]) for s in STEPS if s.start and s.end]
    dispatched = at["dispatched"]
    tables: dict[str, dict[str, BucketRow]] = {b.code: {} for b in BUCKETS}
    bucket_tables = [(at[b.start], at[b.end], b.bounds, tables[b.code]) for b in BUCKETS]
    fromiso = datetime.fromisoformat
    # One pass over the incidents: counted by three keys (folded into the tables below,
    # which is cheaper than updating every table per incident), and each step's times.
    when: Counter[tuple[date, int, str, bool]] = Counter()  # local day, hour, channel
    kinds: Counter[tuple[str | None, bool]] = Counter()  # category, effective
    placed: Counter[tuple[str, str]] = Counter()  # unit, state
    for id_, created_at, state, category, priority, unit_code, raw in rows:
        effective = state not in NOT_EFFECTIVE  # a State equals its str value
        unit = unit_code if unit_code is not None and unit_code in org else root
        created = _utc(created_at)
        local = created.astimezone(tz)
        when[(local.date(), local.hour, opened_by.get(id_, ""), effective)] += 1
        kinds[(category, effective)] += 1
        placed[(unit, state)] += 1

        prio = priority if priority is not None else DEFAULT_PRIORITY
        milestones = json.loads(raw) if isinstance(raw, str) else raw
        times = [created] + [fromiso(milestones[m]) if m in milestones else None for m in _TIMED]
        for start, end, st in timed_steps:
            t0, t1 = times[start], times[end]
            if t0 is not None and t1 is not None and t1 >= t0:
                st.seconds.append((t1 - t0) / _SECOND)
                st.priorities.append(prio)
                st.units.append(unit)
        if times[dispatched] is not None:  # an order (派警): counted in every speed table
            for start, end, bounds, by_unit in bucket_tables:
                brow = by_unit.get(unit)
                if brow is None:
                    brow = by_unit[unit] = BucketRow(unit, unit_name(unit))
                brow.orders += 1
                t0, t1 = times[start], times[end]
                if t0 is None or t1 is None or t1 < t0:
                    brow.pending += 1
                else:  # upper bounds are inclusive: 30 s is in 0–30 s
                    brow.counts[bisect_left(bounds, (t1 - t0) / _SECOND)] += 1

    totals = Totals(days=query.days, reports=sum(report_channels.values()))
    days = [DayRow(query.start + timedelta(days=i)) for i in range(query.days)]
    day_index = {d.day: d for d in days}
    hours = [HourRow(h) for h in range(24)]
    channels: dict[str, ChannelRow] = {}
    for (day_, hour, channel, effective), n in when.items():
        d, h = day_index[day_], hours[hour]
        d.total += n
        h.total += n
        d.by_channel[channel] += n
        if effective:
            d.effective += n
            h.effective += n
        ch = channels.get(channel) or channels.setdefault(
            channel, ChannelRow(channel, channel_zh(channel))
        )
        ch.incidents += n
    categories: dict[str | None, CategoryRow] = {}
    for (category, effective), n in kinds.items():
        cat = categories.get(category)
        if cat is None:
            name = config.categories[category].name if category in config.categories else None
            cat = categories[category] = CategoryRow(category, name or category or "未分类")
        cat.total += n
        cat.effective += n if effective else 0
    units: dict[str, UnitRow] = {}
    unfinished: dict[str, UnfinishedRow] = {}
    for (unit, state), n in placed.items():
        urow = units.get(unit) or units.setdefault(unit, UnitRow(unit, unit_name(unit)))
        urow.total += n
        totals.incidents += n
        if state in NOT_EFFECTIVE:
            totals.invalid += n if state == State.INVALID else 0
            totals.merged += n if state == State.MERGED else 0
            totals.cancelled += n if state == State.CANCELLED else 0
        else:
            urow.effective += n
            totals.effective += n
        totals.closed += n if state == State.CLOSED else 0
        if state in UNFINISHED_STATES:
            totals.unfinished += n
            urow.unfinished += n
            u = unfinished.get(unit) or unfinished.setdefault(unit, UnfinishedRow(unit, urow.name))
            u.by_state[state] += n
    for unit, brow in tables[BUCKETS[0].code].items():
        units[unit].orders = brow.orders
        totals.orders += brow.orders

    for ch_code, n in report_channels.items():
        channels.setdefault(ch_code, ChannelRow(ch_code, channel_zh(ch_code))).reports = n
    answer = steps["answer"]
    for seconds, priority, unit_code in answered:
        if seconds is not None and seconds >= 0:
            answer.seconds.append(float(seconds))
            answer.priorities.append(priority if priority is not None else DEFAULT_PRIORITY)
            answer.units.append(unit_code if unit_code is not None and unit_code in org else root)
    for step in STEPS:
        _judge(steps[step.code], step, config.sla, units)

    order = {code: i for i, code in enumerate(_tree_order(org, scope))}

    def by_tree(code: str) -> tuple[int, str]:
        return (order.get(code, len(order)), code)

    totals.previous_incidents, totals.previous_effective, branches = _previous_and_branches(
        conn, config, query, scope, units
    )
    return Stats(
        query=query,
        timezone=config.city.timezone,
        scope=scope,
        scope_name=unit_name(scope),
        totals=totals,
        by_day=days,
        by_hour=hours,
        by_channel=sorted(channels.values(), key=lambda c: (-c.incidents, -c.reports, c.channel)),
        by_category=sorted(categories.values(), key=lambda c: (-c.total, c.category or "")),
        by_unit={code: units[code] for code in sorted(units, key=by_tree)},
        by_branch=branches,
        steps=steps,
        buckets=[_bucket_table(b, tables[b.code], by_tree) for b in BUCKETS],
        unfinished=UnfinishedTable(
            UNFINISHED_STATES,
            [unfinished[c] for c in sorted(unfinished, key=by_tree)],
            _sum_unfinished(unfinished.values()),
        ),
    )


def _judge(st: StepStats, step: StepDef, sla: Any, units: Mapping[str, UnitRow]) -> None:
    """Each time against the SLA of its incident's priority; per unit too."""
    limits: dict[int, int | None] = defaultdict(lambda: None)
    limits.update({p: sla.seconds(step.sla, p) if step.sla else None for p in (1, 2, 3, 4)})
    per_unit: dict[str, list[tuple[float, bool | None]]] = defaultdict(list)
    for seconds, priority, unit in zip(st.seconds, st.priorities, st.units, strict=True):
        limit = limits[priority]
        ok = None
        if limit is not None:
            st.sla[priority] = limit
            st.with_sla += 1
            ok = seconds <= limit
            st.within += ok
        per_unit[unit].append((seconds, ok))
    for unit, samples in per_unit.items():
        if unit in units:
            judged = [ok for _, ok in samples if ok is not None]
            units[unit].within[st.step] = sum(judged) / len(judged) if judged else None
            units[unit].p50[st.step] = percentile([s for s, _ in samples], 50)


def _bucket_table(b: BucketDef, rows: Mapping[str, BucketRow], key: Any) -> BucketTable:
    ordered = [rows[c] for c in sorted(rows, key=key)]
    total = BucketRow("", "合计")
    for r in ordered:
        total.orders += r.orders
        total.pending += r.pending
        total.counts = [a + c for a, c in zip(total.counts, r.counts, strict=True)]
    # 排名靠后: slower than all units together, by the share within the first bucket,
    # then within the first two, … (so units all at 0 % in 0–5 min still rank).
    slow = sorted((r for r in ordered if _pace(r) < _pace(total)), key=_pace)
    return BucketTable(b.code, b.name, b.labels, b.pending, ordered, total, slow[:SLOWEST])


def _pace(row: BucketRow) -> tuple[float, ...]:
    """The cumulative shares of orders within each bucket's bound: higher is faster."""
    out, done = [], 0
    for n in row.counts[:-1]:
        done += n
        out.append(done / row.orders if row.orders else 0.0)
    return tuple(out)


def _sum_unfinished(rows: Iterable[UnfinishedRow]) -> UnfinishedRow:
    total = UnfinishedRow("", "合计")
    for r in rows:
        total.by_state.update(r.by_state)
    return total


def _previous_and_branches(
    conn: Connection, config: Any, query: Query, scope: str, units: Mapping[str, UnitRow]
) -> tuple[int, int, list[BranchRow]]:
    """The previous period's counts (in SQL, grouped by unit and state), and this and that
    period rolled up to the scope's children (per district for the city)."""
    org = config.org
    tz = ZoneInfo(config.city.timezone)
    before = conn.execute(
        select(incidents.c.unit, incidents.c.state, func.count())
        .where(and_(*_where(query.previous(), org, tz)))
        .group_by(incidents.c.unit, incidents.c.state)
    ).all()
    branch_of: dict[str, str] = {}
    for child in org.children(scope):
        for code in org.subtree(child.code):
            branch_of[code] = child.code
    own = BranchRow(scope, f"{org.get(scope).name}（本级）")
    branches = {c.code: BranchRow(c.code, c.name) for c in org.children(scope)}

    def branch(code: str | None) -> BranchRow:
        b = branch_of.get(code) if code is not None else None
        return branches[b] if b is not None else own

    prev_total = prev_effective = 0
    for unit, state, n in before:
        eff = n if State(state) not in NOT_EFFECTIVE else 0
        prev_total += n
        prev_effective += eff
        row = branch(unit)
        row.previous_total += n
        row.previous_effective += eff
    for code, urow in units.items():
        row = branch(code)
        row.total += urow.total
        row.effective += urow.effective
    rows = [own, *branches.values()] if own.total or own.previous_total else [*branches.values()]
    return prev_total, prev_effective, rows
