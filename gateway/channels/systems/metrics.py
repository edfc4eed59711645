"""The systems channel's metrics, in the gateway's registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

# The label of requests naming a system that is not configured: the path is the caller's,
# and one label value per name it makes up would grow the registry without bound.
UNKNOWN = "unknown"


class SystemsMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.refused = Counter(
            "alarmgw_systems_refused",
            "Alarms refused, by system and reason (401: unknown_system, no_timestamp, "
            "no_signature, bad_timestamp, bad_signature_format, bad_signature, late, early, "
            "replayed; 400: bad_json; 422: unmappable, invalid)",
            ["system", "reason"],
            registry=registry,
        )
        self.accepted = Counter(
            "alarmgw_systems_accepted",
            "Alarms answered 201, by system and outcome (stored; duplicate: a retry)",
            ["system", "outcome"],
            registry=registry,
        )
