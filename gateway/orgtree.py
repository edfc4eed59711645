"""The org tree: city command center → district/county bureaus → police stations.

Pure data built once from the configuration; every lookup the workflow needs (where is this
point, which unit names this street, who is above this unit) is answered here without I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

#: Tiers in the order they nest; "special" units (traffic police, …) sit under the city center
#: and take incidents by category rather than by territory.
TIERS = ("city", "district", "station", "special")


@dataclass(frozen=True)
class NotifyTarget:
    """Somewhere a notice about an incident is sent (a unit's duty desk, 119, …)."""

    kind: str  # "webhook" | "sms" | "phone" | "telegram"
    address: str
    name: str | None = None
    secret: str | None = field(default=None, repr=False)  # never printed in logs or reprs
    # A drill target (the duty desk's training phone, a drill webhook): it gets the notices
    # of drill incidents and no others; the other targets never get a drill's.
    drill: bool = False

    def takes(self, drill: bool) -> bool:
        """Whether a notice of an incident with this drill flag goes here."""
        return self.drill == drill


@dataclass(frozen=True)
class Unit:
    code: str  # GA 380 style, 12 digits
    name: str
    tier: str
    parent: str | None
    keywords: tuple[str, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()
    jurisdiction: BaseGeometry | None = field(default=None, compare=False, repr=False)


class OrgTree:
    """An immutable tree of units.

    The constructor checks structure (one root, known parents, no cycles) and raises
    ``ValueError``; the config loader checks the same things first so that its errors can
    name the key, and this is the backstop for trees built in code (tests, tools).
    """

    def __init__(self, units: Iterable[Unit]) -> None:
        self._units: dict[str, Unit] = {}
        for unit in units:
            if unit.code in self._units:
                raise ValueError(f"duplicate unit code {unit.code}")
            self._units[unit.code] = unit
        roots = [u for u in self._units.values() if u.parent is None]
        if len(roots) != 1:
            raise ValueError(f"expected exactly one root unit, found {len(roots)}")
        self._root = roots[0]
        self._children: dict[str, list[str]] = {code: [] for code in self._units}
        for unit in self._units.values():
            if unit.parent is not None:
                if unit.parent not in self._units:
                    raise ValueError(f"unit {unit.code}: unknown parent {unit.parent}")
                self._children[unit.parent].append(unit.code)
        for kids in self._children.values():
            kids.sort()
        self._depth: dict[str, int] = {}
        self._walk_depths(self._root.code, 0)
        if len(self._depth) != len(self._units):
            stray = sorted(set(self._units) - set(self._depth))
            raise ValueError(f"units not reachable from the root (cycle?): {', '.join(stray)}")
        self._build_geo_index()
        self._build_keyword_index()

    def _walk_depths(self, root: str, depth: int) -> None:
        # Iterative: a deep (or hostile) tree must not hit the recursion limit.
        stack = [(root, depth)]
        while stack:
            code, d = stack.pop()
            self._depth[code] = d
            stack.extend((kid, d + 1) for kid in self._children[code])

    def _build_geo_index(self) -> None:
        # Deepest first, so that the first hit in one vectorized test is the answer
        # (station before district before city). For ~15 units one prepared
        # ``intersects_xy`` over the whole array beats an STRtree and needs no Point object.
        ordered = sorted(
            (u for u in self._units.values() if u.jurisdiction is not None),
            key=lambda u: (-self._depth[u.code], u.code),
        )
        self._geo_codes = [u.code for u in ordered]
        self._geo_array = np.array([u.jurisdiction for u in ordered], dtype=object)
        shapely.prepare(self._geo_array)

    def _build_keyword_index(self) -> None:
        # Most specific first: deeper unit, then longer keyword, then code (for determinism).
        pairs = [(kw, u.code) for u in self._units.values() for kw in u.keywords if kw]
        pairs.sort(key=lambda p: (-self._depth[p[1]], -len(p[0]), p[1]))
        self._keywords = pairs

    # -- navigation ---------------------------------------------------------------------------

    @property
    def root(self) -> Unit:
        return self._root

    def get(self, code: str) -> Unit:
        return self._units[code]

    def __contains__(self, code: object) -> bool:
        return code in self._units

    def __len__(self) -> int:
        return len(self._units)

    def units(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def depth(self, code: str) -> int:
        return self._depth[code]

    def children(self, code: str) -> list[Unit]:
        return [self._units[c] for c in self._children[code]]

    def parent(self, code: str) -> Unit | None:
        parent = self._units[code].parent
        return None if parent is None else self._units[parent]

    def ancestors(self, code: str) -> list[Unit]:
        """Nearest first, ending with the root; empty for the root."""
        out: list[Unit] = []
        unit = self.parent(code)
        while unit is not None:
            out.append(unit)
            unit = self.parent(unit.code)
        return out

    def subtree(self, code: str) -> frozenset[str]:
        """The codes of ``code`` and everything below it."""
        seen: set[str] = set()
        stack = [code] if code in self._units else []
        while stack:
            current = stack.pop()
            seen.add(current)
            stack.extend(self._children[current])
        return frozenset(seen)

    def covers(self, scope_code: str, unit_code: str) -> bool:
        """True when ``unit_code`` is ``scope_code`` or below it (a dispatcher's view)."""
        if unit_code not in self._units:
            return False
        return unit_code == scope_code or any(
            a.code == scope_code for a in self.ancestors(unit_code)
        )

    def escalation_target(self, code: str) -> Unit | None:
        """Where a missed deadline goes: the parent tier; nothing above the city center."""
        return self.parent(code)

    # -- lookups ------------------------------------------------------------------------------

    def unit_at(self, lat: float, lon: float) -> Unit | None:
        """The deepest unit whose jurisdiction contains the point (WGS84).

        Boundaries count as inside, so a point on the line between two stations still gets
        a station (the lower code in the deepest tier) rather than falling through.
        """
        if not self._geo_codes:
            return None
        hits = shapely.intersects_xy(self._geo_array, lon, lat)
        index = int(np.argmax(hits))
        return self._units[self._geo_codes[index]] if hits[index] else None

    def unit_for_address(self, text: str) -> Unit | None:
        """The deepest unit with a keyword in ``text``; among those, the longest keyword wins."""
        if not text:
            return None
        for keyword, code in self._keywords:
            if keyword in text:
                return self._units[code]
        return None

    def to_json(self) -> dict[str, Any]:
        """The tree as nested dicts for the API; notify targets (and secrets) stay out."""

        def node(code: str) -> dict[str, Any]:
            unit = self._units[code]
            return {
                "code": unit.code,
                "name": unit.name,
                "tier": unit.tier,
                "children": [node(kid) for kid in self._children[code]],
            }

        return node(self._root.code)

    def to_geojson(self) -> dict[str, Any]:
        """The units as a GeoJSON FeatureCollection (RFC 7946: [lon, lat], WGS84), one
        Feature a unit with its jurisdiction (null geometry for a unit without territory,
        such as the traffic police) and properties code, name, tier, parent. Shallower units
        first, so that a map drawing them in order puts each station above its district.
        As `to_json`, nothing of the notify targets (or their secrets)."""
        ordered = sorted(self._units.values(), key=lambda u: (self._depth[u.code], u.code))
        return {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "id": unit.code,
                    "geometry": None
                    if unit.jurisdiction is None
                    else json.loads(shapely.to_geojson(unit.jurisdiction)),
                    "properties": {
                        "code": unit.code,
                        "name": unit.name,
                        "tier": unit.tier,
                        "parent": unit.parent,
                    },
                }
                for unit in ordered
            ],
        }
