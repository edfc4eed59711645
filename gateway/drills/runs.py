"""A drill run's records: started, played inject by inject, paused, resumed, aborted, and
each sent inject tied to the report it became (`gateway.drills.tables`).

Every function takes the connection (or write context) of the caller's transaction; the
runner (`gateway.drills.service`) and the HTTP API (`gateway.drills.http`) call them
through the store's reader and writer. Several gateway nodes may share one database: an
inject is claimed in a transaction (``SKIP LOCKED`` on PostgreSQL), so only one node sends
it.

Each start, pause, resume, abort and end is an event of the audit log (``drill_started``,
``drill_paused``, ``drill_resumed``, ``drill_aborted``, ``drill_ended``; no incident, the
drill flag set), with the run's id and who did it.

An inject claimed and then not settled — its node died while sending — is not sent again:
it may have gone out (a call placed, an SMS submitted), and a drill alarm sent twice spoils
the scorecard as surely as one missed. It is recorded as failed, saying so.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from gateway.drills.inject import DrillInject, Sent
from gateway.drills.scenario import Scenario
from gateway.drills.tables import drill_runs, drill_sends
from gateway.errors import DomainError, NotFound
from gateway.report import format_utc
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import SYSTEM, Actor, EventDraft

STATES = ("running", "paused", "aborted", "done")
SEND_STATES = ("pending", "sending", "sent", "failed", "cancelled")
# As the coordinator reads them (the command, the console, the scorecard).
STATES_ZH = {"running": "进行中", "paused": "已暂停", "aborted": "已中止", "done": "已结束"}
SEND_STATES_ZH = {
    "pending": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "发送失败",
    "cancelled": "已取消",
}
MATCH_SLACK = timedelta(seconds=5)  # a report may be stamped a little before the send ended
LOST = "the gateway stopped while this inject was being sent; not sent again (it may have gone out)"


class RunStateError(DomainError):
    """Pause, resume or abort asked of a run in a state that does not allow it (409)."""

    kind = "conflict"

    def __init__(self, run: int, state: str, action: str) -> None:
        super().__init__(f"drill run {run} is {state}: cannot {action}")
        self.run, self.state, self.action = run, state, action


class NoSuchRun(NotFound):
    def __init__(self, run: int) -> None:
        super().__init__(f"no drill run {run}")
        self.run = run


# -- starting ----------------------------------------------------------------------------------


def start(
    ctx: WriteContext, scenario: Scenario, files: Mapping[str, bytes], actor: Actor, now: datetime
) -> int:
    """Record a run of `scenario` starting `now`, each inject pending at its time."""
    conn = ctx.conn
    run = conn.execute(
        insert(drill_runs)
        .values(
            name=scenario.name,
            file=scenario.file,
            sha256=scenario.sha256,
            scenario=scenario.to_json(),
            files={k: base64.b64encode(v).decode("ascii") for k, v in files.items()},
            state="running",
            started_by=actor.to_json(),
            started_at=now,
            paused_s=0.0,
        )
        .returning(drill_runs.c.id)
    ).scalar_one()
    if scenario.injects:
        conn.execute(
            insert(drill_sends),
            [
                {
                    "run_id": run,
                    "seq": seq,
                    "inject_id": inject.id,
                    "kind": inject.channel,
                    "at": inject.at,
                    "due_at": now + timedelta(seconds=inject.at),
                    "status": "pending",
                }
                for seq, inject in enumerate(scenario.injects)
            ],
        )
    data = {"name": scenario.name, "sha256": scenario.sha256, "injects": len(scenario.injects)}
    _event(ctx, "drill_started", int(run), actor, now, data)
    return int(run)


def _event(
    ctx: WriteContext,
    action: str,
    run: int,
    by: Actor,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    draft = EventDraft(action, None, None, by, data={"run": run, **(data or {})})
    records.add_event(ctx, None, None, draft, now, drill=True)


# -- the coordinator's controls ----------------------------------------------------------------


def pause(ctx: WriteContext, run: int, now: datetime, by: Actor) -> dict[str, Any]:
    row = _run(ctx.conn, run, lock=True)
    if row["state"] != "running":
        raise RunStateError(run, row["state"], "pause")
    ctx.conn.execute(
        update(drill_runs).where(drill_runs.c.id == run).values(state="paused", paused_at=now)
    )
    _event(ctx, "drill_paused", run, by, now)
    return progress(ctx.conn, run)


def resume(ctx: WriteContext, run: int, now: datetime, by: Actor) -> dict[str, Any]:
    """Go on where the run was paused: every inject still to send moves on by the pause."""
    conn = ctx.conn
    row = _run(conn, run, lock=True)
    if row["state"] != "paused":
        raise RunStateError(run, row["state"], "resume")
    gap = max(now - row["paused_at"], timedelta(0))
    for send_id, due in conn.execute(
        select(drill_sends.c.id, drill_sends.c.due_at).where(
            drill_sends.c.run_id == run, drill_sends.c.status == "pending"
        )
    ):
        conn.execute(
            update(drill_sends).where(drill_sends.c.id == send_id).values(due_at=due + gap)
        )
    conn.execute(
        update(drill_runs)
        .where(drill_runs.c.id == run)
        .values(state="running", paused_at=None, paused_s=row["paused_s"] + gap.total_seconds())
    )
    _event(ctx, "drill_resumed", run, by, now, {"paused_s": round(gap.total_seconds(), 3)})
    return progress(conn, run)


def abort(ctx: WriteContext, run: int, now: datetime, by: Actor) -> dict[str, Any]:
    """Stop the run: what is not sent yet never will be."""
    conn = ctx.conn
    row = _run(conn, run, lock=True)
    if row["state"] not in ("running", "paused"):
        raise RunStateError(run, row["state"], "abort")
    conn.execute(
        update(drill_sends)
        .where(drill_sends.c.run_id == run, drill_sends.c.status == "pending")
        .values(status="cancelled")
    )
    conn.execute(
        update(drill_runs).where(drill_runs.c.id == run).values(state="aborted", ended_at=now)
    )
    _event(ctx, "drill_aborted", run, by, now)
    return progress(conn, run)


# -- playing -----------------------------------------------------------------------------------


def next_due(conn: Connection) -> datetime | None:
    """When the next inject of a running run is due (None: nothing to play)."""
    return conn.execute(
        select(func.min(drill_sends.c.due_at))
        .join(drill_runs, drill_runs.c.id == drill_sends.c.run_id)
        .where(drill_runs.c.state == "running", drill_sends.c.status == "pending")
    ).scalar()


def claim_due(ctx: WriteContext, now: datetime, limit: int = 50) -> list[DrillInject]:
    """Take the injects due by `now` of running runs, in time order, marking them sending."""
    conn = ctx.conn
    rows = conn.execute(
        select(drill_sends.c.id, drill_sends.c.run_id, drill_sends.c.seq)
        .join(drill_runs, drill_runs.c.id == drill_sends.c.run_id)
        .where(
            drill_runs.c.state == "running",
            drill_sends.c.status == "pending",
            drill_sends.c.due_at <= now,
        )
        .order_by(drill_sends.c.due_at, drill_sends.c.id)
        .limit(limit)
        .with_for_update(of=drill_sends, skip_locked=True)
    ).all()
    if not rows:
        return []
    conn.execute(
        update(drill_sends)
        .where(drill_sends.c.id.in_([r.id for r in rows]))
        .values(status="sending", claimed_at=now)
    )
    runs: dict[int, tuple[Scenario, dict[str, bytes]]] = {}
    out = []
    for r in rows:
        if r.run_id not in runs:
            runs[r.run_id] = _played(conn, r.run_id)
        scenario, files = runs[r.run_id]
        out.append(DrillInject(r.run_id, scenario.injects[r.seq], files, send=r.id))
    return out


def sent(ctx: WriteContext, send: int, what: Sent, now: datetime) -> None:
    ctx.conn.execute(
        update(drill_sends)
        .where(drill_sends.c.id == send)
        .values(
            status="sent",
            sent_at=now,
            via=what.via[:100] or None,
            report_channel=what.report_channel,
            sender_key=what.sender_key,
            external_id=what.external_id,
        )
    )
    _settle(ctx, send, now)


def failed(ctx: WriteContext, send: int, error: str, now: datetime) -> None:
    ctx.conn.execute(
        update(drill_sends)
        .where(drill_sends.c.id == send)
        .values(status="failed", sent_at=now, error=error[:2000])
    )
    _settle(ctx, send, now)


def recover(ctx: WriteContext, now: datetime, lease: float) -> int:
    """Injects claimed more than `lease` seconds ago and never settled: failed (`LOST`)."""
    conn = ctx.conn
    stale = [
        r.id
        for r in conn.execute(
            select(drill_sends.c.id).where(
                drill_sends.c.status == "sending",
                drill_sends.c.claimed_at < now - timedelta(seconds=lease),
            )
        )
    ]
    for send in stale:
        failed(ctx, send, LOST, now)
    return len(stale)


def _settle(ctx: WriteContext, send: int, now: datetime) -> None:
    """A run whose every inject is settled is done."""
    conn = ctx.conn
    run = conn.execute(select(drill_sends.c.run_id).where(drill_sends.c.id == send)).scalar_one()
    open_ = conn.execute(
        select(func.count())
        .select_from(drill_sends)
        .where(drill_sends.c.run_id == run, drill_sends.c.status.in_(("pending", "sending")))
    ).scalar_one()
    if not open_:
        ended = conn.execute(
            update(drill_runs)
            .where(drill_runs.c.id == run, drill_runs.c.state.in_(("running", "paused")))
            .values(state="done", ended_at=now)
        ).rowcount
        if ended:
            _event(ctx, "drill_ended", run, SYSTEM, now)


# -- which report each inject became -----------------------------------------------------------


def match_reports(ctx: WriteContext, run: int) -> int:
    """Tie the run's sent injects to their reports (`Sent` says how each is known); returns
    how many were tied now. A report ties to one inject only, across all runs."""
    conn = ctx.conn
    todo = conn.execute(
        select(drill_sends)
        .where(
            drill_sends.c.run_id == run,
            drill_sends.c.status == "sent",
            drill_sends.c.report_id.is_(None),
        )
        .order_by(drill_sends.c.sent_at, drill_sends.c.seq)
    ).mappings()
    taken = select(drill_sends.c.report_id).where(drill_sends.c.report_id.is_not(None))
    tied = 0
    for send in list(todo):
        q = select(reports.c.id).where(
            reports.c.channel == send["report_channel"],
            reports.c.drill.is_(True),
            reports.c.id.not_in(taken),
        )
        if send["external_id"]:
            q = q.where(reports.c.external_id == send["external_id"])
        elif send["sender_key"]:
            q = q.where(
                reports.c.sender_key == send["sender_key"],
                reports.c.received_at >= send["sent_at"] - MATCH_SLACK,
            ).order_by(reports.c.received_at, reports.c.id)
        else:
            continue
        found = conn.execute(q.limit(1)).scalar()
        if found is not None:
            conn.execute(
                update(drill_sends).where(drill_sends.c.id == send["id"]).values(report_id=found)
            )
            tied += 1
    return tied


# -- reading -----------------------------------------------------------------------------------


def progress(conn: Connection, run: int) -> dict[str, Any]:
    """The run as the coordinator follows it: its state and clock, and each inject's fate —
    pending, sent (and the incident its report is in: answered once accepted), failed."""
    row = _run(conn, run)
    sends = conn.execute(
        select(
            drill_sends,
            reports.c.receipt,
            incidents.c.number,
            incidents.c.state.label("incident_state"),
            incidents.c.master,
        )
        .outerjoin(reports, reports.c.id == drill_sends.c.report_id)
        .outerjoin(incidents, incidents.c.id == reports.c.incident_id)
        .where(drill_sends.c.run_id == run)
        .order_by(drill_sends.c.seq)
    ).mappings()
    planned = row["scenario"]["injects"]
    injects = [_send_doc(s, planned[s["seq"]]) for s in sends]
    counts = {s: 0 for s in SEND_STATES}
    for i in injects:
        counts[i["status"]] += 1
    return {
        "id": row["id"],
        "name": row["name"],
        "file": row["file"],
        "sha256": row["sha256"],
        "state": row["state"],
        "started_by": row["started_by"],
        "started_at": _utc(row["started_at"]),
        "paused_at": _utc(row["paused_at"]),
        "paused_s": row["paused_s"],
        "ended_at": _utc(row["ended_at"]),
        "duration_s": row["scenario"]["duration_s"],
        "counts": {
            **counts,
            "total": len(injects),
            "found": sum(1 for i in injects if i["report"]),
            "accepted": sum(1 for i in injects if i["accepted"]),
        },
        "injects": injects,
    }


def runs(conn: Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The latest runs, newest first, with their counts."""
    rows = conn.execute(
        select(drill_runs.c.id).order_by(drill_runs.c.id.desc()).limit(limit)
    ).scalars()
    out = []
    for run in list(rows):
        doc = progress(conn, run)
        doc.pop("injects")
        out.append(doc)
    return out


def scenario_of(conn: Connection, run: int) -> Scenario:
    return _played(conn, run)[0]


def _played(conn: Connection, run: int) -> tuple[Scenario, dict[str, bytes]]:
    row = _run(conn, run)
    files = {k: base64.b64decode(v) for k, v in row["files"].items()}
    return Scenario.from_json(row["scenario"]), files


def _run(conn: Connection, run: int, lock: bool = False) -> Any:
    q = select(drill_runs).where(drill_runs.c.id == run)
    row = conn.execute(q.with_for_update() if lock else q).mappings().first()
    if row is None:
        raise NoSuchRun(run)
    return row


_BEFORE_ACCEPT = ("received",)


def _send_doc(s: Any, planned: dict[str, Any]) -> dict[str, Any]:
    state = s["incident_state"]
    return {
        "seq": s["seq"],
        "inject": s["inject_id"],
        "channel": s["kind"],
        "note": planned.get("note"),
        "expect": planned["expect"],
        "at": s["at"],
        "due_at": _utc(s["due_at"]),
        "status": s["status"],
        "sent_at": _utc(s["sent_at"]),
        "via": s["via"],
        "error": s["error"],
        "report": s["receipt"],
        "incident": s["master"] or s["number"],
        "incident_state": state,
        "accepted": state is not None and state not in _BEFORE_ACCEPT,
    }


def mark_late(doc: dict[str, Any], sla: Any, now: datetime) -> dict[str, Any]:
    """Each inject of a `progress` document with ``late``: sent and not accepted within
    the accept SLA of its expected priority (``sla``: the city's `Sla`), or due and still
    not sent 30 s after its time."""
    for i in doc["injects"]:
        late = False
        if i["status"] == "sent" and not i["accepted"] and i["sent_at"]:
            limit = sla.seconds("accept", i["expect"]["priority"])
            waited = (now - _parse(i["sent_at"])).total_seconds()
            late = limit is not None and waited > limit
        elif i["status"] in ("pending", "sending") and doc["state"] == "running":
            late = (now - _parse(i["due_at"])).total_seconds() > 30
        i["late"] = late
    doc["counts"]["late"] = sum(1 for i in doc["injects"] if i["late"])
    return doc


def _parse(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _utc(t: datetime | None) -> str | None:
    return None if t is None else format_utc(t)
