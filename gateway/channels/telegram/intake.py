"""What the Telegram channel adds to intake, run in the writer's transaction (in the intake
worker's process when there is one), so that it commits with the report or not at all:

- `resolve`: the photo or voice message fetched with getFile rides in the report (base64,
  under ``extra.telegram.inline``); it is taken out here, so the stored report does not
  hold it twice.
- `stored`: the file goes into `telegram_files` (checked against its SHA-256) and the
  citizen's receipt is queued in `telegram_out`. The update is confirmed to Telegram only
  after this commit, so a confirmed message always has its file and its receipt.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.channels.telegram import store
from gateway.channels.telegram.settings import TelegramSettings, fill
from gateway.report import InvalidReport, Receipt, Report
from gateway.store.transaction import WriteContext


class TelegramIntake:
    def __init__(self, settings: TelegramSettings, tz: ZoneInfo) -> None:
        self.settings = settings
        self.tz = tz
        self._inline: dict[str, Any] = {}  # the files of the report being stored, by sha256

    @classmethod
    def from_config(cls, config: Any) -> TelegramIntake:
        return cls(
            TelegramSettings.from_config(config.channels["telegram"]),
            ZoneInfo(config.city.timezone),
        )

    def resolve(self, ctx: WriteContext, report: Report, now: datetime) -> Report:
        self._inline = {}
        tg = report.extra.get("telegram")
        if not isinstance(tg, dict) or "inline" not in tg:
            return report
        inline = tg["inline"]
        self._inline = inline if isinstance(inline, dict) else {}
        kept = {k: v for k, v in tg.items() if k != "inline"}
        return dataclasses.replace(report, extra={**report.extra, "telegram": kept})

    def stored(self, ctx: WriteContext, report: Report, receipt: Receipt, now: datetime) -> None:
        tg = report.extra.get("telegram")
        inline, self._inline = self._inline, {}
        if not isinstance(tg, dict) or not isinstance(tg.get("chat_id"), int):
            return  # filed by an integration under our channel's name: not ours to answer
        files = [a for a in report.attachments if a.sha256 in inline]
        if files:
            rid = store.report_id(ctx.conn, report.external_id)
            for a in files:
                data = _checked(a.sha256, inline[a.sha256])
                store.put_file(ctx.conn, rid, a.sha256, a.content_type, data, now)
        s = self.settings
        template = s.followup_text if receipt.attached else s.receipt_text
        if not template:
            return
        text = fill(
            template, report.drill, now, self.tz, incident=receipt.incident, receipt=receipt.receipt
        )
        store.queue(
            ctx,
            receipt.incident,
            "followup" if receipt.attached else "receipt",
            tg["chat_id"],
            text,
            f"receipt:{receipt.receipt}",
            now,
        )


def _checked(sha256: str, encoded: Any) -> bytes:
    """Bytes that are what their name says: a file is evidence, stored once under its hash."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (TypeError, ValueError, binascii.Error) as e:
        raise InvalidReport("extra.telegram.inline", f"{sha256[:12]}…: not base64") from e
    if hashlib.sha256(data).hexdigest() != sha256:
        raise InvalidReport("extra.telegram.inline", f"{sha256[:12]}… does not match its SHA-256")
    return data
