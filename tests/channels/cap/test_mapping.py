"""A CAP alert → reports (pure): the OASIS examples mapped by the sample city's rules (a table
of cases), the place from a circle or a polygon, drills, the idempotency keys, and the
settings checked with errors that name the key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.cap import mapping, message
from gateway.channels.cap.settings import CapSettings, config_problems
from gateway.config import ConfigError, load_config, sample_text
from tests.channels.cap.test_message import A2, example

NOW = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)

# The rules the gateway tests run with too (test_cap_gateway.py).
RULES_TOML = """default_category = "other"
[[channels.cap.rules]]
event = ["地震", "Earthquake"]
category = "disaster"
[[channels.cap.rules]]
cap_category = "Met"
severity = ["Extreme", "Severe"]
category = "disaster"
[[channels.cap.rules]]
event = ["Child Abduction", "拐卖"]
category = "criminal"
priority = 1
[[channels.cap.rules]]
cap_category = "Security"
category = "public_order"
"""
SETTINGS = CapSettings.from_config(
    {
        "enabled": True,
        "default_category": "other",
        "rules": [
            {"event": ["地震", "Earthquake"], "category": "disaster"},
            {"cap_category": "Met", "severity": ["Extreme", "Severe"], "category": "disaster"},
            {"event": ["Child Abduction", "拐卖"], "category": "criminal", "priority": 1},
            {"cap_category": "Security", "category": "public_order"},
        ],
    }
)


@pytest.mark.parametrize(
    ("name", "category", "priority", "point", "accuracy_m", "address"),
    [
        # Security → public_order, Severe → 2; an areaDesc only.
        ("a1", "public_order", 2, None, None, "U.S. nationwide and interests worldwide"),
        # Met + Severe → disaster; the polygon's centroid, its farthest corner ~18 km away.
        ("a2", "disaster", 2, (38.484, -119.935), (17_000, 19_000),
         "EXTREME NORTH CENTRAL TUOLUMNE COUNTY IN CALIFORNIA, EXTREME NORTHEASTERN "
         "CALAVERAS COUNTY IN CALIFORNIA, SOUTHWESTERN ALPINE COUNTY IN CALIFORNIA"),
        # "Earthquake" → disaster, Minor → 4; the circle's centre, radius 0.
        ("a3", "disaster", 4, (32.9525, -115.5527), (0, 0),
         "1 mi. WSW of Brawley, CA; 11 mi. N of El Centro, CA; 30 mi. E of OCOTILLO "
         "(quarry); 1 mi. N of the Imperial Fault"),
        # "Child Abduction" → criminal, the rule's priority 1.
        ("a4", "criminal", 1, None, None, "Los Angeles County"),
    ],
)  # fmt: skip
def test_the_oasis_examples_map(
    name: str,
    category: str,
    priority: int,
    point: tuple[float, float] | None,
    accuracy_m: tuple[float, float] | None,
    address: str,
) -> None:
    alert = message.parse(example(name))
    first, *others = mapping.reports(alert, SETTINGS, NOW)
    assert (first.category, first.priority) == (category, priority)
    assert first.channel == "cap" and first.sender.kind == "system"
    assert first.sender.id == alert.sender
    assert first.external_id == f"{alert.sender},{alert.identifier},0"
    assert first.received_at == NOW and not first.drill
    assert first.follow_up == (alert.msg_type == "Update")
    loc = first.location
    assert loc is not None and loc.address == address
    if point is None:
        assert loc.lat is None and loc.lon is None
    else:
        assert loc.lat == pytest.approx(point[0], abs=1e-3)
        assert loc.lon == pytest.approx(point[1], abs=1e-3)
        assert accuracy_m is not None and accuracy_m[0] <= (loc.accuracy_m or 0) <= accuracy_m[1]
    assert first.text.startswith("【CAP ")
    assert f"CAP 标识：{alert.identifier}" in first.text
    assert first.extra["cap"]["identifier"] == alert.identifier
    assert len(others) == len(alert.infos) - 1


def test_the_text_has_chinese_labels_over_the_senders_words() -> None:
    (report,) = mapping.reports(message.parse(example("a2")), SETTINGS, NOW)
    lines = report.text.splitlines()
    assert lines[0] == "【CAP 预警】SEVERE THUNDERSTORM WARNING"
    assert "事件：SEVERE THUNDERSTORM" in lines
    assert any(
        line.startswith("描述： AT 254 PM PDT") or line.startswith("描述：AT") for line in lines
    )
    assert "指引：TAKE COVER IN A SUBSTANTIAL SHELTER UNTIL THE STORM PASSES." in lines
    assert "联系方式：BARUFFALDI/JUSKIE" in lines
    assert any(line.startswith("定位：预警多边形区域的中心点") for line in lines)
    assert "发送方：NATIONAL WEATHER SERVICE SACRAMENTO CA（KSTO@NWS.NOAA.GOV）" in lines
    assert report.sender.name == "NATIONAL WEATHER SERVICE SACRAMENTO CA"


def test_the_infos_of_one_alert_share_its_alarm_key_and_have_their_own_ids() -> None:
    alert = message.parse(example("a4"))
    en, es = mapping.reports(alert, SETTINGS, NOW)
    assert en.alarm == es.alarm == mapping.alarm_of(alert.sender, alert.identifier)
    assert en.alarm is not None and len(en.alarm.zone or "") == 32
    assert (en.external_id, es.external_id) == (
        "KARO@CLETS.DOJ.CA.GOV,KAR0-0306112239-SW,0",
        "KARO@CLETS.DOJ.CA.GOV,KAR0-0306112239-SW,1",
    )


def test_an_update_takes_the_key_it_is_given() -> None:
    update = message.parse(example("a3"))
    (ref,) = update.references
    key = mapping.alarm_of(ref.sender, ref.identifier)
    (report,) = mapping.reports(update, SETTINGS, NOW, alarm=key)
    assert report.alarm == key and report.follow_up
    assert mapping.reference_ids(ref) == "trinet@caltech.edu,TRI13970876.1,0"
    assert not mapping.opening(report).follow_up


def test_exercise_is_a_drill() -> None:
    alert = message.parse(A2.replace("<status>Actual", "<status>Exercise").encode())
    (report,) = mapping.reports(alert, SETTINGS, NOW)
    assert report.drill and report.text.startswith("【演练】【CAP 预警】")


def test_a_cancel_without_info_is_one_report_from_its_header() -> None:
    body = (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>KSTO2</identifier>'
        "<sender>KSTO@NWS.NOAA.GOV</sender><sent>2003-06-17T15:00:00-07:00</sent>"
        "<status>Actual</status><msgType>Cancel</msgType><scope>Public</scope>"
        "<note>误报</note>"
        "<references>KSTO@NWS.NOAA.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00</references>"
        "</alert>"
    )
    (report,) = mapping.reports(message.parse(body.encode()), SETTINGS, NOW)
    assert report.category is None and report.location is None and report.follow_up
    assert report.text.splitlines()[:3] == [
        "【CAP 撤销】",
        "发送方已撤销此前的预警。",
        "备注：误报",
    ]


def test_a_circle_beats_a_polygon_and_its_radius_is_the_accuracy() -> None:
    alert = message.parse(
        A2.replace("</polygon>", "</polygon><circle>25.04,102.71 1.5</circle>").encode()
    )
    (report,) = mapping.reports(alert, SETTINGS, NOW)
    loc = report.location
    assert loc is not None and (loc.lat, loc.lon, loc.accuracy_m) == (25.04, 102.71, 1500.0)


def test_c1_controls_become_spaces() -> None:
    alert = message.parse(A2.replace("BARUFFALDI/JUSKIE", "BARUFFALDI&#x85;JUSKIE").encode())
    (report,) = mapping.reports(alert, SETTINGS, NOW)
    assert "联系方式：BARUFFALDI JUSKIE" in report.text.splitlines()


def test_a_long_sender_and_identifier_get_a_digest_key() -> None:
    key = mapping.external_id("s" * 150, "i" * 100, 3)
    assert key.startswith("sha256:") and key.endswith(",3") and len(key) <= 200


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(-89.9, 89.9), st.floats(-179.9, 179.9)), min_size=3, max_size=12)
)
def test_a_polygon_centroid_is_a_point_near_its_corners(corners: list[tuple[float, float]]) -> None:
    ring = (*corners, corners[0])
    lat, lon, spread = mapping.centroid(tuple(ring))
    assert -90 <= lat <= 90 and -180 <= lon <= 180 and spread >= 0
    assert all(mapping.distance_m(lat, lon, a, b) <= spread + 1e-6 for a, b in ring)


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "categories", "urgency", "severity", "expected"),
    [
        ("强烈地震", ("Geo",), "Immediate", "Extreme", ("disaster", 1)),
        ("EARTHQUAKE", ("Geo",), "Past", "Unknown", ("disaster", None)),
        ("Flood", ("Met",), "Expected", "Severe", ("disaster", 2)),
        ("Fog", ("Met",), "Expected", "Minor", ("other", 4)),  # Met, but not severe enough
        ("拐卖儿童", ("Rescue",), "Immediate", "Moderate", ("criminal", 1)),
        ("Riot", ("Safety", "Security"), "Immediate", "Moderate", ("public_order", 3)),
        ("Test", ("Other",), "Unknown", "Unknown", ("other", None)),
    ],
)
def test_the_first_matching_rule_wins(
    event: str,
    categories: tuple[str, ...],
    urgency: str,
    severity: str,
    expected: tuple[str, int | None],
) -> None:
    info = message.Info(0, "zh-CN", categories, event, urgency, severity, "Observed",
                        None, None, None, None, None, ())  # fmt: skip
    assert mapping.category_and_priority(info, SETTINGS) == expected


def _config(tmp_path: Path, settings_text: str) -> None:
    text = sample_text().replace(
        "[channels.cap]\nenabled = false\n", f"[channels.cap]\nenabled = true\n{settings_text}"
    )
    path = tmp_path / "city.toml"
    path.write_text(text, encoding="utf-8")
    load_config(path)


def test_the_sample_rules_are_a_valid_config(tmp_path: Path) -> None:
    _config(tmp_path, RULES_TOML)


@pytest.mark.parametrize(
    ("settings_text", "says"),
    [
        ('[[channels.cap.rules]]\nurgency = "Soon"\ncategory = "fire"\n',
         "channels.cap.rules[0].urgency"),
        ("[[channels.cap.rules]]\npriority = 2\n", "channels.cap.rules[0]"),
        ('[[channels.cap.rules]]\ncategory = "fire"\n[[channels.cap.rules]]\n'
         'event = "x"\ncategory = "fire"\n', "channels.cap.rules[0]: matches every alert"),
        ('[[channels.cap.rules]]\nseverity = []\ncategory = "fire"\n',
         "channels.cap.rules[0].severity: an empty list"),
        ('sender = "alarm gw"\n', "channels.cap.sender"),
        ("feed_limit = 0\n", "channels.cap.feed_limit"),
        ('[channels.cap.feed_categories]\nfire = "Flames"\n', "channels.cap.feed_categories"),
        ('colour = "red"\n', "channels.cap.colour"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_naming_the_key(
    tmp_path: Path, settings_text: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, settings_text)
    assert says in str(caught.value)


def test_config_problems_is_quiet_on_good_rules() -> None:
    assert config_problems({"enabled": True, "rules": [{"event": "x", "category": "fire"}]}) == []
