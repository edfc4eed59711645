"""The outbox of notifications (`deliveries`), delivered once for every kind.

Workflow writes a row per notice in the same transaction as the event that causes it (a
dispatch, an escalation, a missed deadline). An `Outbox` service per kind — webhook, and
each enabled channel's (phone, sms, …) — polls for due rows, claims them with a lease
(``next_at`` moves past the longest attempt; on PostgreSQL ``SKIP LOCKED``, so several
nodes never claim one row twice, and a row whose node died mid-attempt is claimed again
when its lease runs out), hands each to its `Notifier` for one attempt and records the
outcome on the row: delivered, failed (due again after a backoff with jitter) or gave_up.
A notifier says only how to make one attempt.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, exists, select, update
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.store.db import Database
from gateway.store.engine import StoreUnavailable
from gateway.store.tables import deliveries, incidents
from gateway.store.transaction import WriteContext

log = Logger()

CLAIMABLE = ("pending", "failed")
Verdict = Literal["delivered", "retry", "gave_up", "later"]


@dataclass(frozen=True)
class Delivery:
    """A row this node holds the lease on."""

    id: int
    number: str  # the incident
    unit: str | None  # the unit notified (None: a category's also_notify target)
    target: str  # its address: a URL, a phone number, …
    reason: str
    drill: bool
    attempts: int  # made before this one


@dataclass(frozen=True)
class Attempt:
    """What one attempt came to. `later`: not tried through no fault of the target (the
    peer asked us to slow down): due again at `retry_at`, not counted as an attempt."""

    verdict: Verdict
    error: str | None = None  # short and free of personal data: it is stored and logged
    http_status: int | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Backoff:
    max_attempts: int
    initial: float
    max: float

    def delay(self, attempts: int) -> float:
        # The exponent is capped: a float cannot hold 2 ** 1100 (max_attempts is config).
        return min(self.max, self.initial * 2 ** min(attempts - 1, 60))


@dataclass(frozen=True)
class Policy:
    lease: float  # seconds a claim holds: longer than the longest attempt
    backoff: Backoff
    batch: int = 50  # rows claimed per poll
    concurrency: int = 50  # attempts at once
    poll_interval: float = 1.0


class Notifier(Protocol):
    """One kind of delivery: how to make one attempt."""

    kind: str
    policy: Policy

    def ready(self) -> bool:
        """False while the notifier cannot try (its link is down): rows stay due."""
        ...

    def attempt(self, delivery: Delivery) -> Awaitable[Attempt]: ...


def any_due(conn: Connection, now: datetime, kind: str) -> bool:
    return bool(conn.execute(select(exists().where(*_due(now, kind)))).scalar())


def _due(now: datetime, kind: str) -> tuple[Any, ...]:
    return (
        deliveries.c.status.in_(CLAIMABLE),
        deliveries.c.kind == kind,
        deliveries.c.next_at <= now,
    )


def claim(ctx: WriteContext, now: datetime, kind: str, limit: int, lease: float) -> list[Delivery]:
    """Take up to `limit` due rows of `kind`: their next_at moves to the end of the lease."""
    q = (
        select(
            deliveries.c.id,
            incidents.c.number,
            deliveries.c.unit,
            deliveries.c.target,
            deliveries.c.reason,
            deliveries.c.drill,
            deliveries.c.attempts,
        )
        .join(incidents, incidents.c.id == deliveries.c.incident_id)
        .where(*_due(now, kind))
        .order_by(deliveries.c.next_at, deliveries.c.id)
        .limit(limit)
        # PostgreSQL: another node's claim in progress is skipped, not waited for.
        .with_for_update(of=deliveries, skip_locked=True)
    )
    rows = ctx.conn.execute(q).mappings().all()
    if rows:
        ctx.conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([r["id"] for r in rows]))
            .values(next_at=now + timedelta(seconds=lease), updated_at=now)
        )
    return [Delivery(**r) for r in rows]


def record_attempt(
    ctx: WriteContext,
    delivery_id: int,
    attempt: Attempt,
    now: datetime,
    backoff: Backoff,
    jitter: float,
) -> str:
    """Count an attempt and decide what comes next; returns the row's new status."""
    row = ctx.conn.execute(
        select(deliveries.c.status, deliveries.c.attempts)
        .where(deliveries.c.id == delivery_id)
        .with_for_update()
    ).one()
    if row.status not in CLAIMABLE:
        return str(row.status)  # settled meanwhile (our lease ran out): leave it alone
    if attempt.verdict == "later":
        ctx.conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(next_at=attempt.retry_at or now, updated_at=now)
        )
        return str(row.status)
    attempts = row.attempts + 1
    status: str = attempt.verdict
    next_at = now
    if status == "retry" and attempts >= backoff.max_attempts:
        status = "gave_up"
    elif status == "retry":
        status = "failed"
        next_at = now + timedelta(seconds=backoff.delay(attempts) * jitter)
    ctx.conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=status,
            attempts=attempts,
            next_at=next_at,
            http_status=attempt.http_status,
            error=attempt.error,
            updated_at=now,
        )
    )
    return status


class Outbox(Service):
    """Polls the outbox for one notifier's kind and records each attempt."""

    def __init__(
        self,
        db: Database,
        notifier: Notifier,
        clock: Any,  # IReactorTime
        jitter: Callable[[], float] | None = None,
        on_attempt: Callable[[str, str], None] | None = None,
    ) -> None:
        self.name = f"outbox-{notifier.kind}"  # type: ignore[assignment]
        self.db = db
        self.notifier = notifier
        self.clock = clock
        # Jitter spreads retries, so that receivers back from an outage are not hit at once.
        self.jitter = jitter or (lambda: random.uniform(0.8, 1.2))  # noqa: S311 - not crypto
        self.on_attempt = on_attempt  # metrics: (kind, delivered | failed | gave_up | …)
        self._loop: task.LoopingCall | None = None
        self._stopped: defer.Deferred[Any] | None = None

    def startService(self) -> None:
        super().startService()
        # LoopingCall waits for the Deferred of each poll: polls never overlap.
        self._loop = task.LoopingCall(lambda: defer.ensureDeferred(self.poll()))
        self._loop.clock = self.clock
        self._stopped = self._loop.start(self.notifier.policy.poll_interval, now=True)

    def stopService(self) -> defer.Deferred[None]:
        """Stop polling; fires once the attempts in flight are recorded."""
        super().stopService()
        loop, stopped = self._loop, self._stopped
        self._loop = self._stopped = None
        if loop is None or stopped is None:
            return defer.succeed(None)
        if loop.running:
            loop.stop()
        # LoopingCall's Deferred fires only after the call in progress has finished.
        return stopped.addCallback(lambda _: None)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    async def poll(self) -> int:
        """Claim the due rows and attempt each once; never raises (it would stop the loop).
        Returns how many were attempted."""
        n = self.notifier
        if not n.ready():
            return 0
        now = self.now()
        try:
            # A read first: an idle poll must not take a slot in the writer's batches.
            if not await self.db.read(any_due, now, n.kind):
                return 0
            claimed = await self.db.write(claim, now, n.kind, n.policy.batch, n.policy.lease)
        except StoreUnavailable as e:
            log.warn("Outbox {kind}: store unavailable: {error}", kind=n.kind, error=str(e))
            return 0
        except Exception:
            log.failure("Outbox {kind}: claiming due deliveries failed", kind=n.kind)
            return 0
        slots = defer.DeferredSemaphore(max(1, n.policy.concurrency))

        def deliver(d: Delivery) -> defer.Deferred[None]:
            return defer.ensureDeferred(self._deliver(d))

        await defer.gatherResults([slots.run(deliver, d) for d in claimed])
        return len(claimed)

    async def _deliver(self, d: Delivery) -> None:
        n = self.notifier
        try:
            attempt = await n.attempt(d)
        except Exception as e:  # noqa: BLE001 - a notifier's bug is one failed attempt
            log.failure("Outbox {kind}: delivery {id} failed with a bug", kind=n.kind, id=d.id)
            attempt = Attempt("retry", type(e).__name__)
        try:
            status = await self.db.write(
                record_attempt, d.id, attempt, self.now(), n.policy.backoff, self.jitter()
            )
        except StoreUnavailable as e:
            # The lease runs out and the row is claimed again: nothing is lost.
            log.warn("Outbox {kind}: delivery {id} not recorded: {e}", kind=n.kind, id=d.id, e=e)
            return
        except Exception:
            log.failure("Outbox {kind}: recording delivery {id} failed", kind=n.kind, id=d.id)
            return
        if attempt.verdict == "later":
            return
        if self.on_attempt is not None:
            self.on_attempt(n.kind, status)
        log_at = log.info if status == "delivered" else log.warn
        log_at(
            "{kind} delivery {id} for {incident} to {unit}: {status} ({outcome})",
            kind=n.kind,
            id=d.id,
            incident=d.number,
            unit=d.unit or "-",
            status=status,
            outcome=attempt.error or attempt.http_status or "ok",
        )
