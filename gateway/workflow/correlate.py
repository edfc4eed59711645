"""Which open incident does a new report duplicate? (Runs inside the writer's transaction.)

Three rules, in order, each with its window from `[correlation]`:
1. the same sender (phone, e-mail, account, terminal) reported within `sender_window` —
   not for an alarm (a report with `alarm`: a panel's zone, a vehicle's alarm bit), where
   the premises' fire in zone 3 is not its burglary in zone 15 (the fire must reach 119);
2. the same alarm account and zone within `alarm_window` (any age for a follow-up report,
   a panel's restoral: it belongs to the alarm it restores for as long as that is open, and
   only to that: a follow-up skips the other two rules);
3. a point within `place_radius_m` and `place_window` with the same category.
Drills only ever match drills. No match: the report opens a new incident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, literal_column, select

from gateway import phone
from gateway.report import Report
from gateway.store.prepared import Prepared
from gateway.store.tables import incidents, reports
from gateway.workflow.table import OPEN_STATES

# Anonymous web or system senders say nothing about who is calling.
CORRELATED_SENDERS = frozenset({"phone", "email", "account", "terminal"})
# Our own constants, rendered into the SQL: a prepared statement has no expanding IN.
_OPEN: list[Any] = [literal_column(f"'{s}'") for s in sorted(OPEN_STATES)]
EARTH_RADIUS_M = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Match:
    incident_id: int
    rule: str  # "sender" | "alarm" | "place"


def sender_key(report: Report) -> str:
    """`phone:13911112222`: a phone number normalised (gateway.phone), so that every
    spelling of one number, on every channel, is the same sender."""
    sender_id = report.sender.id
    if report.sender.kind == "phone":
        sender_id = phone.normalise(sender_id)
    return f"{report.sender.kind}:{sender_id}"


def alarm_key(report: Report) -> str | None:
    if report.alarm is None:
        return None
    return f"{report.alarm.account}:{report.alarm.zone or ''}"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance; plenty for a 200 m radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


# The intake hot path: compiled once per dialect, run on the DBAPI cursor (see prepared.py).
_BY_SENDER = Prepared(
    select(incidents.c.id)
    .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
    .where(
        reports.c.sender_key == bindparam("key"),
        reports.c.received_at >= bindparam("since"),
        incidents.c.state.in_(_OPEN),
        incidents.c.drill == bindparam("drill"),
    )
    .order_by(reports.c.received_at.desc())
    .limit(1)
)
_BY_ALARM = Prepared(
    select(incidents.c.id)
    .where(
        incidents.c.alarm_key == bindparam("key"),
        incidents.c.created_at >= bindparam("since"),
        incidents.c.state.in_(_OPEN),
        incidents.c.drill == bindparam("drill"),
    )
    .order_by(incidents.c.created_at.desc())
    .limit(1)
)
_BY_PLACE = Prepared(
    select(incidents.c.id, incidents.c.lat, incidents.c.lon)
    .where(
        incidents.c.category == bindparam("category"),
        incidents.c.created_at >= bindparam("since"),
        # `state || ''`: not a term for the (state, unit) index, which SQLite would pick
        # without statistics and then read every open incident; the place index decides.
        incidents.c.state.op("||")(literal_column("''")).in_(_OPEN),
        incidents.c.drill == bindparam("drill"),
        incidents.c.lat.between(bindparam("lat0"), bindparam("lat1")),
        incidents.c.lon.between(bindparam("lon0"), bindparam("lon1")),
    )
    .order_by(incidents.c.created_at.desc())
)


def find_match(conn: Connection, report: Report, now: datetime, cfg: Any) -> Match | None:
    drill = report.drill
    if report.sender.kind in CORRELATED_SENDERS and report.alarm is None:
        since = now - timedelta(seconds=cfg.sender_window)
        row = _BY_SENDER.execute(
            conn, {"key": sender_key(report), "since": since, "drill": drill}
        ).fetchone()
        if row is not None:
            return Match(row[0], "sender")
    key = alarm_key(report)
    if key is not None:
        window = cfg.alarm_window if not report.follow_up else 100 * 365 * 86400
        since = now - timedelta(seconds=window)
        row = _BY_ALARM.execute(conn, {"key": key, "since": since, "drill": drill}).fetchone()
        if row is not None:
            return Match(row[0], "alarm")
    loc = report.location
    if report.follow_up:
        return None
    if report.category and loc is not None and loc.lat is not None and loc.lon is not None:
        lat, lon = loc.lat, loc.lon
        since = now - timedelta(seconds=cfg.place_window)
        # A bounding box in degrees narrows the candidates; the exact distance decides.
        dlat = cfg.place_radius_m / 111_320.0
        dlon = dlat / max(math.cos(math.radians(lat)), 0.01)
        rows = _BY_PLACE.execute(
            conn,
            {
                "category": report.category,
                "since": since,
                "drill": drill,
                "lat0": lat - dlat,
                "lat1": lat + dlat,
                "lon0": lon - dlon,
                "lon1": lon + dlon,
            },
        ).fetchall()
        best = min(rows, key=lambda r: distance_m(lat, lon, r[1], r[2]), default=None)
        if best is not None and distance_m(lat, lon, best[1], best[2]) <= cfg.place_radius_m:
            return Match(best[0], "place")
    return None
