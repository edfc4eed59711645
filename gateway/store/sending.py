"""A channel's queue of messages to send — the citizen's receipts, state updates and
call-takers' replies (`sms_out`, `mail_out`, `telegram_out`): rows with a `status` and a
`next_at`, queued in the transaction of what causes them. A sender claims due rows for a
lease (on PostgreSQL with ``SKIP LOCKED``, so several nodes never take one row), and a row
still ``sending`` when its lease ends — its node died mid-send — is due again. Each queue
says what one attempt's outcome writes; this module is only the claiming."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, select, update

from gateway.store.tables import incidents

DUE = ("pending", "failed", "sending")


def any_due(conn: Connection, queue: Table, now: datetime) -> bool:
    """Whether a message of `queue` is due (a cheap read before a write transaction)."""
    due = select(queue.c.id).where(queue.c.status.in_(DUE), queue.c.next_at <= now)
    return conn.execute(due.limit(1)).first() is not None


def claim(
    conn: Connection,
    queue: Table,
    now: datetime,
    limit: int,
    lease: float,
    number_as: str = "incident",
) -> list[dict[str, Any]]:
    """Take up to `limit` due messages of `queue`, oldest first, for `lease` seconds; each
    row comes with its incident's number under `number_as`."""
    rows = [
        dict(r)
        for r in conn.execute(
            select(queue, incidents.c.number.label(number_as))
            .join(incidents, incidents.c.id == queue.c.incident_id)
            .where(queue.c.status.in_(DUE), queue.c.next_at <= now)
            .order_by(queue.c.next_at, queue.c.id)
            .limit(limit)
            .with_for_update(of=queue, skip_locked=True)  # PostgreSQL: one node each
        ).mappings()
    ]
    if rows:
        conn.execute(
            update(queue)
            .where(queue.c.id.in_([r["id"] for r in rows]))
            .values(status="sending", next_at=now + timedelta(seconds=lease), updated_at=now)
        )
    return rows


def release(
    conn: Connection, queue: Table, ids: Sequence[int], retry_at: datetime, now: datetime
) -> None:
    """Claimed messages not tried (the peer asked us to wait, sending paused): due again at
    `retry_at`, not counted as an attempt."""
    conn.execute(
        update(queue)
        .where(queue.c.id.in_(list(ids)), queue.c.status == "sending")
        .values(status="pending", next_at=retry_at, updated_at=now)
    )
