"""The SMS channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class SmsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "alarmgw_smpp_up",
            "1 while the SMPP bind is bound to the SMSC",
            ["bind"],
            registry=registry,
        )
        self.sms = Counter(
            "alarmgw_sms",
            "SMS by direction (in, out, receipt; inject: a drill's adapter injection) and outcome",
            ["direction", "outcome"],
            registry=registry,
        )
