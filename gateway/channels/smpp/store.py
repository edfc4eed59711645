"""SMS in the store: parts of concatenated messages waiting for the rest, the SMS the
gateway sends (`sms_out`) with the SMSC's message id of each part, and what the incident
view shows of them. The SMPP channel (`gateway.channels.smpp.service`) calls these; each
write function runs in the writer's transaction.

A message the citizen sent is a report (channel ``sms``); one the gateway sent is an
``sms_out`` row, and its sending (``sms_sent``), its delivery receipt (``sms_delivered`` /
``sms_undelivered``) and, when it gives up, ``sms_failed`` go to the incident's audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from gateway.channels.smpp.tables import sms_out, sms_out_parts, sms_parts
from gateway.errors import NotFound
from gateway.report import format_utc
from gateway.store import sending
from gateway.store.prepared import Prepared
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role

CHANNEL = "sms"
SMPP = Actor("smpp", Role.SYSTEM, None)
FINAL = ("delivered", "undelivered", "gave_up")


# -- idempotency --------------------------------------------------------------------------


_EARLIER = Prepared(
    select(reports.c.external_id).where(
        reports.c.channel == bindparam("channel"),
        reports.c.external_id >= bindparam("lo"),
        reports.c.external_id < bindparam("hi"),
    )
)


def earlier_ids(conn: Connection, lo: str, hi: str) -> list[str]:
    """External ids of SMS reports in [lo, hi): those of one content key (see
    `gateway.channels.smpp.keys.id_range`), found through the (channel, external_id) index."""
    rows = _EARLIER.execute(conn, {"channel": CHANNEL, "lo": lo, "hi": hi}).fetchall()
    return [r[0] for r in rows]


def incident_of_report(conn: Connection, external: str) -> Any:
    """(id, number, state, drill) of the incident an SMS report is filed under."""
    return conn.execute(
        select(incidents.c.id, incidents.c.number, incidents.c.state, incidents.c.drill)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(reports.c.channel == CHANNEL, reports.c.external_id == external)
    ).first()


# -- parts of concatenated messages -------------------------------------------------------


def save_part(ctx: WriteContext, part: dict[str, Any]) -> str:
    """Store one part: "new"; "same" if that very part is stored (the SMSC redelivered it);
    "conflict" if another part is stored in its place (the sender reused the reference for
    another message: the caller files the first one, then stores this)."""
    conn = ctx.conn
    key = and_(*(sms_parts.c[k] == part[k] for k in ("source", "dest", "ref", "total", "seq")))
    stored = conn.execute(select(sms_parts.c.raw, sms_parts.c.data_coding).where(key)).first()
    if stored is not None:
        same = bytes(stored.raw) == part["raw"] and stored.data_coding == part["data_coding"]
        return "same" if same else "conflict"
    conn.execute(insert(sms_parts).values(**part))
    return "new"


def load_parts(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(select(sms_parts).order_by(sms_parts.c.id)).mappings()
    return [dict(r) for r in rows]


def drop_parts(ctx: WriteContext, source: str, dest: str, ref: int, total: int) -> None:
    ctx.conn.execute(
        delete(sms_parts).where(
            sms_parts.c.source == source,
            sms_parts.c.dest == dest,
            sms_parts.c.ref == ref,
            sms_parts.c.total == total,
        )
    )


# -- sending --------------------------------------------------------------------------------


_INCIDENT = Prepared(
    select(incidents.c.id, incidents.c.drill).where(incidents.c.number == bindparam("number"))
)
_DEDUPE = Prepared(select(sms_out.c.id).where(sms_out.c.dedupe == bindparam("dedupe")))
_QUEUE = Prepared(
    sms_out.insert(),
    keys=[
        "incident_id", "kind", "number", "text", "dedupe", "ref", "parts", "status",
        "attempts", "next_at", "actor", "drill", "created_at", "updated_at",
    ],
)  # fmt: skip


def queue(
    ctx: WriteContext,
    number: str,
    kind: str,
    to: str,
    text: str,
    parts: int,
    ref: int,
    dedupe: str | None,
    now: datetime,
    actor: Actor | None = None,
) -> bool:
    """Queue one SMS to `to` about incident `number`; False when `dedupe` was queued
    before. A call-taker's reply goes to the audit log at once (who wrote what). On the
    intake path (a receipt reply with each new report): prepared statements only."""
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
            "number": to,
            "text": text,
            "dedupe": dedupe,
            "ref": ref,
            "parts": parts,
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
        draft = EventDraft("sms_reply", None, None, actor, data={"to": to, "text": text})
        records.add_event(ctx, incident_id, number, draft, now, drill)
    return True


def notice_sent(
    ctx: WriteContext,
    number: str,
    to: str,
    text: str,
    ref: int,
    taken: Sequence[tuple[int, str]],
    now: datetime,
) -> None:
    """A duty phone's notice the SMSC took (the outbox's delivery row records the attempt):
    on the incident's SMS thread, its parts' delivery receipts matched like any other."""
    conn = ctx.conn
    inc = _INCIDENT.execute(conn, {"number": number}).fetchone()
    if inc is None:
        return
    result = conn.execute(
        insert(sms_out).values(
            incident_id=inc[0],
            kind="notice",
            number=to,
            text=text,
            ref=ref,
            parts=max(1, len(taken)),
            status="sent",
            attempts=1,
            next_at=now,
            drill=bool(inc[1]),
            created_at=now,
            sent_at=now,
            updated_at=now,
        )
    )
    sms_id = result.inserted_primary_key[0]  # type: ignore[index]
    _record_parts(conn, sms_id, taken)
    row = _load(conn, sms_id)
    ids = [message_id for _seq, message_id in taken]
    _event(ctx, row, "sms_sent", {"kind": "notice", "to": to, "message_ids": ids}, now)


def release(ctx: WriteContext, ids: Sequence[int], retry_at: datetime, now: datetime) -> None:
    """Claimed messages not tried (sending paused): due again at `retry_at`, not counted."""
    sending.release(ctx.conn, sms_out, ids, retry_at, now)


def any_due(conn: Connection, now: datetime) -> bool:
    return sending.any_due(conn, sms_out, now)


def claim(ctx: WriteContext, now: datetime, limit: int, lease: float) -> list[dict[str, Any]]:
    """Take up to `limit` due messages (oldest first) for `lease` seconds (`sending.claim`).
    With each come the seqs of its parts the SMSC already took, which are not sent again."""
    conn = ctx.conn
    rows = sending.claim(conn, sms_out, now, limit, lease)
    if not rows:
        return rows
    done: dict[int, set[int]] = {r["id"]: set() for r in rows}
    for sms_id, seq in conn.execute(
        select(sms_out_parts.c.sms_id, sms_out_parts.c.seq).where(
            sms_out_parts.c.sms_id.in_(list(done))
        )
    ):
        done[sms_id].add(seq)
    for r in rows:
        r["sent_parts"] = done[r["id"]]
    return rows


def _record_parts(conn: Connection, sms_id: int, taken: Sequence[tuple[int, str]]) -> None:
    """The parts the SMSC took, (seq, message_id) each, so they are not sent again and
    their delivery receipts find the message."""
    for seq, message_id in taken:
        known = conn.execute(
            select(sms_out_parts.c.id).where(sms_out_parts.c.message_id == message_id)
        ).first()
        if known is None:
            conn.execute(
                insert(sms_out_parts).values(
                    sms_id=sms_id, seq=seq, message_id=message_id, status="sent"
                )
            )


def sent(ctx: WriteContext, sms_id: int, taken: Sequence[tuple[int, str]], now: datetime) -> None:
    conn = ctx.conn
    _record_parts(conn, sms_id, taken)
    row = _load(conn, sms_id)
    conn.execute(
        update(sms_out)
        .where(sms_out.c.id == sms_id)
        .values(status="sent", attempts=row.attempts + 1, sent_at=now, error=None, updated_at=now)
    )
    ids = _message_ids(conn, sms_id)
    _event(ctx, row, "sms_sent", {"kind": row.kind, "to": row.number, "message_ids": ids}, now)


def not_sent(
    ctx: WriteContext,
    sms_id: int,
    error: str,
    now: datetime,
    retry_at: datetime | None,
    counts: bool = True,
    taken: Sequence[tuple[int, str]] = (),
) -> str:
    """A failed attempt: due again at `retry_at`, or given up when that is None. A throttled
    attempt (`counts` False) is due again without counting as one. `taken`: the parts the
    SMSC took before one failed."""
    conn = ctx.conn
    _record_parts(conn, sms_id, taken)
    row = _load(conn, sms_id)
    attempts = row.attempts + (1 if counts else 0)
    status = "failed" if retry_at is not None else "gave_up"
    conn.execute(
        update(sms_out)
        .where(sms_out.c.id == sms_id)
        .values(
            status=status,
            attempts=attempts,
            next_at=retry_at or now,
            error=error[:500],
            updated_at=now,
            done_at=now if retry_at is None else None,
        )
    )
    if retry_at is None:
        data = {"kind": row.kind, "to": row.number, "attempts": attempts, "error": error[:200]}
        _event(ctx, row, "sms_failed", data, now)
    return status


def delivery_receipt(
    ctx: WriteContext,
    message_id: str,
    stat: str,
    err: str | None,
    done_at: datetime | None,
    now: datetime,
) -> str | None:
    """A delivery receipt for one part. Once every part has a final one, the message is
    `delivered` (all DELIVRD) or `undelivered`, and that goes to the audit log. Returns the
    message's status, or None if the message id is not one of ours."""
    conn = ctx.conn
    part = conn.execute(
        select(sms_out_parts.c.id, sms_out_parts.c.sms_id).where(
            sms_out_parts.c.message_id == message_id
        )
    ).first()
    if part is None:
        return None
    final = stat not in ("ENROUTE", "ACCEPTD")
    conn.execute(
        update(sms_out_parts)
        .where(sms_out_parts.c.id == part.id)
        .values(status=stat, done_at=(done_at or now) if final else None)
    )
    row = _load(conn, part.sms_id)
    if row.status in FINAL:
        return str(row.status)
    stats = list(
        conn.execute(
            select(sms_out_parts.c.status).where(sms_out_parts.c.sms_id == part.sms_id)
        ).scalars()
    )
    if len(stats) < row.parts or any(s in ("sent", "ENROUTE", "ACCEPTD") for s in stats):
        return str(row.status)
    status = "delivered" if all(s == "DELIVRD" for s in stats) else "undelivered"
    conn.execute(
        update(sms_out)
        .where(sms_out.c.id == part.sms_id)
        .values(status=status, done_at=done_at or now, updated_at=now)
    )
    data = {"kind": row.kind, "to": row.number, "receipts": stats, "err": err}
    _event(ctx, row, f"sms_{status}", data, now)
    return status


def senders(conn: Connection, number: str) -> list[str]:
    """The numbers that wrote to incident `number` by SMS, the latest last."""
    prefix = "phone:"
    rows = conn.execute(
        select(reports.c.sender_key)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(incidents.c.number == number, reports.c.channel == CHANNEL)
        .order_by(reports.c.received_at)
    ).scalars()
    seen: dict[str, None] = {}
    for key in rows:
        sender = key.removeprefix(prefix)
        seen.pop(sender, None)
        seen[sender] = None
    return list(seen)


def thread(conn: Connection, incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The SMS sent about each incident, oldest first (the citizen's own are its reports)."""
    out: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
    for r in conn.execute(
        select(sms_out).where(sms_out.c.incident_id.in_(incident_ids)).order_by(sms_out.c.id)
    ).mappings():
        out[r["incident_id"]].append(
            {
                "kind": r["kind"],
                "to": r["number"],
                "text": r["text"],
                "parts": r["parts"],
                "status": r["status"],
                "attempts": r["attempts"],
                "error": r["error"],
                "by": r["actor"],
                "created_at": format_utc(r["created_at"]),
                "sent_at": format_utc(r["sent_at"]) if r["sent_at"] else None,
                "done_at": format_utc(r["done_at"]) if r["done_at"] else None,
            }
        )
    return out


def _load(conn: Connection, sms_id: int) -> Any:
    return conn.execute(
        select(sms_out, incidents.c.number.label("incident"))
        .select_from(sms_out.join(incidents, sms_out.c.incident_id == incidents.c.id))
        .where(sms_out.c.id == sms_id)
    ).one()


def _message_ids(conn: Connection, sms_id: int) -> list[str]:
    return list(
        conn.execute(
            select(sms_out_parts.c.message_id)
            .where(sms_out_parts.c.sms_id == sms_id)
            .order_by(sms_out_parts.c.seq)
        ).scalars()
    )


def _event(ctx: WriteContext, row: Any, action: str, data: dict[str, Any], now: datetime) -> None:
    draft = EventDraft(action, None, None, SMPP, data=data)
    records.add_event(ctx, row.incident_id, row.incident, draft, now, row.drill)
