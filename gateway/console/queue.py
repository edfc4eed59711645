"""What the console's lists read: the queue of open incidents in a user's scope, one row
of it, the officers' inbox, suggestions for dispatch and merge."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from gateway.store.tables import deadlines, incidents, reports
from gateway.workflow.correlate import distance_m
from gateway.workflow.machine import Actor
from gateway.workflow.table import OPEN_STATES, State

QUEUE_LIMIT = 300  # rows a queue page shows (the count says how many there are)
INBOX_STATES = (State.DISPATCHED, State.ACKNOWLEDGED, State.ON_SCENE)


@dataclass
class Row:
    number: str
    state: str
    category: str | None
    priority: int | None
    drill: bool
    unit: str | None
    unit_assigned: bool
    summary: str
    address: str | None
    lat: float | None
    lon: float | None
    created_at: datetime
    channels: list[str] = field(default_factory=list)
    due: datetime | None = None  # the next pending deadline
    due_step: str | None = None
    missed: bool = False  # a deadline of this incident has passed
    reports: int = 0


@dataclass(frozen=True)
class Filters:
    state: str | None = None
    unit: str | None = None
    category: str | None = None
    channel: str | None = None
    drill: str = "0"  # "0" real only (default), "1" drills only, "all"

    @classmethod
    def from_query(cls, q: dict[str, str]) -> Filters:
        drill = q.get("drill", "0")
        return cls(
            state=q.get("state") or None,
            unit=q.get("unit") or None,
            category=q.get("category") or None,
            channel=q.get("channel") or None,
            drill=drill if drill in ("0", "1", "all") else "0",
        )


def scope_units(org: Any, scope: str) -> list[str]:
    return [u.code for u in org.units() if org.covers(scope, u.code)]


def _scope_clause(org: Any, actor: Actor, unit: str | None) -> Any:
    scope = unit or actor.unit or org.root.code
    codes = scope_units(org, scope)
    clause: Any = incidents.c.unit.in_(codes)
    if scope == org.root.code:  # an incident without a unit is the root's
        clause = or_(clause, incidents.c.unit.is_(None))
    return clause


def queue(
    conn: Connection, org: Any, actor: Actor, f: Filters, limit: int = QUEUE_LIMIT
) -> tuple[list[Row], int]:
    """Open incidents in scope: priority 1 first, then the oldest waiting."""
    states = (
        [f.state] if f.state in {str(s) for s in OPEN_STATES} else [str(s) for s in OPEN_STATES]
    )
    where = [incidents.c.state.in_(states), _scope_clause(org, actor, f.unit)]
    if f.category:
        where.append(incidents.c.category == f.category)
    if f.drill != "all":
        where.append(incidents.c.drill.is_(f.drill == "1"))
    if f.channel:
        where.append(
            incidents.c.id.in_(select(reports.c.incident_id).where(reports.c.channel == f.channel))
        )
    count = conn.execute(select(func.count()).select_from(incidents).where(*where)).scalar() or 0
    rows = conn.execute(
        select(incidents)
        .where(*where)
        .order_by(case((incidents.c.priority == 1, 0), else_=1), incidents.c.created_at)
        .limit(limit)
    ).mappings()
    out = _rows(conn, list(rows))
    return out, int(count)


def row(conn: Connection, number: str) -> Row | None:
    found = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
    return None if found is None else _rows(conn, [found])[0]


def inbox(conn: Connection, org: Any, actor: Actor, drill: bool = False) -> list[Row]:
    """A station's orders: dispatched, acknowledged, on scene — the oldest first."""
    rows = conn.execute(
        select(incidents)
        .where(
            incidents.c.state.in_([str(s) for s in INBOX_STATES]),
            _scope_clause(org, actor, None),
            incidents.c.drill.is_(drill),
        )
        .order_by(case((incidents.c.priority == 1, 0), else_=1), incidents.c.created_at)
        .limit(QUEUE_LIMIT)
    ).mappings()
    return _rows(conn, list(rows))


def _rows(conn: Connection, found: Sequence[Any]) -> list[Row]:
    if not found:
        return []
    by_id = {
        r["id"]: Row(
            number=r["number"],
            state=r["state"],
            category=r["category"],
            priority=r["priority"],
            drill=bool(r["drill"]),
            unit=r["unit"],
            unit_assigned=bool(r["unit_assigned"]),
            summary=r["summary"] or "",
            address=r["address"],
            lat=r["lat"],
            lon=r["lon"],
            created_at=r["created_at"],
        )
        for r in found
    }
    ids = list(by_id)
    for iid, channel, n in conn.execute(
        select(reports.c.incident_id, reports.c.channel, func.count())
        .where(reports.c.incident_id.in_(ids))
        .group_by(reports.c.incident_id, reports.c.channel)
    ):
        by_id[iid].channels.append(channel)
        by_id[iid].reports += n
    for d in conn.execute(
        select(deadlines.c.incident_id, deadlines.c.step, deadlines.c.due, deadlines.c.status)
        .where(deadlines.c.incident_id.in_(ids), deadlines.c.status.in_(("pending", "missed")))
        .order_by(deadlines.c.due)
    ):
        r = by_id[d.incident_id]
        if d.status == "missed":
            r.missed = True
        if r.due is None:  # the earliest: a missed one (shown as late by so much) first
            r.due, r.due_step = d.due, d.step
    for r in by_id.values():
        r.channels.sort()
    return [by_id[i] for i in ids]


def merge_candidates(
    conn: Connection, number: str, org: Any, actor: Actor, radius_m: float = 1000.0
) -> list[tuple[Row, str]]:
    """Open incidents that may be the same: from the same caller, or nearby within the
    last six hours (with why)."""
    me = conn.execute(select(incidents).where(incidents.c.number == number)).mappings().first()
    if me is None:
        return []
    since = me["created_at"] - timedelta(hours=6)
    near: list[Any] = []
    if me["lat"] is not None and me["lon"] is not None:
        dlat = radius_m / 111_320.0
        dlon = dlat / max(0.01, math.cos(math.radians(me["lat"])))
        near = [
            and_(
                incidents.c.lat.between(me["lat"] - dlat, me["lat"] + dlat),
                incidents.c.lon.between(me["lon"] - dlon, me["lon"] + dlon),
            )
        ]
    same = [incidents.c.sender_key == me["sender_key"]] if me["sender_key"] else []
    if not near and not same:
        return []
    found = conn.execute(
        select(incidents)
        .where(
            incidents.c.number != number,
            incidents.c.state.in_(
                [
                    str(State.RECEIVED),
                    str(State.ACCEPTED),
                    str(State.DISPATCHED),
                    str(State.ACKNOWLEDGED),
                    str(State.ON_SCENE),
                ]
            ),
            incidents.c.drill.is_(bool(me["drill"])),
            incidents.c.created_at >= since,
            _scope_clause(org, actor, None),
            or_(*near, *same),
        )
        .order_by(incidents.c.created_at.desc())
        .limit(10)
    ).mappings()
    rows = list(found)
    out = []
    for r, row_ in zip(rows, _rows(conn, rows), strict=True):
        if me["sender_key"] and r["sender_key"] == me["sender_key"]:
            why = "同一报警人"
        else:
            metres = distance_m(me["lat"], me["lon"], r["lat"], r["lon"])
            why = f"相距约 {metres:.0f} 米"
        out.append((row_, why))
    return out


def caller_history(conn: Connection, number: str, days: int = 30) -> list[Row]:
    """The caller's other incidents of the last `days` (the screen pop's history)."""
    me = conn.execute(
        select(incidents.c.sender_key, incidents.c.created_at).where(incidents.c.number == number)
    ).first()
    if me is None or not me.sender_key:
        return []
    found = conn.execute(
        select(incidents)
        .where(
            incidents.c.sender_key == me.sender_key,
            incidents.c.number != number,
            incidents.c.created_at >= me.created_at - timedelta(days=days),
        )
        .order_by(incidents.c.created_at.desc())
        .limit(20)
    ).mappings()
    return _rows(conn, list(found))
