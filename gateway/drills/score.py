"""A drill run's scorecard (演练成绩单) read from the store: what the center made of each
inject, how fast, and where that differed from what the scenario expected. The values and how
they add up are `gateway.drills.figures`; `gateway.drills.scorecard` prints them (HTML, PDF)
with the charts of `gateway.drills.charts`.

`score_run(conn, run_id, config)` reads the run, its sends with their reports, the incidents
those reports ended in (following merges, in one recursive query) and those incidents'
events: the same five queries whatever the run's size. Earlier runs of the same scenario
(same name) are scored the same way and summarised for the trend, oldest first.

What is measured, per inject, from its send (`drill_sends.sent_at`):

- answer (接听): a phone call's answer (the AMI channel's ``call_answered`` event of the call
  that arrived when the report was received: `ANSWER_SLACK_S`); any other channel's report
  stored;
- accept … close (受理, 派警, 签收, 到场, 处警反馈, 结案): the first time the incident
  carrying the inject's report entered that state, read from the audit log (the incidents'
  milestones keep only the last time, which a reopen or a transfer moves). A report that
  joined an incident — attached by correlation, or its own incident merged into a master —
  reaches at once the states that incident had already passed;
- each step is judged against the city's SLA for the final incident's priority, timed as
  the workflow's deadlines are: accept from the report's storing, dispatch from accept, …,
  feedback from on scene; answer where ``[sla]`` has an answer step; close never.

Who: the extension that answered a call (named by the console user who has it), the person
who accepted (or who merged the inject's incident: a call-taker's accept of a repeated
alarm) and who dispatched. The owning unit is the last one a person gave the incident
(accepting, dispatching, transferring, escalating); a deadline's automatic escalation does
not change whose the inject is.

Against the scenario: misrouted (the owning unit is not the expected one) and
mis-categorised (category or priority not the expected ones), judged once a person accepted
the incident; missed merges (the injects of one label in several incidents) and wrong merges
(injects of several labels in one incident); not sent (failed or cancelled), not found (sent,
but no report found), still open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, or_, select

from gateway.drills.figures import (
    InjectScore,
    Scorecard,
    StepTime,
    by_person,
    by_unit,
    merge_mismatches,
    summarise,
)
from gateway.drills.scenario import Scenario
from gateway.drills.tables import drill_runs, drill_sends
from gateway.errors import NotFound
from gateway.store.tables import events, incidents, reports, users
from gateway.workflow.machine import DEFAULT_PRIORITY
from gateway.workflow.table import Role, State

# The state each step reaches (answer: see the module's docstring).
STEP_STATES: dict[str, State] = {
    "accept": State.ACCEPTED,
    "dispatch": State.DISPATCHED,
    "acknowledge": State.ACKNOWLEDGED,
    "arrive": State.ON_SCENE,
    "feedback": State.HANDLED,
    "close": State.CLOSED,
}
# A call's answer belongs to the phone report received within this of its arrival.
ANSWER_SLACK_S = 5.0
TREND_RUNS = 20  # the earlier runs summarised, the latest ones
_OWNING_ACTIONS = frozenset({"accept", "dispatch", "transfer", "escalate"})


# -- scoring -------------------------------------------------------------------------------------


def score_run(
    conn: Connection, run_id: int, config: Any, *, now: datetime | None = None
) -> Scorecard:
    """The scorecard of run `run_id` (`NotFound` if there is none), with the trend of the
    earlier runs of its scenario. `now` (default: the clock) ends a run still running."""
    run = conn.execute(select(drill_runs).where(drill_runs.c.id == run_id)).mappings().first()
    if run is None:
        raise NotFound(f"no drill run {run_id}")
    injects = score_injects(conn, run, config)
    missed, wrong = merge_mismatches(injects)
    earlier = (
        conn.execute(
            select(drill_runs)
            .where(
                drill_runs.c.name == run["name"],
                or_(
                    drill_runs.c.started_at < run["started_at"],
                    and_(drill_runs.c.started_at == run["started_at"], drill_runs.c.id < run_id),
                ),
            )
            .order_by(drill_runs.c.started_at.desc(), drill_runs.c.id.desc())
            .limit(TREND_RUNS)
        )
        .mappings()
        .all()
    )
    trend = tuple(summarise(r, score_injects(conn, r, config)) for r in reversed(earlier))
    org = config.org
    codes = {c for i in injects for c in (i.unit, i.expect.unit) if c}
    scenario = run["scenario"]
    return Scorecard(
        run_id=run["id"],
        name=run["name"],
        description=scenario.get("description"),
        file=run["file"],
        sha256=run["sha256"],
        state=run["state"],
        started_by=run["started_by"],
        started_at=run["started_at"],
        ended_at=run["ended_at"],
        paused_s=run["paused_s"] or 0.0,
        scored_at=now or datetime.now(UTC),
        city=config.city.name,
        timezone=config.city.timezone,
        injects=injects,
        units=by_unit(injects, org),
        people=by_person(injects),
        missed_merges=missed,
        wrong_merges=wrong,
        summary=summarise(run, injects, (missed, wrong)),
        trend=trend,
        unit_names={c: org.get(c).name for c in codes if c in org},
        category_names={code: c.name for code, c in config.categories.items()},
    )


@dataclass
class _Incident:
    """An incident as its events tell it."""

    id: int
    number: str
    state: str
    category: str | None
    priority: int | None
    unit: str | None  # the row's: routing's suggestion until a person gives one
    master: str | None
    entered: dict[str, tuple[datetime, dict[str, Any]]] = field(default_factory=dict)
    merged: tuple[datetime, dict[str, Any]] | None = None  # the merge that made it merged
    owner: str | None = None  # the last unit a person gave it
    accepted: bool = False
    answers: list[tuple[datetime, float, str]] = field(default_factory=list)  # at, wait, ext


def score_injects(conn: Connection, run: RowMapping, config: Any) -> tuple[InjectScore, ...]:
    """Every send of `run`, in order, scored (see the module's docstring)."""
    run_id = run["id"]
    scenario = Scenario.from_json(run["scenario"])
    planned = {i.id: i for i in scenario.injects}
    sends = conn.execute(
        select(
            drill_sends.c.seq,
            drill_sends.c.inject_id,
            drill_sends.c.kind,
            drill_sends.c.status,
            drill_sends.c.sent_at,
            drill_sends.c.error,
            reports.c.receipt,
            reports.c.received_at,
            reports.c.stored_at,
            reports.c.home_incident_id,
            reports.c.auto_attached,
        )
        .select_from(drill_sends.outerjoin(reports, reports.c.id == drill_sends.c.report_id))
        .where(drill_sends.c.run_id == run_id)
        .order_by(drill_sends.c.seq)
    ).all()
    known = _incidents(conn, run_id)
    names = _extension_names(conn, {ext for inc in known.values() for _, _, ext in inc.answers})
    by_number = {inc.number: inc for inc in known.values()}
    sla = config.sla
    claimed: set[tuple[int, int]] = set()  # (incident id, answer index) taken by an inject
    out = []
    for s in sends:
        inject = planned[s.inject_id]
        common = dict(
            seq=s.seq,
            id=s.inject_id,
            kind=s.kind,
            at=inject.at,
            note=inject.note,
            expect=inject.expect,
            status=s.status,
            error=s.error,
            sent_at=s.sent_at,
        )
        if s.receipt is None or s.home_incident_id not in known:
            out.append(
                InjectScore(
                    **common,
                    receipt=None,
                    incident=None,
                    joined=None,
                    state=None,
                    category=None,
                    priority=None,
                    unit=None,
                    accepted=False,
                )
            )
            continue
        chain = _carriers(known[s.home_incident_id], s.stored_at, by_number)
        final = chain[-1][0]
        priority = final.priority if final.priority is not None else DEFAULT_PRIORITY
        sent_at = s.sent_at or s.received_at  # a report found without its send's time
        answer: tuple[datetime | None, str | None] = (s.stored_at, None)
        if s.kind == "phone":
            answer = _answer(chain, s.received_at, claimed, names)
        steps = [_step("answer", answer[0], sent_at, sent_at, sla, priority, answer[1])]
        start = s.stored_at  # the accept deadline is armed when the report is stored
        for code, state in STEP_STATES.items():
            at, by = _reached(chain, state)
            steps.append(_step(code, at, sent_at, start, sla, priority, by))
            start = at
        if len(chain) > 1:
            joined = "merged"
        else:
            joined = "attached" if s.auto_attached else "opened"
        out.append(
            InjectScore(
                **common,
                receipt=s.receipt,
                incident=final.number,
                joined=joined,
                state=final.state,
                category=final.category,
                priority=final.priority,
                unit=final.owner or final.unit,
                accepted=final.accepted,
                steps=tuple(steps),
            )
        )
    return tuple(out)


def _incidents(conn: Connection, run_id: int) -> dict[int, _Incident]:
    """The incidents the run's reports landed in and every master they were merged into,
    with what their events say."""
    homes = (
        select(reports.c.home_incident_id)
        .join(drill_sends, drill_sends.c.report_id == reports.c.id)
        .where(drill_sends.c.run_id == run_id)
    )
    chain = (
        select(incidents.c.id, incidents.c.master)
        .where(incidents.c.id.in_(homes))
        .cte("chain", recursive=True)
    )
    i = incidents.alias("i")
    chain = chain.union(
        select(i.c.id, i.c.master).select_from(i.join(chain, i.c.number == chain.c.master))
    )
    ids = select(chain.c.id)
    known = {
        r.id: _Incident(r.id, r.number, r.state, r.category, r.priority, r.unit, r.master)
        for r in conn.execute(
            select(
                incidents.c.id,
                incidents.c.number,
                incidents.c.state,
                incidents.c.category,
                incidents.c.priority,
                incidents.c.unit,
                incidents.c.master,
            ).where(incidents.c.id.in_(ids))
        )
    }
    for e in conn.execute(
        select(
            events.c.incident_id,
            events.c.action,
            events.c.actor,
            events.c.at,
            events.c.from_state,
            events.c.to_state,
            events.c.data,
        )
        .where(events.c.incident_id.in_(ids))
        .order_by(events.c.seq)
    ):
        _read_event(known[e.incident_id], e)
    return known


def _read_event(inc: _Incident, e: Any) -> None:
    data = e.data or {}
    if e.to_state and e.to_state != e.from_state:
        inc.entered.setdefault(e.to_state, (e.at, e.actor))
    if e.action == "merge":
        inc.merged = (e.at, e.actor)
    elif e.action == "call_answered" and data.get("time_to_answer_s") is not None:
        inc.answers.append((e.at, float(data["time_to_answer_s"]), str(data.get("calltaker", ""))))
    if e.action in _OWNING_ACTIONS and data.get("unit") and e.actor.get("role") != Role.SYSTEM:
        inc.owner = data["unit"]
    if e.action == "accept":
        inc.accepted = True


def _carriers(
    home: _Incident, stored_at: datetime, by_number: Mapping[str, _Incident]
) -> list[tuple[_Incident, datetime, dict[str, Any] | None]]:
    """The incidents that carried a report, in turn: its home from its storing, then each
    master from the merge into it (with who merged)."""
    chain: list[tuple[_Incident, datetime, dict[str, Any] | None]] = [(home, stored_at, None)]
    seen = {home.number}
    inc = home
    while inc.master is not None and inc.master not in seen and inc.merged is not None:
        master = by_number.get(inc.master)
        if master is None:
            break
        at, who = inc.merged
        inc = master
        seen.add(inc.number)
        chain.append((inc, max(at, chain[-1][1]), who))
    return chain


def _reached(
    chain: Sequence[tuple[_Incident, datetime, dict[str, Any] | None]], state: State
) -> tuple[datetime | None, str | None]:
    """When the report was first in an incident that had entered `state`, and who got it
    there (a state the incident had passed before the report joined: nobody, except the
    accept of a merge, which is the merging call-taker's)."""
    best: tuple[datetime, str | None] | None = None
    for inc, since, joiner in chain:
        entry = inc.entered.get(state)
        if entry is None:
            continue
        at, actor = entry
        if at >= since:
            found = (at, _person(actor))
        else:
            found = (since, _person(joiner) if state is State.ACCEPTED else None)
        if best is None or found[0] < best[0]:
            best = found
    return best if best is not None else (None, None)


def _person(actor: Mapping[str, Any] | None) -> str | None:
    if not actor or actor.get("role") == Role.SYSTEM:
        return None
    return str(actor.get("user") or "") or None


def _answer(
    chain: Sequence[tuple[_Incident, datetime, dict[str, Any] | None]],
    received_at: datetime,
    claimed: set[tuple[int, int]],
    names: Mapping[str, str],
) -> tuple[datetime | None, str | None]:
    """The answer of the call whose report was received at `received_at` (a call's report
    is received when the call arrives): the nearest answered call on its incidents."""
    best = None
    for inc, _, _ in chain:
        for n, (at, waited, ext) in enumerate(inc.answers):
            off = abs((at - received_at).total_seconds() - waited)
            if off <= ANSWER_SLACK_S and (inc.id, n) not in claimed:
                if best is None or off < best[0]:
                    best = (off, (inc.id, n), at, ext)
    if best is None:
        return None, None
    claimed.add(best[1])
    ext = best[3]
    return best[2], names.get(ext, f"分机{ext}" if ext else None)


def _extension_names(conn: Connection, extensions: set[str]) -> dict[str, str]:
    if not extensions:
        return {}
    rows = conn.execute(
        select(users.c.extension, users.c.name).where(users.c.extension.in_(sorted(extensions)))
    )
    return {r.extension: r.name for r in rows}


def _step(
    code: str,
    at: datetime | None,
    sent_at: datetime | None,
    start: datetime | None,
    sla: Any,
    priority: int,
    by: str | None,
) -> StepTime:
    def since(t0: datetime | None) -> float | None:
        return None if at is None or t0 is None else (at - t0).total_seconds()

    return StepTime(code, at, since(sent_at), since(start), sla.seconds(code, priority), by)
