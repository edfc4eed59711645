"""What the SMS channel adds to intake, run in the writer's transaction (in the intake
worker's process when there is one), so that it commits with the report or not at all:

- `resolve`: the channel files a message under its provisional external id
  ``sms:<content key>@<arrival>``; a report of the same content key stored within the
  redelivery window is the same message redelivered, and its id is taken instead (then
  intake stores nothing and answers with the first receipt). Inside the one writer's
  transaction, two arrivals of one message cannot both be new.
- `stored`: the citizen's receipt reply (a follow-up one when the message joined an open
  incident) is queued in `sms_out` in the same transaction as the report: a message the
  SMSC got ESME_ROK for always has its reply on the way.
"""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.channels.smpp import store
from gateway.channels.smpp.keys import PREFIX, external_id, id_range, parse
from gateway.channels.smpp.settings import SmppSettings, fill
from gateway.channels.smpp.text import split_for_sending
from gateway.report import Receipt, Report
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import EventDraft
from gateway.workflow.table import OPEN_STATES

REPEAT_AFTER = 60  # seconds: a "redelivery" later than this is logged on the incident


class SmsIntake:
    def __init__(self, settings: SmppSettings, tz: ZoneInfo) -> None:
        self.settings = settings
        self.tz = tz
        self.window = timedelta(seconds=settings.redelivery_window)

    @classmethod
    def from_config(cls, config: Any) -> SmsIntake:
        return cls(
            SmppSettings.from_config(config.channels["smpp"]), ZoneInfo(config.city.timezone)
        )

    def resolve(self, ctx: WriteContext, report: Report, now: datetime) -> Report:
        parsed = parse(report.external_id)
        if parsed is None:
            return report
        key, arrival = parsed
        lo, hi = id_range(key)
        earlier = store.earlier_ids(ctx.conn, lo, hi)
        final = external_id(key, report.received_at, earlier, self.window)
        if final not in earlier:
            return report  # the first of its kind
        first = store.incident_of_report(ctx.conn, final)
        if first is None or first.state not in OPEN_STATES:
            # The same text again after its incident was closed: a new alarm, not a
            # redelivery (an SMSC does not keep a message that long past our answer). Its
            # id must differ from the closed one's, even within the same second.
            while arrival and f"{PREFIX}{key}@{arrival}" in earlier:
                arrival += 1
            return dataclasses.replace(report, external_id=f"{PREFIX}{key}@{arrival}")
        first_arrival = parse(final)
        if first_arrival is not None and abs(arrival - first_arrival[1]) > REPEAT_AFTER:
            # Folded, but not silently: a citizen sending the same words again minutes later
            # is news for the call-taker (so is an SMSC redelivering that late).
            draft = EventDraft(
                "sms_repeat", None, None, store.SMPP, data={"from": report.sender.id}
            )
            records.add_event(ctx, first.id, first.number, draft, now, bool(first.drill))
        if final == report.external_id:
            return report
        return dataclasses.replace(report, external_id=final)

    def stored(self, ctx: WriteContext, report: Report, receipt: Receipt, now: datetime) -> None:
        s = self.settings
        template = s.reply_followup if receipt.attached else s.reply_receipt
        if not template:
            return
        text = fill(template, receipt.incident, report.drill, now, self.tz)
        ref = random.randrange(256)  # noqa: S311 - a concatenation reference
        _coding, parts = split_for_sending(text, ref)
        store.queue(
            ctx,
            receipt.incident,
            "followup" if receipt.attached else "receipt",
            report.sender.id,
            text,
            len(parts),
            ref,
            f"reply:{receipt.receipt}",
            now,
        )
