"""Incidents in the database: load the snapshot the rules need, save what they decided,
and render the incident document of `schemas/incident.schema.json`."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, RowMapping, insert, select, update

from gateway.errors import NotFound
from gateway.report import format_utc
from gateway.store.prepared import Prepared
from gateway.store.tables import deadlines, deliveries, incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow.machine import (
    ArmDeadline,
    EventDraft,
    MoveReports,
    Notify,
    Outcome,
    Snapshot,
)
from gateway.workflow.table import FORWARD, STEP_ON_ENTRY, State

# Crockford base32 without I, L, O, U: read aloud over the phone without confusion.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_MAX = 32  # characters (schemas/receipt.schema.json; reports.receipt is String(32))


# Statements of the intake path, built once so SQLAlchemy reuses their compiled form.
_INSERT_DEADLINE = Prepared(
    deadlines.insert(), keys=["incident_id", "step", "unit", "due", "status", "closed_at"]
)
_INSERT_DELIVERY = deliveries.insert()


def new_receipt() -> str:
    """10 characters of Crockford base32: 50 random bits, unguessable enough for a public
    status lookup that shows no personal data."""
    n = int.from_bytes(secrets.token_bytes(7), "big") >> 6
    return "".join(RECEIPT_ALPHABET[(n >> shift) & 31] for shift in range(45, -5, -5))


class NotAReceipt(ValueError):
    """What a person typed cannot be a receipt: `char` is outside Crockford base32 (None:
    nothing but spaces and hyphens was typed)."""

    def __init__(self, typed: str, char: str | None) -> None:
        what = "nothing" if char is None else f"{char!r}"
        super().__init__(f"{typed!r}: {what} is not a receipt")
        self.char = char


# Crockford's decoding rules (crockford.com/base32.html): read case-insensitively, O as 0,
# I and L as 1, hyphens ignored. People also type spaces, and a Chinese input method in
# full-width mode gives ＡＢ１－２ (NFKC makes them ASCII) and other dashes.
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_AS_DIGITS = str.maketrans("OIL", "011")


def normalise_receipt(typed: str) -> str:
    """A receipt as a person may have typed or read it, in its stored form: upper case, no
    spaces or hyphens, O → 0, I and L → 1. Raises `NotAReceipt` for any other character
    (U among them: Crockford leaves it out) or for nothing at all. The length is not
    checked: a receipt too long is one that does not exist."""
    text = unicodedata.normalize("NFKC", typed)
    compact = "".join(ch for ch in text if not ch.isspace() and ch not in _DASHES)
    if not compact:
        raise NotAReceipt(typed, None)
    for ch in compact:
        # ASCII first: "ı".upper() is "I", "ß".upper() is "SS".
        if not (ch.isascii() and ch.upper().translate(_AS_DIGITS) in RECEIPT_ALPHABET):
            raise NotAReceipt(typed, ch)
    return compact.upper().translate(_AS_DIGITS)


@dataclass(frozen=True)
class ReceiptStatus:
    """What anyone holding a receipt may see (schemas/receipt-status.schema.json): the
    state of the incident the report now belongs to (its master's after a merge) and when
    it reached each state. Nothing about who reported or what they said."""

    receipt: str
    state: State
    received_at: datetime  # the report's own, UTC
    milestones: dict[str, str]  # state → when the incident last entered it (UTC, ISO)
    merged: bool  # the report was moved to a master incident (合并)

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt": self.receipt,
            "state": str(self.state),
            "received_at": format_utc(self.received_at),
            "milestones": self.milestones,
        }


def receipt_status(conn: Connection, receipt: str) -> ReceiptStatus | None:
    """The public status of the report with `receipt` (as stored: see
    `normalise_receipt`), or None."""
    if len(receipt) > RECEIPT_MAX:
        return None
    row = conn.execute(
        select(
            reports.c.receipt,
            reports.c.received_at,
            reports.c.incident_id,
            reports.c.home_incident_id,
            incidents.c.state,
            incidents.c.milestones,
        )
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(reports.c.receipt == receipt)
    ).first()
    if row is None:
        return None
    return ReceiptStatus(
        receipt=row.receipt,
        state=State(row.state),
        received_at=row.received_at,
        milestones=dict(row.milestones),
        merged=row.incident_id != row.home_incident_id,
    )


def next_incident_number(ctx: WriteContext, city_code: str, now: datetime, tz: ZoneInfo) -> str:
    """`530100-20261124-000123`: the city's 6-digit area code, the local date, a daily count."""
    day = now.astimezone(tz).strftime("%Y%m%d")
    value = ctx.next_value(f"incident:{day}")
    return f"{city_code[:6]}-{day}-{value:06d}"


def load(conn: Connection, number: str, lock: bool = False) -> RowMapping:
    q = select(incidents).where(incidents.c.number == number)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).mappings().first()
    if row is None:
        raise NotFound(f"no incident {number}")
    return row


def load_by_id(conn: Connection, incident_id: int) -> RowMapping:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).mappings().first()
    if row is None:
        raise NotFound(f"no incident with id {incident_id}")
    return row


def snapshot(row: RowMapping) -> Snapshot:
    location = None
    if row["lat"] is not None or row["address"] is not None:
        location = {
            k: row[c]
            for k, c in (
                ("lat", "lat"),
                ("lon", "lon"),
                ("accuracy_m", "accuracy_m"),
                ("address", "address"),
            )
            if row[c] is not None
        }
    return Snapshot(
        number=row["number"],
        state=State(row["state"]),
        drill=row["drill"],
        category=row["category"],
        priority=row["priority"],
        unit=row["unit"],
        unit_assigned=row["unit_assigned"],
        master=row["master"],
        resume_state=State(row["resume_state"]) if row["resume_state"] else None,
        reason=row["reason"],
        result=row["result"],
        location=location,
    )


def add_event(
    ctx: WriteContext,
    incident_id: int | None,
    number: str | None,
    draft: EventDraft,
    now: datetime,
    drill: bool,
) -> int:
    return ctx.append_event(
        incident_id=incident_id,
        number=number,
        action=draft.action,
        actor=draft.actor.to_json(),
        at=now,
        from_state=str(draft.from_state) if draft.from_state else None,
        to_state=str(draft.to_state) if draft.to_state else None,
        reason=draft.reason,
        data=draft.data,
        drill=drill,
    )


def arm_deadline(ctx: WriteContext, incident_id: int, eff: ArmDeadline) -> None:
    ctx.insert_later(
        _INSERT_DEADLINE,
        {
            "incident_id": incident_id,
            "step": str(eff.step),
            "unit": eff.unit,
            "due": eff.due,
            "status": "pending",
            "closed_at": None,
        },
    )


def queue_delivery(
    conn: Connection,
    incident_id: int,
    *,
    unit: str | None,
    kind: str,
    target: str,
    name: str | None,
    reason: str,
    drill: bool,
    now: datetime,
) -> None:
    conn.execute(
        insert(deliveries).values(
            incident_id=incident_id,
            unit=unit,
            kind=kind,
            target=target,
            target_name=name,
            reason=reason,
            drill=drill,
            status="pending",
            attempts=0,
            next_at=now,
            created_at=now,
            updated_at=now,
        )
    )


def notify_unit(
    conn: Connection,
    org: Any,
    incident_id: int,
    unit: str,
    reason: str,
    drill: bool,
    now: datetime,
    kinds: frozenset[str],
) -> int:
    """Queue a delivery to each of the unit's notify targets that a notifier can reach: a
    drill incident's to its drill targets only, a real one's to the others."""
    if unit not in org:
        return 0
    n = 0
    for target in org.get(unit).notify:
        if target.kind in kinds and target.takes(drill):
            queue_delivery(
                conn,
                incident_id,
                unit=unit,
                kind=target.kind,
                target=target.address,
                name=target.name,
                reason=reason,
                drill=drill,
                now=now,
            )
            n += 1
    return n


def save(
    ctx: WriteContext,
    row: RowMapping,
    outcome: Outcome,
    now: datetime,
    org: Any,
    notify_kinds: frozenset[str],
) -> None:
    """Persist what `machine.apply` or `machine.on_deadline` decided."""
    conn = ctx.conn
    new = outcome.incident
    incident_id = row["id"]
    milestones = dict(row["milestones"])
    if new.state != row["state"]:
        milestones[str(new.state)] = format_utc(now)
    loc = new.location or {}
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(
            state=str(new.state),
            resume_state=str(new.resume_state) if new.resume_state else None,
            category=new.category,
            priority=new.priority,
            unit=new.unit,
            unit_assigned=new.unit_assigned,
            master=new.master,
            reason=new.reason,
            result=new.result,
            lat=loc.get("lat"),
            lon=loc.get("lon"),
            accuracy_m=loc.get("accuracy_m"),
            address=loc.get("address"),
            milestones=milestones,
            updated_at=now,
        )
    )
    if outcome.clears_deadlines:
        # The step armed for the old state is met if we moved forward out of it.
        old_step = STEP_ON_ENTRY.get(State(row["state"]))
        conn.execute(
            update(deadlines)
            .where(deadlines.c.incident_id == incident_id, deadlines.c.status == "pending")
            .values(
                status="met" if old_step and _progressed(row["state"], new.state) else "cancelled",
                closed_at=now,
            )
        )
    for draft in outcome.events:
        add_event(ctx, incident_id, new.number, draft, now, new.drill)
    for eff in outcome.effects:
        if isinstance(eff, ArmDeadline):
            arm_deadline(ctx, incident_id, eff)
        elif isinstance(eff, Notify):
            notify_unit(conn, org, incident_id, eff.unit, eff.reason, new.drill, now, notify_kinds)
        elif isinstance(eff, MoveReports):
            if eff.to_master is not None:
                master = load(conn, eff.to_master)
                conn.execute(
                    update(reports)
                    .where(reports.c.incident_id == incident_id)
                    .values(incident_id=master["id"])
                )
            else:
                conn.execute(
                    update(reports)
                    .where(reports.c.home_incident_id == incident_id)
                    .values(incident_id=incident_id)
                )


def _progressed(old: str, new: State) -> bool:
    o = State(old)
    return o in FORWARD and new in FORWARD and FORWARD.index(new) > FORWARD.index(o)


def notices(conn: Connection, number: str, kind: str) -> list[Any]:
    """The outbox rows of `kind` about incident `number`, the latest first: (id, unit,
    target) each. A duty phone's answer is matched to its notice here."""
    return list(
        conn.execute(
            select(deliveries.c.id, deliveries.c.unit, deliveries.c.target)
            .join(incidents, incidents.c.id == deliveries.c.incident_id)
            .where(incidents.c.number == number, deliveries.c.kind == kind)
            .order_by(deliveries.c.id.desc())
        )
    )
