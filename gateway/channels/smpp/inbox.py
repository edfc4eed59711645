"""SMS in: each deliver_sm is read strictly (`pdu`), classified (`inbound`) and answered
**after** what it carries is stored: a whole message once its report is committed and its
receipt reply queued; a part of a long one once the part is stored (`sms_parts`); a delivery
receipt once the status of our SMS is updated. A store failure answers ESME_RX_T_APPN (the
SMSC redelivers); what can never be read answers ESME_RX_P_APPN.

- **Idempotency**: SMPP gives a message no stable id, so its report's external id comes
  from its content (`keys`): a redelivery finds the first arrival's id and intake stores
  nothing. That lookup runs in the writer's transaction (`intake.SmsIntake`), so two
  redeliveries racing on two binds cannot both be new.
- **Long messages** are put together in any order (`concat`); a message still missing a
  part after `reassembly_timeout` is filed with what came, marked incomplete. Parts live in
  the store until their message is a report, so a restart loses none.
- **Drills**: a message from or to one of `drill_numbers` is a drill. The drill runner's
  adapter injection (`drill`, where the operator has no test account) hands a message to
  this same path (`inject`); its report says so in ``extra["injected"]``.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from smpplib import consts
from twisted.internet import task
from twisted.logger import Logger

from gateway import phone
from gateway.channels.smpp import pdu, store
from gateway.channels.smpp.concat import Complete, Incomplete, Part, Reassembler
from gateway.channels.smpp.esme import Bind, Token
from gateway.channels.smpp.inbound import DeliveryReceipt, Inbound, Whole, classify
from gateway.channels.smpp.keys import PREFIX, Concatenation, content_key
from gateway.channels.smpp.settings import is_drill_number
from gateway.channels.smpp.text import BadText, decode
from gateway.intake import mask_phone
from gateway.report import InvalidReport, Receipt, Report, Sender
from gateway.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from gateway.channels.smpp.service import SmppChannel

log = Logger()

FILED_MAX = 100_000  # parts of filed messages remembered, at most
INJECTED_MAX = 1_000  # drill injections waiting for their report, at most
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


def report_of(
    msg: Message,
    external: str,
    drill_numbers: tuple[str, ...],
    injected: Mapping[str, Any] | None = None,
) -> Report:
    """The report of a citizen's SMS; `injected` (the drill runner's adapter injection:
    what it says of itself) becomes ``extra["injected"]``."""
    text = msg.text
    if text is None:
        size = sum(map(len, msg.raws))
        text = f"[二进制短信，{size}字节，未解码 (data_coding 0x{msg.data_coding:02x})]"
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 40] + f"[…超长，共{len(text)}字，余下未存…]"
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
    if injected is not None:
        extra["injected"] = dict(injected)
    # A drill: from a drill phone (the drill runner's), or to a drill number we are routed.
    drill = any(is_drill_number(n, drill_numbers) for n in (msg.source, msg.dest))
    return Report(
        channel=store.CHANNEL,
        external_id=external,
        received_at=msg.received_at,
        sender=Sender("phone", _CONTROL.sub("?", phone.normalise(msg.source))),
        text=text,
        drill=drill,
        extra=extra,
    )


class Inbox:
    def __init__(self, channel: SmppChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.clock = channel.clock
        self.settings = channel.settings
        self.reassembler = Reassembler(self.settings.reassembly_timeout)
        self._filed: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        # Drill injections not yet filed, by `_injection_key`: what each report will say.
        self._injected: OrderedDict[tuple[Any, ...], Mapping[str, Any]] = OrderedDict()

    async def resume(self) -> None:
        """Parts stored before a restart wait for the rest again."""
        rows = await self.ctx.read(store.load_parts)
        # Each waits a whole reassembly_timeout from now, not from its first part: the SMSC
        # redelivers the parts we never acknowledged once we are bound again.
        for row in rows:
            self._reassemble(_part_of(row), self.clock.seconds())
        if rows:
            log.info("SMPP: {n} stored parts of long messages picked up", n=len(rows))

    async def deliver(self, bind: Bind, token: Token, d: pdu.Deliver, at: datetime) -> None:
        taken = await self.take(d.inbound, at)
        bind.respond(token, taken.status)
        self.channel.metrics.sms.labels("in", taken.outcome).inc()

    async def inject(
        self, parts: Sequence[Inbound], at: datetime, injected: Mapping[str, Any]
    ) -> list[Taken]:
        """A drill inject handed to this path by the drill runner, not by the SMSC: `parts`
        are one message's deliver_sm as the SMSC would deliver them (whole, or its parts in
        order), each taken as `deliver` takes one; its report carries `injected` in
        ``extra["injected"]``. Stops at the first part not taken."""
        try:
            first = classify(parts[0], at)
        except BadText as e:
            return [Taken(consts.SMPP_ESME_RX_P_APPN, "refused", str(e))]
        if isinstance(first, DeliveryReceipt):
            return [Taken(consts.SMPP_ESME_RX_P_APPN, "refused", "a delivery receipt")]
        key = _injection_key(first)
        self._injected[key] = injected
        while len(self._injected) > INJECTED_MAX:
            self._injected.popitem(last=False)
        out: list[Taken] = []
        try:
            for part in parts:
                out.append(await self.take(part, at))
                self.channel.metrics.sms.labels("inject", out[-1].outcome).inc()
                if out[-1].status != consts.SMPP_ESME_ROK:
                    break
        finally:
            # A whole message is filed by now; the parts of a long one when the last comes
            # (or, some missing, after reassembly_timeout): their report takes the mark then.
            if isinstance(first, Whole) or not any(t.outcome == "part" for t in out):
                self._injected.pop(key, None)
        return out

    async def take(self, inbound: Inbound, at: datetime) -> Taken:
        """What one deliver_sm carries, stored: the status its deliver_sm_resp must carry."""
        status, problem = consts.SMPP_ESME_ROK, None
        try:
            item = classify(inbound, at)
            if isinstance(item, DeliveryReceipt):
                await self._receipt(item)
                outcome = "receipt"
            elif isinstance(item, Part):
                await self._part(item)
                outcome = "part"
            else:
                outcome = await self._whole(item, at)
        except BadText as e:
            log.warn("SMPP: message from {who} refused: {e}", who=mask_phone(inbound.source), e=e)
            status, outcome, problem = consts.SMPP_ESME_RX_P_APPN, "refused", str(e)
        except InvalidReport as e:
            log.warn("SMPP: message from {who} invalid: {e}", who=mask_phone(inbound.source), e=e)
            status, outcome, problem = consts.SMPP_ESME_RX_P_APPN, "refused", str(e)
        except StoreUnavailable as e:
            log.warn("SMPP: store unavailable, the SMSC will redeliver: {e}", e=e)
            status, outcome, problem = consts.SMPP_ESME_RX_T_APPN, "unavailable", str(e)
        except Exception as e:  # noqa: BLE001 - answer, and let the SMSC try again
            log.failure("SMPP: deliver_sm failed")
            status, outcome, problem = consts.SMPP_ESME_RX_T_APPN, "failed", type(e).__name__
        return Taken(status, outcome, problem)

    async def _whole(self, m: Whole, at: datetime) -> str:
        if m.text is not None and await self.channel.duty.answer(m.source, m.text):
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
        outcome = await self.ctx.write(store.save_part, row)
        if outcome == "conflict":
            # The sender reused this reference for another message: what came of the first
            # is filed now (marked incomplete), then this part starts the second.
            key = (part.source, part.dest, part.ref, part.total)
            earlier = self.reassembler.take(*key)
            if earlier is not None:
                await self._finish(earlier)
            else:
                await self.ctx.write(store.drop_parts, *key)
            await self.ctx.write(store.save_part, row)
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
            self.channel.spawn(self._finish(complete))

    def expire(self) -> None:
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
            self.channel.spawn(self._finish(incomplete))

    async def _finish(self, m: Complete | Incomplete) -> None:
        """File a message put together from stored parts, then drop the parts; retried
        while the store is unavailable (the parts are safe in it meanwhile)."""
        delay = 0.1
        group = (m.source, m.dest, m.ref, m.total)
        while True:
            try:
                await self._file(Message.of(m))
                await self.ctx.write(store.drop_parts, *group)
                self._remember_filed(m)
                return
            except Exception as e:  # noqa: BLE001 - acknowledged parts are never given up
                if not self.channel.running:
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
        external = f"{PREFIX}{key}@{int(msg.received_at.timestamp())}"
        injected = self._injected.pop(_injection_key(msg), None) if self._injected else None
        return await self.ctx.submit(
            report_of(msg, external, self.settings.drill_numbers, injected)
        )

    async def _receipt(self, r: DeliveryReceipt) -> None:
        """A delivery receipt may overtake the write that records its part's message id
        (an SMSC can answer at once): an unknown id is looked up again for a while before
        it counts as not ours."""
        for delay in (0.2, 0.5, 1.0, 0.0):
            status = await self.ctx.write(
                store.delivery_receipt, r.message_id, r.stat, r.err, r.done_at, self.ctx.now()
            )
            if status is not None or not delay:
                break
            await task.deferLater(self.clock, delay)
        if status is None:
            log.info("SMPP: receipt for a message id not ours: {id}", id=r.message_id)
        self.channel.metrics.sms.labels("receipt", r.stat).inc()


@dataclass(frozen=True)
class Taken:
    """What became of one deliver_sm: its deliver_sm_resp's status, the outcome (a metric's
    label: stored, duplicate, part, ack, receipt, refused, unavailable, failed) and, when
    not taken, why."""

    status: int
    outcome: str
    problem: str | None = None


def _injection_key(m: Whole | Part | Message) -> tuple[Any, ...]:
    """A drill injection's message, as its first part and as the message filed know it:
    sender, destination, and its concatenation or (whole) its octets."""
    if isinstance(m, Message):
        return (m.source, m.dest, m.concat, m.raws[0] if m.concat is None else None)
    if isinstance(m, Part):
        return (m.source, m.dest, Concatenation(m.ref, m.total), None)
    return (m.source, m.dest, None, m.raw)


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
