"""SMS out: receipts, follow-up receipts, state updates and call-takers' replies (action
``reply``) are rows of `sms_out`, sent at no more than `tps` parts a second (a token bucket
shared with the duty notices), paused on ESME_RTHROTTLED, retried with backoff; each part's
delivery receipt is matched by the SMSC's message id, and the incident's audit log gets
sent / delivered / failed."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from twisted.internet import task
from twisted.logger import Logger

from gateway import phone
from gateway.channels.smpp import store
from gateway.channels.smpp.esme import Bind, SmppUnavailable, SubmitRefused
from gateway.channels.smpp.settings import fill
from gateway.channels.smpp.text import split_for_sending
from gateway.errors import DomainError
from gateway.intake import mask_phone
from gateway.report import InvalidReport
from gateway.store.engine import StoreUnavailable
from gateway.workflow.machine import Actor

if TYPE_CHECKING:
    from gateway.channels.smpp.service import SmppChannel

log = Logger()

MAX_REPLY = 670  # characters: ten UCS2 parts


class NoSmsThread(DomainError):
    kind = "conflict"


def submit_fields(
    source: str,
    to: str,
    data_coding: int,
    body: bytes,
    parts: int,
    *,
    source_ton: int = 0,
    source_npi: int = 0,
    registered_delivery: bool = False,
) -> dict[str, Any]:
    """The submit_sm of one part (a `text.split_for_sending` body) of an SMS of `parts`
    parts: esm_class has UDHI (0x40, SMPP 3.4 §5.2.12) when the body starts with a UDH."""
    return {
        "service_type": "",
        "source_addr_ton": source_ton,
        "source_addr_npi": source_npi,
        "source_addr": source,
        "dest_addr_ton": 0,
        "dest_addr_npi": 0,
        "destination_addr": to,
        "esm_class": 0x40 if parts > 1 else 0,
        "data_coding": data_coding,
        "short_message": body,
        "registered_delivery": 1 if registered_delivery else 0,
    }


class Sender:
    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.clock = channel.clock
        self.settings = channel.settings
        self._sending = False
        self._tokens = 1.0
        self._tokens_at = 0.0
        self.paused_until = 0.0
        self._pause = self.settings.throttle_pause
        self._ref = random.randrange(256)  # noqa: S311 - a concatenation reference
        self._next = -1  # the transmitter used last (round robin)

    def now(self) -> datetime:
        return self.ctx.now()

    def fill(self, template: str, incident: str, drill: bool, **more: Any) -> str:
        return fill(template, incident, drill, self.now(), self.ctx.tz, **more)

    def next_ref(self) -> int:
        self._ref = (self._ref + 1) % 256
        return self._ref

    # -- queue ---------------------------------------------------------------------------------

    async def queue(
        self,
        incident: str,
        kind: str,
        to: str,
        text: str,
        dedupe: str | None = None,
        actor: Actor | None = None,
    ) -> bool:
        ref = self.next_ref()
        _dc, parts = split_for_sending(text, ref)
        return await self.ctx.write(
            store.queue, incident, kind, to, text, len(parts), ref, dedupe, self.now(), actor
        )

    async def reply(
        self, number: str, actor: Actor, text: str, to: str | None = None
    ) -> dict[str, Any]:
        """A call-taker answers the citizen by SMS (action ``reply``): to `to`, or to the
        number that last wrote to this incident."""
        text = text.strip()
        if not text:
            raise InvalidReport("text", "the reply is empty")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise InvalidReport("text", "contains a lone surrogate (not a character)")
        if len(text) > MAX_REPLY:
            raise InvalidReport("text", f"{len(text)} characters, at most {MAX_REPLY}")
        senders = await self.ctx.read(store.senders, number)
        if not senders:
            raise NoSmsThread(f"incident {number} has no SMS from a citizen to answer")
        if to is not None:
            to = phone.normalise(to)  # as the senders are keyed (+86 139… is 139…)
        if to is not None and to not in senders:
            raise InvalidReport("to", f"{mask_phone(to)} has not written to incident {number}")
        target = to or senders[-1]
        await self.queue(number, "reply", target, text, actor=actor)
        return {"incident": number, "sms": {"to": target, "text": text, "status": "pending"}}

    def after_action(self, number: str, action: str, doc: Mapping[str, Any]) -> None:
        """A state the citizen hears about (config `reply_updates`): one SMS to each number
        that wrote to the incident, once per state."""
        template = self.settings.reply_updates.get(str(doc.get("state")))
        if not template or not self.channel.running:
            return

        async def updates() -> None:
            senders = await self.ctx.read(store.senders, number)
            for to in senders:
                text = self.fill(template, number, bool(doc.get("drill")))
                await self.queue(
                    number, "update", to, text, dedupe=f"update:{number}:{doc['state']}:{to}"
                )

        self.channel.spawn(updates())

    # -- send ----------------------------------------------------------------------------------

    def can_send(self) -> bool:
        """A transmitter is bound and the SMSC has not asked us to pause."""
        return (
            any(b.up and b.settings.transmits for b in self.channel.binds)
            and self.clock.seconds() >= self.paused_until
        )

    async def send_due(self) -> None:
        if self._sending or not self.can_send():
            return
        self._sending = True
        try:
            now = self.now()
            if not await self.ctx.read(store.any_due, now):
                return
            lease = self.settings.response_timeout * 10 + 30
            rows = await self.ctx.write(store.claim, now, 20, lease)
            for i, row in enumerate(rows):
                if self.clock.seconds() < self.paused_until:
                    # Throttled: the rest waits for the pause, not for its lease to run out.
                    retry = datetime.fromtimestamp(self.paused_until, UTC)
                    ids = [r["id"] for r in rows[i:]]
                    await self.ctx.write(store.release, ids, retry, self.now())
                    break
                await self._send_one(row)
        except StoreUnavailable as e:
            log.warn("SMPP: sending deferred: {e}", e=e)
        except Exception:  # noqa: BLE001 - the loop must go on (its rows' leases run out)
            log.failure("SMPP: sending failed")
        finally:
            self._sending = False

    async def _send_one(self, row: Mapping[str, Any]) -> None:
        """Send one queued SMS. The parts the SMSC took are recorded with the outcome, in
        one write: few writes on the writer thread, which shares SQLite's write lock with
        the intake worker (each one can hold an acknowledgement back)."""
        taken: list[tuple[int, str]] = []
        try:
            await self.submit(row["number"], row["text"], row["ref"], row["sent_parts"], taken)
        except SubmitRefused as e:
            if e.throttled:
                retry = self.pause()
                await self.ctx.write(
                    store.not_sent, row["id"], str(e), self.now(), retry, False, taken
                )
            else:
                await self._not_sent(row, str(e), taken)
            return
        except SmppUnavailable as e:
            await self._not_sent(row, str(e), taken)
            return
        except Exception as e:  # noqa: BLE001 - one message's fault must not stop the others
            log.failure("SMPP: sending message {id} failed", id=row["id"])
            await self._not_sent(row, f"{type(e).__name__}: {e}"[:200], taken)
            return
        self.resumed()
        await self.ctx.write(store.sent, row["id"], taken, self.now())
        self.channel.metrics.sms.labels("out", row["kind"]).inc()
        log.info(
            "SMPP: {kind} for {incident} sent to {to}",
            kind=row["kind"],
            incident=row["incident"],
            to=mask_phone(row["number"]),
        )

    def pause(self) -> datetime:
        """ESME_RTHROTTLED: the SMSC wants less. Stop sending for the current pause (doubled
        for next time, up to 30 s, while it keeps saying so); returns when sending resumes.
        A throttled message is due again then, not counted as an attempt."""
        self.paused_until = self.clock.seconds() + self._pause
        log.warn("SMPP: throttled by the SMSC; pausing {s:.1f} s", s=self._pause)
        self._pause = min(30.0, self._pause * 2)
        self.channel.metrics.sms.labels("out", "throttled").inc()
        return datetime.fromtimestamp(self.paused_until, UTC)

    def resumed(self) -> None:
        """A submit went through: the next throttling pauses for the shortest time again."""
        self._pause = self.settings.throttle_pause

    async def _not_sent(
        self, row: Mapping[str, Any], error: str, taken: list[tuple[int, str]]
    ) -> None:
        s = self.settings
        attempts = row["attempts"] + 1
        retry = None
        if attempts < s.send_attempts:
            delay = s.send_retry_seconds * 2 ** min(attempts - 1, 10) * random.uniform(0.9, 1.1)  # noqa: S311
            retry = self.now() + timedelta(seconds=delay)
        status = await self.ctx.write(
            store.not_sent, row["id"], error, self.now(), retry, True, taken
        )
        self.channel.metrics.sms.labels("out", "failed").inc()
        log.warn(
            "SMPP: {kind} for {incident} to {to} not sent ({error}): {status}",
            kind=row["kind"],
            incident=row["incident"],
            to=mask_phone(row["number"]),
            error=error,
            status=status,
        )

    async def submit(
        self,
        to: str,
        text: str,
        ref: int,
        done: set[int] | frozenset[int] = frozenset(),
        taken: list[tuple[int, str]] | None = None,
    ) -> None:
        """Submit `text` to `to` as one SMS or concatenated parts (UDH, reference `ref`),
        at no more than `tps` parts a second; parts in `done` were taken before. Each part
        the SMSC takes is appended to `taken` as (seq, message_id), also when a later one
        fails."""
        s = self.settings
        data_coding, parts = split_for_sending(text, ref)
        for seq, body in enumerate(parts, 1):
            if seq in done:
                continue
            await self.token()
            bind = self._transmitter()
            message_id = await bind.submit(
                **submit_fields(
                    s.source_addr,
                    to,
                    data_coding,
                    body,
                    len(parts),
                    source_ton=s.source_addr_ton,
                    source_npi=s.source_addr_npi,
                    registered_delivery=s.registered_delivery,
                )
            )
            if taken is not None:
                taken.append((seq, message_id))

    def _transmitter(self) -> Bind:
        ready = [b for b in self.channel.binds if b.up and b.settings.transmits]
        if not ready:
            raise SmppUnavailable("no bind is up to send")
        self._next = (self._next + 1) % len(ready)
        return ready[self._next]

    async def token(self) -> None:
        """A token bucket of `tps` parts a second (a burst of one second's worth)."""
        tps = self.settings.tps
        while True:
            now = self.clock.seconds()
            if now < self.paused_until:  # throttled meanwhile: wait out the pause first
                await task.deferLater(self.clock, self.paused_until - now)
                continue
            # max(0, …): a clock stepped back must not leave the bucket deep in debt.
            elapsed = max(0.0, now - self._tokens_at)
            self._tokens = min(max(1.0, tps), self._tokens + elapsed * tps)
            self._tokens_at = now
            # A hair under one counts: at timestamps of today a float cannot hold the
            # step, and the wait asked for would be ~1e-7 s, again and again.
            if self._tokens >= 1.0 - 1e-9:
                self._tokens -= 1.0
                return
            await task.deferLater(self.clock, (1.0 - self._tokens) / tps)
