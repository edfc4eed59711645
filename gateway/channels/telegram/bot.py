"""The Bot API client: python-telegram-bot's `Bot` on the reactor's asyncio loop, its errors
sorted into what the channel does next, and the token kept out of every message.

Only the `Bot` is used, not PTB's `Application`/`Updater`: the Updater confirms updates (moves
the offset) when it fetches them, before anything is stored, which would break the rule
that Telegram hears of an update only after its report is committed. Updates are fetched
raw (`getUpdates` through `do_api_request`) so that one malformed update is refused on its
own instead of failing PTB's parsing of the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBUserWarning
from twisted.internet import defer

from gateway.channels.telegram.settings import TelegramSettings
from gateway.channels.telegram.update import ALLOWED_UPDATES

T = TypeVar("T")

# The raw getUpdates is on purpose (see above); PTB warns of it on every call.
warnings.filterwarnings("ignore", r".*do_api_request.*getUpdates", PTBUserWarning)


class TelegramUnavailable(Exception):
    """Telegram cannot be reached or failed on its side: try again later."""


class TelegramRefused(Exception):
    """Telegram refused the request for good (bad chat, bot blocked, bad token)."""


class FloodWait(Exception):
    """429: Telegram's flood control asks us to wait `seconds` (Bot API: retry_after)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"flood control: retry after {seconds:g} s")
        self.seconds = seconds


class _Redact(logging.Filter):
    """python-telegram-bot and httpx log request URLs, which carry the token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            record.msg = str(record.msg).replace(self.token, "<token>")
            if record.args:
                record.args = tuple(
                    str(a).replace(self.token, "<token>") if isinstance(a, str) else a
                    for a in (record.args if isinstance(record.args, tuple) else (record.args,))
                )
        return True


class BotLink:
    def __init__(self, settings: TelegramSettings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        self.bot = Bot(
            settings.token,
            base_url=settings.api_url,
            base_file_url=settings.file_url,
            request=HTTPXRequest(connection_pool_size=8, read_timeout=30.0),
            get_updates_request=HTTPXRequest(read_timeout=settings.poll_timeout + 15.0),
        )
        redact = _Redact(settings.token)
        for name in ("telegram", "httpx", "httpcore"):
            logger = logging.getLogger(name)
            logger.addFilter(redact)
            if logger.level < logging.WARNING:
                logger.setLevel(logging.WARNING)

    def run(self, coro: Coroutine[Any, Any, T]) -> defer.Deferred[T]:
        """Run a coroutine of PTB's on the reactor's loop; its errors sorted (see above)."""
        return defer.Deferred.fromFuture(asyncio.ensure_future(self._sorted(coro), loop=self.loop))

    async def _sorted(self, coro: Coroutine[Any, Any, T]) -> T:
        token = self.settings.token

        def said(e: Exception) -> str:
            return f"{type(e).__name__}: {e}".replace(token, "<token>")[:300] if token else str(e)

        try:
            return await coro
        except RetryAfter as e:
            after = e.retry_after
            seconds = after.total_seconds() if isinstance(after, timedelta) else float(after)
            raise FloodWait(seconds) from None
        except (Forbidden, BadRequest, InvalidToken, ChatMigrated) as e:
            raise TelegramRefused(said(e)) from None
        except Conflict as e:  # another getUpdates or a webhook: it passes once it is gone
            raise TelegramUnavailable(said(e)) from None
        except TelegramError as e:  # NetworkError, TimedOut, 5xx
            raise TelegramUnavailable(said(e)) from None

    # -- the calls we make -------------------------------------------------------------------

    def initialize(self) -> defer.Deferred[None]:
        return self.run(self.bot.initialize())

    def shutdown(self) -> defer.Deferred[None]:
        return self.run(self.bot.shutdown())

    def get_updates(self, offset: int | None) -> defer.Deferred[Any]:
        kwargs: dict[str, Any] = {
            "timeout": self.settings.poll_timeout,
            "allowed_updates": list(ALLOWED_UPDATES),
        }
        if offset is not None:
            kwargs["offset"] = offset
        return self.run(
            self.bot.do_api_request(
                "getUpdates", api_kwargs=kwargs, read_timeout=self.settings.poll_timeout + 15.0
            )
        )

    def send(
        self, chat: int, text: str, button: tuple[str, str] | None = None
    ) -> defer.Deferred[Any]:
        """Send `text`; with `button` (label, callback data) an inline keyboard of one button.
        Fires with Telegram's message id."""
        markup = None
        if button is not None:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(button[0], callback_data=button[1])]]
            )

        async def send() -> int:
            m = await self.bot.send_message(chat, text[:4096], reply_markup=markup)
            return int(m.message_id)

        return self.run(send())

    def fetch(self, file_id: str, limit: int) -> defer.Deferred[bytes]:
        """A file's bytes (getFile, then its download); over `limit` octets is refused."""

        async def fetch() -> bytes:
            f = await self.bot.get_file(file_id)
            if f.file_size is not None and f.file_size > limit:
                raise TelegramRefused(f"file of {f.file_size} octets, over {limit}")
            data = bytes(await f.download_as_bytearray())
            if len(data) > limit:
                raise TelegramRefused(f"file of {len(data)} octets, over {limit}")
            return data

        return self.run(fetch())

    def answer_button(self, callback_id: str, text: str) -> defer.Deferred[Any]:
        return self.run(self.bot.answer_callback_query(callback_id, text=text[:200]))

    def set_webhook(self, url: str, secret: str) -> defer.Deferred[Any]:
        return self.run(
            self.bot.set_webhook(url, allowed_updates=list(ALLOWED_UPDATES), secret_token=secret)
        )

    def delete_webhook(self) -> defer.Deferred[Any]:
        return self.run(self.bot.delete_webhook(drop_pending_updates=False))
