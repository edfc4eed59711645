"""What the vehicle-terminal channel writes and reads itself (the SOS reports go through
intake): positions in batches, the track of an open emergency, which emergencies are open."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gateway.channels.jt808.tables import vehicle_track
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.targets import registry
from gateway.workflow.table import OPEN_STATES

REPORT_CHANNEL = "jt808"


def write_batch(
    ctx: WriteContext,
    positions: Sequence[registry.PositionUpdate],
    track: Sequence[dict[str, Any]],
    seen: Sequence[tuple[str, datetime]],
) -> None:
    """One transaction a second: every terminal's latest position, heartbeats, and the
    track points."""
    if seen:
        registry.touch_vehicles(ctx.conn, seen)
    if positions:
        registry.record_positions(ctx.conn, positions)
    if track:
        ctx.conn.execute(vehicle_track.insert(), list(track))


def open_emergencies(conn: Connection) -> dict[str, tuple[int, str, str]]:
    """terminal → (incident id, number, state) of each open incident a terminal's report
    opened or joined (the newest, if a terminal has several)."""
    rows = conn.execute(
        select(reports.c.sender_key, incidents.c.id, incidents.c.number, incidents.c.state)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(
            reports.c.channel == REPORT_CHANNEL,
            incidents.c.state.in_(sorted(OPEN_STATES)),
        )
        .order_by(incidents.c.created_at)
    ).all()
    return {key.partition(":")[2]: (iid, number, state) for key, iid, number, state in rows}


def incident_id(conn: Connection, number: str) -> int | None:
    return conn.execute(select(incidents.c.id).where(incidents.c.number == number)).scalar()
