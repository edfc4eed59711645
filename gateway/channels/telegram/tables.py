"""The Telegram channel's tables (its migrations: `migrations/`, Alembic branch ``telegram``)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from gateway.store.tables import Id, UTCDateTime, metadata

# The photos and voice messages of Telegram reports, stored in the report's transaction
# (content-addressed: each once). Served by GET /api/v1/telegram/files/<sha256>.
telegram_files = Table(
    "telegram_files",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Which reports name which file (the file route's scope check: whoever may see the incident
# of one of them may see the file). Written with the file, in the report's transaction.
telegram_file_reports = Table(
    "telegram_file_reports",
    metadata,
    Column("sha256", String(64), ForeignKey("telegram_files.sha256"), primary_key=True),
    Column("report_id", Id, ForeignKey("reports.id"), primary_key=True),
)
Index("ix_telegram_file_reports_report", telegram_file_reports.c.report_id)

# What the bot sends to a chat: receipts, state updates, call-takers' replies (queued in the
# transaction of what causes them) and, for the thread view, the duty notices the outbox
# delivered. `dedupe` makes queueing the same message twice a no-op.
telegram_out = Table(
    "telegram_out",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("incident_id", Id, ForeignKey("incidents.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # receipt | followup | update | reply | notice
    Column("chat_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("dedupe", String(100), unique=True),
    # pending → sending → sent; failed (retried) → gave_up
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime, nullable=False),
    Column("error", Text),
    Column("actor", String(100)),
    Column("drill", Boolean, nullable=False),
    Column("message_id", BigInteger),  # Telegram's, once sent
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_telegram_out_status_next", telegram_out.c.status, telegram_out.c.next_at)
Index("ix_telegram_out_incident", telegram_out.c.incident_id)
