"""Routing: which unit an incident goes to, and who else hears about it.

Pure data in, data out (Jasmin's routing imports no protocol code; neither does this). The
order of the rules follows 110 practice: territory first (the station whose jurisdiction holds
the place), then category hints (traffic → traffic police, fire → also 119), then priority
(major incidents also go to the city command center).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.config import Category
from gateway.orgtree import NotifyTarget, OrgTree, Unit

# Route.reason values
JURISDICTION = "jurisdiction"  # the location lies in the unit's polygon
ADDRESS = "address"  # a keyword of the unit appears in the address text
DEFAULT = "default"  # nothing matched: the city command center decides
CATEGORY = "category"  # the category names its own unit (route_to)

# Notice.reason values
TERRITORIAL = "territorial"  # the station of the place, when a category unit took the incident
ALSO_NOTIFY = "also_notify"  # a category's outside target (119, …)
PRIORITY1 = "priority1"  # a major incident: the city command center watches it


@dataclass(frozen=True)
class Notice:
    """Someone informed besides the assigned unit: a unit of the tree, or an outside target."""

    unit: str | None
    target: NotifyTarget | None
    reason: str


@dataclass(frozen=True)
class Route:
    unit: str
    reason: str
    notify: tuple[Notice, ...] = ()


def territorial_unit(
    org: OrgTree, *, lat: float | None, lon: float | None, address: str | None
) -> tuple[Unit, str]:
    """The unit responsible for the place, and how it was found."""
    if lat is not None and lon is not None:
        unit = org.unit_at(lat, lon)
        if unit is not None:
            return unit, JURISDICTION
    if address:
        unit = org.unit_for_address(address)
        if unit is not None:
            return unit, ADDRESS
    return org.root, DEFAULT


def route(
    org: OrgTree,
    categories: Mapping[str, Category],
    *,
    lat: float | None,
    lon: float | None,
    address: str | None,
    category: str | None,
    priority: int | None,
) -> Route:
    """Pick the unit for an incident and the notices that go with it.

    ``priority`` None (not yet classified) falls back to the category's default priority. An
    unknown category gives no hints; the config loader has already refused unknown units.
    """
    territorial, reason = territorial_unit(org, lat=lat, lon=lon, address=address)
    unit = territorial
    notices: list[Notice] = []
    cat = categories.get(category) if category else None

    if cat is not None and cat.route_to is not None and cat.route_to in org:
        if cat.route_to != territorial.code:
            unit, reason = org.get(cat.route_to), CATEGORY
            # The station still needs to know: it owns the place (traffic accident → the
            # station may have to secure the scene).
            notices.append(Notice(unit=territorial.code, target=None, reason=TERRITORIAL))

    if cat is not None:
        notices.extend(Notice(unit=None, target=t, reason=ALSO_NOTIFY) for t in cat.also_notify)

    effective = priority if priority is not None else (cat.priority if cat else None)
    if effective == 1 and unit.code != org.root.code:
        if not any(n.unit == org.root.code for n in notices):
            notices.append(Notice(unit=org.root.code, target=None, reason=PRIORITY1))

    return Route(unit=unit.code, reason=reason, notify=tuple(notices))
