"""The feed out (pure): every CAP message it holds validates against the OASIS schema, for
hypothesis-generated incidents too; times in CAP's own format (no Z, no fractions); the
msgType follows the incident's life; the feed is RFC 4287 Atom."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.channels.cap import feed, message
from gateway.channels.cap.store import FeedIncident, Version
from gateway.workflow.table import State

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 1, 0, 0, 123456, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
FC = feed.FeedContext(
    sender="alarmgw-530100000000",
    city_code="530100000000",
    sender_name="示例市公安局指挥中心",
    title="示例市 110 警情 (CAP 1.2)",
    tz=TZ,
    category_names={"fire": "火灾", "criminal": "刑事"},
    unit_names={"530102510000": "南坝派出所"},
    cap_categories={"criminal": "Security"},
)


def incident(states: list[str], **kw: Any) -> FeedIncident:
    versions = tuple(Version(T0 + timedelta(minutes=i), s) for i, s in enumerate(states))
    fields: dict[str, Any] = dict(
        number="530100-20261126-000001", state=states[-1], drill=False, category="fire",
        priority=1, lat=24.98, lon=102.65, accuracy_m=30.0, unit="530102510000", master=None,
        created_at=T0, updated_at=versions[-1].at, versions=versions,
    )  # fmt: skip
    fields.update(kw)
    return FeedIncident(**fields)


def valid(alert: Any) -> None:
    schema = message.schema()
    doc = etree.fromstring(etree.tostring(alert))
    assert schema.validate(doc), schema.error_log


def test_a_new_incident_is_an_alert() -> None:
    alert = feed.alert(incident(["received"]), FC)
    valid(alert)
    assert alert.findtext(f"{CAP}identifier") == "530100-20261126-000001.1"
    assert alert.findtext(f"{CAP}msgType") == "Alert"
    assert alert.findtext(f"{CAP}status") == "Actual"
    assert alert.findtext(f"{CAP}scope") == "Restricted"
    assert alert.findtext(f"{CAP}sent") == "2026-11-26T09:00:00+08:00"  # no Z, no fraction
    assert alert.find(f"{CAP}references") is None
    info = alert.find(f"{CAP}info")
    assert info is not None
    assert info.findtext(f"{CAP}language") == "zh-CN"
    assert info.findtext(f"{CAP}category") == "Fire"
    assert info.findtext(f"{CAP}event") == "火灾警情"
    assert (info.findtext(f"{CAP}urgency"), info.findtext(f"{CAP}severity")) == (
        "Immediate",
        "Extreme",
    )
    assert info.findtext(f"{CAP}area/{CAP}areaDesc") == "南坝派出所"
    assert info.findtext(f"{CAP}area/{CAP}circle") == "24.980000,102.650000 0.030"


def test_later_versions_are_updates_referencing_the_earlier_ones() -> None:
    alert = feed.alert(incident(["received", "accepted", "dispatched"]), FC)
    valid(alert)
    assert alert.findtext(f"{CAP}msgType") == "Update"
    assert alert.findtext(f"{CAP}identifier") == "530100-20261126-000001.3"
    assert alert.findtext(f"{CAP}references") == (
        "alarmgw-530100000000,530100-20261126-000001.1,2026-11-26T09:00:00+08:00 "
        "alarmgw-530100000000,530100-20261126-000001.2,2026-11-26T09:01:00+08:00"
    )


def test_cancelled_invalid_and_merged_are_cancels() -> None:
    for state in ("cancelled", "invalid", "merged"):
        master = "530100-20261126-000009" if state == "merged" else None
        alert = feed.alert(incident(["received", state], master=master), FC)
        valid(alert)
        assert alert.findtext(f"{CAP}msgType") == "Cancel"
        assert alert.findtext(f"{CAP}info/{CAP}urgency") == "Past"
    assert "并入警情 530100-20261126-000009" in (alert.findtext(f"{CAP}note") or "")


def test_a_drill_is_an_exercise() -> None:
    alert = feed.alert(incident(["received"], drill=True), FC)
    valid(alert)
    assert alert.findtext(f"{CAP}status") == "Exercise"
    assert (alert.findtext(f"{CAP}info/{CAP}description") or "").startswith("【演练】")


def test_an_incident_without_category_priority_place_or_unit() -> None:
    alert = feed.alert(
        incident(["received"], category=None, priority=None, lat=None, lon=None, unit=None), FC
    )
    valid(alert)
    info = alert.find(f"{CAP}info")
    assert info is not None
    assert info.findtext(f"{CAP}category") == "Security"
    assert info.findtext(f"{CAP}urgency") == "Unknown"
    assert info.find(f"{CAP}area/{CAP}circle") is None
    assert info.findtext(f"{CAP}area/{CAP}areaDesc") == "示例市公安局指挥中心"


def _atom_checked(data: bytes) -> Any:
    """RFC 4287 §4.1.1/§4.1.2: the feed and each entry have id, title, updated; the feed an
    author; a content of an XML media type holds one element (§4.1.3.3)."""
    root = etree.fromstring(data)
    assert root.tag == f"{ATOM}feed"
    for el in (root, *root.findall(f"{ATOM}entry")):
        for name in ("id", "title", "updated"):
            assert len(el.findall(f"{ATOM}{name}")) == 1, (el.tag, name)
        updated = el.findtext(f"{ATOM}updated") or ""
        datetime.strptime(updated, "%Y-%m-%dT%H:%M:%SZ")  # RFC 3339
    assert root.find(f"{ATOM}author/{ATOM}name") is not None
    ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
    assert len(ids) == len(set(ids))
    for entry in root.findall(f"{ATOM}entry"):
        content = entry.find(f"{ATOM}content")
        assert content is not None and content.get("type") == "application/cap+xml"
        assert len(content) == 1 and content[0].tag == f"{CAP}alert"
    return root


def test_the_feed_is_atom() -> None:
    data = feed.atom(
        [incident(["received", "accepted"]), incident(["received"], number="530100-X-2")],
        FC,
        "530102510000",
        "/api/v1/cap/feed",
        T0,
    )
    root = _atom_checked(data)
    assert root.findtext(f"{ATOM}id") == "urn:alarmgw:530100000000:cap-feed:530102510000"
    assert root.findtext(f"{ATOM}updated") == "2026-11-26T01:01:00Z"
    for content in root.iter(f"{ATOM}content"):
        valid(content[0])


def test_an_empty_feed_is_atom() -> None:
    root = _atom_checked(feed.atom([], FC, "530100000000", "/api/v1/cap/feed", T0))
    assert root.findtext(f"{ATOM}updated") == "2026-11-26T01:00:00Z"


_STATES = st.sampled_from([str(s) for s in State])
_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@st.composite
def incidents(draw: st.DrawFn) -> FeedIncident:
    n = draw(st.integers(1, 12))
    start = draw(st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)))
    steps = draw(st.lists(st.integers(0, 10**7), min_size=n, max_size=n))
    at = start
    versions = []
    for step, state in zip(steps, draw(st.lists(_STATES, min_size=n, max_size=n)), strict=True):
        at = at + timedelta(seconds=step, microseconds=draw(st.integers(0, 999_999)))
        versions.append(Version(at, state))
    located = draw(st.booleans())
    return FeedIncident(
        number=draw(st.from_regex(r"\A[0-9]{6}-[0-9]{8}-[0-9]{6}\Z")),
        state=versions[-1].state,
        drill=draw(st.booleans()),
        category=draw(st.sampled_from([None, "fire", "criminal", "traffic", "unknown"])),
        priority=draw(st.sampled_from([None, 1, 2, 3, 4])),
        lat=draw(st.floats(-90, 90)) if located else None,
        lon=draw(st.floats(-180, 180)) if located else None,
        accuracy_m=draw(st.one_of(st.none(), st.floats(0, 100_000))),
        unit=draw(st.sampled_from([None, "530102510000", "999"])),
        master=draw(st.one_of(st.none(), _TEXT)),
        created_at=start,
        updated_at=at,
        versions=tuple(versions),
    )


@settings(max_examples=300, deadline=None)
@given(incidents(), st.sampled_from(["UTC", "Asia/Shanghai", "America/St_Johns", "Asia/Kolkata"]))
def test_every_generated_incident_is_a_valid_cap_message(one: FeedIncident, tz: str) -> None:
    alert = feed.alert(one, replace(FC, tz=ZoneInfo(tz)))
    valid(alert)
    sent = alert.findtext(f"{CAP}sent") or ""
    assert message.CAP_TIME.match(sent) and "Z" not in sent and "." not in sent


@settings(max_examples=50, deadline=None)
@given(st.lists(incidents(), max_size=5))
def test_every_generated_feed_is_atom_with_valid_messages(many: list[FeedIncident]) -> None:
    root = _atom_checked(
        feed.atom(
            [replace(one, number=f"{one.number}-{i}") for i, one in enumerate(many)],
            FC,
            "530100000000",
            "/api/v1/cap/feed",
            T0,
        )
    )
    for content in root.iter(f"{ATOM}content"):
        valid(content[0])
