"""The AMI channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class AmiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.up = Gauge(
            "alarmgw_ami_up",
            "1 while the AMI link to Asterisk is logged in",
            registry=registry,
        )
        self.calls = Counter(
            "alarmgw_calls",
            "110 calls followed over AMI, by how they ended (answered, abandoned)",
            ["outcome"],
            registry=registry,
        )
        self.call_report_lag = Histogram(
            "alarmgw_call_report_lag_seconds",
            "From Asterisk's time of a call's arrival event to its report's commit",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0),
            registry=registry,
        )
