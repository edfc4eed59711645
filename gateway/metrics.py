"""Prometheus metrics of the core. One registry per gateway (not the global one), so tests
that build several gateways in one process do not collide; each channel registers its own
in it (its declaration's `metrics`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.workflow.table import State


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reports = Counter(
            "alarmgw_reports",
            "Reports taken in, by channel and outcome (stored, duplicate, invalid, unavailable)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "alarmgw_commit_seconds",
            "Time to run and commit one writer batch (group commit)",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "alarmgw_commit_batch_size",
            "Writes committed together in one transaction",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.open_incidents = Gauge(
            "alarmgw_incidents",
            "Incidents per state (refreshed at each scrape)",
            ["state"],
            registry=self.registry,
        )
        self.missed_deadlines = Counter(
            "alarmgw_missed_deadlines",
            "Deadlines that passed without the step being done",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "alarmgw_deliveries",
            "Notification delivery attempts by kind and result",
            ["kind", "result"],
            registry=self.registry,
        )

    def on_commit(self, batch: int, seconds: float) -> None:
        """Called on the writer thread; prometheus_client metrics are thread-safe."""
        self.commit_seconds.observe(seconds)
        self.batch_size.observe(batch)

    def set_states(self, counts: dict[str, int]) -> None:
        for state in State:
            self.open_incidents.labels(str(state)).set(counts.get(str(state), 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
