"""What the alarm-panel channel writes itself (the reports go through intake): the premises'
signal history, in the writer's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gateway.channels.dc09.tables import dc09_signals
from gateway.store.transaction import WriteContext


def add_signal(ctx: WriteContext, row: dict[str, Any], now: datetime) -> bool:
    """Store one signal unless a retry of its frame already did: True when new."""
    conn = ctx.conn
    known = conn.execute(
        select(dc09_signals.c.id).where(dc09_signals.c.external_id == row["external_id"])
    ).first()
    if known is not None:
        return False
    conn.execute(dc09_signals.insert().values(**row, stored_at=now))
    return True


def signals(conn: Connection, account: str, limit: int = 50) -> list[dict[str, Any]]:
    """A panel's latest signals, newest first."""
    rows = conn.execute(
        select(dc09_signals)
        .where(dc09_signals.c.account == account)
        .order_by(dc09_signals.c.received_at.desc(), dc09_signals.c.id.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]
