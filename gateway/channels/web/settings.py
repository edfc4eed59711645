"""The web channel's settings (`[channels.web]`): only its switch so far."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = True

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> WebSettings:
        return cls(**raw)
