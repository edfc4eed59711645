"""One received mail as a report: the envelope and the parsed `Mail` (`mime`) become the
`Report` the channel files, and the blobs (the raw message, its attachments) that must be
committed with it. Pure: bytes and values in, values out.

A mail to one of the `fax_recipients` is a fax report: its sender is the calling number
(or the fax's station id) from the fax server's headers, and each TIFF or PDF it carries
is a fax document whose pages are imaged and read after the commit."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.channels.smtp import fax
from gateway.channels.smtp.mime import Mail
from gateway.channels.smtp.settings import SmtpSettings
from gateway.report import Attachment, Report, Sender

MAX_ATTACHMENTS = 20  # a report's (schemas/report.schema.json)
DRILL_HEADER = "x-alarmgw-drill"
BLOB_REF = "mail-blob:"  # + sha256: where a blob is (the channel's mail_blobs table)
# A message up to this size carries its blobs to the intake hook inside the report
# (extra.mail.inline, removed before the report is stored); a larger one goes through the
# spool, files the hook reads in the writer's process.
INLINE_MAX = 256 * 1024


@dataclass(frozen=True)
class Envelope:
    """What SMTP said around the message (RFC 5321)."""

    mail_from: str | None
    recipients: tuple[str, ...]  # ours only: any other got 550 at RCPT
    client: str  # the client's address
    helo: str | None = None
    user: str | None = None  # who authenticated (SMTP AUTH), if anyone


@dataclass(frozen=True)
class Blob:
    sha256: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Filed:
    report: Report
    blobs: tuple[Blob, ...]  # the raw message first
    fax_documents: tuple[str, ...] = ()  # sha256 of the attachments to image and read
    problems: tuple[str, ...] = field(default=())
    spooled: bool = False  # the blobs wait in the spool (else they ride in the report)


def inline(filed: Filed) -> Filed:
    """The report with its blobs' bytes in extra.mail.inline (base64, by sha256)."""
    mail = dict(filed.report.extra["mail"])
    mail["inline"] = {b.sha256: base64.b64encode(b.data).decode("ascii") for b in filed.blobs}
    report = dataclasses.replace(filed.report, extra={**filed.report.extra, "mail": mail})
    return dataclasses.replace(filed, report=report)


def file_mail(
    raw: bytes, mail: Mail, envelope: Envelope, settings: SmtpSettings, received_at: datetime
) -> Filed:
    kinds = {settings.kind_of(r) for r in envelope.recipients}
    channel = "fax" if "fax" in kinds else "email"
    raw_sha = hashlib.sha256(raw).hexdigest()
    blobs = {raw_sha: Blob(raw_sha, "message/rfc822", raw)}
    attachments: list[Attachment] = []
    documents: list[str] = []
    problems = list(mail.problems)
    for a in mail.attachments:
        if len(attachments) == MAX_ATTACHMENTS:
            problems.append(
                f"more than {MAX_ATTACHMENTS} attachments: the rest are in the raw mail"
            )
            break
        name = a.filename or _name_for(a.content_type, len(attachments) + 1)
        blobs.setdefault(a.sha256, Blob(a.sha256, a.content_type[:100], a.data))
        attachments.append(
            Attachment(name, a.content_type[:255], len(a.data), a.sha256, BLOB_REF + a.sha256)
        )
        if channel == "fax" and fax.is_fax_document(a.content_type, a.filename, a.data[:8]):
            if a.sha256 not in documents:
                documents.append(a.sha256)
    sender, text, origin = _sender_and_text(channel, mail, envelope)
    sender_address = (mail.from_address or envelope.mail_from or "").lower()
    details: dict[str, Any] = {
        "envelope_from": envelope.mail_from,
        "recipients": list(envelope.recipients),
        "client": envelope.client,
        "helo": envelope.helo,
        "user": envelope.user,
        "message_id": mail.message_id,
        "from": mail.from_address,
        "subject": mail.subject,
        "date": mail.date.isoformat() if mail.date else None,
        "readable": mail.readable,
        "content_key": content_key(mail),
        "problems": problems,
        "fax_documents": documents,
        "auto": _automatic(mail, envelope),
    }
    if origin is not None:
        details["fax"] = {
            "number": origin.number,
            "csid": origin.csid,
            "pages": origin.pages,
            "resolution": origin.resolution,
        }
    report = Report(
        channel=channel,
        external_id=mail.external_id,
        received_at=received_at,
        sender=sender,
        text=text,
        attachments=tuple(attachments),
        raw_ref=BLOB_REF + raw_sha,
        drill=is_drill(mail, sender_address, settings),
        extra={"mail": {k: v for k, v in details.items() if v not in (None, [], "", False)}},
    )
    return Filed(report, tuple(blobs.values()), tuple(documents), tuple(problems))


def _automatic(mail: Mail, envelope: Envelope) -> bool:
    """A bounce or an automatic mail (RFC 3834): never answered, lest two robots talk."""
    if not envelope.mail_from:
        return True
    fields = dict(mail.headers)
    if fields.get("auto-submitted", "no").strip().lower() != "no":
        return True
    return fields.get("precedence", "").strip().lower() in ("bulk", "junk", "list")


def content_key(mail: Mail) -> str:
    """What makes two mails with one Message-ID the same message: who, what and which
    files, not the Received lines that differ by the way it came."""
    h = hashlib.sha256()
    for part in (mail.from_address or "", mail.subject, mail.body):
        h.update(part.encode("utf-8", "surrogatepass") + b"\0")
    for a in mail.attachments:
        h.update(a.sha256.encode() + b"\0")
    return h.hexdigest()[:32]


def is_drill(mail: Mail, sender: str, settings: SmtpSettings) -> bool:
    """A drill (演练): from a drill sender, or marked so by a sender allowed to mark it."""
    if sender in settings.drill_senders:
        return True
    marked = any(n == DRILL_HEADER and v.strip() == "1" for n, v in mail.headers)
    return marked and sender in settings.drill_header_senders


def _sender_and_text(
    channel: str, mail: Mail, envelope: Envelope
) -> tuple[Sender, str, fax.FaxOrigin | None]:
    address = mail.from_address or envelope.mail_from
    if channel == "email":
        if address is None:
            return Sender("email", "unknown@invalid", mail.from_name), mail.text, None
        return Sender("email", address[:200], _name(mail.from_name)), mail.text, None
    origin = fax.origin(mail.headers, mail.subject)
    if origin.number:
        sender = Sender("phone", origin.number[:200], _name(origin.csid))
        who = origin.number
    elif origin.csid:
        sender = Sender("terminal", origin.csid[:200])
        who = f"传真机标识 {origin.csid}"
    else:
        sender = Sender("email", (address or "unknown@invalid")[:200], _name(mail.from_name))
        who = "未知号码"
    pages = f"，共{origin.pages}页" if origin.pages else ""
    head = f"传真报警：来自 {who}{pages}。"
    return sender, (head + "\n" + mail.text if mail.text else head)[:10_000], origin


def _name(value: str | None) -> str | None:
    return value[:200] if value else None


def _name_for(content_type: str, n: int) -> str:
    extension = {
        "image/tiff": "tif",
        "application/pdf": "pdf",
        "image/png": "png",
        "image/jpeg": "jpg",
        "text/plain": "txt",
        "message/rfc822": "eml",
    }.get(content_type, "bin")
    return f"attachment-{n}.{extension}"
