"""Telegram in the store: the files of its reports, and what the bot sends to chats
(`telegram_out`: queued in the transaction of what causes it, claimed with a lease, sent,
retried). Each write function runs in the writer's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from gateway.channels.telegram.tables import telegram_file_reports, telegram_files, telegram_out
from gateway.channels.telegram.update import CHANNEL
from gateway.errors import NotFound
from gateway.report import format_utc
from gateway.store import sending
from gateway.store.prepared import Prepared
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role

BOT = Actor("telegram", Role.SYSTEM, None)
DUE = ("pending", "failed", "sending")

# -- files ------------------------------------------------------------------------------------

_HAVE_FILE = Prepared(
    select(telegram_files.c.sha256).where(telegram_files.c.sha256 == bindparam("sha"))
)
_PUT_FILE = Prepared(
    telegram_files.insert(), keys=["sha256", "size", "content_type", "data", "created_at"]
)


def put_file(
    conn: Connection, report_id: int, sha256: str, content_type: str, data: bytes, now: datetime
) -> None:
    """Store a file once (one already there, another report's, stays as it is) and that
    report `report_id` names it."""
    if _HAVE_FILE.execute(conn, {"sha": sha256}).fetchone() is None:
        _PUT_FILE.execute(
            conn,
            {
                "sha256": sha256,
                "size": len(data),
                "content_type": content_type[:100],
                "data": data,
                "created_at": now,
            },
        )
    link = {"sha256": sha256, "report_id": report_id}
    if _HAS_LINK.execute(conn, link).fetchone() is None:  # the same photo twice in one report
        _LINK.execute(conn, link)


_HAS_LINK = Prepared(
    select(telegram_file_reports.c.sha256).where(
        telegram_file_reports.c.sha256 == bindparam("sha256"),
        telegram_file_reports.c.report_id == bindparam("report_id"),
    )
)
_LINK = Prepared(telegram_file_reports.insert(), keys=["sha256", "report_id"])


def report_id(conn: Connection, external_id: str) -> int:
    """The id of the Telegram report just stored under `external_id`."""
    found = conn.execute(
        select(reports.c.id).where(
            reports.c.channel == CHANNEL, reports.c.external_id == external_id
        )
    ).scalar_one()
    return int(found)


def file_of(conn: Connection, sha256: str) -> tuple[Any, list[str | None]] | None:
    """A stored file and the units of the incidents whose reports name it (the scope check:
    whoever may see one of them may see the file); None when none does."""
    row = conn.execute(select(telegram_files).where(telegram_files.c.sha256 == sha256)).first()
    if row is None:
        return None
    units: list[str | None] = [
        unit
        for (unit,) in conn.execute(
            select(incidents.c.unit)
            .select_from(telegram_file_reports)
            .join(reports, reports.c.id == telegram_file_reports.c.report_id)
            .join(incidents, incidents.c.id == reports.c.incident_id)
            .where(telegram_file_reports.c.sha256 == sha256)
        )
    ]
    return (row, units) if units else None


# -- chats ------------------------------------------------------------------------------------


def chats(conn: Connection, number: str) -> list[int]:
    """The chats that wrote to incident `number`, the latest last."""
    seen: dict[int, None] = {}
    for doc in conn.execute(
        select(reports.c.doc)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(incidents.c.number == number, reports.c.channel == CHANNEL)
        .order_by(reports.c.received_at, reports.c.id)
    ).scalars():
        d = json.loads(doc) if isinstance(doc, str | bytes) else doc
        chat = d.get("extra", {}).get("telegram", {}).get("chat_id")
        if isinstance(chat, int):
            seen.pop(chat, None)
            seen[chat] = None
    return list(seen)


# -- sending ----------------------------------------------------------------------------------

_INCIDENT = Prepared(
    select(incidents.c.id, incidents.c.drill).where(incidents.c.number == bindparam("number"))
)
_DEDUPE = Prepared(select(telegram_out.c.id).where(telegram_out.c.dedupe == bindparam("dedupe")))
_QUEUE = Prepared(
    telegram_out.insert(),
    keys=[
        "incident_id", "kind", "chat_id", "text", "dedupe", "status", "attempts", "next_at",
        "actor", "drill", "created_at", "updated_at",
    ],
)  # fmt: skip


def queue(
    ctx: WriteContext,
    number: str,
    kind: str,
    chat: int,
    text: str,
    dedupe: str | None,
    now: datetime,
    actor: Actor | None = None,
) -> bool:
    """Queue one message to `chat` about incident `number`; False when `dedupe` was queued
    before. A call-taker's reply goes to the audit log at once (who wrote what). On the
    intake path (the receipt): prepared statements only."""
    conn = ctx.conn
    if dedupe is not None and _DEDUPE.execute(conn, {"dedupe": dedupe}).fetchone() is not None:
        return False
    inc = _INCIDENT.execute(conn, {"number": number}).fetchone()
    if inc is None:
        raise NotFound(f"incident {number} not found")
    incident_id, drill = inc[0], bool(inc[1])
    _QUEUE.execute(
        conn,
        {
            "incident_id": incident_id,
            "kind": kind,
            "chat_id": chat,
            "text": text,
            "dedupe": dedupe,
            "status": "pending",
            "attempts": 0,
            "next_at": now,
            "actor": actor.user if actor else None,
            "drill": drill,
            "created_at": now,
            "updated_at": now,
        },
    )
    if actor is not None:
        draft = EventDraft("telegram_reply", None, None, actor, data={"chat": chat, "text": text})
        records.add_event(ctx, incident_id, number, draft, now, drill)
    return True


def any_due(conn: Connection, now: datetime) -> bool:
    return sending.any_due(conn, telegram_out, now)


def claim(ctx: WriteContext, now: datetime, limit: int, lease: float) -> list[dict[str, Any]]:
    """Take up to `limit` due messages, oldest first, for `lease` seconds (`sending.claim`)."""
    return sending.claim(ctx.conn, telegram_out, now, limit, lease)


def release(ctx: WriteContext, ids: Sequence[int], retry_at: datetime, now: datetime) -> None:
    """Claimed messages not tried (Telegram asked us to wait): due at `retry_at`, not counted."""
    sending.release(ctx.conn, telegram_out, ids, retry_at, now)


def sent(ctx: WriteContext, out_id: int, message_id: int | None, now: datetime) -> None:
    row = _load(ctx.conn, out_id)
    ctx.conn.execute(
        update(telegram_out)
        .where(telegram_out.c.id == out_id)
        .values(
            status="sent",
            attempts=row.attempts + 1,
            message_id=message_id,
            sent_at=now,
            error=None,
            updated_at=now,
        )
    )
    data = {"kind": row.kind, "chat": row.chat_id, "message_id": message_id}
    _event(ctx, row, "telegram_sent", data, now)


def not_sent(
    ctx: WriteContext, out_id: int, error: str, now: datetime, retry_at: datetime | None
) -> str:
    """A failed attempt: due again at `retry_at`, or given up when that is None."""
    row = _load(ctx.conn, out_id)
    attempts = row.attempts + 1
    status = "failed" if retry_at is not None else "gave_up"
    ctx.conn.execute(
        update(telegram_out)
        .where(telegram_out.c.id == out_id)
        .values(
            status=status,
            attempts=attempts,
            next_at=retry_at or now,
            error=error[:500],
            updated_at=now,
        )
    )
    if retry_at is None:
        data = {"kind": row.kind, "chat": row.chat_id, "attempts": attempts, "error": error[:200]}
        _event(ctx, row, "telegram_failed", data, now)
    return status


def notice_sent(
    ctx: WriteContext, number: str, chat: int, text: str, message_id: int | None, now: datetime
) -> None:
    """A unit's duty notice the outbox delivered (its delivery row records the attempt): on
    the incident's Telegram thread too."""
    inc = _INCIDENT.execute(ctx.conn, {"number": number}).fetchone()
    if inc is None:
        return
    ctx.conn.execute(
        insert(telegram_out).values(
            incident_id=inc[0],
            kind="notice",
            chat_id=chat,
            text=text,
            status="sent",
            attempts=1,
            next_at=now,
            drill=bool(inc[1]),
            message_id=message_id,
            created_at=now,
            sent_at=now,
            updated_at=now,
        )
    )


def thread(conn: Connection, incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """What the bot sent about each incident, oldest first (the citizen's own messages are
    its reports)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    for r in conn.execute(
        select(telegram_out)
        .where(telegram_out.c.incident_id.in_(list(incident_ids)))
        .order_by(telegram_out.c.id)
    ).mappings():
        out[r["incident_id"]].append(
            {
                "kind": r["kind"],
                "chat": r["chat_id"],
                "text": r["text"],
                "status": r["status"],
                "attempts": r["attempts"],
                "error": r["error"],
                "by": r["actor"],
                "created_at": format_utc(r["created_at"]),
                "sent_at": format_utc(r["sent_at"]) if r["sent_at"] else None,
            }
        )
    return out


def _load(conn: Connection, out_id: int) -> Any:
    return conn.execute(
        select(telegram_out, incidents.c.number.label("incident"))
        .join(incidents, incidents.c.id == telegram_out.c.incident_id)
        .where(telegram_out.c.id == out_id)
    ).one()


def _event(ctx: WriteContext, row: Any, action: str, data: dict[str, Any], now: datetime) -> None:
    draft = EventDraft(action, None, None, BOT, data=data)
    records.add_event(ctx, row.incident_id, row.incident, draft, now, row.drill)
