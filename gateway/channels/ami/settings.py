"""The AMI channel's settings (`[channels.ami]`, checked by its `config.schema.json`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AmiSettings:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "alarmgw"
    secret: str = ""
    queues: tuple[str, ...] = ("calltakers", "calltakers-overflow")
    calltaker_dial: str = "PJSIP/{calltaker}"
    callback_context: str = "alarmgw-callback"
    notify_dial: str = "PJSIP/{number}@carrier"
    notify_context: str = "alarmgw-notify"
    ring_seconds: int = 30
    notify_attempts: int = 3
    notify_retry_seconds: float = 60.0
    action_timeout: float = 5.0
    ping_interval: float = 5.0
    reconnect_max: float = 30.0
    recordings_dir: str | None = None  # Asterisk's RECDIR as this host sees it

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> AmiSettings:
        """`raw` has passed the channel's config.schema.json."""
        fields = {k: v for k, v in raw.items() if k != "enabled"}
        if "queues" in fields:
            fields["queues"] = tuple(fields["queues"])
        return cls(**fields)
