"""The telegram channel's service."""

from __future__ import annotations

from twisted.application.service import Service

from gateway.channel import ChannelContext


class TelegramChannel(Service):
    name = "telegram"  # type: ignore[assignment]

    def __init__(self, ctx: ChannelContext) -> None:
        self.ctx = ctx
