"""The vehicle-terminal channel's table (its migrations: `migrations/`, Alembic branch
``jt808``): the track of a vehicle whose emergency button opened an incident — its
positions while the incident is open, drawn on the incident's map (not reports)."""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table

from gateway.store.tables import Id, UTCDateTime, metadata

vehicle_track = Table(
    "vehicle_track",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("terminal", String(20), nullable=False),
    Column("fix_at", UTCDateTime, nullable=False),  # the terminal's GNSS time
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("speed_kmh", Float, nullable=False),
    Column("heading", Integer, nullable=False),
    Column("alarm", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
)
Index("ix_vehicle_track_incident", vehicle_track.c.incident_id, vehicle_track.c.fix_at)
