"""The SMS channel: messages to 12110 over SMPP become reports, and the citizen is answered.

The service holds the binds to the SMSC (`esme.Bind`, each reading and writing in threads
of its own) and three parts that share them:

- `inbox`: each deliver_sm is answered **after** what it carries is stored (a whole
  message, a part of a long one, a delivery receipt); ESME_RX_T_APPN on a store failure.
- `sender`: the SMS the gateway sends (receipts, follow-ups, state updates, call-takers'
  replies), queued in the store and sent at no more than `tps` parts a second.
- `duty`: a unit's duty phone gets the incident by SMS (the outbox's kind ``sms``) and
  answers ``1 <incident>`` to acknowledge.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from smpplib import consts
from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.channel import ChannelContext
from gateway.channels.smpp import pdu
from gateway.channels.smpp.duty import DutyNotices
from gateway.channels.smpp.esme import Bind, Token
from gateway.channels.smpp.inbox import Inbox
from gateway.channels.smpp.metrics import SmsMetrics
from gateway.channels.smpp.sender import Sender
from gateway.channels.smpp.settings import SmppSettings
from gateway.service import InFlight, every

log = Logger()


class SmppChannel(Service):
    name = "smpp"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext, poll_interval: float = 0.2) -> None:
        self.ctx = ctx
        self.settings: SmppSettings = ctx.settings
        self.metrics: SmsMetrics = ctx.metrics
        self.clock = ctx.clock
        self.poll_interval = poll_interval
        self.binds = [Bind(b, self, ctx.reactor) for b in self.settings.binds()]
        self.sender = Sender(self)
        self.inbox = Inbox(self)
        self.duty = DutyNotices(self)
        self.stopping = False
        self.inflight = InFlight(ctx.clock, "SMPP")
        self._loops: list[task.LoopingCall] = []
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ----------------------------------------------------------------------

    @defer.inlineCallbacks
    def startService(self) -> Any:
        super().startService()
        yield self.inbox.resume()
        for b in self.binds:
            b.start()
        for fn, interval in ((self.inbox.expire, 1.0), (self.sender.send_due, self.poll_interval)):
            self._loops.append(every(self.clock, interval, fn, "SMPP"))
        self._unsubscribe = self.ctx.on_action(self.sender.after_action)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        self.stopping = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        yield self.inflight.drain()  # answers after commit still on their way go out first
        yield defer.DeferredList([b.stop() for b in self.binds], consumeErrors=True)

    def now(self) -> datetime:
        return self.ctx.now()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
        """Run `coro` (it awaits Deferreds); a stop waits for it (bounded)."""
        return self.inflight.spawn(coro)

    # -- what the binds tell (esme.Handler), on the reactor thread ------------------------------

    def bind_changed(self, bind: Bind, up: bool) -> None:
        self.metrics.up.labels(bind.settings.name).set(1 if up else 0)

    def deliver(self, bind: Bind, token: Token, d: pdu.Deliver, received_at: datetime) -> None:
        if self.stopping:  # nothing new once stopping: the SMSC redelivers it later
            bind.respond(token, consts.SMPP_ESME_RX_T_APPN)
            return
        self.spawn(self.inbox.deliver(bind, token, d, received_at))
