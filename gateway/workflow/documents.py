"""The incident document (`schemas/incident.schema.json`) as the API, the CLI, webhooks and
channels show it: the incident's own fields, its open deadlines, the tasks waiting on a
person, and in the detail view its reports, audit events, deliveries and each enabled
channel's view (the calls of a 110 call, the SMS thread, …) under that channel's key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select

from gateway.channel import Channel, resolve
from gateway.report import format_utc
from gateway.store.tables import deadlines, deliveries, events, reports
from gateway.workflow import records

# Keys of the core's own document; a channel's view may not take one.
CORE_KEYS = frozenset(
    {
        "number", "state", "category", "priority", "location", "unit", "unit_assigned",
        "drill", "master", "summary", "reason", "result", "created_at", "updated_at",
        "milestones", "deadlines", "report_count", "tasks", "reports", "events", "deliveries",
    }
)  # fmt: skip

Render = Callable[[Connection, list[int]], dict[int, Any]]


class Documents:
    """Renders incident documents with the views and tasks of `channels` (the enabled ones:
    a channel that is off is not asked, and its tables may not exist)."""

    def __init__(self, channels: Sequence[Channel] = ()) -> None:
        self.views: list[tuple[str, Render, bool]] = []
        self.tasks: list[Render] = []
        for channel in channels:
            for view in channel.views:
                if view.key in CORE_KEYS or any(view.key == k for k, _, _ in self.views):
                    raise ValueError(f"channel {channel.code}: view key {view.key!r} is taken")
                self.views.append((view.key, resolve(view.render), view.detail_only))
            if channel.tasks:
                self.tasks.append(resolve(channel.tasks))

    def of(self, conn: Connection, number: str, detail: bool = False) -> dict[str, Any]:
        return self.one(conn, records.load(conn, number), detail)

    def one(self, conn: Connection, row: RowMapping, detail: bool = False) -> dict[str, Any]:
        """One incident; `detail` adds its reports, event log, deliveries and the channels'
        detail views."""
        (doc,) = self.many(conn, [row])
        if detail:
            iid = row["id"]
            doc["reports"] = _reports(conn, iid)
            doc["events"] = _events(conn, iid)
            for key, render, detail_only in self.views:
                if detail_only:
                    doc[key] = render(conn, [iid])[iid]
            doc["deliveries"] = _deliveries(conn, iid)
        return doc

    def many(self, conn: Connection, rows: Sequence[RowMapping]) -> list[dict[str, Any]]:
        """The list-view documents of several incidents: a few queries in all, not a few
        each."""
        ids = [row["id"] for row in rows]
        if not ids:
            return []
        open_deadlines: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for d in conn.execute(
            select(deadlines)
            .where(deadlines.c.incident_id.in_(ids), deadlines.c.status.in_(("pending", "missed")))
            .order_by(deadlines.c.id)
        ):
            open_deadlines[d.incident_id].append(
                {
                    "step": d.step,
                    "due": format_utc(d.due),
                    "unit": d.unit,
                    "fired": d.status == "missed",
                }
            )
        counts: dict[int, int] = {
            iid: n
            for iid, n in conn.execute(
                select(reports.c.incident_id, func.count())
                .where(reports.c.incident_id.in_(ids))
                .group_by(reports.c.incident_id)
            )
        }
        tasks: dict[int, list[Any]] = {i: [] for i in ids}
        for render in self.tasks:
            for iid, found in render(conn, ids).items():
                tasks[iid].extend(found)
        listed = [(key, render(conn, ids)) for key, render, only in self.views if not only]
        return [
            dict(
                summary(row),
                deadlines=open_deadlines[row["id"]],
                report_count=counts.get(row["id"], 0),
                tasks=tasks[row["id"]],
                **{key: values[row["id"]] for key, values in listed},
            )
            for row in rows
        ]


def summary(row: RowMapping) -> dict[str, Any]:
    return {
        "number": row["number"],
        "state": row["state"],
        "category": row["category"],
        "priority": row["priority"],
        "location": records.snapshot(row).location,
        "unit": row["unit"],
        "unit_assigned": row["unit_assigned"],
        "drill": row["drill"],
        "master": row["master"],
        "summary": row["summary"],
        "reason": row["reason"],
        "result": row["result"],
        "created_at": format_utc(row["created_at"]),
        "updated_at": format_utc(row["updated_at"]),
        "milestones": row["milestones"],
    }


def _reports(conn: Connection, iid: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(reports).where(reports.c.incident_id == iid).order_by(reports.c.id))
    return [
        dict(r["doc"], receipt=r["receipt"], auto_attached=r["auto_attached"])
        for r in rows.mappings()
    ]


def _events(conn: Connection, iid: int) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "incident": e.number,
            "action": e.action,
            "actor": e.actor,
            "at": format_utc(e.at),
            "from_state": e.from_state,
            "to_state": e.to_state,
            "reason": e.reason,
            "data": e.data,
            "drill": e.drill,
            "prev_hash": e.prev_hash,
            "hash": e.hash,
        }
        for e in conn.execute(
            select(events).where(events.c.incident_id == iid).order_by(events.c.seq)
        )
    ]


def _deliveries(conn: Connection, iid: int) -> list[dict[str, Any]]:
    return [
        {
            "target": d.target_name or d.target,
            "kind": d.kind,
            "attempt": d.attempts,
            "status": d.status,
            "http_status": d.http_status,
            "at": format_utc(d.updated_at),
            "error": d.error,
        }
        for d in conn.execute(
            select(deliveries).where(deliveries.c.incident_id == iid).order_by(deliveries.c.id)
        )
    ]
