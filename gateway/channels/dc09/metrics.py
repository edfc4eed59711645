"""The alarm-panel channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class PanelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter(
            "alarmgw_dc09_answers",
            "Answers to DC-09 frames (ACK, NAK, DUH, none: the store failed) by transport",
            ["answer", "transport"],
            registry=registry,
        )
        self.events = Counter(
            "alarmgw_dc09_events",
            "Panel events by kind (alarm, restoral, trouble, test, openclose …) and outcome "
            "(incident, joined, signal)",
            ["kind", "outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "alarmgw_dc09_refused",
            "Frames refused, by reason (crc, length, format, decrypt, unencrypted …)",
            ["reason"],
            registry=registry,
        )
        self.links = Gauge("alarmgw_dc09_links", "Panels connected over TCP now", registry=registry)
