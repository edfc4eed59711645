"""The SMS channel: messages to 12110 over SMPP become reports, and the citizen is answered.

- **In**: each deliver_sm is read strictly (`pdu`), classified (`inbound`) and answered
  **after** what it carries is stored: a whole message once its report is committed and its
  receipt reply queued; a part of a long one once the part is stored (`sms_parts`); a
  delivery receipt once the status of our SMS is updated. A store failure answers
  ESME_RX_T_APPN (the SMSC redelivers); what can never be read answers ESME_RX_P_APPN.
- **Idempotency**: SMPP gives a message no stable id, so its report's external id comes
  from its content (`keys`): a redelivery finds the first arrival's id and intake stores
  nothing. That lookup runs in the writer's transaction (`intake.SmsIntake`), so two
  redeliveries racing on two binds cannot both be new.
- **Long messages** are put together in any order (`concat`); a message still missing a
  part after `reassembly_timeout` is filed with what came, marked incomplete. Parts live in
  the store until their message is a report, so a restart loses none.
- **Out**: receipts, follow-up receipts, state updates, call-takers' replies (action
  ``reply``) are rows of `sms_out`, sent at no more than `tps` parts a second, paused on
  ESME_RTHROTTLED, retried with backoff; each part's delivery receipt is matched by the
  SMSC's message id, and the incident's audit log gets sent / delivered / failed.
- **Duty phones**: a unit's notify target of kind ``sms`` gets the incident by SMS; an
  answer such as ``1 530100-20261124-000003`` from one of that unit's registered numbers
  acknowledges (签收) through the normal workflow action.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smpplib import consts
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.channels.smpp import pdu
from gateway.channels.smpp.concat import Complete, Incomplete, Part, Reassembler
from gateway.channels.smpp.esme import Bind, SmppUnavailable, SubmitRefused, Token
from gateway.channels.smpp.inbound import DeliveryReceipt, Whole, classify
from gateway.channels.smpp.keys import PREFIX, Concatenation, content_key
from gateway.channels.smpp.settings import SmppSettings, citizen_number, fill
from gateway.channels.smpp.text import BadText, decode, split_for_sending
from gateway.errors import DomainError
from gateway.intake import mask_phone
from gateway.notify.webhook import Attempt, Backoff, any_due, claim, record_attempt
from gateway.report import InvalidReport, Receipt, Report, Sender
from gateway.store.db import StoreUnavailable
from gateway.workflow import records
from gateway.workflow import sms as store
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role

log = Logger()

FILED_MAX = 100_000  # parts of filed messages remembered, at most
MAX_TEXT = 10_000  # report.schema.json's text.maxLength
BINARY_KEPT = 1024  # octets of an undecodable message kept (hex) in the report
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # Cc but \t \n \r


@dataclass(frozen=True)
class Message:
    """A citizen's SMS ready to file: whole, put together, or given up on (incomplete)."""

    source: str
    dest: str
    data_coding: int
    text: str | None
    raws: tuple[bytes, ...]  # the payload of each part that came, in order
    concat: Concatenation | None
    received_at: datetime  # of its first part
    missing: tuple[int, ...] = ()

    @classmethod
    def of(cls, m: Complete | Incomplete) -> Message:
        dc = m.parts[0].data_coding
        text = m.text
        if isinstance(m, Complete) and text is None:
            try:  # a surrogate pair split across parts decodes once they are joined
                text = decode(m.raw, dc)
            except BadText:
                text = None
        return cls(
            m.source,
            m.dest,
            dc,
            text,
            tuple(p.raw for p in m.parts),
            Concatenation(m.ref, m.total),
            min(m.received_at),
            m.missing if isinstance(m, Incomplete) else (),
        )


class NoSmsThread(DomainError):
    kind = "conflict"


class SmppChannel(Service):
    name = "smpp"  # type: ignore[assignment]

    def __init__(self, gw: Any, settings: SmppSettings, poll_interval: float = 0.2) -> None:
        self.gw = gw
        self.settings = settings
        self.clock = gw.clock
        self.poll_interval = poll_interval
        self.tz = ZoneInfo(gw.config.city.timezone)
        self.binds = [Bind(b, self, gw.reactor) for b in settings.binds()]
        self.reassembler = Reassembler(settings.reassembly_timeout)
        self.ack_re = re.compile(settings.ack_pattern)
        self.duty = _duty_numbers(gw.config.org)
        self._filed: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._stopping = False
        self._inflight: set[defer.Deferred[Any]] = set()
        self._loops: list[task.LoopingCall] = []
        self._sending = False
        self._tokens = 1.0
        self._tokens_at = 0.0
        self._paused_until = 0.0
        self._pause = settings.throttle_pause
        self._ref = random.randrange(256)  # noqa: S311 - a concatenation reference
        self._next = -1  # the transmitter used last (round robin)
        gw.action_listeners.append(self._after_action)

    # -- life cycle ----------------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self) -> Any:
        super().startService()
        rows = yield self.gw.db.read(store.load_parts)
        # Each waits a whole reassembly_timeout from now, not from its first part: the SMSC
        # redelivers the parts we never acknowledged once we are bound again.
        for row in rows:
            self._reassemble(_part_of(row), self.clock.seconds())
        if rows:
            log.info("SMPP: {n} stored parts of long messages picked up", n=len(rows))
        for b in self.binds:
            b.start()
        for fn, interval in ((self._expire, 1.0), (self._send_due, self.poll_interval)):
            loop = task.LoopingCall(fn)
            loop.clock = self.clock
            loop.start(interval, now=False).addErrback(
                lambda f: log.failure("SMPP: loop failed", f)
            )
            self._loops.append(loop)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self._stopping = True
        for loop in self._loops:
            if loop.running:
                loop.stop()
        if self._inflight:  # answers after commit still on their way go out first
            waiting = defer.DeferredList(list(self._inflight), consumeErrors=True)
            timeout = self.clock.callLater(10, waiting.cancel)
            try:
                yield waiting
            except defer.CancelledError:
                pass
            if timeout.active():
                timeout.cancel()
        yield defer.DeferredList([b.stop() for b in self.binds], consumeErrors=True)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def _spawn(self, coro: Any) -> defer.Deferred[Any]:
        d = defer.ensureDeferred(coro)
        self._inflight.add(d)

        def done(result: Any) -> Any:
            self._inflight.discard(d)
            return result

        d.addBoth(done)
        d.addErrback(lambda f: log.failure("SMPP: task failed", f))
        return d

    # -- in: deliver_sm (Handler) ----------------------------------------------------------

    def bind_changed(self, bind: Bind, up: bool) -> None:
        self.gw.metrics.smpp_up.labels(bind.settings.name).set(1 if up else 0)

    def deliver(self, bind: Bind, token: Token, d: pdu.Deliver, received_at: datetime) -> None:
        if self._stopping:  # nothing new once stopping: the SMSC redelivers it later
            bind.respond(token, consts.SMPP_ESME_RX_T_APPN)
            return
        self._spawn(self._deliver(bind, token, d, received_at))

    async def _deliver(self, bind: Bind, token: Token, d: pdu.Deliver, at: datetime) -> None:
        status = consts.SMPP_ESME_ROK
        try:
            item = classify(d.inbound, at)
            if isinstance(item, DeliveryReceipt):
                await self._receipt(item)
                outcome = "receipt"
            elif isinstance(item, Part):
                await self._part(item)
                outcome = "part"
            else:
                outcome = await self._whole(item, at)
        except BadText as e:
            log.warn("SMPP: message from {who} refused: {e}", who=mask_phone(d.inbound.source), e=e)
            status, outcome = consts.SMPP_ESME_RX_P_APPN, "refused"
        except InvalidReport as e:
            log.warn("SMPP: message from {who} invalid: {e}", who=mask_phone(d.inbound.source), e=e)
            status, outcome = consts.SMPP_ESME_RX_P_APPN, "refused"
        except StoreUnavailable as e:
            log.warn("SMPP: store unavailable, the SMSC will redeliver: {e}", e=e)
            status, outcome = consts.SMPP_ESME_RX_T_APPN, "unavailable"
        except Exception:  # noqa: BLE001 - answer, and let the SMSC try again
            log.failure("SMPP: deliver_sm failed")
            status, outcome = consts.SMPP_ESME_RX_T_APPN, "failed"
        bind.respond(token, status)
        self.gw.metrics.sms.labels("in", outcome).inc()

    async def _whole(self, m: Whole, at: datetime) -> str:
        number = citizen_number(m.source)
        if m.text is not None and number in self.duty:
            match = self.ack_re.match(m.text)
            if match is not None:
                await self._duty_answer(number, match.group("incident"))
                return "ack"
        msg = Message(m.source, m.dest, m.data_coding, m.text, (m.raw,), None, at)
        receipt = await self._file(msg)
        return "duplicate" if receipt.duplicate else "stored"

    async def _part(self, part: Part) -> None:
        if self._was_filed(part):
            return  # the SMSC redelivered a part of a message already filed
        row = {
            "source": part.source,
            "dest": part.dest,
            "ref": part.ref,
            "total": part.total,
            "seq": part.seq,
            "data_coding": part.data_coding,
            "raw": part.raw,
            "received_at": part.received_at,
        }
        outcome = await self.gw.db.write(store.save_part, row)
        if outcome == "conflict":
            # The sender reused this reference for another message: what came of the first
            # is filed now (marked incomplete), then this part starts the second.
            key = (part.source, part.dest, part.ref, part.total)
            earlier = self.reassembler.take(*key)
            if earlier is not None:
                await self._finish(earlier)
            else:
                await self.gw.db.write(store.drop_parts, *key)
            await self.gw.db.write(store.save_part, row)
        self._reassemble(part, self.clock.seconds())

    # The parts of messages filed, for `redelivery_window`: a part the SMSC redelivers
    # after its message was filed (its deliver_sm_resp was lost) is not a new message.
    def _remember_filed(self, m: Complete | Incomplete) -> None:
        now = self.clock.seconds()
        for p in m.parts:
            self._filed[_part_key(p)] = now
        horizon = now - self.settings.redelivery_window
        while self._filed and (
            next(iter(self._filed.values())) < horizon or len(self._filed) > FILED_MAX
        ):
            self._filed.popitem(last=False)

    def _was_filed(self, part: Part) -> bool:
        return _part_key(part) in self._filed

    def _reassemble(self, part: Part, now: float) -> None:
        complete = self.reassembler.add(part, now)
        if complete is not None:
            self._spawn(self._finish(complete))

    def _expire(self) -> None:
        for incomplete in self.reassembler.expire(self.clock.seconds()):
            log.warn(
                "SMPP: message {ref} from {who} incomplete ({reason}): part(s) {missing} of "
                "{total} missing",
                ref=incomplete.ref,
                who=mask_phone(incomplete.source),
                reason=incomplete.reason,
                missing=",".join(map(str, incomplete.missing)),
                total=incomplete.total,
            )
            self._spawn(self._finish(incomplete))

    async def _finish(self, m: Complete | Incomplete) -> None:
        """File a message put together from stored parts, then drop the parts; retried
        while the store is unavailable (the parts are safe in it meanwhile)."""
        delay = 0.1
        group = (m.source, m.dest, m.ref, m.total)
        while True:
            try:
                await self._file(Message.of(m))
                await self.gw.db.write(store.drop_parts, *group)
                self._remember_filed(m)
                return
            except Exception as e:  # noqa: BLE001 - acknowledged parts are never given up
                if not self.running:
                    return  # the parts are stored: the next start files them
                if isinstance(e, StoreUnavailable):
                    log.warn("SMPP: filing a long message: {e}; retrying", e=e)
                else:
                    log.failure("SMPP: filing a long message failed; retrying")
                await task.deferLater(self.clock, delay)
                delay = min(60.0, delay * 2)

    async def _file(self, msg: Message) -> Receipt:
        """Intake the message as a report under its provisional external id; the intake
        hook (`intake.SmsIntake`) folds a redelivery into its first arrival and queues the
        receipt reply, both in the report's transaction."""
        key = content_key(msg.source, msg.dest, msg.data_coding, msg.raws, msg.concat)
        report = self.report_of(msg, f"{PREFIX}{key}@{int(msg.received_at.timestamp())}")
        receipt: Receipt = await self.gw.submit(report)
        return receipt

    def report_of(self, msg: Message, external: str) -> Report:
        text = msg.text
        if text is None:
            size = sum(map(len, msg.raws))
            text = f"[二进制短信，{size}字节，未解码 (data_coding 0x{msg.data_coding:02x})]"
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 40] + f"[…超长，共{len(text)}字，余下未存…]"
        drill = msg.dest in self.settings.drill_numbers
        extra: dict[str, Any] = {
            "source_addr": msg.source,
            "dest": msg.dest,
            "data_coding": msg.data_coding,
        }
        # Intake refuses control characters in a report's text (they break logs and
        # exports). A citizen's SMS is not refused for a stray one (a NUL some handsets
        # append, a GSM form feed): each becomes U+FFFD, and the octets are kept.
        kept = b"".join(msg.raws)[:BINARY_KEPT].hex()
        cleaned = _CONTROL.sub("\ufffd", text)
        if cleaned != text:
            text = cleaned
            extra["control_characters_replaced"] = True
            extra["raw_hex"] = kept
        if msg.concat is not None:
            extra["parts"] = msg.concat.total
        if msg.missing:
            extra["incomplete"] = True
            extra["missing_parts"] = list(msg.missing)
        if msg.text is None:
            extra["binary_hex"] = kept
        return Report(
            channel=store.CHANNEL,
            external_id=external,
            received_at=msg.received_at,
            sender=Sender("phone", _CONTROL.sub("?", citizen_number(msg.source))),
            text=text,
            drill=drill,
            extra=extra,
        )

    def _fill(self, template: str, incident: str, drill: bool, **more: Any) -> str:
        return fill(template, incident, drill, self.now(), self.tz, **more)

    # -- delivery receipts -------------------------------------------------------------------

    async def _receipt(self, r: DeliveryReceipt) -> None:
        """A delivery receipt may overtake the write that records its part's message id
        (an SMSC can answer at once): an unknown id is looked up again for a while before
        it counts as not ours."""
        for delay in (0.2, 0.5, 1.0, 0.0):
            status = await self.gw.db.write(
                store.delivery_receipt, r.message_id, r.stat, r.err, r.done_at, self.now()
            )
            if status is not None or not delay:
                break
            await task.deferLater(self.clock, delay)
        if status is None:
            log.info("SMPP: receipt for a message id not ours: {id}", id=r.message_id)
        self.gw.metrics.sms.labels("receipt", r.stat).inc()

    # -- out: queue and send -----------------------------------------------------------------

    async def queue(
        self,
        incident: str,
        kind: str,
        to: str,
        text: str,
        dedupe: str | None = None,
        actor: Actor | None = None,
    ) -> bool:
        self._ref = (self._ref + 1) % 256
        _dc, parts = split_for_sending(text, self._ref)
        return await self.gw.db.write(
            store.queue,
            incident,
            kind,
            to,
            text,
            len(parts),
            self._ref,
            dedupe,
            self.now(),
            actor,
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
        if len(text) > 670:  # ten UCS2 parts
            raise InvalidReport("text", f"{len(text)} characters, at most 670")
        senders = await self.gw.db.read(store.senders, number)
        if not senders:
            raise NoSmsThread(f"incident {number} has no SMS from a citizen to answer")
        if to is not None and to not in senders:
            raise InvalidReport("to", f"{mask_phone(to)} has not written to incident {number}")
        target = to or senders[-1]
        await self.queue(number, "reply", target, text, actor=actor)
        return {"incident": number, "sms": {"to": target, "text": text, "status": "pending"}}

    def _after_action(self, number: str, action: str, doc: Mapping[str, Any]) -> None:
        """A state the citizen hears about (config `reply_updates`): one SMS to each number
        that wrote to the incident, once per state."""
        template = self.settings.reply_updates.get(str(doc.get("state")))
        if not template or not self.running:
            return

        async def updates() -> None:
            senders = await self.gw.db.read(store.senders, number)
            for to in senders:
                text = self._fill(template, number, bool(doc.get("drill")))
                await self.queue(
                    number, "update", to, text, dedupe=f"update:{number}:{doc['state']}:{to}"
                )

        self._spawn(updates())

    async def _send_due(self) -> None:
        if self._sending or not any(b.up and b.settings.transmits for b in self.binds):
            return
        if self.clock.seconds() < self._paused_until:
            return
        self._sending = True
        try:
            await self._send_notices()
            now = self.now()
            if not await self.gw.db.read(store.any_due, now):
                return
            lease = self.settings.response_timeout * 10 + 30
            rows = await self.gw.db.write(store.claim, now, 20, lease)
            for i, row in enumerate(rows):
                if self.clock.seconds() < self._paused_until:
                    # Throttled: the rest waits for the pause, not for its lease to run out.
                    retry = datetime.fromtimestamp(self._paused_until, UTC)
                    ids = [r["id"] for r in rows[i:]]
                    await self.gw.db.write(store.release, ids, retry, self.now())
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
        s = self.settings
        taken: list[tuple[int, str]] = []
        try:
            await self._submit(row["number"], row["text"], row["ref"], row["sent_parts"], taken)
        except SubmitRefused as e:
            if e.throttled:
                await self._throttled(row, str(e), taken)
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
        self._pause = s.throttle_pause
        await self.gw.db.write(store.sent, row["id"], taken, self.now())
        self.gw.metrics.sms.labels("out", row["kind"]).inc()
        log.info(
            "SMPP: {kind} for {incident} sent to {to}",
            kind=row["kind"],
            incident=row["incident"],
            to=mask_phone(row["number"]),
        )

    async def _throttled(
        self, row: Mapping[str, Any], error: str, taken: list[tuple[int, str]]
    ) -> None:
        """ESME_RTHROTTLED: the SMSC wants less. Stop sending for a while (doubling up to
        30 s while it keeps saying so); the message is due again then, not counted as an
        attempt."""
        retry = self._pause_sending()
        await self.gw.db.write(store.not_sent, row["id"], error, self.now(), retry, False, taken)

    def _pause_sending(self) -> datetime:
        """Stop sending for the current pause (doubled for next time, up to 30 s); returns
        when sending resumes."""
        self._paused_until = self.clock.seconds() + self._pause
        log.warn("SMPP: throttled by the SMSC; pausing {s:.1f} s", s=self._pause)
        self._pause = min(30.0, self._pause * 2)
        self.gw.metrics.sms.labels("out", "throttled").inc()
        return datetime.fromtimestamp(self._paused_until, UTC)

    async def _not_sent(
        self, row: Mapping[str, Any], error: str, taken: list[tuple[int, str]]
    ) -> None:
        s = self.settings
        attempts = row["attempts"] + 1
        retry = None
        if attempts < s.send_attempts:
            delay = s.send_retry_seconds * 2 ** min(attempts - 1, 10) * random.uniform(0.9, 1.1)  # noqa: S311
            retry = self.now() + timedelta(seconds=delay)
        status = await self.gw.db.write(
            store.not_sent, row["id"], error, self.now(), retry, True, taken
        )
        self.gw.metrics.sms.labels("out", "failed").inc()
        log.warn(
            "SMPP: {kind} for {incident} to {to} not sent ({error}): {status}",
            kind=row["kind"],
            incident=row["incident"],
            to=mask_phone(row["number"]),
            error=error,
            status=status,
        )

    async def _submit(
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
            await self._token()
            bind = self._transmitter()
            message_id = await bind.submit(
                service_type="",
                source_addr_ton=s.source_addr_ton,
                source_addr_npi=s.source_addr_npi,
                source_addr=s.source_addr,
                dest_addr_ton=0,
                dest_addr_npi=0,
                destination_addr=to,
                esm_class=0x40 if len(parts) > 1 else 0,
                data_coding=data_coding,
                short_message=body,
                registered_delivery=1 if s.registered_delivery else 0,
            )
            if taken is not None:
                taken.append((seq, message_id))

    def _transmitter(self) -> Bind:
        ready = [b for b in self.binds if b.up and b.settings.transmits]
        if not ready:
            raise SmppUnavailable("no bind is up to send")
        self._next = (self._next + 1) % len(ready)
        return ready[self._next]

    async def _token(self) -> None:
        """A token bucket of `tps` parts a second (a burst of one second's worth)."""
        tps = self.settings.tps
        while True:
            now = self.clock.seconds()
            if now < self._paused_until:  # throttled meanwhile: wait out the pause first
                await task.deferLater(self.clock, self._paused_until - now)
                continue
            # max(0, …): a clock stepped back must not leave the bucket deep in debt.
            elapsed = max(0.0, now - self._tokens_at)
            self._tokens = min(max(1.0, tps), self._tokens + elapsed * tps)
            self._tokens_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await task.deferLater(self.clock, (1.0 - self._tokens) / tps)

    # -- duty phones -------------------------------------------------------------------------

    async def _send_notices(self) -> None:
        """The outbox's deliveries of kind ``sms``: the incident to a unit's duty phone."""
        now = self.now()
        if not await self.gw.db.read(any_due, now, "sms"):
            return
        lease = self.settings.response_timeout * 10 + 30
        for c in await self.gw.db.write(claim, now, 10, lease, "sms"):
            if self.clock.seconds() < self._paused_until:
                break  # throttled: the rest is due again when its lease runs out
            row = await self.gw.db.read(records.load, c.number)
            text = self._notice_text(row, c.drill)
            self._ref = (self._ref + 1) % 256
            taken: list[tuple[int, str]] = []
            try:
                await self._submit(c.url, text, self._ref, taken=taken)
                await self.gw.db.write(
                    store.notice_sent, c.number, c.url, text, self._ref, taken, self.now()
                )
                verdict, outcome = "delivered", Attempt(None, None)
            except SubmitRefused as e:
                if e.throttled:  # not the duty phone's fault: not an attempt
                    self._pause_sending()
                    continue
                verdict, outcome = "retry", Attempt(None, str(e)[:200])
            except SmppUnavailable as e:
                verdict, outcome = "retry", Attempt(None, str(e)[:200])
            s = self.settings
            status = await self.gw.db.write(
                record_attempt,
                c.id,
                verdict,
                outcome,
                self.now(),
                Backoff(s.send_attempts, s.send_retry_seconds, s.send_retry_seconds * 8),
                lambda: random.uniform(0.9, 1.1),  # noqa: S311 - not crypto
            )
            self.gw.metrics.deliveries.labels("sms", status).inc()
            log.info(
                "SMPP: notice of {incident} to {unit} ({to}): {status}",
                incident=c.number,
                unit=c.unit,
                to=mask_phone(c.url),
                status=status,
            )

    def _notice_text(self, row: Mapping[str, Any], drill: bool) -> str:
        location = records.snapshot(row).location or {}  # type: ignore[arg-type]
        return self._fill(
            self.settings.notify_text,
            row["number"],
            drill,
            category=_category_name(self.gw.config, row["category"]),
            priority=row["priority"] or "-",
            summary=(row["summary"] or "").strip()[:60],
            address=location.get("address") or "未知",
        )

    async def _duty_answer(self, number: str, incident: str) -> None:
        """``1 <incident>`` from a duty phone: the unit's 签收, when the incident waits for
        that unit's acknowledgement and the number is one of that unit's."""
        try:
            row = await self.gw.db.read(records.load, incident)
        except DomainError:
            log.warn(
                "SMPP: {who} acknowledged unknown incident {n}", who=mask_phone(number), n=incident
            )
            return
        units = self.duty.get(number, frozenset())
        if row["unit"] not in units:
            log.warn(
                "SMPP: acknowledgement of {n} from {who} refused: not a number of unit {unit}",
                n=incident,
                who=mask_phone(number),
                unit=row["unit"],
            )
            return
        if row["state"] != "dispatched":
            log.info(
                "SMPP: {n} is {state}: the acknowledgement by SMS changes nothing",
                n=incident,
                state=row["state"],
            )
            return
        actor = Actor(f"sms:{number}", Role.UNIT_OFFICER, row["unit"])
        params = {"reason": "值班手机短信回复签收 (acknowledged by SMS)"}
        try:
            await self.gw.act(incident, "acknowledge", actor, params)
        except DomainError as e:
            log.warn("SMPP: acknowledgement by SMS of {n} refused: {e}", n=incident, e=e)
            return
        log.info("SMPP: {n} acknowledged by SMS from {who}", n=incident, who=mask_phone(number))


def _category_name(config: Any, code: str | None) -> str:
    category = config.categories.get(code) if code else None
    return category.name if category is not None else "未分类"


def _duty_numbers(org: Any) -> dict[str, frozenset[str]]:
    """Registered duty numbers (notify targets of kind sms) → the units they answer for."""
    out: dict[str, set[str]] = {}
    for unit in org.units():
        for target in unit.notify:
            if target.kind == "sms":
                out.setdefault(citizen_number(target.address), set()).add(unit.code)
    return {k: frozenset(v) for k, v in out.items()}


def _part_key(p: Part) -> tuple[Any, ...]:
    return (p.source, p.dest, p.ref, p.total, p.seq, hashlib.sha256(p.raw).digest()[:16])


def _part_of(row: Mapping[str, Any]) -> Part:
    try:
        text = decode(row["raw"], row["data_coding"])
    except BadText:
        text = None
    return Part(
        source=row["source"],
        dest=row["dest"],
        ref=row["ref"],
        total=row["total"],
        seq=row["seq"],
        text=text,
        raw=row["raw"],
        received_at=row["received_at"],
        data_coding=row["data_coding"],
    )
