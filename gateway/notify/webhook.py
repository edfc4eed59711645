"""Deliver the webhook rows of the outbox (`deliveries`): POST the incident JSON, signed.

Each poll claims the due rows with a lease (next_at moves past the longest attempt), so
with several nodes on one database a row is sent by one node at a time, and a row whose
node crashed mid-send is picked up again when its lease runs out. Every attempt's outcome
is recorded on the row: delivered, failed (retried with exponential backoff) or gave_up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import treq
from sqlalchemy import Connection, exists, select, update
from treq.client import HTTPClient
from twisted.application.service import Service
from twisted.internet import defer, error, task
from twisted.logger import Logger

from gateway.config import Config
from gateway.store.db import Database, StoreUnavailable, WriteContext
from gateway.store.tables import deliveries, incidents
from gateway.workflow import records

log = Logger()

LEASE_MARGIN = 30.0  # seconds beyond the HTTP timeout: room for the commit of the outcome
CLAIMABLE = ("pending", "failed")
# RFC 9110 §15.5: a 4xx says the request itself is wrong, and sending it again will not
# help; except 408 (the receiver timed out), 425 (too early) and 429 (rate limited), which
# ask us to try later. Such a refusal gives up at once instead of burning max_attempts.
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Claimed:
    """A delivery this node holds the lease on."""

    id: int
    number: str
    unit: str | None
    url: str
    reason: str
    drill: bool
    attempts: int
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Attempt:
    http_status: int | None
    error: str | None  # short and free of personal data: it is stored and logged


def verdict(http_status: int | None) -> str:
    """What an attempt's answer means: "delivered", "retry" or "gave_up"."""
    if http_status is not None and 200 <= http_status < 300:
        return "delivered"
    if http_status is not None and 400 <= http_status < 500 and http_status not in RETRYABLE_4XX:
        return "gave_up"
    return "retry"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` over "<timestamp>." + body; the timestamp lets receivers refuse replays."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def any_due(conn: Connection, now: datetime, kind: str = "webhook") -> bool:
    q = select(exists().where(*_due(now, kind)))
    return bool(conn.execute(q).scalar())


def _due(now: datetime, kind: str) -> tuple[Any, ...]:
    return (
        deliveries.c.status.in_(CLAIMABLE),
        deliveries.c.kind == kind,
        deliveries.c.next_at <= now,
    )


def claim(
    ctx: WriteContext, now: datetime, limit: int, lease: float, kind: str = "webhook"
) -> list[Claimed]:
    """Take up to `limit` due rows of one kind (webhook, phone, …): their next_at moves to
    the end of the lease. `Claimed.url` is the row's target, whatever its kind."""
    q = (
        select(
            deliveries.c.id,
            incidents.c.number,
            deliveries.c.unit,
            deliveries.c.target.label("url"),
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
    return [Claimed(**r) for r in rows]


class WebhookNotifier(Service):
    def __init__(
        self,
        db: Database,
        config: Config,
        clock: Any = None,  # IReactorTime; None: the reactor
        http: HTTPClient | None = None,
        poll_interval: float = 1.0,
        batch: int = 50,
        jitter: Callable[[], float] | None = None,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        if clock is None or http is None:
            from twisted.internet import reactor
            from twisted.web.client import Agent

            clock = clock or reactor
            # Agent's default pool is not persistent: nothing stays open between polls.
            http = http or HTTPClient(Agent(reactor))  # type: ignore[arg-type]
        self.db = db
        self.config = config
        self.clock = clock
        self.http: HTTPClient = http
        self.poll_interval = poll_interval
        self.batch = batch
        # Jitter spreads retries, so that receivers back from an outage are not hit at once.
        self.jitter = jitter or (lambda: random.uniform(0.8, 1.2))  # noqa: S311 - not crypto
        self.on_attempt = on_attempt  # metrics: called with delivered / failed / gave_up
        self._loop: task.LoopingCall | None = None
        self._stopped: defer.Deferred[Any] | None = None

    # -- life cycle ----------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        # LoopingCall waits for the Deferred of each poll: polls never overlap.
        self._loop = task.LoopingCall(lambda: defer.ensureDeferred(self.poll()))
        self._loop.clock = self.clock
        self._stopped = self._loop.start(self.poll_interval, now=True)

    def stopService(self) -> defer.Deferred[None]:
        """Stop polling; fires once the deliveries in flight are recorded."""
        super().stopService()
        loop, stopped = self._loop, self._stopped
        self._loop = self._stopped = None
        if loop is None or stopped is None:
            return defer.succeed(None)
        if loop.running:
            loop.stop()
        # LoopingCall's Deferred fires only after the call in progress has finished.
        return stopped.addCallback(lambda _: None)

    # -- one poll ------------------------------------------------------------------------

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    async def poll(self) -> int:
        """Claim the due deliveries and attempt each once; never raises (it would stop
        the loop). Returns how many were attempted."""
        now = self.now()
        try:
            # A read first: an idle poll must not take a slot in the writer's batches.
            if not await self.db.read(any_due, now):
                return 0
            lease = self.config.webhook.timeout + LEASE_MARGIN
            claimed = await self.db.write(claim, now, self.batch, lease)
        except StoreUnavailable as e:
            log.warn("Webhooks: store unavailable, will poll again: {error}", error=str(e))
            return 0
        except Exception:
            log.failure("Webhooks: claiming due deliveries failed")
            return 0
        await defer.gatherResults(
            [defer.ensureDeferred(self._deliver(self._with_secret(c))) for c in claimed]
        )
        return len(claimed)

    def _with_secret(self, c: Claimed) -> Claimed:
        """Secrets live in the configuration, never in the database: the unit's target with
        this address first, then a category's also_notify target (119, …)."""
        org = self.config.org
        candidates = list(org.get(c.unit).notify) if c.unit is not None and c.unit in org else []
        for category in self.config.categories.values():
            candidates.extend(category.also_notify)
        for target in candidates:
            if target.kind == "webhook" and target.address == c.url and target.secret:
                return replace(c, secret=target.secret)
        return c

    async def _deliver(self, c: Claimed) -> None:
        try:
            doc = await self.db.read(
                lambda conn: records.document(conn, records.load(conn, c.number), detail=False)
            )
            outcome = await self._post(c, doc)
            settings = self.config.webhook
            status = await self.db.write(
                record_attempt,
                c.id,
                verdict(outcome.http_status),
                outcome,
                self.now(),
                Backoff(settings.max_attempts, settings.backoff_initial, settings.backoff_max),
                self.jitter,
            )
        except StoreUnavailable as e:
            # The lease runs out and the row is claimed again: nothing is lost.
            log.warn("Webhook {delivery}: store unavailable: {error}", delivery=c.id, error=str(e))
            return
        except Exception:
            log.failure("Webhook {delivery}: delivery failed with a bug", delivery=c.id)
            return
        if self.on_attempt is not None:
            self.on_attempt(status)
        # The URL without its query: receivers sometimes put a token there.
        where = urlsplit(c.url)._replace(query="", fragment="").geturl()
        log_at = log.info if status == "delivered" else log.warn
        log_at(
            "Webhook {delivery} for {incident} to {url}: {status} ({outcome})",
            delivery=c.id,
            incident=c.number,
            url=where,
            status=status,
            outcome=outcome.error or outcome.http_status,
        )

    async def _post(self, c: Claimed, doc: dict[str, Any]) -> Attempt:
        payload = {"delivery": c.id, "reason": c.reason, "drill": c.drill, "incident": doc}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        timestamp = int(self.clock.seconds())
        headers: dict[bytes | str, bytes | str] = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Alarmgw-Delivery": str(c.id),
            "X-Alarmgw-Timestamp": str(timestamp),
        }
        if c.secret:
            headers["X-Alarmgw-Signature"] = sign(c.secret, timestamp, body)

        async def exchange() -> Attempt:
            # No redirects: a POST turned into a GET elsewhere is not a delivery.
            response = await self.http.post(
                c.url, data=body, headers=headers, allow_redirects=False
            )
            await treq.collect(response, lambda _chunk: None)  # drain, so the socket closes
            code = int(response.code)
            return Attempt(code, None if 200 <= code < 300 else f"HTTP {code}")

        # One timeout over the whole exchange, the body included: a receiver that trickles
        # its answer must not hold the lease. (Cancelling surfaces as whatever the agent
        # was doing, e.g. ResponseNeverReceived, hence onTimeoutCancel.)
        d = defer.ensureDeferred(exchange())
        d.addTimeout(
            self.config.webhook.timeout,
            self.clock,
            onTimeoutCancel=lambda _result, _timeout: Attempt(None, "timeout"),
        )
        try:
            return await d
        except error.ConnectionRefusedError:
            return Attempt(None, "connection refused")
        except error.DNSLookupError:
            return Attempt(None, "DNS lookup failed")
        except Exception as e:  # noqa: BLE001 - any other network failure is worth a retry
            return Attempt(None, _short(e))


@dataclass(frozen=True)
class Backoff:
    max_attempts: int
    initial: float
    max: float


def record_attempt(
    ctx: WriteContext,
    delivery_id: int,
    status: str,
    outcome: Attempt,
    now: datetime,
    backoff: Backoff,
    jitter: Callable[[], float],
) -> str:
    """In the writer's transaction: count an attempt of any kind of delivery and decide
    what comes next. `status` is the attempt's verdict: delivered, retry or gave_up."""
    row = ctx.conn.execute(
        select(deliveries.c.status, deliveries.c.attempts)
        .where(deliveries.c.id == delivery_id)
        .with_for_update()
    ).one()
    if row.status not in CLAIMABLE:
        return str(row.status)  # settled meanwhile (our lease ran out): leave it alone
    attempts = row.attempts + 1
    next_at = now
    if status == "retry" and attempts >= backoff.max_attempts:
        status = "gave_up"
    elif status == "retry":
        # The exponent is capped: a float cannot hold 2 ** 1100 (max_attempts is config).
        delay = min(backoff.max, backoff.initial * 2 ** min(attempts - 1, 60))
        status, next_at = "failed", now + timedelta(seconds=delay * jitter())
    ctx.conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(
            status=status,
            attempts=attempts,
            next_at=next_at,
            http_status=outcome.http_status,
            error=outcome.error,
            updated_at=now,
        )
    )
    return status


def _short(e: BaseException) -> str:
    """The error's type names only (e.g. "ResponseNeverReceived: ConnectionLost"): bounded,
    and a message cannot smuggle a URL token or personal data into the row or the log."""
    reasons = getattr(e, "reasons", None)  # twisted.web's _WrapperException
    inner = f": {type(reasons[0].value).__name__}" if reasons else ""
    return type(e).__name__ + inner
