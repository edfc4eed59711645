"""Routing over the bundled sample city."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Point
from shapely.ops import unary_union

from gateway.config import load_config
from gateway.workflow.routing import Notice, Route, route

CONFIG = load_config(None)
ORG = CONFIG.org
CATS = CONFIG.categories
CITY = "530100000000"
TRAFFIC_POLICE = "530100170000"
QINGSHAN_STATION = "530103520000"  # contains lat 25.04, lon 102.71
MINGHU_DISTRICT = "530102000000"
STATIONS = [u for u in ORG.units() if u.tier == "station"]
# The sample city is the rectangle lon 102.62–102.80, lat 24.96–25.12.
WEST, EAST, SOUTH, NORTH = 102.62, 102.80, 24.96, 25.12


def r(
    *,
    lat: float | None = None,
    lon: float | None = None,
    address: str | None = None,
    category: str | None = None,
    priority: int | None = None,
) -> Route:
    return route(ORG, CATS, lat=lat, lon=lon, address=address, category=category, priority=priority)


def test_jurisdiction() -> None:
    assert r(lat=25.04, lon=102.71, priority=3) == Route(QINGSHAN_STATION, "jurisdiction", ())


def test_location_wins_over_address() -> None:
    assert r(lat=25.04, lon=102.71, address="明湖区", priority=3).unit == QINGSHAN_STATION


def test_address_fallback() -> None:
    assert r(address="青年路88号", priority=3) == Route(QINGSHAN_STATION, "address", ())
    # Outside every polygon: the address still helps.
    assert r(lat=39.9, lon=116.4, address="明湖区某小区", priority=3) == Route(
        MINGHU_DISTRICT, "address", ()
    )


def test_default_to_city_center() -> None:
    assert r(priority=3) == Route(CITY, "default", ())
    assert r(lat=39.9, lon=116.4, address="不知道", priority=3) == Route(CITY, "default", ())
    assert r(lat=25.04, lon=None, priority=3).reason == "default"  # half a location is none


def test_traffic_goes_to_traffic_police_and_informs_the_station() -> None:
    result = r(lat=25.04, lon=102.71, category="traffic", priority=3)
    assert result.unit == TRAFFIC_POLICE and result.reason == "category"
    assert result.notify == (Notice(QINGSHAN_STATION, None, "territorial"),)


def test_fire_also_notifies_119() -> None:
    result = r(lat=25.04, lon=102.71, category="fire", priority=2)
    assert result.unit == QINGSHAN_STATION and result.reason == "jurisdiction"
    [notice] = result.notify
    assert notice.unit is None and notice.reason == "also_notify"
    assert notice.target is not None and notice.target.address == "http://127.0.0.1:9/119"
    assert notice.target.name == "119指挥中心"


def test_priority1_informs_city_center() -> None:
    result = r(lat=25.04, lon=102.71, category="criminal", priority=1)
    assert result == Route(QINGSHAN_STATION, "jurisdiction", (Notice(CITY, None, "priority1"),))


def test_priority_defaults_to_the_category() -> None:
    # fire is p1 by default: 119 and the city center both hear of it.
    reasons = [n.reason for n in r(lat=25.04, lon=102.71, category="fire").notify]
    assert reasons == ["also_notify", "priority1"]
    assert r(lat=25.04, lon=102.71, category="criminal").notify == ()  # p2


def test_priority1_at_the_root_needs_no_notice() -> None:
    assert r(priority=1) == Route(CITY, "default", ())


def test_unknown_category_gives_no_hints() -> None:
    assert r(lat=25.04, lon=102.71, category="ufo", priority=3) == Route(
        QINGSHAN_STATION, "jurisdiction", ()
    )


def test_stations_partition_the_city() -> None:
    city = ORG.root.jurisdiction
    assert city is not None
    polygons = [s.jurisdiction for s in STATIONS]
    assert unary_union(polygons).symmetric_difference(city).area < 1e-12
    for i, a in enumerate(polygons):
        for b in polygons[i + 1 :]:
            assert a is not None and b is not None
            assert a.intersection(b).area < 1e-12


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(SOUTH, NORTH, exclude_min=True, exclude_max=True),
    lon=st.floats(WEST, EAST, exclude_min=True, exclude_max=True),
)
def test_every_point_in_the_city_has_exactly_one_station(lat: float, lon: float) -> None:
    point = Point(lon, lat)
    result = r(lat=lat, lon=lon, priority=3)
    assert result.reason == "jurisdiction"
    chosen = ORG.get(result.unit)
    assert chosen.tier == "station"
    assert chosen.jurisdiction is not None and chosen.jurisdiction.covers(point)
    # Exactly one station owns the point; on a shared border it touches several but is inside none.
    covering = [s for s in STATIONS if s.jurisdiction is not None and s.jurisdiction.covers(point)]
    inside = [s for s in STATIONS if s.jurisdiction is not None and s.jurisdiction.contains(point)]
    assert len(covering) >= 1
    assert len(inside) == 1 or (not inside and len(covering) >= 2)  # a corner touches 4
