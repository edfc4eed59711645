"""The vehicle-terminal channel's view of an incident: the track of the vehicle whose
emergency button opened it (oldest first), for the incident's map."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from gateway.channels.jt808.tables import vehicle_track
from gateway.report import format_utc

MAX_POINTS = 2000  # a day of positions every 30 s is 2,880: the newest are the ones kept

TRACK: dict[str, Any] = {
    "type": "array",
    "description": "The vehicle's positions while its emergency was open, oldest first "
    f"(at most the newest {MAX_POINTS}); empty for an incident of no vehicle's emergency.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["terminal", "at", "lat", "lon", "speed_kmh", "heading", "sos"],
        "properties": {
            "terminal": {"type": "string"},
            "at": {"type": "string", "description": "the terminal's GNSS time (UTC)"},
            "lat": {"type": "number"},
            "lon": {"type": "number"},
            "speed_kmh": {"type": "number"},
            "heading": {"type": "integer"},
            "sos": {"type": "boolean", "description": "the emergency bit was still set"},
        },
    },
}


def track(conn: Connection, incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for iid in incident_ids:
        rows = conn.execute(
            select(vehicle_track)
            .where(vehicle_track.c.incident_id == iid)
            .order_by(vehicle_track.c.fix_at.desc(), vehicle_track.c.id.desc())
            .limit(MAX_POINTS)
        ).mappings()
        points = [
            {
                "terminal": r["terminal"],
                "at": format_utc(r["fix_at"]),
                "lat": r["lat"],
                "lon": r["lon"],
                "speed_kmh": r["speed_kmh"],
                "heading": r["heading"],
                "sos": bool(r["alarm"] & 1),
            }
            for r in rows
        ]
        out[iid] = points[::-1]  # every incident has its key: empty without a track
    return out
