"""The org tree of the bundled sample city: navigation and lookups."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import Point, box, shape

from gateway.config import load_config
from gateway.orgtree import OrgTree, Unit

ORG = load_config(None).org
CITY = "530100000000"
TRAFFIC = "530100170000"
MINGHU = "530102000000"
NANBA = "530102510000"
QINGSHAN_STATION = "530103520000"


def test_root_and_navigation() -> None:
    assert ORG.root.code == CITY
    assert ORG.root.tier == "city"
    assert ORG.get(NANBA).name == "南坝派出所"
    assert NANBA in ORG and "000000000000" not in ORG
    with pytest.raises(KeyError):
        ORG.get("000000000000")
    assert [u.code for u in ORG.children(MINGHU)] == [
        "530102510000",
        "530102520000",
        "530102530000",
    ]
    assert ORG.parent(NANBA) == ORG.get(MINGHU)
    assert ORG.parent(CITY) is None
    assert [u.code for u in ORG.ancestors(NANBA)] == [MINGHU, CITY]
    assert ORG.ancestors(CITY) == []
    assert ORG.escalation_target(NANBA) == ORG.get(MINGHU)
    assert ORG.escalation_target(MINGHU) == ORG.root
    assert ORG.escalation_target(CITY) is None


def test_tiers_of_sample() -> None:
    tiers = [u.tier for u in ORG.units()]
    assert tiers.count("city") == 1
    assert tiers.count("district") == 3
    assert tiers.count("station") >= 8
    assert ORG.get(TRAFFIC).tier == "special"


def test_subtree_and_covers() -> None:
    assert ORG.subtree(MINGHU) == {MINGHU, "530102510000", "530102520000", "530102530000"}
    assert ORG.subtree(CITY) == {u.code for u in ORG.units()}
    assert ORG.subtree("999999999999") == frozenset()
    assert ORG.covers(CITY, NANBA)
    assert ORG.covers(MINGHU, NANBA)
    assert ORG.covers(NANBA, NANBA)
    assert not ORG.covers(NANBA, MINGHU)
    assert not ORG.covers("530103000000", NANBA)
    assert not ORG.covers(CITY, "999999999999")


@pytest.mark.parametrize(
    "station", [u for u in ORG.units() if u.tier == "station"], ids=lambda u: u.code
)
def test_unit_at_each_station(station: Unit) -> None:
    assert station.jurisdiction is not None
    point = station.jurisdiction.representative_point()
    assert ORG.unit_at(point.y, point.x) == station


def test_unit_at_outside_city() -> None:
    assert ORG.unit_at(39.9, 116.4) is None  # far away
    assert ORG.unit_at(25.04, 102.90) is None  # just east of the city


def test_unit_at_shared_border_still_gets_a_station() -> None:
    # 102.68 is the line between 明湖区 and 青山区; a point on it must not fall through.
    unit = ORG.unit_at(25.04, 102.68)
    assert unit is not None and unit.tier == "station"


def test_unit_for_address() -> None:
    assert ORG.unit_for_address("示例市青山区青年路12号").code == QINGSHAN_STATION  # type: ignore[union-attr]
    assert ORG.unit_for_address("明湖区某小区").code == MINGHU  # type: ignore[union-attr]
    assert ORG.unit_for_address("示例市某处").code == CITY  # type: ignore[union-attr]
    assert ORG.unit_for_address("火星基地") is None
    assert ORG.unit_for_address("") is None


def test_unit_for_address_longest_keyword_wins_in_same_tier() -> None:
    root = Unit("100000000000", "市", "city", None)
    a = Unit("100000000001", "甲所", "station", "100000000000", keywords=("青山",))
    b = Unit("100000000002", "乙所", "station", "100000000000", keywords=("青山大道",))
    org = OrgTree([root, a, b])
    assert org.unit_for_address("青山大道5号") == b
    assert org.unit_for_address("青山路5号") == a


def test_to_json_has_tree_and_no_secrets() -> None:
    tree = ORG.to_json()
    assert tree["code"] == CITY and tree["tier"] == "city"
    assert {c["code"] for c in tree["children"]} == {
        TRAFFIC,
        MINGHU,
        "530103000000",
        "530124000000",
    }
    assert "secret" not in repr(tree) and "notify" not in repr(tree)


def test_to_geojson_gives_each_unit_its_jurisdiction() -> None:
    """The map's layer: valid GeoJSON (shapely reads each geometry back to the configured
    polygon), [lon, lat] order, a polygon for every unit with territory, parents before
    children, and nothing of the notify targets."""
    doc = ORG.to_geojson()
    assert doc["type"] == "FeatureCollection"
    features = doc["features"]
    assert [f["id"] for f in features] == [f["properties"]["code"] for f in features]
    assert {f["id"] for f in features} == {u.code for u in ORG.units()}
    depths = [ORG.depth(f["id"]) for f in features]
    assert depths == sorted(depths)
    for f in features:
        unit = ORG.get(f["id"])
        assert f["type"] == "Feature"
        assert f["properties"] == {
            "code": unit.code, "name": unit.name, "tier": unit.tier, "parent": unit.parent
        }  # fmt: skip
        if unit.tier == "special":  # the traffic police: a category, not a territory
            assert f["geometry"] is None
            continue
        geometry = shape(f["geometry"])
        assert geometry.geom_type == "Polygon" and geometry.is_valid
        assert geometry.equals(unit.jurisdiction)
    nanba = shape(next(f["geometry"] for f in features if f["id"] == NANBA))
    assert nanba.contains(Point(102.65, 24.98))  # x = lon, y = lat
    assert json.loads(json.dumps(doc)) == doc  # plain JSON: lists, not tuples, once sent
    assert "secret" not in repr(doc) and "notify" not in repr(doc)


def test_secret_not_in_repr() -> None:
    assert "sample-secret" not in repr(ORG.root)


@pytest.mark.parametrize(
    "units, problem",
    [
        ([Unit("1", "a", "city", None), Unit("1", "b", "station", "1")], "duplicate"),
        ([Unit("1", "a", "city", None), Unit("2", "b", "city", None)], "exactly one root"),
        ([Unit("1", "a", "city", None), Unit("2", "b", "station", "3")], "unknown parent"),
        (
            [
                Unit("1", "a", "city", None),
                Unit("2", "b", "station", "3"),
                Unit("3", "c", "station", "2"),
            ],
            "not reachable",
        ),
    ],
)
def test_orgtree_refuses_bad_structure(units: list[Unit], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        OrgTree(units)


def test_unit_at_without_any_jurisdiction() -> None:
    assert OrgTree([Unit("1", "a", "city", None)]).unit_at(25.0, 102.7) is None


def test_unit_at_nested_picks_deepest() -> None:
    root = Unit("1", "市", "city", None, jurisdiction=box(0, 0, 10, 10))
    district = Unit("2", "区", "district", "1", jurisdiction=box(0, 0, 5, 10))
    station = Unit("3", "所", "station", "2", jurisdiction=box(0, 0, 5, 5))
    org = OrgTree([root, district, station])
    assert org.unit_at(2, 2) == station  # lat 2, lon 2
    assert org.unit_at(7, 2) == district
    assert org.unit_at(2, 7) == root
