"""The workflow service: loads an incident, lets `machine.apply` decide, persists the result.

Actions, deadline firings and detaching a report are write functions run in the store's
writer transaction, so two actions on one incident never interleave, and on PostgreSQL
the incident row is locked for the transaction (several gateway nodes, one database).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select, update
from twisted.internet import defer
from twisted.logger import Logger

from gateway.errors import DomainError, NotFound
from gateway.report import Report, format_utc
from gateway.store.db import Database
from gateway.store.prepared import Prepared
from gateway.store.tables import deadlines, deliveries, incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import correlate, records
from gateway.workflow.documents import Documents
from gateway.workflow.machine import (
    SYSTEM,
    Actor,
    BadParameters,
    EventDraft,
    Forbidden,
    Outcome,
    Snapshot,
    apply,
    arm,
    check_actor,
    on_deadline,
)
from gateway.workflow.routing import route
from gateway.workflow.table import OPEN_STATES, Action, Role, State, Step

log = Logger()

DETACH = "detach"
DETACH_ROLES = frozenset({Role.CALLTAKER, Role.DISPATCHER, Role.SUPERVISOR})


class Workflow:
    def __init__(
        self,
        db: Database,
        config: Any,
        clock: Any,
        documents: Documents | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        # Deliveries are queued only for target kinds something delivers (the config check
        # refuses targets of other kinds).
        self.notify_kinds: frozenset[str] = config.notify_kinds
        self.documents = documents or Documents(config.enabled_channels)
        self.tz = ZoneInfo(config.city.timezone)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    # -- from the reactor thread -------------------------------------------------------------

    def act(
        self, number: str, action: str, actor: Actor, params: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        return self.db.write(self.act_in, number, action, actor, params, self.now())

    def acknowledge_notice(
        self, delivery: int, reason: str
    ) -> defer.Deferred[tuple[str, str, dict[str, Any] | None]]:
        return self.db.write(self.acknowledge_notice_in, delivery, reason, self.now())

    def fire_due(self, limit: int = 100) -> defer.Deferred[list[str]]:
        return self.db.write(self.fire_due_in, self.now(), limit)

    def next_due(self) -> defer.Deferred[datetime | None]:
        return self.db.read(next_due)

    # -- in the writer's transaction ---------------------------------------------------------

    def act_in(
        self,
        ctx: WriteContext,
        number: str,
        action: str,
        actor: Actor,
        params: dict[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        ctx.lock()
        row = records.load(ctx.conn, number, lock=True)
        if action == DETACH:
            return self._detach(ctx, row, actor, params, now)
        before = records.snapshot(row)
        params = dict(params)
        if action == Action.ACCEPT:
            params = self._route_accept(before, params)
        if action == Action.MERGE and params.get("master"):
            # A master that is missing or cannot take the reports is the parameter's
            # fault (422 naming it), not the incident in the URL's (404).
            try:
                master = records.load(ctx.conn, str(params["master"]))
            except NotFound:
                raise BadParameters(
                    f"no incident {params['master']} to merge into", "master"
                ) from None
            if master["state"] not in _MERGEABLE or master["drill"] != row["drill"]:
                raise BadParameters(
                    f"cannot merge into {master['number']}: it is {master['state']}"
                    + (" and the drill flags differ" if master["drill"] != row["drill"] else ""),
                    "master",
                )
        outcome = apply(
            before, action, actor, params, now=now, org=self.config.org, sla=self.config.sla
        )
        records.save(ctx, row, outcome, now, self.config.org, self.notify_kinds)
        if action == Action.ACCEPT:
            self._route_notices(ctx.conn, row["id"], outcome, params, now)
        ctx.flush()  # the detail view reads the events just appended
        return self.documents.of(ctx.conn, number, detail=True)

    def _route_accept(self, s: Snapshot, params: dict[str, Any]) -> dict[str, Any]:
        """Accepting classifies the incident: route it again with what is now known."""
        category = params.get("category")
        if category in (None, ""):
            return params  # machine.apply refuses it, naming the parameter
        if category not in self.config.categories:
            raise BadParameters(f"unknown category {category!r}", "category")
        params.setdefault("default_priority", self.config.categories[category].priority)
        loc = params.get("location") or s.location or {}
        r = route(
            self.config.org,
            self.config.categories,
            lat=loc.get("lat"),
            lon=loc.get("lon"),
            address=loc.get("address"),
            category=category,
            priority=params.get("priority") or params["default_priority"],
        )
        params.setdefault("unit", r.unit)
        params["_route"] = r
        return params

    def _route_notices(
        self,
        conn: Connection,
        incident_id: int,
        outcome: Outcome,
        params: dict[str, Any],
        now: datetime,
    ) -> None:
        """Category hints (fire → 119) and priority 1 (→ city center) notify at once."""
        s = outcome.incident
        for notice in params["_route"].notify:
            if notice.target is not None:
                if notice.target.kind not in self.notify_kinds or not notice.target.takes(s.drill):
                    continue
                records.queue_delivery(
                    conn,
                    incident_id,
                    unit=None,
                    kind=notice.target.kind,
                    target=notice.target.address,
                    name=notice.target.name,
                    reason=notice.reason,
                    drill=s.drill,
                    now=now,
                )
            elif notice.unit is not None:
                records.notify_unit(
                    conn,
                    self.config.org,
                    incident_id,
                    notice.unit,
                    notice.reason,
                    s.drill,
                    now,
                    self.notify_kinds,
                )

    def _detach(
        self, ctx: WriteContext, row: Any, actor: Actor, params: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """Take an auto-attached report off the incident: it opens an incident of its own."""
        snap = records.snapshot(row)
        check_actor(snap, actor, DETACH_ROLES, self.config.org, DETACH)
        conn = ctx.conn
        rep = (
            conn.execute(
                select(reports).where(
                    reports.c.receipt == params.get("report"), reports.c.incident_id == row["id"]
                )
            )
            .mappings()
            .first()
        )
        if rep is None:
            raise NotFound(f"incident {row['number']} has no report {params.get('report')!r}")
        if not rep["auto_attached"]:
            raise DomainError(f"report {rep['receipt']} opened this incident: nothing to detach")
        report = Report.from_json(rep["doc"])
        new_id, new_number = open_incident(ctx, self.config, self.tz, report, now, rep["receipt"])
        conn.execute(
            update(reports)
            .where(reports.c.id == rep["id"])
            .values(incident_id=new_id, home_incident_id=new_id, auto_attached=False)
        )
        records.add_event(
            ctx,
            row["id"],
            row["number"],
            EventDraft(
                DETACH,
                snap.state,
                snap.state,
                actor,
                params.get("reason"),
                {"receipt": rep["receipt"], "incident": new_number},
            ),
            now,
            row["drill"],
        )
        ctx.flush()  # the detail view reads the events just appended
        return self.documents.of(conn, row["number"], detail=True)

    def acknowledge_notice_in(
        self, ctx: WriteContext, delivery: int, reason: str, now: datetime
    ) -> tuple[str, str, dict[str, Any] | None]:
        """A duty phone answered the notice of outbox row `delivery` (DTMF 1, an SMS reply):
        the unit's 签收 when the incident waits for that very unit's acknowledgement, by an
        officer of that unit named after the phone; otherwise (the unit was only informed:
        the city center of a priority-1 incident, the unit before an escalation) it only
        confirms the notice. Returns (incident number, "acknowledged" | "confirmed", the
        incident document when acknowledged)."""
        ctx.lock()
        notice = ctx.conn.execute(
            select(deliveries.c.unit, deliveries.c.kind, deliveries.c.target, incidents.c.number)
            .join(incidents, incidents.c.id == deliveries.c.incident_id)
            .where(deliveries.c.id == delivery)
        ).first()
        if notice is None:
            raise NotFound(f"no notice {delivery}")
        row = records.load(ctx.conn, notice.number, lock=True)
        if notice.unit is None or row["unit"] != notice.unit or row["state"] != State.DISPATCHED:
            return notice.number, "confirmed", None
        actor = Actor(f"{notice.kind}:{notice.target}", Role.UNIT_OFFICER, notice.unit)
        params = {"reason": reason}
        doc = self.act_in(ctx, notice.number, Action.ACKNOWLEDGE, actor, params, now)
        return notice.number, "acknowledged", doc

    def fire_due_in(self, ctx: WriteContext, now: datetime, limit: int) -> list[str]:
        """Claim and fire every pending deadline that is due. The claim is an UPDATE of a
        pending row, so with several nodes on one database each deadline fires once."""
        conn = ctx.conn
        due = conn.execute(
            select(deadlines.c.id, deadlines.c.incident_id, deadlines.c.step)
            .where(deadlines.c.status == "pending", deadlines.c.due <= now)
            .order_by(deadlines.c.due)
            .limit(limit)
        ).all()
        fired: list[str] = []
        if not due:
            return fired
        ctx.lock()
        for d in due:
            claimed = conn.execute(
                update(deadlines)
                .where(deadlines.c.id == d.id, deadlines.c.status == "pending")
                .values(status="missed", closed_at=now)
            ).rowcount
            if claimed != 1:
                continue
            row = (
                conn.execute(
                    select(incidents).where(incidents.c.id == d.incident_id).with_for_update()
                )
                .mappings()
                .one()
            )
            outcome = on_deadline(
                records.snapshot(row),
                Step(d.step),
                now=now,
                org=self.config.org,
                sla=self.config.sla,
            )
            records.save(ctx, row, outcome, now, self.config.org, self.notify_kinds)
            fired.append(row["number"])
            log.warn(
                "Deadline {step} missed on {number} (unit {unit})",
                step=d.step,
                number=row["number"],
                unit=row["unit"],
            )
        return fired


_MERGEABLE = {str(s) for s in OPEN_STATES}


_INSERT_INCIDENT = Prepared(
    incidents.insert().returning(incidents.c.id),
    keys=[
        "number",
        "state",
        "resume_state",
        "drill",
        "category",
        "priority",
        "lat",
        "lon",
        "accuracy_m",
        "address",
        "unit",
        "unit_assigned",
        "master",
        "summary",
        "reason",
        "result",
        "sender_key",
        "alarm_key",
        "milestones",
        "created_at",
        "updated_at",
    ],
)


def open_incident(
    ctx: WriteContext, config: Any, tz: ZoneInfo, report: Report, now: datetime, receipt: str
) -> tuple[int, str]:
    """A new incident in `received` from its first report: number, suggested unit (routing),
    the `create` event and the accept deadline."""
    conn = ctx.conn
    loc = report.location
    category = report.category
    priority = report.priority
    if priority is None and category in config.categories:
        priority = config.categories[category].priority
    suggestion = route(
        config.org,
        config.categories,
        lat=loc.lat if loc else None,
        lon=loc.lon if loc else None,
        address=loc.address if loc else None,
        category=category,
        priority=priority,
    )
    number = records.next_incident_number(ctx, config.city.code, now, tz)
    inserted = _INSERT_INCIDENT.execute(
        conn,
        {
            "number": number,
            "state": str(State.RECEIVED),
            "resume_state": None,
            "drill": report.drill,
            "category": category,
            "priority": priority,
            "lat": loc.lat if loc else None,
            "lon": loc.lon if loc else None,
            "accuracy_m": loc.accuracy_m if loc else None,
            "address": loc.address if loc else None,
            "unit": suggestion.unit,
            "unit_assigned": False,
            "master": None,
            "summary": report.text[:200],
            "reason": None,
            "result": None,
            "sender_key": correlate.sender_key(report),
            "alarm_key": correlate.alarm_key(report),
            "milestones": {"received": format_utc(report.received_at)},
            "created_at": now,
            "updated_at": now,
        },
    ).fetchone()
    incident_id = inserted[0]
    records.add_event(
        ctx,
        incident_id,
        number,
        EventDraft(
            "create",
            None,
            State.RECEIVED,
            SYSTEM,
            None,
            {
                "receipt": receipt,
                "channel": report.channel,
                "unit": suggestion.unit,
                "route": suggestion.reason,
            },
        ),
        now,
        report.drill,
    )
    snap = Snapshot(
        number, State.RECEIVED, drill=report.drill, priority=priority, unit=suggestion.unit
    )
    for eff in arm(State.RECEIVED, snap, now, config.sla, suggestion.unit):
        records.arm_deadline(ctx, incident_id, eff)  # type: ignore[arg-type]
    return incident_id, number


def next_due(conn: Connection) -> datetime | None:
    return conn.execute(
        select(deadlines.c.due)
        .where(deadlines.c.status == "pending")
        .order_by(deadlines.c.due)
        .limit(1)
    ).scalar()


def may_see(actor: Actor, unit: str | None, org: Any) -> bool:
    """Queue scope: an incident without a unit is the root's; otherwise the actor's subtree."""
    if actor.role is Role.SYSTEM:
        return True
    if actor.unit is None:
        return False
    if unit is None or unit not in org:
        return org.escalation_target(actor.unit) is None
    return bool(org.covers(actor.unit, unit))


__all__ = ["Workflow", "open_incident", "next_due", "may_see", "Forbidden"]
