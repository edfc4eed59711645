"""The cap channel's settings (`[channels.cap]`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CapSettings:
    enabled: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> CapSettings:
        return cls(**raw)
