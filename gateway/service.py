"""`AsyncMultiService`: a MultiService that waits for each child's start, in order.

Twisted's plain MultiService ignores the Deferreds its children return, so the channels
could start taking reports before the store had applied its migrations. Modelled on
buildbot's `AsyncMultiService`: children start one after another in the order added
(store first), and stop in reverse order (channels first, the store last, after the
writes in flight have committed). A failed start is reported, not swallowed.

`InFlight`: what a channel's stop waits for; `every`: a channel's periodic work; `Waker`: a
service that wakes when its next piece of work is due and at least every `poll` seconds
(deadlines, drills); `Collector`: short garbage-collection pauses with many connections.
"""

from __future__ import annotations

import gc
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


class TopService(AsyncMultiService):
    """The top service. A child whose start fails (a channel's port in use, a category its
    settings name that the city does not have) stops the process: one line on stderr and
    exit status 1 — twistd drops the Deferred of the top service's start, so without this
    the gateway would run on without that channel and every service after it, silently."""

    exit_status = 0  # read by `alarmgw run` once the reactor has stopped

    def __init__(self, reactor: Any) -> None:
        super().__init__()
        self.reactor = reactor

    def startService(self) -> Any:
        d: defer.Deferred[Any] = super().startService()
        d.addErrback(self._failed)
        return d

    def _failed(self, failure: Any) -> None:
        import sys

        from gateway.app import StartupError

        if failure.check(StartupError):
            print(f"alarmgw: {failure.value}", file=sys.stderr)
        else:
            log.failure("The gateway failed to start", failure)
            print(f"alarmgw: failed to start: {failure.getErrorMessage()}", file=sys.stderr)
        TopService.exit_status = 1
        if self.reactor.running:
            self.reactor.stop()
        else:
            self.reactor.callWhenRunning(self.reactor.stop)


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


class Waker(service.Service):
    """Calls `_tick` (a subclass's) at the time `_schedule` asks, and at least every `poll`
    seconds; the tick schedules the next. Its stop cancels the next call and waits for a
    tick in progress (`_busy`, which the tick sets)."""

    def __init__(self, clock: Any, poll: float) -> None:
        self.clock = clock
        self.poll = poll
        self._call: Any = None
        self._busy: defer.Deferred[Any] | None = None

    def startService(self) -> None:
        service.Service.startService(self)
        self._schedule(0)

    def stopService(self) -> Any:
        service.Service.stopService(self)
        if self._call is not None and self._call.active():
            self._call.cancel()
        return self._busy

    def _schedule(self, delay: float) -> None:
        """Tick in `delay` seconds (at most `poll`), unless a tick is due sooner already."""
        if not self.running:
            return
        if self._call is not None and self._call.active():
            if self._call.getTime() <= self.clock.seconds() + delay:
                return
            self._call.cancel()
        self._call = self.clock.callLater(min(delay, self.poll), self._tick)

    def _tick(self) -> Any:
        raise NotImplementedError


class Collector(service.Service):
    """Short garbage-collection pauses for a process that holds many long-lived objects.

    Twenty thousand connected vehicle terminals are ~460,000 objects the collector tracks
    (each link, its transport, socket, timers, the asyncio handles). Python's full
    collection walks all of them whenever a quarter as many again have survived into the
    oldest generation — with positions streaming in, every ~30 s, for 0.3 s during which
    nothing is answered (bench/targets.py measured it: the SOS p99 missed its 100 ms). So
    after each full collection the survivors are frozen (`gc.freeze`: the collector skips
    them), and the next full collections walk only what came since. Every `thaw_s` seconds
    they are thawed, so that what died among them in cycles (a closed link and its
    transport) is collected by the next full collection: one long pause every ten minutes
    instead of one every half minute, and nothing kept for good."""

    name = "collector"  # type: ignore[assignment]

    def __init__(self, reactor: Any, clock: Any, thaw_s: float = 600.0) -> None:
        self.reactor, self.clock = reactor, clock
        self.thaw_s = thaw_s
        self._loop: task.LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        gc.collect()
        gc.freeze()  # what the start made (modules, the config, the org tree) is for good
        gc.callbacks.append(self._collected)
        self._loop = every(self.clock, self.thaw_s, gc.unfreeze, "collector")

    def stopService(self) -> None:
        super().stopService()
        if self._collected in gc.callbacks:
            gc.callbacks.remove(self._collected)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        gc.unfreeze()

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        # Not inside the collector itself (it may run in any thread): right after it.
        if phase == "stop" and info.get("generation") == 2 and self.running:
            self.reactor.callFromThread(gc.freeze)
