"""Messages to citizens' chats: receipts (queued by the intake hook with the report), state
updates (queued after a committed action, once per state and chat), call-takers' replies
(action ``reply_telegram``). Rows of `telegram_out`, claimed with a lease, sent, retried
with backoff; Telegram's flood control (429 retry_after) pauses all sending for as long as
it asks, without counting an attempt."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from gateway.channels.telegram import store
from gateway.channels.telegram.bot import FloodWait, TelegramRefused, TelegramUnavailable
from gateway.channels.telegram.settings import fill
from gateway.errors import DomainError
from gateway.report import InvalidReport
from gateway.store.engine import StoreUnavailable
from gateway.workflow.machine import Actor

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

log = Logger()

MAX_REPLY = 4096  # characters: one Telegram message
LEASE = 120.0


class NoChat(DomainError):
    kind = "conflict"


class Sender:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.settings = channel.settings
        self.paused_until = 0.0
        self._sending = False

    def now(self) -> datetime:
        return self.ctx.now()

    def flood(self, seconds: float) -> datetime:
        """Telegram asked us to wait: nothing is sent until then."""
        self.paused_until = max(self.paused_until, self.channel.clock.seconds() + seconds)
        log.warn("Telegram: flood control, pausing sending {s:g} s", s=seconds)
        return datetime.fromtimestamp(self.paused_until, UTC)

    def paused(self) -> bool:
        return self.channel.clock.seconds() < self.paused_until

    # -- queue -------------------------------------------------------------------------------

    async def reply(
        self, number: str, actor: Actor, text: str, chat: int | None = None
    ) -> dict[str, Any]:
        """A call-taker answers the citizen in the chat (action ``reply_telegram``): to
        `chat`, or to the chat that last wrote to this incident."""
        text = text.strip()
        if not text:
            raise InvalidReport("telegram_text", "the reply is empty")
        if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
            raise InvalidReport("telegram_text", "contains a lone surrogate (not a character)")
        if len(text) > MAX_REPLY:
            raise InvalidReport("telegram_text", f"{len(text)} characters, at most {MAX_REPLY}")
        chats = await self.ctx.read(store.chats, number)
        if not chats:
            raise NoChat(f"incident {number} has no Telegram chat to answer")
        if chat is not None and chat not in chats:
            raise InvalidReport(
                "telegram_chat", f"chat {chat} has not written to incident {number}"
            )
        target = chats[-1] if chat is None else chat
        await self.ctx.write(store.queue, number, "reply", target, text, None, self.now(), actor)
        return {"incident": number, "telegram": {"chat": target, "text": text, "status": "pending"}}

    def after_action(self, number: str, action: str, doc: Mapping[str, Any]) -> None:
        """A state the citizen hears about (`updates`): one message to each chat that wrote
        to the incident, once per state."""
        state = str(doc.get("state"))
        template = self.settings.updates.get(state)
        if not template or not self.channel.running:
            return

        async def updates() -> None:
            chats = await self.ctx.read(store.chats, number)
            for chat in chats:
                text = fill(
                    template, bool(doc.get("drill")), self.now(), self.ctx.tz, incident=number
                )
                await self.ctx.write(
                    store.queue,
                    number,
                    "update",
                    chat,
                    text,
                    f"update:{number}:{state}:{chat}",
                    self.now(),
                )

        self.channel.inflight.spawn(updates())

    # -- send --------------------------------------------------------------------------------

    async def send_due(self) -> None:
        if self._sending or self.paused() or not self.channel.bot_ready:
            return
        self._sending = True
        try:
            now = self.now()
            if not await self.ctx.read(store.any_due, now):
                return
            rows = await self.ctx.write(store.claim, now, 20, LEASE)
            for i, row in enumerate(rows):
                if self.paused():
                    retry = datetime.fromtimestamp(self.paused_until, UTC)
                    await self.ctx.write(
                        store.release, [r["id"] for r in rows[i:]], retry, self.now()
                    )
                    break
                await self._send_one(row)
        except StoreUnavailable as e:
            log.warn("Telegram: sending deferred: {e}", e=e)
        finally:
            self._sending = False

    async def _send_one(self, row: Mapping[str, Any]) -> None:
        try:
            message_id = await self.channel.link.send(row["chat_id"], row["text"])
        except FloodWait as e:
            retry = self.flood(e.seconds)
            await self.ctx.write(store.release, [row["id"]], retry, self.now())
            self.channel.metrics.sent.labels(row["kind"], "flood").inc()
            return
        except TelegramRefused as e:
            await self._not_sent(row, str(e), permanent=True)
            return
        except TelegramUnavailable as e:
            await self._not_sent(row, str(e), permanent=False)
            return
        except Exception as e:  # noqa: BLE001 - one message's fault must not stop the others
            log.failure("Telegram: sending message {id} failed", id=row["id"])
            await self._not_sent(row, type(e).__name__, permanent=False)
            return
        await self.ctx.write(store.sent, row["id"], message_id, self.now())
        self.channel.metrics.sent.labels(row["kind"], "sent").inc()
        log.info(
            "Telegram: {kind} for {incident} sent to chat {chat}",
            kind=row["kind"],
            incident=row["incident"],
            chat=row["chat_id"],
        )

    async def _not_sent(self, row: Mapping[str, Any], error: str, permanent: bool) -> None:
        s = self.settings
        attempts = row["attempts"] + 1
        retry = None
        if not permanent and attempts < s.send_attempts:
            delay = s.retry_seconds * 2 ** min(attempts - 1, 10) * random.uniform(0.9, 1.1)  # noqa: S311
            retry = self.now() + timedelta(seconds=min(delay, 3600))
        status = await self.ctx.write(store.not_sent, row["id"], error, self.now(), retry)
        self.channel.metrics.sent.labels(row["kind"], status).inc()
        log.warn(
            "Telegram: {kind} for {incident} to chat {chat} not sent ({error}): {status}",
            kind=row["kind"],
            incident=row["incident"],
            chat=row["chat_id"],
            error=error,
            status=status,
        )
