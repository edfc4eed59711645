"""In-process channel tests: a `ChannelContext` on a real store, and fakes of the protocol
peers only.

`FakeContext` is the core as one channel sees it (`gateway.channel.ChannelContext`): the
real store (`tests.inline.Store`: an SQLite or PostgreSQL database, intake with the
channels' hooks, the workflow, incident documents), a `task.Clock` as its only clock, the
sample city with the SMS and AMI channels on, the channel's own settings object and its
metrics in a fresh `CollectorRegistry`. Action listeners are called after each committed
action, as `gateway.app.Gateway` calls them.

What is faked is the link to the peer a channel talks to, and nothing else:

- `FakeTransmitter` stands in for `esme.Bind`, the SMPP bind to the SMSC: it takes or
  refuses each submit_sm as its script says and records what it was given;
- `FakeAmiLink` stands in for `client.AmiLink`, the AMI connection to Asterisk: it answers
  each action as scripted and records it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry
from sqlalchemy import Connection, select
from twisted.internet import defer, task

from gateway.channel import Channel, resolve
from gateway.channels.ami.service import AmiChannel
from gateway.channels.smpp.esme import BindSettings, Token
from gateway.channels.smpp.inbound import Inbound
from gateway.channels.smpp.pdu import Deliver
from gateway.channels.smpp.service import SmppChannel
from gateway.channels.smpp.text import encode_ucs2
from gateway.config import Config, load_config, sample_text
from gateway.orgtree import OrgTree
from gateway.report import Receipt, Report
from gateway.store.tables import incidents, reports
from gateway.store.transaction import WriteContext
from gateway.workflow.documents import Documents
from gateway.workflow.machine import Actor
from tests.inline import CITY, STATION, Store, result

P = ParamSpec("P")
T = TypeVar("T")

MINGHU = "530102520000"  # 明湖派出所, the station north of 南坝
# Duty phones of the test city. The SMS targets are written as configured by hand, with
# and without +86, so that matching an answer to its notice has to normalise them.
STATION_SMS = "+8613900000001"
MINGHU_SMS = "13900000002"
CITY_SMS = "8613900000110"
STATION_PHONE = "087100000001"
CITY_PHONE = "087100000110"
STATION_DRILL_PHONE = "087100000099"  # 南坝's drill target: drill notices go there only
CITIZEN = "13800000001"


def city(tmp_path: Path, smpp: str = "", ami: str = "") -> Config:
    """The sample city with [channels.smpp] and [channels.ami] on (their peers are faked:
    nothing connects) and duty phones: 南坝派出所 gets SMS and calls (drills: calls to a
    drill phone of its own), 明湖派出所 SMS, the city center both. `smpp` and `ami` are
    more lines of their sections."""
    text = sample_text()
    for code, more in (("smpp", smpp), ("ami", ami)):
        old = f"[channels.{code}]\nenabled = false\n"
        assert old in text, f"the sample city's [channels.{code}] section changed"
        text = text.replace(
            old,
            f'[channels.{code}]\nenabled = true\nhost = "127.0.0.1"\nport = 9\n'
            f'system_id = "alarmgw"\npassword = "x"\n{more}\n'
            if code == "smpp"
            else f'[channels.{code}]\nenabled = true\nport = 9\nsecret = "x"\n{more}\n',
        )
    duty = {
        STATION: [
            ("sms", STATION_SMS, "南坝派出所值班手机"),
            ("phone", STATION_PHONE, "南坝值班"),
            ("phone", STATION_DRILL_PHONE, "南坝演练值班", True),
        ],
        MINGHU: [("sms", MINGHU_SMS, "明湖派出所值班手机")],
        CITY: [("sms", CITY_SMS, "指挥中心值班手机"), ("phone", CITY_PHONE, "指挥中心值班台")],
    }
    for unit, targets in duty.items():
        webhook = rf'^ *\{{ kind = "webhook", address = "[^"]*/units/{unit}".*\n'
        line = re.search(webhook, text, re.M)
        assert line is not None, unit
        extra = "".join(
            f'    {{ kind = "{t[0]}", address = "{t[1]}", name = "{t[2]}"'
            + (", drill = true" if len(t) > 3 else "")
            + " },\n"
            for t in targets
        )
        text = text[: line.end()] + extra + text[line.end() :]
    path = tmp_path / "city.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def channel_city(tmp: Path, code: str, settings: str) -> Config:
    """The sample city with channel `code` on and `settings` the rest of its section (tables
    of it, such as [channels.jt808.alarm_bits.29], last), written to `tmp`/city.toml."""
    text = sample_text()
    old = f"[channels.{code}]\nenabled = false\n"
    assert old in text, f"the sample city's [channels.{code}] section changed"
    path = tmp / "city.toml"
    path.write_text(text.replace(old, f"[channels.{code}]\nenabled = true\n{settings}"), "utf-8")
    return load_config(path)


class FakeContext:
    """`gateway.channel.ChannelContext` of channel `code` on `store`; `settings` replace
    fields of the channel's settings object."""

    def __init__(self, store: Store, code: str, **settings: Any) -> None:
        channel = store.config.channel(code)
        assert channel is not None, f"[channels.{code}] is not enabled"
        self.store = store
        self.channel: Channel = channel
        section = store.config.channels.get(code, {})
        own = resolve(channel.settings).from_config(section) if channel.settings else section
        self.settings: Any = dataclasses.replace(own, **settings) if settings else own
        self.registry = CollectorRegistry()
        self.metrics: Any = resolve(channel.metrics)(self.registry) if channel.metrics else None
        self.tz = ZoneInfo(store.config.city.timezone)
        self.listeners: list[Callable[[str, str, dict[str, Any]], None]] = []

    @property
    def config(self) -> Config:
        return self.store.config

    @property
    def org(self) -> OrgTree:
        return self.store.config.org

    @property
    def reactor(self) -> Any:
        # Only the AMI channel's asyncio loop is taken from it; time is the Clock's.
        from twisted.internet import reactor

        return reactor

    @property
    def clock(self) -> task.Clock:
        return self.store.clock

    @property
    def documents(self) -> Documents:
        return self.store.documents

    def now(self) -> datetime:
        return self.store.now()

    def submit(self, report: Report) -> defer.Deferred[Receipt]:
        return self.store.intake.submit(report)  # type: ignore[no-any-return]

    def act(
        self, number: str, action: str, actor: Actor, params: dict[str, Any]
    ) -> defer.Deferred[dict[str, Any]]:
        d = self.store.workflow.act(number, action, actor, params)
        return d.addCallback(self._acted, number, action)

    def acknowledge_notice(self, delivery: int, reason: str) -> defer.Deferred[str]:
        def done(out: tuple[str, str, dict[str, Any] | None]) -> str:
            number, outcome, doc = out
            if doc is not None:
                self._acted(doc, number, "acknowledge")
            return outcome

        return self.store.workflow.acknowledge_notice(delivery, reason).addCallback(done)

    def _acted(self, doc: dict[str, Any], number: str, action: str) -> dict[str, Any]:
        for listener in list(self.listeners):
            listener(number, action, doc)
        return doc

    def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> defer.Deferred[T]:
        return self.store.db.read(functools.partial(fn, **kw) if kw else fn, *args)

    def write(
        self, fn: Callable[Concatenate[WriteContext, P], T], *args: P.args, **kw: P.kwargs
    ) -> defer.Deferred[T]:
        return self.store.db.write(functools.partial(fn, **kw) if kw else fn, *args)

    def on_action(self, listener: Callable[[str, str, dict[str, Any]], None]) -> Callable[[], None]:
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe


# -- the SMSC ------------------------------------------------------------------------------


class FakeTransmitter:
    """Fakes `esme.Bind`, the link to the SMSC: `script` says what each next submit_sm
    comes to (None: taken, with the next message id; an exception: raised, e.g.
    `SubmitRefused` or `SmppUnavailable`), then every one is taken. Each submit_sm is
    recorded with the clock's time, taken or not."""

    def __init__(
        self, clock: task.Clock, name: str = "trx0", mode: str = "transceiver", up: bool = True
    ) -> None:
        self.clock = clock
        self.settings = BindSettings(name, "smsc.invalid", 2775, "alarmgw", "x", mode=mode)  # type: ignore[arg-type]
        self.up = up
        self.script: list[BaseException | None] = []
        self.submits: list[dict[str, Any]] = []  # each submit_sm's fields, plus "at"
        self.taken: list[str] = []  # message ids given out
        self.responses: list[tuple[Token, int]] = []  # deliver_sm_resp

    async def submit(self, **fields: Any) -> str:
        self.submits.append(fields | {"at": self.clock.seconds()})
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        message_id = f"{self.settings.name}-{len(self.taken) + 1}"
        self.taken.append(message_id)
        return message_id

    def respond(self, token: Token, status: int) -> None:
        self.responses.append((token, status))

    def start(self) -> None:
        pass

    def stop(self) -> defer.Deferred[None]:
        self.up = False
        return defer.succeed(None)


def smpp_channel(ctx: FakeContext, *binds: FakeTransmitter) -> SmppChannel:
    """The SMS channel on `ctx`, its binds to the SMSC replaced by `binds` (not started)."""
    channel = SmppChannel(ctx)
    channel.binds = list(binds)  # type: ignore[arg-type]
    return channel


def deliver_sms(
    channel: SmppChannel, bind: FakeTransmitter, source: str, text: str, dest: str = "12110"
) -> int:
    """A deliver_sm of `text` (UCS2) from `source` through the channel's inbox, as the bind
    hands it over: the status of its deliver_sm_resp (answered after the store commits)."""
    inbound = Inbound(source, dest, 8, 0, encode_ucs2(text))
    token = (1, len(bind.responses) + 1)
    received = datetime.fromtimestamp(channel.clock.seconds(), UTC)
    result(
        defer.ensureDeferred(channel.inbox.deliver(bind, token, Deliver(inbound, "", ()), received))
    )  # type: ignore[arg-type]
    answered, status = bind.responses[-1]
    assert answered == token
    return status


def sms_incident(store: Store, source: str) -> str:
    """The incident of the latest SMS from `source` (as the gateway knows the number)."""
    q = (
        select(incidents.c.number)
        .select_from(reports.join(incidents, reports.c.incident_id == incidents.c.id))
        .where(reports.c.channel == "sms", reports.c.sender_key == f"phone:{source}")
        .order_by(reports.c.id.desc())
    )
    number: str = store.read(lambda c: c.execute(q).scalars().first())
    return number


# -- Asterisk -------------------------------------------------------------------------------

ORIGINATED = [
    {"Response": "Success", "Message": "Originate successfully queued"},
    {"Event": "OriginateResponse", "Response": "Success", "Reason": "4"},
]


class FakeAmiLink:
    """Fakes `client.AmiLink`, the AMI connection to Asterisk: each action is recorded and
    answered from `answers` by its name (an exception is raised), by default as an
    Originate that was answered."""

    def __init__(self) -> None:
        self.up = True
        self.actions: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Any] = {"Originate": ORIGINATED}

    async def action(self, name: str, timeout: float | None = None, **fields: Any) -> Any:
        self.actions.append((name, fields))
        answer = self.answers.get(name, {"Response": "Success"})
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def drop(self) -> None:
        self.up = False

    def stop(self) -> None:
        self.up = False


def ami_channel(ctx: FakeContext, link: FakeAmiLink) -> AmiChannel:
    """The AMI channel on `ctx` and the reactor's asyncio loop, its link to Asterisk
    `link` (the service is not started: that would connect)."""
    channel = AmiChannel(ctx)
    channel.loop = getattr(ctx.reactor, "_asyncioEventloop", None) or asyncio.get_event_loop()
    channel.link = link  # type: ignore[assignment]
    return channel
