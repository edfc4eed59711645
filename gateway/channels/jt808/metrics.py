"""The vehicle-terminal channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class VehicleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "alarmgw_jt808_messages",
            "Messages from terminals by id (0x0200 …) and outcome",
            ["msg", "outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "alarmgw_jt808_refused", "Frames refused, by reason", ["reason"], registry=registry
        )
        self.links = Gauge("alarmgw_jt808_links", "Terminals connected now", registry=registry)
        self.pending = Gauge(
            "alarmgw_jt808_pending_positions",
            "Positions waiting for the next batch write",
            registry=registry,
        )
