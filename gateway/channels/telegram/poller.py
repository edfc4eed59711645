"""Long polling with confirmation after commit (mode = "polling").

Bot API §getUpdates: "An update is considered confirmed as soon as getUpdates is called with
an offset higher than its update_id." So the offset is our acknowledgement: the loop fetches
a batch, deals with each update in order (`Inbox.handle`: its report committed), and only
the next getUpdates carries an offset past the updates dealt with. When the store (or
Telegram, for a file) fails, the loop stops at that update, backs off, and fetches again
from it: Telegram redelivers it and everything after it. After a crash, the first
getUpdates carries no offset and gets every unconfirmed update again; those already
committed are duplicates of their reports (same external id) and store nothing.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.channels.telegram.bot import FloodWait, TelegramRefused, TelegramUnavailable
from gateway.channels.telegram.update import update_id
from gateway.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

log = Logger()
MAX_BACKOFF = 60.0
POISON = 5  # failures of one update (not the store's, not Telegram's) before it is passed over


class Poller:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.offset: int | None = None  # the next getUpdates' (None: all unconfirmed)
        self._waiting: defer.Deferred[Any] | None = None  # a getUpdates or a backoff
        self._backoff = channel.settings.retry_seconds
        self._hook_cleared = False
        self._failures: dict[int | None, int] = {}  # update id → failed tries (a bug)

    def stop(self) -> None:
        """Cut a long poll or a backoff short (nothing fetched is lost: it is unconfirmed)."""
        if self._waiting is not None:
            self._waiting.cancel()

    async def run(self) -> None:
        ch = self.channel
        while ch.running:
            try:
                await self._wait(ch.ensure_bot())
                if not self._hook_cleared:  # getUpdates fails while a webhook is set
                    await self._wait(ch.link.delete_webhook())
                    self._hook_cleared = True
                batch = await self._wait(ch.link.get_updates(self.offset))
            except (defer.CancelledError, asyncio.CancelledError):
                return  # stopping (a cancelled long poll raises asyncio's)
            except FloodWait as e:
                log.warn("Telegram: {e}", e=e)
                await self._pause(e.seconds)
                continue
            except (TelegramUnavailable, TelegramRefused) as e:
                log.warn(
                    "Telegram: getUpdates failed ({e}); again in {s:.0f} s", e=e, s=self._backoff
                )
                await self._pause(self._next_backoff())
                continue
            self._backoff = ch.settings.retry_seconds
            if not isinstance(batch, list):
                log.warn("Telegram: getUpdates answered {t}, not a list", t=type(batch).__name__)
                await self._pause(self._next_backoff())
                continue
            await self._deal(batch)

    async def _deal(self, batch: list[Any]) -> None:
        ch = self.channel
        for update in batch:
            uid = update_id(update)
            if uid is not None and self.offset is not None and uid < self.offset:
                continue  # confirmed already (a server that sent it anyway)
            try:
                outcome = await ch.inflight.track(defer.ensureDeferred(ch.inbox.handle(update)))
            except (StoreUnavailable, TelegramUnavailable) as e:
                # Not confirmed: the next getUpdates starts at this very update.
                log.warn("Telegram: update {id} not taken ({e}); fetched again", id=uid, e=e)
                await self._pause(self._next_backoff())
                return
            except Exception:  # noqa: BLE001 - a bug must not stop the bot for good
                # Fetched again from this update; one that fails every time (a bug meeting
                # an update it cannot take) would hold back every alarm after it: after
                # POISON tries it is passed over, loudly, its JSON in the log.
                self._failures[uid] = self._failures.get(uid, 0) + 1
                if self._failures[uid] < POISON:
                    log.failure("Telegram: update {id} failed", id=uid)
                    await self._pause(self._next_backoff())
                    return
                log.failure(
                    "Telegram: update {id} failed {n} times, passed over: {update}",
                    id=uid,
                    n=POISON,
                    update=update,
                )
                outcome = "failed"
            self._failures.pop(uid, None)
            ch.metrics.updates.labels(outcome).inc()
            if uid is not None:
                self.offset = max(self.offset or 0, uid + 1)
            if not ch.running:
                return

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(MAX_BACKOFF, self._backoff * 2)
        return delay

    async def _pause(self, seconds: float) -> None:
        try:
            await self._wait(task.deferLater(self.channel.clock, seconds))
        except (defer.CancelledError, asyncio.CancelledError):
            pass

    async def _wait(self, d: defer.Deferred[Any]) -> Any:
        self._waiting = d
        try:
            return await d
        finally:
            self._waiting = None
