"""The vehicle-terminal channel's settings (`[channels.jt808]`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BitIncident:
    """`[channels.jt808.alarm_bits.29]`: an alarm bit other than SOS that opens an incident."""

    category: str
    priority: int = 2


@dataclass(frozen=True)
class Jt808Settings:
    host: str = "127.0.0.1"
    port: int = 6808  # 0: any free port (tests)
    # The auth codes handed out at registration are an HMAC of the terminal's number with
    # this secret: the same on every node and after a restart, nothing stored per terminal.
    auth_secret: str = ""
    accept_unknown: bool = True  # terminals not in the registry may register (未登记)
    sos_category: str = "criminal"
    alarm_bits: Mapping[int, BitIncident] = field(default_factory=dict)
    flush_s: float = 1.0  # positions and track points are written in a batch this often
    max_pending_positions: int = 100_000  # a flush is forced beyond this many waiting
    max_connections: int = 50_000
    idle_timeout_s: float = 600.0  # a terminal silent this long is disconnected
    registry_refresh_s: float = 10.0
    drill_terminals: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> Jt808Settings:
        fields = {k: v for k, v in raw.items() if k not in ("enabled", "alarm_bits")}
        if "drill_terminals" in fields:
            fields["drill_terminals"] = tuple(t.lstrip("0") for t in fields["drill_terminals"])
        bits = {int(b): BitIncident(**spec) for b, spec in raw.get("alarm_bits", {}).items()}
        return cls(alarm_bits=bits, **fields)


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if "0" in section.get("alarm_bits", {}):
        problems.append(("alarm_bits.0", "bit 0 is the emergency button: see sos_category"))
    return problems
