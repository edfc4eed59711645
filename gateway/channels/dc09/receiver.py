"""One DC-09 frame in, one answer out — after what it carries is stored.

`Receiver.answer(raw)` is what the TCP and the UDP transports share:

- what cannot be read (CRC, length, format; a frame of an account with a key that comes
  unencrypted, or does not decrypt with it) → ``DUH``;
- a timestamp outside the window (40 s behind our clock, 20 s ahead) → ``NAK`` with our
  time;
- a supervision message (``NULL``) → ``ACK`` (the premises' last-seen time is written in a
  batch: it is not evidence);
- every event of the frame stored first — an alarm as a report (intake), a restoral joining
  its alarm's open incident, anything else in the premises' signal history — then ``ACK``;
- the store failing → no answer at all: the panel repeats the frame, and a repeat is the
  same report (its external id is the frame's identity), so it is ACKed again without a
  second report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from gateway.channels.dc09 import codes, frame
from gateway.channels.dc09.store import add_signal
from gateway.errors import NothingToJoin
from gateway.report import AlarmRef, InvalidReport, Location, Report, Sender
from gateway.targets import registry

if TYPE_CHECKING:
    from gateway.channels.dc09.service import Dc09Channel

log = Logger()

REPORT_CHANNEL = "dc09"


@dataclass(frozen=True, slots=True)
class Meaning:
    kind: str
    category: str | None
    priority: int | None
    name: str


class Receiver:
    def __init__(self, channel: Dc09Channel) -> None:
        self.ch = channel
        self.settings = channel.settings

    async def answer(self, raw: bytes, transport: str) -> bytes | None:
        now = self.ch.now()
        try:
            env = frame.read_envelope(raw)
        except frame.FrameError as e:
            return self._refuse(e, None, now, transport)
        premises = self.ch.premises(env.account, env.receiver, env.line)
        key = premises.aes_key if premises is not None else None
        try:
            msg = frame.open_message(env, key)
            account, events = frame.parse_data(env.token, msg.data)
        except frame.FrameError as e:
            return self._refuse(e, env, now, transport)
        s = self.settings
        # (An encrypted message without a timestamp does not decrypt: open_message refused it.)
        if not frame.timestamp_ok(msg, now, behind_s=s.window_behind_s, ahead_s=s.window_ahead_s):
            self.ch.metrics.answers.labels("NAK", transport).inc()
            return frame.nak(now)
        if premises is not None:
            last = events[-1] if events else None
            self.ch.seen(premises.id, now, env.token if last is None else _code(last))
        for i, event in enumerate(events):
            # A failure here (the store) leaves the frame unanswered: the panel repeats it.
            await self.file(env, msg, premises, event, i, now)
        self.ch.metrics.answers.labels("ACK", transport).inc()
        return frame.ack(env, key, now)

    def _refuse(
        self, e: frame.FrameError, env: frame.Envelope | None, now: datetime, transport: str
    ) -> bytes:
        self.ch.metrics.refused.labels(e.kind).inc()
        self.ch.metrics.answers.labels("DUH", transport).inc()
        log.warn(
            "DC-09: refused a frame{who}: {why}",
            who=f" of account {env.account}" if env is not None else "",
            why=str(e),
        )
        return frame.duh(env, now)

    # -- one event -------------------------------------------------------------------------

    def meaning(self, event: frame.Event) -> Meaning:
        base = codes.meaning(event)
        key = event.code.upper() if event.protocol == "SIA" else f"CID{event.code}"
        o = self.settings.codes.get(key)
        kind = (o.kind if o and o.kind else None) or base.kind
        category = (o.category if o and o.category else None) or base.category
        priority = (o.priority if o and o.priority else None) or base.priority
        name = (o.name if o and o.name else None) or base.name_zh
        if base.kind == "restoral" and not (o and o.kind):
            kind = "restoral"
        if category is not None and category not in self.ch.ctx.config.categories:
            category = "other" if "other" in self.ch.ctx.config.categories else None
        return Meaning(kind, category, priority, name)

    async def file(
        self,
        env: frame.Envelope,
        msg: frame.Message,
        premises: registry.Premises | None,
        event: frame.Event,
        index: int,
        now: datetime,
    ) -> None:
        m = self.meaning(event)
        external_id = _external_id(env, msg, index)
        text = describe(env.account, premises, event, m)
        drill = env.account in self.settings.drill_accounts
        metrics = self.ch.metrics.events
        if m.kind == "restoral" or m.kind in self.settings.incident_kinds:
            report = Report(
                channel=REPORT_CHANNEL,
                external_id=external_id,
                received_at=now,
                sender=Sender("account", env.account, premises.name if premises else None),
                text=text,
                location=_location(premises),
                drill=drill,
                category=m.category if m.kind != "restoral" else None,
                priority=m.priority if m.kind != "restoral" else None,
                alarm=AlarmRef(env.account, event.zone),
                follow_up=m.kind == "restoral",
                extra=_extra(env, premises, event, m),
            )
            try:
                await self.ch.ctx.submit(report)
            except NothingToJoin:
                pass  # a restoral of nothing open: it goes to the signal history below
            except InvalidReport as e:  # our own slip: keep the signal, say so loudly
                log.error("DC-09: report refused ({e}); kept as a signal", e=str(e))
            else:
                metrics.labels(m.kind, "joined" if m.kind == "restoral" else "incident").inc()
                return
        row = {
            "external_id": external_id,
            "premises_id": premises.id if premises else None,
            "account": env.account,
            "protocol": event.protocol,
            "code": event.code,
            "qualifier": event.qualifier,
            "zone": event.zone,
            "partition": event.partition,
            "kind": m.kind,
            "name": m.name[:80],
            "text": text,
            "received_at": now,
        }
        await self.ch.ctx.write(add_signal, row, now)
        metrics.labels(m.kind, "signal").inc()


def describe(
    account: str, premises: registry.Premises | None, event: frame.Event, m: Meaning
) -> str:
    """What the call-taker reads first, e.g.
    劫警（挟持）：某银行南坝支行，2号防区 金库（联网报警 账号 1234）."""
    where = []
    if event.partition:
        where.append(f"{event.partition}号分区")
    if event.zone:
        name = registry.zone_name(premises, event.zone) if premises is not None else None
        where.append(f"{event.zone}号防区" + (f" {name}" if name else ""))
    if event.user:
        where.append(f"用户 {event.user}")
    if event.text:
        where.append(event.text)
    detail = "，".join(where)
    if premises is None:
        head = f"未登记的报警终端 账号 {account}：{m.name}"
        return head + (f"，{detail}" if detail else "")
    body = f"{m.name}：{premises.name}" + (f"，{detail}" if detail else "")
    return body + f"（联网报警 账号 {account}）"


def _code(event: frame.Event) -> str:
    return event.code if event.protocol == "SIA" else f"CID{event.qualifier or ''}{event.code}"


def _external_id(env: frame.Envelope, msg: frame.Message, index: int) -> str:
    """The frame's identity: a panel's repeat of it (same sequence, same timestamp or, with
    none, same data) is the same report; another message is another report."""
    when = (
        msg.timestamp.strftime("%Y%m%dT%H%M%S")
        if msg.timestamp is not None
        else hashlib.sha256("|".join((msg.data, *msg.extended)).encode()).hexdigest()[:16]
    )
    return "/".join(
        (env.receiver or "-", env.line or "-", env.account, env.sequence, when, str(index))
    )


def _location(premises: registry.Premises | None) -> Location | None:
    if premises is None:
        return None
    if premises.lat is None and not premises.address:
        return None
    return Location(lat=premises.lat, lon=premises.lon, address=premises.address or None)


def _extra(
    env: frame.Envelope, premises: registry.Premises | None, event: frame.Event, m: Meaning
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "protocol": event.protocol,
        "token": env.token,
        "code": event.code,
        "event": m.name,
        "kind": m.kind,
        "sequence": env.sequence,
        "line": env.line,
        "encrypted": env.encrypted,
    }
    for key in ("qualifier", "zone", "partition", "user"):
        value = getattr(event, key)
        if value:
            out[key] = value
    if env.receiver:
        out["receiver"] = env.receiver
    if premises is not None:
        out["premises"] = premises.id
        out["premises_name"] = premises.name
        if premises.unit:
            out["unit"] = premises.unit
        if premises.phones:
            out["phones"] = list(premises.phones)
        zone = registry.zone_name(premises, event.zone)
        if zone:
            out["zone_name"] = zone
    else:
        out["registered"] = False
    out["details"] = _details(env, premises, event, m)
    return out


def _details(
    env: frame.Envelope, premises: registry.Premises | None, event: frame.Event, m: Meaning
) -> list[str]:
    """What the console shows under the report, for people (extra.details)."""
    code = event.code if event.protocol == "SIA" else f"{event.qualifier or ''}{event.code}"
    out = [f"事件：{m.name}（{'SIA' if event.protocol == 'SIA' else 'Contact ID'} {code}）"]
    if event.zone:
        name = registry.zone_name(premises, event.zone) if premises is not None else None
        out.append(f"防区：{event.zone}" + (f" {name}" if name else ""))
    if premises is None:
        out.append(f"报警终端：账号 {env.account}（未登记）")
        return out
    out.append(f"报警单位：{premises.name}（账号 {env.account}）")
    if premises.phones:
        out.append("联系电话：" + "、".join(premises.phones))
    return out
