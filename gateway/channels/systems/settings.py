"""The systems channel's settings (`[channels.systems]`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SystemsSettings:
    enabled: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SystemsSettings:
        return cls(**raw)
