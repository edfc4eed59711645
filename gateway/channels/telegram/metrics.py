"""The Telegram channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class TelegramMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.updates = Counter(
            "alarmgw_telegram_updates",
            "Bot API updates dealt with, by outcome (stored, duplicate, refused, command, "
            "button, unsupported, ignored)",
            ["outcome"],
            registry=registry,
        )
        self.sent = Counter(
            "alarmgw_telegram_sent",
            "Messages to chats by kind (receipt, update, reply, notice…) and outcome",
            ["kind", "outcome"],
            registry=registry,
        )
