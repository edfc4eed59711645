"""The e-mail channel in the database: blobs (content-addressed), fax documents waiting
for their page images and OCR, and the mail the gateway sends the citizen. Small write
functions `fn(ctx, …)` run in the writer's transaction; reads take a connection."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql

from gateway.channels.smtp.tables import fax_jobs, fax_pages, mail_blobs, mail_out
from gateway.errors import NotFound
from gateway.store import sending
from gateway.store.prepared import Prepared
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role

MAIL = Actor("smtp", Role.SYSTEM, None)
OPEN_JOB = ("pending", "paged", "working")

_HAVE = select(mail_blobs.c.sha256).where(
    mail_blobs.c.sha256.in_(bindparam("shas", expanding=True))
)
_INCIDENT = Prepared(
    select(incidents.c.id, incidents.c.drill).where(incidents.c.number == bindparam("number"))
)
# Prepared: its rows come as the database gives them (the JSON column as text).
_DOC_OF = Prepared(
    select(reports.c.doc).where(
        reports.c.channel == bindparam("channel"), reports.c.external_id == bindparam("external_id")
    )
)
# INSERT … ON CONFLICT (sha256) DO NOTHING: PostgreSQL's construct, whose SQL SQLite (3.24
# and later) reads the same; tests/store/test_prepared.py checks it on both.
_PUT_BLOB = Prepared(
    postgresql.insert(mail_blobs).on_conflict_do_nothing(index_elements=["sha256"]),
    ["sha256", "size", "content_type", "data", "created_at"],
)


# -- blobs ----------------------------------------------------------------------------------


def missing_blobs(conn: Connection, shas: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(shas))
    if not wanted:
        return []
    have = set(conn.execute(_HAVE, {"shas": wanted}).scalars())
    return [s for s in wanted if s not in have]


def put_blobs(conn: Connection, blobs: Sequence[tuple[str, str, bytes]], now: datetime) -> None:
    """Insert (sha256, content type, data) each once: a blob already there (this
    transaction's, another report's, another node's) stays as it is."""
    if not blobs:
        return
    _PUT_BLOB.executemany(
        conn,
        [
            {"sha256": sha, "size": len(data), "content_type": t, "data": data, "created_at": now}
            for sha, t, data in blobs
        ],
    )


def blob(conn: Connection, sha256: str) -> Any:
    return conn.execute(select(mail_blobs).where(mail_blobs.c.sha256 == sha256)).first()


def earlier_content_key(conn: Connection, channel: str, external_id: str) -> str | None:
    """The content key of the report stored under this id, if there is one."""
    row = _DOC_OF.execute(conn, {"channel": channel, "external_id": external_id}).fetchone()
    if row is None:
        return None
    doc = json.loads(row[0]) if isinstance(row[0], str | bytes) else row[0]
    key = doc.get("extra", {}).get("mail", {}).get("content_key")
    return key if isinstance(key, str) else ""


def incident(conn: Connection, number: str) -> tuple[int, bool]:
    row = _INCIDENT.execute(conn, {"number": number}).fetchone()
    if row is None:
        raise NotFound(f"incident {number} not found")
    return row[0], bool(row[1])


# -- fax documents ---------------------------------------------------------------------------


def queue_fax(
    ctx: WriteContext,
    incident_id: int,
    receipt: str,
    documents: Sequence[tuple[str, str, str]],  # (sha256, name, content type)
    drill: bool,
    now: datetime,
) -> None:
    for sha256, name, content_type in documents:
        ctx.conn.execute(
            fax_jobs.insert().values(
                incident_id=incident_id,
                receipt=receipt,
                sha256=sha256,
                name=name[:255],
                content_type=content_type[:100],
                status="pending",
                attempts=0,
                next_at=now,
                drill=drill,
                created_at=now,
                updated_at=now,
            )
        )


def due_fax(conn: Connection, now: datetime) -> bool:
    due = select(fax_jobs.c.id).where(fax_jobs.c.status.in_(OPEN_JOB), fax_jobs.c.next_at <= now)
    return conn.execute(due.limit(1)).first() is not None


def claim_fax(ctx: WriteContext, now: datetime, limit: int, lease: float) -> list[dict[str, Any]]:
    """Up to `limit` due fax documents for `lease` seconds, with their bytes; one whose node
    died while working on it is due again when the lease ends."""
    conn = ctx.conn
    rows = [
        dict(r)
        for r in conn.execute(
            select(fax_jobs, incidents.c.number, mail_blobs.c.data)
            .join(incidents, incidents.c.id == fax_jobs.c.incident_id)
            .join(mail_blobs, mail_blobs.c.sha256 == fax_jobs.c.sha256)
            .where(fax_jobs.c.status.in_(OPEN_JOB), fax_jobs.c.next_at <= now)
            .order_by(fax_jobs.c.next_at, fax_jobs.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=fax_jobs)
        ).mappings()
    ]
    for r in rows:
        ctx.conn.execute(
            update(fax_jobs)
            .where(fax_jobs.c.id == r["id"])
            .values(
                next_at=now + timedelta(seconds=lease),
                attempts=fax_jobs.c.attempts + 1,
                status="working" if r["status"] == "pending" else r["status"],
                updated_at=now,
            )
        )
        r["pages_done"] = {
            p.page: (p.png_sha256, p.text is not None)
            for p in conn.execute(select(fax_pages).where(fax_pages.c.job_id == r["id"]))
        }
    return rows


def fax_paged(
    ctx: WriteContext, job: dict[str, Any], pages: Sequence[dict[str, Any]], now: datetime
) -> None:
    """The page images of a document are stored: the console shows them from now on."""
    conn = ctx.conn
    put_blobs(conn, [(p["sha256"], "image/png", p["png"]) for p in pages], now)
    for p in pages:
        conn.execute(
            fax_pages.insert().values(
                job_id=job["id"],
                page=p["number"],
                png_sha256=p["sha256"],
                width=p["width"],
                height=p["height"],
                stretched=p["stretched"],
            )
        )
    conn.execute(
        update(fax_jobs)
        .where(fax_jobs.c.id == job["id"])
        .values(status="paged", pages=len(pages), error=None, updated_at=now)
    )
    data = {"receipt": job["receipt"], "document": job["name"], "pages": len(pages)}
    _event(ctx, job, "fax_pages", data, now)


def fax_read(ctx: WriteContext, job: dict[str, Any], page: int, text: str, now: datetime) -> None:
    """One page's OCR text: on the page, and in the audit log (so it is searched)."""
    ctx.conn.execute(
        update(fax_pages)
        .where(fax_pages.c.job_id == job["id"], fax_pages.c.page == page)
        .values(text=text, read_at=now)
    )
    data = {"receipt": job["receipt"], "document": job["name"], "page": page, "text": text}
    _event(ctx, job, "fax_ocr", data, now)


def fax_done(ctx: WriteContext, job: dict[str, Any], now: datetime) -> None:
    ctx.conn.execute(
        update(fax_jobs)
        .where(fax_jobs.c.id == job["id"])
        .values(status="done", error=None, updated_at=now)
    )


def fax_failed(
    ctx: WriteContext,
    job: dict[str, Any],
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> None:
    """An attempt failed: due again at `retry_at`, or given up (None), which the call-taker
    sees (the page images, if any, stay)."""
    values: dict[str, Any] = {"error": error[:500], "updated_at": now}
    if retry_at is None:
        values["status"] = "failed"
        _event(ctx, job, "fax_unreadable", {"receipt": job["receipt"], "error": error[:500]}, now)
    else:
        values["next_at"] = retry_at
    ctx.conn.execute(update(fax_jobs).where(fax_jobs.c.id == job["id"]).values(**values))


def fax_of(conn: Connection, incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    jobs = conn.execute(
        select(fax_jobs)
        .where(fax_jobs.c.incident_id.in_(list(incident_ids)))
        .order_by(fax_jobs.c.id)
    ).mappings()
    by_job: dict[int, dict[str, Any]] = {}
    for j in jobs:
        doc = {
            "receipt": j["receipt"],
            "name": j["name"],
            "sha256": j["sha256"],
            "status": j["status"],
            "error": j["error"],
            "pages": [],
        }
        by_job[j["id"]] = doc
        out.setdefault(j["incident_id"], []).append(doc)
    if by_job:
        for p in conn.execute(
            select(fax_pages)
            .where(fax_pages.c.job_id.in_(list(by_job)))
            .order_by(fax_pages.c.job_id, fax_pages.c.page)
        ).mappings():
            by_job[p["job_id"]]["pages"].append(
                {
                    "page": p["page"],
                    "image": p["png_sha256"],
                    "width": p["width"],
                    "height": p["height"],
                    "stretched": p["stretched"],
                    "text": p["text"],
                }
            )
    return out


# -- mail out ---------------------------------------------------------------------------------


def queue_mail(
    ctx: WriteContext,
    incident_id: int,
    kind: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    in_reply_to: str | None,
    dedupe: str | None,
    drill: bool,
    now: datetime,
    actor: Actor | None = None,
    number: str | None = None,
) -> bool:
    """Queue one mail to the citizen; False when `dedupe` was queued before. A call-taker's
    reply goes to the audit log at once (who wrote what)."""
    conn = ctx.conn
    if (
        dedupe is not None
        and conn.execute(select(mail_out.c.id).where(mail_out.c.dedupe == dedupe)).first()
    ):
        return False
    conn.execute(
        mail_out.insert().values(
            incident_id=incident_id,
            kind=kind,
            to_address=to,
            subject=subject,
            body=body,
            message_id=message_id,
            in_reply_to=in_reply_to,
            dedupe=dedupe,
            status="pending",
            attempts=0,
            next_at=now,
            actor=actor.user if actor else None,
            drill=drill,
            created_at=now,
            updated_at=now,
        )
    )
    if actor is not None:
        data = {"to": to, "subject": subject, "text": body}
        records.add_event(
            ctx,
            incident_id,
            number,
            EventDraft("mail_reply", None, None, actor, data=data),
            now,
            drill,
        )
    return True


def due_mail(conn: Connection, now: datetime) -> bool:
    return sending.any_due(conn, mail_out, now)


def claim_mail(ctx: WriteContext, now: datetime, limit: int, lease: float) -> list[dict[str, Any]]:
    return sending.claim(ctx.conn, mail_out, now, limit, lease, number_as="number")


def mail_sent(ctx: WriteContext, row: dict[str, Any], answer: str, now: datetime) -> None:
    ctx.conn.execute(
        update(mail_out)
        .where(mail_out.c.id == row["id"])
        .values(
            status="sent", attempts=row["attempts"] + 1, sent_at=now, error=None, updated_at=now
        )
    )
    data = {"to": row["to_address"], "kind": row["kind"], "message_id": row["message_id"]}
    _event(ctx, row, "mail_sent", data | {"answer": answer[:200]}, now)


def mail_not_sent(
    ctx: WriteContext, row: dict[str, Any], error: str, retry_at: datetime | None, now: datetime
) -> None:
    gave_up = retry_at is None
    ctx.conn.execute(
        update(mail_out)
        .where(mail_out.c.id == row["id"])
        .values(
            status="gave_up" if gave_up else "failed",
            attempts=row["attempts"] + 1,
            next_at=retry_at or now,
            error=error[:500],
            updated_at=now,
        )
    )
    if gave_up or row["attempts"] == 0:  # the first failure and the last, not every retry
        data = {
            "to": row["to_address"],
            "kind": row["kind"],
            "error": error[:200],
            "gave_up": gave_up,
        }
        _event(ctx, row, "mail_failed", data, now)


def sent_mail(conn: Connection, incident_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for r in conn.execute(
        select(mail_out)
        .where(mail_out.c.incident_id.in_(list(incident_ids)))
        .order_by(mail_out.c.id)
    ).mappings():
        out.setdefault(r["incident_id"], []).append(dict(r))
    return out


def _event(
    ctx: WriteContext, row: dict[str, Any], action: str, data: dict[str, Any], now: datetime
) -> None:
    draft = EventDraft(action, None, None, MAIL, data=data)
    records.add_event(ctx, row["incident_id"], row["number"], draft, now, bool(row["drill"]))


def numbers(conn: Connection, incident_ids: Sequence[int]) -> dict[int, str]:
    return dict(
        conn.execute(
            select(incidents.c.id, incidents.c.number).where(incidents.c.id.in_(list(incident_ids)))
        ).all()
    )


def file_of(conn: Connection, number: str, sha256: str) -> Any:
    """A blob that belongs to incident `number` (a raw mail, an attachment or a fax page of
    one of its reports), with the incident's unit for the scope check; None otherwise."""
    row = conn.execute(
        select(incidents.c.id, incidents.c.unit).where(incidents.c.number == number)
    ).first()
    if row is None:
        return None
    ref = f"mail-blob:{sha256}"
    docs = conn.execute(select(reports.c.doc).where(reports.c.incident_id == row.id)).scalars()
    owned = any(
        d.get("raw_ref") == ref or any(a.get("sha256") == sha256 for a in d.get("attachments", ()))
        for d in docs
    )
    if not owned:
        owned = (
            conn.execute(
                select(fax_pages.c.id)
                .join(fax_jobs, fax_jobs.c.id == fax_pages.c.job_id)
                .where(fax_jobs.c.incident_id == row.id, fax_pages.c.png_sha256 == sha256)
                .limit(1)
            ).first()
            is not None
        )
    if not owned:
        return None
    data = blob(conn, sha256)
    return None if data is None else (row.unit, data)
