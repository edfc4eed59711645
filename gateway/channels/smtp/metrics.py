"""The e-mail channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class MailMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter(
            "alarmgw_smtp_answers",
            "Answers to DATA by code (250, 451, …) and report channel (email, fax)",
            ["code", "channel"],
            registry=registry,
        )
