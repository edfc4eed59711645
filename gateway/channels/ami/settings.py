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
    # Drill phone injects (drill.py): the call's way in, the context that speaks the
    # script, where its audio goes (Asterisk's ALARMGW_DRILL_SOUNDS as this host sees it),
    # espeak-ng's voice, and how long the drill caller waits for an answer.
    drill_channel: str = "Local/110@from-drill"
    drill_context: str = "alarmgw-drill"
    drill_sounds: str = "/var/lib/asterisk/sounds/alarmgw-drill"
    drill_voice: str = "cmn-latn-pinyin"
    drill_wait_seconds: int = 180

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> AmiSettings:
        """`raw` has passed the channel's config.schema.json."""
        fields = {k: v for k, v in raw.items() if k != "enabled"}
        if "queues" in fields:
            fields["queues"] = tuple(fields["queues"])
        return cls(**fields)
