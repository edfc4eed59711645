"""The drill runner: plays the injects of running drill runs when they are due, each through
its channel's injector (`gateway.drills.inject`), and ties each sent inject to its report.

The runs live in the store (`gateway.drills.runs`), not in this process: a run started,
paused or aborted through the API is picked up at the next tick, a run survives a restart
of the gateway (what was due meanwhile is played at once, late, and the scorecard shows
it), and several nodes sharing a database never send one inject twice.

It wakes at the next inject's time and at least every `poll` seconds. Injects due together
(a surge) are sent concurrently; each one's outcome is written as it ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from twisted.internet import defer
from twisted.internet.task import deferLater
from twisted.logger import Logger

from gateway.channel import resolve
from gateway.drills import runs
from gateway.drills.inject import KIND_CHANNEL, DrillInject, InjectError, Sent
from gateway.drills.tables import drill_runs
from gateway.service import Waker
from gateway.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from gateway.app import Gateway

log = Logger()

LEASE_S = 300.0  # an inject claimed this long ago and never settled was lost with its node
MATCH_FOR_S = 3600.0  # reports are looked for until this long after a run ended


class DrillService(Waker):
    name = "drills"  # type: ignore[assignment]

    def __init__(self, gw: Gateway, poll: float = 1.0) -> None:
        super().__init__(gw.clock, poll)
        self.gw = gw
        self._sending: set[defer.Deferred[Any]] = set()
        self._recovered = False

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.gw.clock.seconds(), UTC)

    def stopService(self) -> Any:
        busy = super().stopService()
        pending = [d for d in (busy, *self._sending) if d is not None]
        return defer.DeferredList(pending) if pending else None

    def poke(self) -> None:
        """A run was started or resumed: look now."""
        self._schedule(0)

    def _tick(self) -> None:
        if self._busy is not None:  # still at it: look again when it ends
            self._busy.addBoth(lambda _: self._schedule(0))
            return
        self._busy = defer.ensureDeferred(self._play())
        self._busy.addBoth(self._ticked)

    def _ticked(self, result: Any) -> None:
        self._busy = None
        delay = self.poll if not isinstance(result, float) else result
        self._schedule(delay)

    async def _play(self) -> float:
        """One tick: settle what was lost, send what is due, tie reports; returns the delay
        to the next tick."""
        db = self.gw.db
        try:
            if not self._recovered:
                lost = await db.write(runs.recover, self.now(), LEASE_S)
                if lost:
                    log.warn("Drills: {n} injects were being sent when the gateway stopped", n=lost)
                self._recovered = True
            due = await db.write(runs.claim_due, self.now())
            for drill in due:
                self._send(drill)
            for run in await db.read(_matching, self.now()):
                await db.write(runs.match_reports, run)
            nxt = await db.read(runs.next_due)
        except StoreUnavailable as e:
            log.warn("Drills: deferred, the store is unavailable: {error}", error=str(e))
            return self.poll
        except Exception:  # noqa: BLE001 - the runner must keep running
            log.failure("Drills: a tick failed")
            return self.poll
        if nxt is None:
            return self.poll
        return max(0.0, nxt.timestamp() - self.gw.clock.seconds())

    def _send(self, drill: DrillInject) -> None:
        d = defer.ensureDeferred(self._inject(drill))
        self._sending.add(d)
        d.addBoth(lambda _: self._sending.discard(d))

    async def _inject(self, drill: DrillInject) -> None:
        inject = drill.inject
        code = KIND_CHANNEL[inject.channel]
        try:
            sent = await self._through(code, drill)
        except InjectError as e:
            await self._settle(runs.failed, drill, str(e))
            log.warn(
                "Drill run {run}: inject {inject} ({channel}) not sent: {why}",
                run=drill.run,
                inject=inject.id,
                channel=inject.channel,
                why=str(e),
            )
            return
        except Exception as e:  # noqa: BLE001 - recorded; the run goes on
            log.failure("Drill run {run}: inject {inject} failed", run=drill.run, inject=inject.id)
            await self._settle(runs.failed, drill, f"{type(e).__name__}: {e}")
            return
        await self._settle(runs.sent, drill, sent)
        log.info(
            "Drill run {run}: inject {inject} sent on {channel} ({via})",
            run=drill.run,
            inject=inject.id,
            channel=inject.channel,
            via=sent.via,
        )

    async def _through(self, code: str, drill: DrillInject) -> Sent:
        channel = self.gw.config.channel(code)
        if channel is None:
            raise InjectError(f"channel {code} is not enabled in this gateway's configuration")
        if channel.drill is None:
            raise InjectError(f"channel {code} cannot play drill injects")
        inject = resolve(channel.drill)
        return await inject(self.gw.services[code], drill)  # type: ignore[no-any-return]

    async def _settle(self, fn: Any, drill: DrillInject, outcome: Any) -> None:
        # The outcome must be written, whatever the store does meanwhile: a failed write is
        # tried again, and after LEASE_S the inject is recorded as lost at the next start.
        for attempt in range(10):
            try:
                await self.gw.db.write(fn, drill.send, outcome, self.now())
                return
            except StoreUnavailable as e:
                log.warn("Drills: outcome not yet written ({error}), again", error=str(e))
                await _sleep(self.gw.clock, min(2.0**attempt, 30.0))
        log.error("Drills: the outcome of inject {inject} could not be written", inject=drill.send)


def _matching(conn: Any, now: datetime) -> list[int]:
    """The runs whose reports are still looked for: running, paused, or ended lately."""
    recent = now - timedelta(seconds=MATCH_FOR_S)
    q = select(drill_runs.c.id).where(
        or_(drill_runs.c.state.in_(("running", "paused")), drill_runs.c.ended_at >= recent)
    )
    return list(conn.execute(q).scalars())


def _sleep(clock: Any, seconds: float) -> defer.Deferred[None]:
    return deferLater(clock, seconds, lambda: None)
