"""Intake: the one door into the system.

`Intake.submit(report)` fires only after the report is durably committed, with a
`Receipt`; a report already stored under the same (channel, external_id) gives back the
same receipt and stores nothing. Errors are typed so that each channel can answer its
sender correctly:

- `gateway.report.InvalidReport` (a `DomainError`): permanent — the report is wrong;
- `gateway.store.engine.StoreUnavailable`: temporary — nothing was stored, try again;
- `gateway.errors.NothingToJoin`: a follow-up report (a panel's restoral) found no open
  incident to join, and nothing was stored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from twisted.internet import defer
from twisted.logger import Logger

from gateway.channel import resolve
from gateway.errors import NothingToJoin
from gateway.report import InvalidReport, Receipt, Report
from gateway.store.db import Database
from gateway.store.prepared import Prepared
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow import correlate, records
from gateway.workflow.machine import SYSTEM, EventDraft
from gateway.workflow.service import open_incident
from gateway.workflow.table import State

log = Logger()

# The intake path's statements, built once so SQLAlchemy reuses their compiled form.
_KNOWN = Prepared(
    select(reports.c.receipt, incidents.c.number, incidents.c.state)
    .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
    .where(
        reports.c.channel == bindparam("channel"),
        reports.c.external_id == bindparam("external_id"),
    )
)
_INCIDENT_BY_ID = select(incidents).where(incidents.c.id == bindparam("id"))
_TOUCH_INCIDENT = Prepared(
    update(incidents).where(incidents.c.id == bindparam("iid")), keys=["iid", "updated_at"]
)
# An incident opened without a place takes the first point a later report brings (a
# Telegram text, then the location; a call, then an SMS with the address): the map and the
# dispatch suggestion need it. Never overwrites a place it has: the call-taker's is in it.
_LOCATE_INCIDENT = Prepared(
    update(incidents).where(incidents.c.id == bindparam("iid"), incidents.c.lat.is_(None)),
    keys=["iid", "lat", "lon", "accuracy_m", "address"],
)
_INSERT_REPORT = Prepared(
    reports.insert(),
    keys=[
        "receipt",
        "channel",
        "external_id",
        "incident_id",
        "home_incident_id",
        "auto_attached",
        "drill",
        "sender_key",
        "received_at",
        "stored_at",
        "doc",
    ],
)


def mask_phone(value: str) -> str:
    """Logs never carry a whole phone number: 13812345678 → 138****5678."""
    if len(value) >= 7:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    return "*" * len(value)


class ChannelHook(Protocol):
    """What a channel adds to intake, inside the writer's transaction (so also in the intake
    worker's process): `resolve` may give the report its final external id (SMS: a
    redelivery takes its first arrival's), `stored` writes what must commit with a new
    report (SMS: the receipt reply)."""

    def resolve(self, ctx: WriteContext, report: Report, now: datetime) -> Report: ...

    def stored(
        self, ctx: WriteContext, report: Report, receipt: Receipt, now: datetime
    ) -> None: ...


def channel_hooks(config: Any) -> dict[str, ChannelHook]:
    """The hooks of the enabled channels that have one, by each Report.channel they file
    under (imported only when enabled; one hook object per channel)."""
    hooks: dict[str, ChannelHook] = {}
    for c in config.enabled_channels:
        if c.intake_hook is not None:
            hook = resolve(c.intake_hook).from_config(config)
            hooks |= dict.fromkeys((c.report_channel, *c.also_files_under), hook)
    return hooks


class Intake:
    def __init__(
        self,
        db: Database,
        config: Any,
        clock: Any,
        on_stored: Callable[[Report, Receipt], None] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.tz = ZoneInfo(config.city.timezone)
        self.on_stored = on_stored  # metrics and deadline timer; called on the reactor thread
        self.worker: Any = None  # gateway.store.worker.IntakeWorker, when reports go there
        self.hooks = channel_hooks(config)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def validate(self, report: Report) -> None:
        """What only the configuration can tell: is the category one of this city's?"""
        if report.category is not None and report.category not in self.config.categories:
            known = ", ".join(self.config.categories)
            raise InvalidReport("category", f"unknown category {report.category!r} ({known})")

    @defer.inlineCallbacks
    def submit(self, report: Report) -> Any:
        self.validate(report)
        if self.worker is not None:
            receipt: Receipt = yield self.worker.submit(report, self.now())
        else:
            receipt = yield self.db.write(self.store, report, self.now())
        if not receipt.duplicate:
            log.info(
                "Report {receipt} from {channel} {sender} → incident {incident}{how}",
                receipt=receipt.receipt,
                channel=report.channel,
                sender=mask_phone(report.sender.id),
                incident=receipt.incident,
                how=" (attached)" if receipt.attached else "",
            )
        if self.on_stored is not None:
            self.on_stored(report, receipt)
        return receipt

    # -- in the writer's transaction -------------------------------------------------------

    def store(self, ctx: WriteContext, report: Report, now: datetime) -> Receipt:
        """Store one report (runs in the writer's transaction). It reads reports and
        incidents only, never the events or deadlines a batch holds back."""
        conn = ctx.conn
        self.validate(report)
        hook = self.hooks.get(report.channel)
        if hook is not None:
            report = hook.resolve(ctx, report, now)
        known = _KNOWN.execute(
            conn, {"channel": report.channel, "external_id": report.external_id}
        ).fetchone()
        if known is not None:
            receipt, number, state = known
            return Receipt(receipt, number, state, duplicate=True, attached=False)
        ctx.lock()
        match = correlate.find_match(conn, report, now, self.config.correlation)
        if match is not None:
            row = conn.execute(_INCIDENT_BY_ID, {"id": match.incident_id}).mappings().one()
            receipt = self._insert_report(ctx, report, row["id"], now, auto_attached=True)
            _TOUCH_INCIDENT.execute(conn, {"iid": row["id"], "updated_at": now})
            located = _place_for(row, report)
            if located is not None:
                _LOCATE_INCIDENT.execute(conn, {"iid": row["id"], **located})
            records.add_event(
                ctx,
                row["id"],
                row["number"],
                EventDraft(
                    "attach",
                    None,
                    None,
                    SYSTEM,
                    None,
                    {"receipt": receipt, "rule": match.rule, "channel": report.channel},
                ),
                now,
                row["drill"],
            )
            stored = Receipt(receipt, row["number"], row["state"], duplicate=False, attached=True)
        elif report.follow_up:
            raise NothingToJoin(
                f"no open incident of alarm {correlate.alarm_key(report)} to join", "follow_up"
            )
        else:
            stored = self._open_incident(ctx, report, now)
        if hook is not None:
            hook.stored(ctx, report, stored, now)
        return stored

    store.reads_no_pending = True  # type: ignore[attr-defined]

    def _open_incident(self, ctx: WriteContext, report: Report, now: datetime) -> Receipt:
        receipt = records.new_receipt()
        incident_id, number = open_incident(ctx, self.config, self.tz, report, now, receipt)
        self._insert_report(ctx, report, incident_id, now, auto_attached=False, receipt=receipt)
        return Receipt(receipt, number, str(State.RECEIVED), duplicate=False, attached=False)

    def _insert_report(
        self,
        ctx: WriteContext,
        report: Report,
        incident_id: int,
        now: datetime,
        auto_attached: bool,
        receipt: str | None = None,
    ) -> str:
        receipt = receipt or records.new_receipt()
        _INSERT_REPORT.execute(
            ctx.conn,
            {
                "receipt": receipt,
                "channel": report.channel,
                "external_id": report.external_id,
                "incident_id": incident_id,
                "home_incident_id": incident_id,
                "auto_attached": auto_attached,
                "drill": report.drill,
                "sender_key": correlate.sender_key(report),
                "received_at": report.received_at,
                "stored_at": now,
                "doc": report.to_json(),
            },
        )
        return receipt


def _place_for(incident: Any, report: Report) -> dict[str, Any] | None:
    """The place an incident without a point takes from `report`; None to leave it."""
    loc = report.location
    if incident["lat"] is not None or loc is None or loc.lat is None:
        return None
    return {
        "lat": loc.lat,
        "lon": loc.lon,
        "accuracy_m": loc.accuracy_m,
        "address": incident["address"] or loc.address,
    }
