"""The webhook notifier: POSTs the incident JSON to a unit's (or a category's) URL, signed
with its secret (HMAC-SHA256 over the timestamp and the body). The outbox
(`gateway.notify.outbox`) claims the rows, retries and records; this only makes one
attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import treq
from treq.client import HTTPClient
from twisted.internet import defer, error

from gateway.config import Config
from gateway.notify.outbox import Attempt, Backoff, Delivery, Policy, Verdict
from gateway.store.db import Database
from gateway.workflow.documents import Documents

LEASE_MARGIN = 30.0  # seconds beyond the HTTP timeout: room for the commit of the outcome
# RFC 9110 §15.5: a 4xx says the request itself is wrong, and sending it again will not
# help; except 408 (the receiver timed out), 425 (too early) and 429 (rate limited), which
# ask us to try later. Such a refusal gives up at once instead of burning max_attempts.
RETRYABLE_4XX = frozenset({408, 425, 429})


def verdict(http_status: int | None) -> Verdict:
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


class WebhookNotifier:
    """POSTs the incident to a unit's (or a category's) webhook."""

    kind = "webhook"

    def __init__(
        self,
        db: Database,
        config: Config,
        documents: Documents,
        clock: Any = None,  # IReactorTime; None: the reactor
        http: HTTPClient | None = None,
    ) -> None:
        if clock is None or http is None:
            from twisted.internet import reactor
            from twisted.web.client import Agent

            clock = clock or reactor
            # Agent's default pool is not persistent: nothing stays open between polls.
            http = http or HTTPClient(Agent(reactor))  # type: ignore[arg-type]
        self.db = db
        self.config = config
        self.documents = documents
        self.clock = clock
        self.http: HTTPClient = http
        s = config.webhook
        self.policy = Policy(
            lease=s.timeout + LEASE_MARGIN,
            backoff=Backoff(s.max_attempts, s.backoff_initial, s.backoff_max),
        )

    def ready(self) -> bool:
        return True

    async def attempt(self, d: Delivery) -> Attempt:
        doc = await self.db.read(self.documents.of, d.number)
        code, error = await self._post(d, self._secret(d), doc)
        return Attempt(verdict(code), error, http_status=code)

    def _secret(self, d: Delivery) -> str | None:
        """Secrets live in the configuration, never in the database: the unit's target with
        this address first, then a category's also_notify target (119, …)."""
        org = self.config.org
        candidates = list(org.get(d.unit).notify) if d.unit is not None and d.unit in org else []
        for category in self.config.categories.values():
            candidates.extend(category.also_notify)
        for target in candidates:
            if target.kind == "webhook" and target.address == d.target and target.secret:
                return target.secret
        return None

    async def _post(
        self, d: Delivery, secret: str | None, doc: dict[str, Any]
    ) -> tuple[int | None, str | None]:
        payload = {"delivery": d.id, "reason": d.reason, "drill": d.drill, "incident": doc}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        timestamp = int(self.clock.seconds())
        headers: dict[bytes | str, bytes | str] = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Alarmgw-Delivery": str(d.id),
            "X-Alarmgw-Timestamp": str(timestamp),
        }
        if secret:
            headers["X-Alarmgw-Signature"] = sign(secret, timestamp, body)

        async def exchange() -> tuple[int | None, str | None]:
            # No redirects: a POST turned into a GET elsewhere is not a delivery.
            response = await self.http.post(
                d.target, data=body, headers=headers, allow_redirects=False
            )
            await treq.collect(response, lambda _chunk: None)  # drain, so the socket closes
            code = int(response.code)
            return code, None if 200 <= code < 300 else f"HTTP {code}"

        # One timeout over the whole exchange, the body included: a receiver that trickles
        # its answer must not hold the lease. (Cancelling surfaces as whatever the agent
        # was doing, e.g. ResponseNeverReceived, hence onTimeoutCancel.)
        exchanged = defer.ensureDeferred(exchange())
        exchanged.addTimeout(
            self.config.webhook.timeout,
            self.clock,
            onTimeoutCancel=lambda _result, _timeout: (None, "timeout"),
        )
        try:
            return await exchanged
        except error.ConnectionRefusedError:
            return None, "connection refused"
        except error.DNSLookupError:
            return None, "DNS lookup failed"
        except Exception as e:  # noqa: BLE001 - any other network failure is worth a retry
            return None, _short(e)


def _short(e: BaseException) -> str:
    """The error's type names only (e.g. "ResponseNeverReceived: ConnectionLost"): bounded,
    and a message cannot smuggle a URL token or personal data into the row or the log."""
    reasons = getattr(e, "reasons", None)  # twisted.web's _WrapperException
    inner = f": {type(reasons[0].value).__name__}" if reasons else ""
    return type(e).__name__ + inner
