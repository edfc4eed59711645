"""The database tables (SQLAlchemy Core). Migrations in `migrations/versions/` create them;
a test checks that the migrations and these declarations agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite has no time zones); always read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


# BigInteger primary keys autoincrement on PostgreSQL; SQLite needs INTEGER for rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("resume_state", String(16)),
    Column("drill", Boolean, nullable=False, default=False),
    Column("category", String(32)),
    Column("priority", Integer),
    Column("lat", Float),
    Column("lon", Float),
    Column("accuracy_m", Float),
    Column("address", String(500)),
    Column("unit", String(12)),
    Column("unit_assigned", Boolean, nullable=False, default=False),
    Column("master", String(32)),
    Column("summary", String(200), nullable=False, default=""),
    Column("reason", Text),
    Column("result", Text),
    # Correlation keys of the first report: "phone:13800000000", "alarm:ACCT:ZONE"
    Column("sender_key", String(220)),
    Column("alarm_key", String(110)),
    Column("milestones", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_incidents_state_unit", incidents.c.state, incidents.c.unit)
Index("ix_incidents_sender_created", incidents.c.sender_key, incidents.c.created_at)
Index("ix_incidents_alarm_created", incidents.c.alarm_key, incidents.c.created_at)
Index("ix_incidents_created", incidents.c.created_at)
Index("ix_incidents_place", incidents.c.lat, incidents.c.lon)  # correlation by place

reports = Table(
    "reports",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("receipt", String(32), nullable=False, unique=True),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    # Where the report first landed, so unmerge and detach can put it back.
    Column("home_incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("auto_attached", Boolean, nullable=False, default=False),
    Column("drill", Boolean, nullable=False, default=False),
    Column("sender_key", String(220), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
    Column("doc", JSON, nullable=False),
    UniqueConstraint("channel", "external_id"),
)
Index("ix_reports_incident", reports.c.incident_id)
Index("ix_reports_sender", reports.c.sender_key, reports.c.received_at)

events = Table(
    "events",
    metadata,
    # seq is assigned by the writer from chain_head, not by the database: it is hashed.
    Column("seq", Id, primary_key=True, autoincrement=False),
    Column("incident_id", Id, ForeignKey("incidents.id")),
    Column("number", String(32)),
    Column("action", String(32), nullable=False),
    Column("actor", JSON, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16)),
    Column("reason", Text),
    Column("data", JSON, nullable=False),
    Column("drill", Boolean, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("ix_events_incident", events.c.incident_id)

# One row: the last event's seq and hash. Locking it serializes writers across nodes.
chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Id, nullable=False),
    Column("hash", String(64), nullable=False),
)

counters = Table(
    "counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Id, nullable=False),
)

deadlines = Table(
    "deadlines",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("step", String(16), nullable=False),
    Column("unit", String(12)),
    Column("due", UTCDateTime, nullable=False),
    # pending → met | missed | cancelled
    Column("status", String(12), nullable=False),
    Column("closed_at", UTCDateTime),
)
Index("ix_deadlines_status_due", deadlines.c.status, deadlines.c.due)
Index("ix_deadlines_incident", deadlines.c.incident_id)

# The outbox of notifications: written in the same transaction as the event that causes
# them, delivered afterwards with retries, each attempt recorded.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("unit", String(12)),
    Column("kind", String(16), nullable=False),
    Column("target", String(500), nullable=False),
    Column("target_name", String(100)),
    Column("reason", String(64), nullable=False),
    Column("drill", Boolean, nullable=False),
    # pending → delivered | failed (will retry) | gave_up
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UTCDateTime, nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_deliveries_status_next", deliveries.c.status, deliveries.c.next_at)
Index("ix_deliveries_incident", deliveries.c.incident_id)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("unit", String(12), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

# People who log in to the console (指挥中心工作台). Same roles and unit scopes as tokens;
# the password is an Argon2id hash (argon2-cffi).
users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("unit", String(12), nullable=False),
    Column("extension", String(32)),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
)

# Console sessions: only a SHA-256 of the cookie is stored. In the database, not in memory,
# so a session survives a restart and works on every node.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("address", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
)
Index("ix_console_sessions_user_id", console_sessions.c.user_id)
