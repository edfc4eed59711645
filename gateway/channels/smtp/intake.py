"""What the e-mail channel adds to intake, run in the writer's transaction (in the intake
worker's process when there is one), so that it commits with the report or not at all:

- `resolve`: a Message-ID is the external id, so that the MTA's resend of a message we
  stored (our 250 was lost) is the same report. A different message under a Message-ID
  already stored (a broken client reusing ids) is told apart by its content and gets an
  id of its own: a new alarm is never folded into an old one.
- `stored`: the raw message and its attachments go into `mail_blobs` (content-addressed:
  each once), from the report itself (a small message's bytes ride in it, taken out by
  `resolve` so the stored report does not hold them twice) or from the spool the listener
  wrote a large one to; a fax's documents are queued for
  page images and OCR; the citizen's receipt mail is queued. All in the report's
  transaction: the 250 the listener answers after it covers all of it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from datetime import datetime
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from gateway.channels.smtp import store
from gateway.channels.smtp.inbound import BLOB_REF
from gateway.channels.smtp.settings import SmtpSettings, fill
from gateway.channels.smtp.spool import Spool, SpoolMissing
from gateway.report import InvalidReport, Receipt, Report
from gateway.store.engine import StoreUnavailable
from gateway.store.transaction import WriteContext


def blobs_of(report: Report) -> dict[str, str]:
    """The blobs a report of ours refers to: sha256 → content type (the raw message first)."""
    blobs: dict[str, str] = {}
    if report.raw_ref and report.raw_ref.startswith(BLOB_REF):
        blobs[report.raw_ref.removeprefix(BLOB_REF)] = "message/rfc822"
    for a in report.attachments:
        blobs.setdefault(a.sha256, a.content_type[:100])
    return blobs


def _checked(sha256: str, encoded: Any) -> bytes:
    """Inline bytes that are what their name says: a blob is evidence, stored once under
    its hash, and a report filed through the API under our channel's name must not place
    other bytes under the hash of a mail still to come."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (TypeError, ValueError) as e:
        raise InvalidReport("extra.mail.inline", f"{sha256[:12]}…: not base64") from e
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InvalidReport("extra.mail.inline", f"{sha256[:12]}… does not match its SHA-256")
    return data


class MailIntake:
    def __init__(self, settings: SmtpSettings, tz: ZoneInfo, city: str, base_url: str) -> None:
        self.settings = settings
        self.tz = tz
        self.city = city
        self.base_url = base_url
        self.spool = Spool(settings.spool)
        self._inline: dict[str, str] = {}  # the blobs of the report being stored, by sha256

    @classmethod
    def from_config(cls, config: Any) -> MailIntake:
        return cls(
            SmtpSettings.from_config(config.channels["smtp"]),
            ZoneInfo(config.city.timezone),
            config.city.name,
            (config.http.public_base_url or "").rstrip("/"),
        )

    def resolve(self, ctx: WriteContext, report: Report, now: datetime) -> Report:
        mail = report.extra.get("mail")
        self._inline = {}
        if not isinstance(mail, dict):
            return report
        if "inline" in mail:  # the blobs rode in the report: kept aside, not stored twice
            mail = {k: v for k, v in mail.items() if k != "inline"}
            self._inline = report.extra["mail"]["inline"]
            report = dataclasses.replace(report, extra={**report.extra, "mail": mail})
        if not report.external_id.startswith("mail:"):
            return report
        earlier = store.earlier_content_key(ctx.conn, report.channel, report.external_id)
        key = mail.get("content_key")
        if earlier is None or earlier == key:
            return report  # the first of its id, or the same message again
        return dataclasses.replace(report, external_id=f"{report.external_id[:150]}#{key}")

    def stored(self, ctx: WriteContext, report: Report, receipt: Receipt, now: datetime) -> None:
        mail = report.extra.get("mail")
        if not isinstance(mail, dict):
            return  # filed by an integration under our channel's name: not ours to hold
        conn = ctx.conn
        blobs = blobs_of(report)
        inline, self._inline = self._inline, {}
        if inline:
            store.put_blobs(
                conn,
                [(sha, blobs[sha], _checked(sha, inline[sha])) for sha in blobs if sha in inline],
                now,
            )
        missing = [sha for sha in blobs if sha not in inline]
        for sha in store.missing_blobs(conn, missing):
            try:
                data = self.spool.read(sha)
            except (SpoolMissing, ValueError) as e:
                raise StoreUnavailable(str(e)) from e  # 451: the sender sends it again
            store.put_blobs(conn, [(sha, blobs[sha], data)], now)
        documents = set(mail.get("fax_documents", ()))
        answer = self._answers(report, mail)
        if not documents and not answer:
            return
        incident_id, drill = store.incident(conn, receipt.incident)
        if documents:
            fax = [
                (a.sha256, a.name, a.content_type)
                for a in report.attachments
                if a.sha256 in documents
            ]
            store.queue_fax(ctx, incident_id, receipt.receipt, fax, drill, now)
        if answer:
            self._queue_receipt(ctx, report, receipt, incident_id, drill, mail, now)

    def _answers(self, report: Report, mail: dict[str, Any]) -> bool:
        return (
            bool(self.settings.smarthost)
            and report.channel == "email"
            and report.sender.kind == "email"
            and not mail.get("auto")
            and report.sender.id.lower() != self.settings.mail_from.lower()
            and report.sender.id.lower() not in self.settings.recipients
        )

    def _queue_receipt(
        self,
        ctx: WriteContext,
        report: Report,
        receipt: Receipt,
        incident_id: int,
        drill: bool,
        mail: dict[str, Any],
        now: datetime,
    ) -> None:
        s = self.settings
        followup = receipt.attached
        fields = {
            "incident": receipt.incident,
            "receipt": receipt.receipt,
            # A path alone means nothing in a mail: without [http] public_base_url, the phone.
            "status_url": f"{self.base_url}/receipt/{receipt.receipt}"
            if self.base_url
            else "请拨打110，报回执号查询",
            "city": self.city,
        }
        subject = fill(
            s.followup_subject if followup else s.receipt_subject, drill, now, self.tz, **fields
        )
        body = fill(s.followup_text if followup else s.receipt_text, drill, now, self.tz, **fields)
        store.queue_mail(
            ctx,
            incident_id,
            "followup" if followup else "receipt",
            report.sender.id,
            subject,
            body,
            make_msgid("receipt", domain=s.hostname)[1:-1],
            mail.get("message_id"),
            f"receipt:{receipt.receipt}",
            drill,
            now,
        )
