"""The CAP channel's service: nothing runs of its own (the gateway's HTTP site serves its
routes); it takes an alert in (`receive`) and renders the feed of a consumer (`feed`).

What a message does, by CAP 1.2 §3.2.1 ``status`` and ``msgType``:

- ``Actual`` / ``Exercise`` (a drill, end to end) ``Alert``: one report per ``info``; the
  infos of one alert share its alarm key, so its languages land on one incident.
- ``Update`` (``references`` an earlier message of the same sender): its reports join the
  earlier alert's incident; if that is no longer open, they open a new one under the same key.
- ``Cancel``: its report joins the earlier alert's incident, which is cancelled while it has
  not been dispatched (received, accepted). Once a unit has it, the report only tells the
  call-taker that the sender withdrew the alert: calling a unit back is a person's decision.
- ``Test``, ``System``, ``Draft`` and ``Ack`` / ``Error``: validated and answered, nothing
  stored — a 110 center must not open an incident for what the sender says is not to be
  acted on (§3.2.1: Test "all recipients disregard", Draft "not actionable").

Acknowledged only after the commit; idempotent on sender + identifier (+ info index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger

from gateway.channel import ChannelContext
from gateway.channels.cap import feed, mapping, message, store
from gateway.channels.cap.message import Alert
from gateway.errors import NothingToJoin
from gateway.report import Receipt, Report
from gateway.workflow.machine import Actor, Refused
from gateway.workflow.table import Role, State

log = Logger()

# Cancelled by the sender's Cancel only before a unit has it (see the module's note).
CANCELLABLE = frozenset({State.RECEIVED, State.ACCEPTED})


class Refusal(Exception):
    """A well-formed alert we cannot act on: HTTP `status`, naming `element`."""

    def __init__(self, status: int, code: str, text: str, element: str) -> None:
        super().__init__(text)
        self.status, self.code, self.text, self.element = status, code, text, element


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int  # 201 something new stored, 200 a repeat or nothing to store
    body: dict[str, Any]


class CapChannel(Service):
    name = "cap"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        city = ctx.config.city
        self.sender = self.settings.sender or f"alarmgw-{city.code}"
        org = ctx.org
        self.feed_context = feed.FeedContext(
            sender=self.sender,
            city_code=city.code,
            sender_name=org.root.name,
            title=self.settings.feed_title or f"{city.name} 110 警情 (CAP 1.2)",
            tz=ctx.tz,
            category_names={code: c.name for code, c in ctx.config.categories.items()},
            unit_names={u.code: u.name for u in org.units()},
            cap_categories=self.settings.feed_categories,
        )
        self._check()

    def startService(self) -> None:
        super().startService()
        log.info("CAP 1.2: taking alerts at /api/v1/cap, feed as {sender}", sender=self.sender)

    def _check(self) -> None:
        """At build, so that `alarmgw run` stops with one line and exit 1 (a failed
        startService would leave the rest of the gateway running)."""
        from gateway.app import StartupError

        categories = self.ctx.config.categories
        used = [("default_category", self.settings.default_category)]
        used += [(f"rules[{i}].category", r.category) for i, r in enumerate(self.settings.rules)]
        used += [(f"feed_categories.{code}", code) for code in self.settings.feed_categories]
        for key, code in used:
            if code not in categories:
                known = ", ".join(categories)
                raise StartupError(f"channels.cap.{key}: unknown category {code!r} ({known})")
        message.schema()  # a broken install fails at start, not at the first alert

    # -- in ------------------------------------------------------------------------------------

    async def receive(self, data: bytes, now: datetime) -> Outcome:
        """Take one CAP message: `CapError` or `Refusal` for what we refuse (nothing
        stored), `StoreUnavailable` when the store fails (nothing acknowledged)."""
        alert = message.parse(data)
        ignored = _not_actionable(alert)
        if ignored is not None:
            log.info(
                "CAP {identifier} from {sender}: {why}",
                identifier=alert.identifier,
                sender=alert.sender,
                why=ignored,
            )
            return Outcome(200, {**_head(alert), "stored": False, "receipts": [], "note": ignored})
        if alert.msg_type == "Alert":
            if not alert.infos:
                raise Refusal(
                    422, "invalid_cap", "an Alert needs at least one info to report", "alert/info"
                )
            return await self._store(alert, mapping.reports(alert, self.settings, now))
        earlier = await self._earlier(alert)
        reports = mapping.reports(alert, self.settings, now, alarm=earlier.alarm)
        if alert.msg_type == "Update":
            return await self._store(alert, reports, reopen=True)
        return await self._cancel(alert, reports, earlier)

    async def _earlier(self, alert: Alert) -> store.Earlier:
        if not alert.references:
            raise Refusal(
                422,
                "invalid_cap",
                f"a {alert.msg_type} needs references to the message it follows (CAP 1.2 §3.2.1)",
                "alert/references",
            )
        others = sorted({r.sender for r in alert.references if r.sender != alert.sender})
        if others:
            # Only the sender of an alert may update or withdraw it.
            raise Refusal(
                403,
                "forbidden",
                f"sender {alert.sender} may not {alert.msg_type.lower()} a message of {others[0]}",
                "alert/references",
            )
        ids = [mapping.reference_ids(r) for r in alert.references]
        found: store.Earlier | None = await self.ctx.read(store.earlier, ids)
        if found is None:
            listed = " ".join(f"{r.sender},{r.identifier}" for r in alert.references)
            raise Refusal(
                409, "unknown_reference", f"no earlier message {listed} is stored here",
                "alert/references",
            )  # fmt: skip
        return found

    async def _store(self, alert: Alert, reports: list[Report], reopen: bool = False) -> Outcome:
        """Submit the reports in order (the second info finds the first one's incident)."""
        receipts: list[Receipt] = []
        for report in reports:
            try:
                receipts.append(await self.ctx.submit(report))
            except NothingToJoin:
                if not reopen:
                    raise
                # The incident of the alert it updates is closed: the update is news.
                receipts.append(await self.ctx.submit(mapping.opening(report)))
        new = [r for r in receipts if not r.duplicate]
        if new:
            log.info(
                "CAP {kind} {identifier} from {sender}: {n} report(s) → {incidents}",
                kind=alert.msg_type,
                identifier=alert.identifier,
                sender=alert.sender,
                n=len(new),
                incidents=", ".join(sorted({r.incident for r in new})),
            )
        body = {**_head(alert), "stored": True, "receipts": [r.to_json() for r in receipts]}
        return Outcome(201 if new else 200, body)

    async def _cancel(self, alert: Alert, reports: list[Report], earlier: store.Earlier) -> Outcome:
        try:
            outcome = await self._store(alert, reports)
        except NothingToJoin:
            # Its incident is already closed, cancelled, invalid or merged: nothing to do,
            # nothing stored, and a repeat gets the same answer.
            note = f"incident {earlier.number} is {earlier.state}: nothing to cancel"
            body = {**_head(alert), "stored": False, "receipts": [], "note": note}
            body["incident"] = {"number": earlier.number, "state": earlier.state}
            return Outcome(200, body)
        first = outcome.body["receipts"][0]["incident"]
        number, state = first["number"], first["state"]
        reason = f"CAP Cancel {alert.identifier}（{alert.sender} 撤销预警）"
        cancelled = state == State.CANCELLED
        if state in CANCELLABLE and not await self.ctx.read(store.cancelled_with, number, reason):
            # The actor is the gateway on the sender's behalf: an integration may not cancel
            # on its own (gateway/workflow/table.py), the channel's rule above decides.
            actor = Actor(f"cap:{alert.sender}"[:64], Role.SYSTEM, None)
            try:
                doc = await self.ctx.act(number, "cancel", actor, {"reason": reason})
                state, cancelled = doc["state"], True
            except Refused as e:  # a call-taker moved it on meanwhile
                log.info(
                    "CAP Cancel {identifier}: not cancelled: {why}",
                    identifier=alert.identifier,
                    why=e,
                )
        outcome.body["incident"] = {"number": number, "state": state}
        for receipt in outcome.body["receipts"]:  # as a repeat would say: the state now
            if receipt["incident"]["number"] == number:
                receipt["incident"]["state"] = state
        outcome.body["cancelled"] = cancelled
        if not cancelled:
            outcome.body["note"] = (
                f"incident {number} is {state}: the cancel is attached for the call-taker to decide"
            )
        return outcome

    # -- out -----------------------------------------------------------------------------------

    async def feed(
        self, actor: Actor, self_href: str, since: datetime | None, limit: int, now: datetime
    ) -> bytes:
        """The Atom feed of the incidents in `actor`'s unit scope, the latest change first."""
        org = self.ctx.org
        scope = actor.unit or org.root.code
        units = None if scope == org.root.code else sorted(org.subtree(scope))
        page = await self.ctx.read(store.feed_page, units, since, limit)
        return feed.atom(page, self.feed_context, scope, self_href, now)


def _not_actionable(alert: Alert) -> str | None:
    if alert.status not in mapping.ACTIONABLE_STATUS:
        return (
            f"status {alert.status}: not for action by a 110 center (CAP 1.2 §3.2.1); "
            "nothing stored"
        )
    if alert.msg_type not in mapping.ACTIONABLE_TYPES:
        return f"msgType {alert.msg_type}: not an alert (CAP 1.2 §3.2.1); nothing stored"
    return None


def _head(alert: Alert) -> dict[str, Any]:
    return {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "status": alert.status,
        "msgType": alert.msg_type,
    }
