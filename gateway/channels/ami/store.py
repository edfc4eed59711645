"""110 calls in the store: the `calls` rows the AMI channel writes, the call-taker's screen
pop and the callback task that its routes and views read.

A call's report is (channel ``phone``, external_id = Linkedid); the incident of a call is
always found through that report, so a merge (which moves reports) moves the call too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from gateway.channels.ami.tables import calls
from gateway.report import format_utc
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.documents import Documents
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import OPEN_STATES, Role

CHANNEL = "phone"
AMI = Actor("ami", Role.SYSTEM, None)
HISTORY_DAYS = 30
# Callback task states that still ask for a call-taker's attention.
CALLBACK_OPEN = ("pending", "calling", "no_answer", "busy", "failed")

_REPORT_OF_CALL = and_(reports.c.channel == CHANNEL, reports.c.external_id == calls.c.linkedid)


def incident_of_call(conn: Connection, linkedid: str) -> Any:
    return conn.execute(
        select(incidents.c.id, incidents.c.number, incidents.c.drill)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(reports.c.channel == CHANNEL, reports.c.external_id == linkedid)
    ).first()


def save(
    ctx: WriteContext,
    row: Mapping[str, Any],
    event: str | None,
    data: Mapping[str, Any],
    now: datetime,
) -> str | None:
    """Upsert the call's row and, for a milestone worth it, add an event to its incident's
    audit log. An abandoned call gets its callback task. Returns the incident number
    (None if the call's report is not stored: the caller files it first)."""
    conn = ctx.conn
    inc = incident_of_call(conn, row["linkedid"])
    if inc is None:
        return None
    values = dict(row, incident_id=inc.id, updated_at=now)
    if row["state"] == "abandoned":
        values["callback"] = "pending"
    existing = conn.execute(
        select(calls.c.id, calls.c.callback, calls.c.arrived_at, calls.c.answered_at).where(
            calls.c.linkedid == row["linkedid"]
        )
    ).first()
    if existing is None:
        conn.execute(insert(calls).values(callback_attempts=0, **values))
    else:
        if existing.callback is not None:
            values.pop("callback", None)  # a callback already under way keeps its state
        # A call picked up again after a restart is known to the second only (Asterisk's
        # channel duration): the times seen when it happened stay.
        values["arrived_at"] = existing.arrived_at
        if existing.answered_at is not None:
            values["answered_at"] = existing.answered_at
        conn.execute(update(calls).where(calls.c.id == existing.id).values(**values))
    if event is not None:
        draft = EventDraft(event, None, None, AMI, data=dict(data))
        records.add_event(ctx, inc.id, inc.number, draft, now, inc.drill)
    return str(inc.number)


def open_linkedids(conn: Connection) -> list[str]:
    """Calls the store still has as in progress (for the reconcile after a reconnect)."""
    q = select(calls.c.linkedid).where(calls.c.state.not_in(("ended", "abandoned")))
    return [r.linkedid for r in conn.execute(q)]


def load_call(conn: Connection, linkedid: str) -> Any:
    return conn.execute(select(calls).where(calls.c.linkedid == linkedid)).mappings().first()


def callback_target(conn: Connection, number: str) -> Any:
    """The call to ring back for an incident: its latest call with a known number."""
    row = records.load(conn, number)
    return (
        conn.execute(
            select(calls)
            .select_from(calls.join(reports, _REPORT_OF_CALL))
            .where(reports.c.incident_id == row["id"], calls.c.caller != "anonymous")
            .order_by(calls.c.arrived_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )


def set_callback(
    ctx: WriteContext,
    linkedid: str,
    status: str,
    event: str,
    actor: Actor,
    data: Mapping[str, Any],
    now: datetime,
    attempt: bool = False,
) -> None:
    conn = ctx.conn
    values: dict[str, Any] = {"callback": status, "updated_at": now}
    if attempt:
        values["callback_attempts"] = calls.c.callback_attempts + 1
    conn.execute(update(calls).where(calls.c.linkedid == linkedid).values(**values))
    inc = incident_of_call(conn, linkedid)
    if inc is not None:
        draft = EventDraft(event, None, None, actor, data=dict(data))
        records.add_event(ctx, inc.id, inc.number, draft, now, inc.drill)


def call_doc(row: Any) -> dict[str, Any]:
    def t(v: datetime | None) -> str | None:
        return format_utc(v) if v is not None else None

    return {
        "linkedid": row["linkedid"],
        "caller": row["caller"],
        "caller_name": row["caller_name"],
        "trunk": row["trunk"],
        "drill": row["drill"],
        "state": row["state"],
        "queue": row["queue"],
        "calltaker": row["calltaker"],
        "arrived_at": t(row["arrived_at"]),
        "answered_at": t(row["answered_at"]),
        "ended_at": t(row["ended_at"]),
        "hold_s": row["hold_s"],
        "talk_s": row["talk_s"],
        "hangup_by": row["hangup_by"],
        "end_reason": row["end_reason"],
        "queue_timeouts": row["timeouts"],
        "recording": row["recording"],
        "callback": row["callback"],
        "callback_attempts": row["callback_attempts"],
    }


def calls_of(conn: Connection, incident_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The calls filed under each incident (through their reports), oldest first."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return out
    q = (
        select(calls, reports.c.incident_id.label("current_incident"))
        .select_from(calls.join(reports, _REPORT_OF_CALL))
        .where(reports.c.incident_id.in_(incident_ids))
        .order_by(calls.c.arrived_at)
    )
    for r in conn.execute(q).mappings():
        out[r["current_incident"]].append(call_doc(r))
    return out


def current(
    conn: Connection, calltaker: str, now: datetime, documents: Documents
) -> dict[str, Any] | None:
    """The screen pop: the call-taker's call in progress, its incident and the caller's
    history (open incidents, and reports from the same number in the last 30 days)."""
    row = (
        conn.execute(
            select(calls)
            .where(calls.c.calltaker == calltaker, calls.c.state == "answered")
            .order_by(calls.c.answered_at.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    report = conn.execute(
        select(reports.c.incident_id, reports.c.sender_key).where(
            reports.c.channel == CHANNEL, reports.c.external_id == row["linkedid"]
        )
    ).one()
    inc = records.load_by_id(conn, report.incident_id)
    since = now - timedelta(days=HISTORY_DAYS)
    others = conn.execute(
        select(reports.c.incident_id)
        .where(
            reports.c.sender_key == report.sender_key,
            reports.c.incident_id != inc["id"],
            reports.c.drill == row["drill"],
        )
        .distinct()
    ).all()
    open_rows = (
        conn.execute(
            select(incidents)
            .where(
                incidents.c.id.in_([o.incident_id for o in others]),
                incidents.c.state.in_([str(s) for s in OPEN_STATES]),
            )
            .order_by(incidents.c.created_at.desc())
        )
        .mappings()
        .all()
    )
    recent = conn.execute(
        select(
            reports.c.receipt,
            reports.c.channel,
            reports.c.received_at,
            reports.c.doc,
            incidents.c.number,
            incidents.c.state,
            incidents.c.category,
        )
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(
            reports.c.sender_key == report.sender_key,
            reports.c.received_at >= since,
            reports.c.drill == row["drill"],
            reports.c.external_id != row["linkedid"],
        )
        .order_by(reports.c.received_at.desc())
        .limit(50)
    ).all()
    return {
        "calltaker": calltaker,
        "call": call_doc(row),
        "incident": documents.one(conn, inc),
        "history": {
            "days": HISTORY_DAYS,
            "open_incidents": documents.many(conn, list(open_rows)),
            "reports": [
                {
                    "receipt": r.receipt,
                    "channel": r.channel,
                    "received_at": format_utc(r.received_at),
                    "incident": r.number,
                    "state": r.state,
                    "category": r.category,
                    "text": (r.doc or {}).get("text", ""),
                }
                for r in recent
            ],
        },
    }


def callbacks_open(conn: Connection, incident_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The open callback task of each listed incident, for the queue."""
    out: dict[int, dict[str, Any]] = {}
    if not incident_ids:
        return out
    q = (
        select(
            reports.c.incident_id,
            calls.c.caller,
            calls.c.callback,
            calls.c.callback_attempts,
            calls.c.ended_at,
        )
        .select_from(calls.join(reports, _REPORT_OF_CALL))
        .where(reports.c.incident_id.in_(incident_ids), calls.c.callback.in_(CALLBACK_OPEN))
        .order_by(calls.c.arrived_at)
    )
    for r in conn.execute(q):
        out[r.incident_id] = {
            "kind": "callback",
            "number": r.caller,
            "status": r.callback,
            "attempts": r.callback_attempts,
            "since": format_utc(r.ended_at) if r.ended_at else None,
        }
    return out


def recording_of(conn: Connection, number: str, linkedid: str) -> tuple[str | None, str] | None:
    """The unit of incident `number` and the recording of its call `linkedid`, if the call
    is filed under it and was recorded."""
    row = conn.execute(
        select(incidents.c.unit, calls.c.recording)
        .select_from(
            calls.join(reports, _REPORT_OF_CALL).join(
                incidents, incidents.c.id == reports.c.incident_id
            )
        )
        .where(incidents.c.number == number, calls.c.linkedid == linkedid)
    ).first()
    if row is None or not row.recording:
        return None
    return row.unit, row.recording
