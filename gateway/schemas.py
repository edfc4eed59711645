"""Where the JSON Schemas live, installed or in a source checkout.

The canonical copies are in ``<repo>/schemas/``; an installed package carries them as package
data in ``gateway/_schemas/``. Looking in both keeps a source checkout and a wheel working the
same way without copying files by hand.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent
_SEARCH_DIRS = (_PACKAGE_DIR / "_schemas", _PACKAGE_DIR.parent / "schemas")


def schema_path(name: str) -> Path:
    """The file of schema ``name`` ("config" or "config.schema.json")."""
    filename = name if name.endswith(".json") else f"{name}.schema.json"
    for directory in _SEARCH_DIRS:
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(d) for d in _SEARCH_DIRS)
    raise FileNotFoundError(f"schema {filename} not found in {searched}")


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema, read once per process. Shared: callers must not mutate it."""
    with schema_path(name).open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema
