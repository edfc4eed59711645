"""The alarm-panel channel's table (its migrations: `migrations/`, Alembic branch ``dc09``).

`dc09_signals` is the premises' signal history: every event a panel sent that is not a report
of an incident — tests, open/close, troubles, a restoral with no open alarm to join — is
stored here before the panel gets its ACK. (Supervision messages only move the premises'
last-seen time in the registry.)"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table, Text

from gateway.store.tables import Id, UTCDateTime, metadata

dc09_signals = Table(
    "dc09_signals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("external_id", String(200), nullable=False, unique=True),
    Column("premises_id", Integer, nullable=True),  # None: a panel not in the registry
    Column("account", String(16), nullable=False),
    Column("protocol", String(4), nullable=False),  # SIA | CID
    Column("code", String(8), nullable=False),
    Column("qualifier", String(1), nullable=True),
    Column("zone", String(8), nullable=True),
    Column("partition", String(8), nullable=True),
    Column("kind", String(12), nullable=False),
    Column("name", String(80), nullable=False),  # 定时测试, 布防 …
    Column("text", Text, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("stored_at", UTCDateTime, nullable=False),
)
Index("ix_dc09_signals_account", dc09_signals.c.account, dc09_signals.c.received_at)
