"""`AsyncMultiService`: a MultiService that waits for each child's start, in order.

Twisted's plain MultiService ignores the Deferreds its children return, so the channels
could start taking reports before the store had applied its migrations. Modelled on
buildbot's `AsyncMultiService`: children start one after another in the order added
(store first), and stop in reverse order (channels first, the store last, after the
writes in flight have committed). A failed start is reported, not swallowed.

`InFlight`: what a channel's stop waits for; `every`: a channel's periodic work.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger

log = Logger()


class AsyncMultiService(service.MultiService):
    @defer.inlineCallbacks
    def startService(self) -> Any:
        service.Service.startService(self)
        for child in list(self):
            yield defer.maybeDeferred(child.startService)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        service.Service.stopService(self)
        for child in reversed(list(self)):
            if child.running:
                yield defer.maybeDeferred(child.stopService)


class InFlight:
    """The work a channel has started and its stop waits for, bounded: the answers after a
    commit still on their way (an ACK, a deliver_sm_resp, a 250) go out before the link
    closes. `spawn` runs a coroutine that awaits Deferreds and logs its failure."""

    def __init__(self, clock: Any, name: str) -> None:
        self.clock = clock
        self.name = name  # in the log: "SMPP: task failed"
        self.pending: set[defer.Deferred[Any]] = set()

    def __len__(self) -> int:
        return len(self.pending)

    def track(self, d: defer.Deferred[Any]) -> defer.Deferred[Any]:
        self.pending.add(d)

        def done(result: Any) -> Any:
            self.pending.discard(d)
            return result

        return d.addBoth(done)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> defer.Deferred[Any]:
        d = self.track(defer.ensureDeferred(coro))
        d.addErrback(lambda f: log.failure("{name}: task failed", f, name=self.name))
        return d

    @defer.inlineCallbacks
    def drain(self, timeout: float = 10.0) -> Any:
        """Wait for what is in flight, at most `timeout` seconds."""
        if not self.pending:
            return
        waiting = defer.DeferredList(list(self.pending), consumeErrors=True)
        timer = self.clock.callLater(timeout, waiting.cancel)
        try:
            yield waiting
        except defer.CancelledError:
            pass
        if timer.active():
            timer.cancel()


def every(clock: Any, interval: float, fn: Callable[[], Any], name: str) -> task.LoopingCall:
    """Call `fn` (plain, Deferred or coroutine) every `interval` seconds, the first time
    after one interval. A failure is logged and the next call comes on time: a LoopingCall
    whose call fails stops for good, and a store that was locked for a second must not end
    a channel's supervision or its batched writes."""

    async def once() -> None:
        try:
            await defer.maybeDeferred(fn)
        except Exception:
            log.failure("{name}: periodic work failed (tried again next time)", name=name)

    loop = task.LoopingCall(lambda: defer.ensureDeferred(once()))
    loop.clock = clock
    loop.start(interval, now=False)
    return loop
