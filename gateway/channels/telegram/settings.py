"""The telegram channel's settings (`[channels.telegram]`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TelegramSettings:
    enabled: bool = False

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> TelegramSettings:
        return cls(**raw)
