"""The e-mail channel's tables (its migrations: `migrations/`, Alembic branch ``smtp``)."""

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

# What came by mail, content-addressed by SHA-256: each raw message, each attachment and
# each fax page image, once however often it arrives. In the database, not on a node's
# disk, so that every node on one PostgreSQL serves it; committed with the report.
mail_blobs = Table(
    "mail_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# A fax document (TIFF or PDF) of a fax report, to be made into page images and read by
# OCR after the commit: pending → paged (images stored) → done | failed (retried, then
# given up). `next_at` is also the lease of the node working on it.
fax_jobs = Table(
    "fax_jobs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("receipt", String(32), nullable=False),  # the report's
    Column("sha256", String(64), nullable=False),  # the document (mail_blobs)
    Column("name", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("status", String(12), nullable=False),
    Column("pages", Integer),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),
    Column("error", Text),
    Column("drill", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("receipt", "sha256"),
)
Index("ix_fax_jobs_status_next", fax_jobs.c.status, fax_jobs.c.next_at)
Index("ix_fax_jobs_incident", fax_jobs.c.incident_id)

# One page of a fax document: its image (mail_blobs) and, once read, its text.
fax_pages = Table(
    "fax_pages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job_id", Id, ForeignKey("fax_jobs.id"), nullable=False),
    Column("page", Integer, nullable=False),
    Column("png_sha256", String(64), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("stretched", Boolean, nullable=False),  # standard resolution, doubled vertically
    Column("text", Text),  # the OCR's, None until read
    Column("read_at", UTCDateTime),
    UniqueConstraint("job_id", "page"),
)

# Mail the gateway sends the citizen: receipts, follow-up receipts, state updates and
# call-takers' replies, through the site's smarthost. `dedupe` makes queueing the same mail
# twice (a redelivered report, a repeated event) a no-op.
mail_out = Table(
    "mail_out",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # receipt | followup | update | reply
    Column("to_address", String(254), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("in_reply_to", String(255)),
    Column("dedupe", String(100), unique=True),
    Column("status", String(12), nullable=False),  # pending → sent; failed (retried) → gave_up
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),
    Column("error", Text),
    Column("actor", String(100)),
    Column("drill", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_mail_out_status_next", mail_out.c.status, mail_out.c.next_at)
Index("ix_mail_out_incident", mail_out.c.incident_id)
