"""The alarm-panel channel's settings (`[channels.dc09]`): where the receiver listens, the
DC-09 time window, what each event means to the 110 center, and the supervision check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# What becomes an incident by default: alarms (burglary, hold-up, panic, fire, medical …).
# Troubles, tests and open/close are kept in the premises' signal history only.
DEFAULT_INCIDENT_KINDS = ("alarm",)


@dataclass(frozen=True)
class CodeOverride:
    """`[channels.dc09.codes.BA]` or `[channels.dc09.codes.CID130]`: this city's meaning."""

    kind: str | None = None
    category: str | None = None
    priority: int | None = None
    name: str | None = None


@dataclass(frozen=True)
class Dc09Settings:
    host: str = "127.0.0.1"
    port: int = 9009  # TCP and UDP (0: any free port, for tests)
    udp: bool = True
    # DC-09's "+20/-40 s": a message may be stamped up to 40 s behind the receiver's clock
    # and 20 s ahead of it; outside, it is answered NAK with the receiver's time.
    window_behind_s: int = 40
    window_ahead_s: int = 20
    incident_kinds: tuple[str, ...] = DEFAULT_INCIDENT_KINDS
    codes: Mapping[str, CodeOverride] = field(default_factory=dict)
    supervision_category: str = "other"
    supervision_priority: int = 4
    supervision_check_s: float = 30.0
    registry_refresh_s: float = 10.0  # how often the premises registry is re-read
    seen_flush_s: float = 1.0  # last-seen times are written in batches this often
    max_connections: int = 5000
    idle_timeout_s: float = 600.0  # a panel's TCP link silent this long is closed
    drill_accounts: tuple[str, ...] = ()  # panels of a drill (演练): their alarms are drills

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> Dc09Settings:
        """`raw` has passed the channel's config.schema.json."""
        fields = {k: v for k, v in raw.items() if k not in ("enabled", "codes")}
        for key in ("incident_kinds", "drill_accounts"):
            if key in fields:
                fields[key] = tuple(
                    str(v).upper() if key == "drill_accounts" else v for v in fields[key]
                )
        codes = {
            str(code).upper(): CodeOverride(**spec) for code, spec in raw.get("codes", {}).items()
        }
        return cls(codes=codes, **fields)


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say: only the semantic checks."""
    problems: list[tuple[str, str]] = []
    if section.get("window_behind_s", 40) + section.get("window_ahead_s", 20) <= 0:
        problems.append(("window_ahead_s", "the timestamp window must not be empty"))
    return problems
