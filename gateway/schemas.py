"""Where the JSON Schemas live, installed or in a source checkout.

The canonical copies are in ``<repo>/schemas/``; an installed package carries them as package
data in ``gateway/_schemas/``. Looking in both keeps a source checkout and a wheel working the
same way without copying files by hand.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
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


def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema, read once per process; each call gets a copy of its own (callers
    build validators at start, and fastjsonschema rewrites the $refs of what it is given:
    a shared dict was mutated that way once)."""
    return copy.deepcopy(_parsed(name))


@functools.cache
def _parsed(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


#: Where a schema file lists the category codes (警情类别). The files list the sample city's
#: nine; a city defines its own in its config ([categories]), and the schemas the API
#: enforces and publishes take those (`with_categories`).
CATEGORY_ENUMS: dict[str, tuple[str, ...]] = {
    "report.schema.json": ("$defs", "category"),
    "report-submission.schema.json": ("$defs", "category"),
    "action.schema.json": ("properties", "category"),
}


def with_categories(
    schema: dict[str, Any], name: str, categories: Mapping[str, str] | None
) -> dict[str, Any]:
    """``schema``, a copy of file ``name`` (never `load_schema`'s shared dict), with the
    category codes ``categories`` (code → name, from the config) in place of the file's;
    unchanged with ``None``."""
    path = CATEGORY_ENUMS.get(name)
    if categories is not None and path is not None:
        node = schema
        for key in path:
            node = node[key]
        node["enum"] = list(categories)
        listed = ", ".join(f"{code} {label}" for code, label in categories.items())
        node["description"] = f"Category (警情类别), one of this city's: {listed}."
    return schema
