"""The Telegram channel: a bot's chats become reports, and the chat is answered.

- `poller` (mode "polling") or the webhook route (`http.webhook`, mode "webhook") takes the
  updates; `inbox` deals with each one; Telegram hears that we have it (the next offset,
  the webhook's 200) only after its report is committed.
- `sender`: receipts, state updates and call-takers' replies, from `telegram_out`.
- `duty`: units' registered chats get incidents with a 签收 button (the outbox's kind
  ``telegram``).

python-telegram-bot runs on the reactor's asyncio loop (`bot.BotLink`); everything else
here is Twisted code that awaits Deferreds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, task
from twisted.logger import Logger

from gateway.channel import ChannelContext
from gateway.channels.telegram.bot import BotLink, FloodWait, TelegramRefused, TelegramUnavailable
from gateway.channels.telegram.duty import DutyChats
from gateway.channels.telegram.inbox import Inbox
from gateway.channels.telegram.metrics import TelegramMetrics
from gateway.channels.telegram.poller import Poller
from gateway.channels.telegram.sender import Sender
from gateway.channels.telegram.settings import TelegramSettings
from gateway.reactor import event_loop
from gateway.service import InFlight, every

log = Logger()


class TelegramChannel(Service):
    name = "telegram"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext, send_interval: float = 0.25) -> None:
        self.ctx = ctx
        self.settings: TelegramSettings = ctx.settings
        self.metrics: TelegramMetrics = ctx.metrics
        self.clock = ctx.clock
        self.send_interval = send_interval
        self.link: BotLink = None  # type: ignore[assignment]  # made at start (needs the loop)
        self.bot_ready = False
        self.inbox = Inbox(self)
        self.sender = Sender(self)
        self.duty = DutyChats(self)
        self.poller = Poller(self)
        self.inflight = InFlight(ctx.clock, "Telegram")
        self._polling: defer.Deferred[None] | None = None
        self._loops: list[task.LoopingCall] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._ready: defer.Deferred[None] | None = None

    # -- life cycle --------------------------------------------------------------------------

    def startService(self) -> None:
        super().startService()
        # callWhenRunning starts services before the asyncio loop runs: the reactor's loop,
        # not asyncio.get_running_loop() (DESIGN: known traps).
        self.link = BotLink(self.settings, event_loop(self.ctx.reactor))
        self._loops.append(every(self.clock, self.send_interval, self.sender.send_due, "Telegram"))
        self._unsubscribe = self.ctx.on_action(self.sender.after_action)
        if self.settings.mode == "webhook":
            self.inflight.spawn(self._set_webhook())
        else:
            self._polling = defer.ensureDeferred(self.poller.run())
            self._polling.addErrback(lambda f: log.failure("Telegram: polling stopped", f))
        log.info(
            "Telegram: bot at {url} ({mode})", url=self.settings.base_url, mode=self.settings.mode
        )

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        super().stopService()
        if self._unsubscribe is not None:
            self._unsubscribe()
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self.poller.stop()
        if self._polling is not None:
            yield self._polling
        yield self.inflight.drain()  # reports being committed finish first
        if self.bot_ready:
            try:
                yield self.link.shutdown()
            except Exception as e:  # noqa: BLE001 - stopping anyway
                log.warn("Telegram: shutdown: {e}", e=e)

    # -- the bot ----------------------------------------------------------------------------

    def ensure_bot(self) -> defer.Deferred[None]:
        """getMe once (python-telegram-bot's initialize); raises while Telegram cannot be
        reached or refuses the token."""
        if self.bot_ready:
            return defer.succeed(None)

        def ready(_: None) -> None:
            self.bot_ready = True
            log.info("Telegram: bot @{name} ready", name=self.link.bot.username)

        return self.link.initialize().addCallback(ready)

    def take(self, update: Any) -> defer.Deferred[str]:
        """One update from the webhook (the poller calls the inbox itself, in order)."""

        async def take() -> str:
            if not self.bot_ready:
                await self.ensure_bot()
            outcome = await self.inbox.handle(update)
            self.metrics.updates.labels(outcome).inc()
            return outcome

        return defer.ensureDeferred(take())

    async def say(self, chat: int, text: str) -> None:
        """A message that is no incident's (the /start notice): sent once, not retried."""
        try:
            await self.link.send(chat, text)
        except (FloodWait, TelegramRefused, TelegramUnavailable) as e:
            log.warn("Telegram: message to chat {chat} not sent: {e}", chat=chat, e=e)

    async def _set_webhook(self) -> None:
        s = self.settings
        delay = s.retry_seconds
        while self.running:
            try:
                await self.ensure_bot()
                await self.link.set_webhook(s.webhook_url, s.webhook_secret)
            except (FloodWait, TelegramRefused, TelegramUnavailable) as e:
                log.warn("Telegram: setWebhook failed ({e}); again in {s:.0f} s", e=e, s=delay)
                await task.deferLater(self.clock, delay)
                delay = min(60.0, delay * 2)
                continue
            log.info("Telegram: webhook set to {url}", url=s.webhook_url)
            return
