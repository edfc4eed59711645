"""One update in: what it is (`update.read`), and what is done with it before Telegram may
hear that we have it (the poller's next offset, the webhook's 200).

`handle` returns once the update is dealt with for good — its report committed (with its
file and its receipt queued), refused as unreadable, answered — and raises
`StoreUnavailable` or `TelegramUnavailable` when it is not: the caller does not confirm
it, and Telegram delivers it again. The drill runner hands its made-up updates to the same
`handle` (`drill.inject`), marked as injected.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

from gateway.channels.telegram import update as wire
from gateway.channels.telegram.bot import FloodWait, TelegramRefused, TelegramUnavailable
from gateway.report import Attachment, InvalidReport

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

log = Logger()

FILES = "/api/v1/telegram/files/"


class Inbox:
    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        self.settings = channel.settings

    async def handle(self, update: Any, injected: Mapping[str, Any] | None = None) -> str:
        """Deal with one update; its outcome (for the log and the metrics). `injected`: the
        update was made by the drill runner, not received from Telegram; its report says so
        in ``extra["injected"]``."""
        try:
            item = wire.read(update, self.ctx.now(), self.settings.drill_chats)
        except wire.BadUpdate as e:
            log.warn("Telegram: update {id} refused: {e}", id=wire.update_id(update), e=e)
            return "refused"
        if isinstance(item, wire.Alarm):
            return await self._file(item, injected)
        if isinstance(item, wire.ButtonPress):
            await self.channel.duty.pressed(item)
            return "button"
        if isinstance(item, wire.Command):
            await self.channel.say(item.chat, self.settings.welcome_text)
            return "command"
        if isinstance(item, wire.Unsupported):
            log.info(
                "Telegram: unsupported message ({what}) in chat {chat}",
                what=item.what,
                chat=item.chat,
            )
            await self.channel.say(item.chat, self.settings.unsupported_text)
            return "unsupported"
        log.debug("Telegram: ignored {reason}", reason=item.reason)
        return "ignored"

    async def _file(self, alarm: wire.Alarm, injected: Mapping[str, Any] | None = None) -> str:
        report = alarm.report
        if alarm.media is not None:
            report = await self._with_file(alarm)
        if injected is not None:
            report = dataclasses.replace(report, extra={**report.extra, "injected": dict(injected)})
        try:
            receipt = await self.ctx.submit(report)
        except InvalidReport as e:
            log.warn("Telegram: message {id} refused: {e}", id=report.external_id, e=e)
            return "refused"
        return "duplicate" if receipt.duplicate else "stored"

    async def _with_file(self, alarm: wire.Alarm) -> Any:
        """The report with its photo or voice message, fetched now (the bytes ride in the
        report to the intake hook, which stores them in the report's transaction). A file
        Telegram will not give (too large, gone) is noted on the report; one it cannot give
        right now keeps the update unconfirmed."""
        media = alarm.media
        assert media is not None
        report = alarm.report
        tg = dict(report.extra["telegram"])
        try:
            data = await self.channel.link.fetch(media.file_id, self.settings.max_file_bytes)
        except FloodWait as e:
            raise TelegramUnavailable(str(e)) from None
        except TelegramRefused as e:
            log.warn(
                "Telegram: {kind} of {id} not fetched: {e}",
                kind=media.kind,
                id=report.external_id,
                e=e,
            )
            tg["file_missing"] = {"kind": media.kind, "error": str(e)[:200]}
            return dataclasses.replace(report, extra={**report.extra, "telegram": tg})
        sha = hashlib.sha256(data).hexdigest()
        attachment = Attachment(media.name, media.content_type, len(data), sha, FILES + sha)
        tg["inline"] = {sha: base64.b64encode(data).decode("ascii")}
        return dataclasses.replace(
            report,
            attachments=(attachment,),
            extra={**report.extra, "telegram": tg},
        )
