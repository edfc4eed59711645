"""What the CAP channel reads from the store (each a small function for `ctx.read`): the
earlier message an Update or a Cancel references, whether a Cancel was already carried out,
and the incidents of a feed page with their versions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from gateway.report import AlarmRef
from gateway.store.tables import events, incidents, reports


@dataclass(frozen=True, slots=True)
class Earlier:
    """The first report of a referenced message, and the incident it is on now. `alarm` is
    that incident's alarm key, which an Update or a Cancel takes to join it: the alert may
    have been correlated to an incident something else opened (a call from the same place),
    or merged into another, and its own key would then find nothing."""

    sender: str
    alarm: AlarmRef
    number: str
    state: str
    drill: bool


def earlier(conn: Connection, external_ids: Sequence[str]) -> Earlier | None:
    """The newest stored of the referenced messages (by their first report's external id)."""
    row = conn.execute(
        select(
            reports.c.doc,
            incidents.c.number,
            incidents.c.state,
            incidents.c.drill,
            incidents.c.alarm_key,
        )
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(reports.c.channel == "cap", reports.c.external_id.in_(list(external_ids)))
        .order_by(reports.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    own = row.doc.get("alarm") or {}
    alarm = AlarmRef(own.get("account", "cap"), own.get("zone"))
    account, _, zone = (row.alarm_key or "").rpartition(":")
    if account:
        # correlate.alarm_key is "account:zone": any split at a colon gives the same key back.
        alarm = AlarmRef(account, zone or None)
    return Earlier(
        sender=row.doc["sender"]["id"],
        alarm=alarm,
        number=row.number,
        state=row.state,
        drill=bool(row.drill),
    )


def cancelled_with(conn: Connection, number: str, reason: str) -> bool:
    """Was incident `number` ever cancelled with `reason` (a Cancel message's own)?"""
    return (
        conn.execute(
            select(events.c.seq)
            .where(events.c.number == number, events.c.action == "cancel")
            .where(events.c.reason == reason)
            .limit(1)
        ).first()
        is not None
    )


@dataclass(frozen=True, slots=True)
class Version:
    """One state the incident entered: one CAP message of the feed."""

    at: datetime
    state: str


@dataclass(frozen=True, slots=True)
class FeedIncident:
    """Only what the feed may show: no reporter, no report text, no free-text reason."""

    number: str
    state: str
    drill: bool
    category: str | None
    priority: int | None
    lat: float | None
    lon: float | None
    accuracy_m: float | None
    unit: str | None
    master: str | None
    created_at: datetime
    updated_at: datetime
    versions: tuple[Version, ...]


def feed_page(
    conn: Connection, units: Sequence[str] | None, since: datetime | None, limit: int
) -> list[FeedIncident]:
    """The incidents of units `units` (None: all, the root's scope), the most recently
    changed first, changed at or after `since`."""
    q = select(incidents).order_by(incidents.c.updated_at.desc(), incidents.c.id.desc())
    if units is not None:
        q = q.where(incidents.c.unit.in_(list(units)))
    if since is not None:
        q = q.where(incidents.c.updated_at >= since)
    rows = list(conn.execute(q.limit(limit)).mappings())
    versions: dict[int, list[Version]] = {row["id"]: [] for row in rows}
    if rows:
        for e in conn.execute(
            select(events.c.incident_id, events.c.at, events.c.to_state)
            .where(events.c.incident_id.in_(list(versions)), events.c.to_state.is_not(None))
            .order_by(events.c.seq)
        ):
            versions[e.incident_id].append(Version(e.at, e.to_state))
    return [
        FeedIncident(
            number=row["number"],
            state=row["state"],
            drill=bool(row["drill"]),
            category=row["category"],
            priority=row["priority"],
            lat=row["lat"],
            lon=row["lon"],
            accuracy_m=row["accuracy_m"],
            unit=row["unit"],
            master=row["master"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            versions=tuple(versions[row["id"]]) or (Version(row["created_at"], row["state"]),),
        )
        for row in rows
    ]
