"""The SMS channel's tables (its migrations: `migrations/`, Alembic branch ``smpp``)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from gateway.store.tables import Id, UTCDateTime, metadata

# SMS over SMPP. A part of a concatenated message is stored before the SMSC gets its
# ESME_ROK, and kept until the whole message (or, after the reassembly timeout, what came of
# it) is a report; the parts of one message share (source, dest, ref, total).
sms_parts = Table(
    "sms_parts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("source", String(32), nullable=False),
    Column("dest", String(32), nullable=False),
    Column("ref", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("data_coding", Integer, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("source", "dest", "ref", "total", "seq"),
)

# SMS the gateway sends: receipts and state updates to the citizen, call-takers' replies and
# duty-phone notices. One row per message; `dedupe` makes queueing the same message twice
# (a redelivered report, a repeated event) a no-op.
sms_out = Table(
    "sms_out",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # receipt | followup | update | reply | notice
    Column("number", String(32), nullable=False),
    Column("text", Text, nullable=False),
    Column("dedupe", String(100), unique=True),
    Column("ref", Integer, nullable=False),  # the concatenation reference of its parts
    Column("parts", Integer, nullable=False),
    # pending → sending → sent → delivered | undelivered; failed (retried) → gave_up
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),
    Column("error", Text),
    Column("actor", String(100)),
    Column("drill", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("done_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_sms_out_status_next", sms_out.c.status, sms_out.c.next_at)
Index("ix_sms_out_incident", sms_out.c.incident_id)

# Each part the SMSC took, by its message_id: delivery receipts are matched here.
sms_out_parts = Table(
    "sms_out_parts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("sms_id", Id, ForeignKey("sms_out.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("message_id", String(65), nullable=False, unique=True),
    Column("status", String(12), nullable=False),  # sent | DELIVRD | UNDELIV | EXPIRED | …
    Column("done_at", UTCDateTime),
    UniqueConstraint("sms_id", "seq"),
)
