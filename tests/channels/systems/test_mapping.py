"""A system's JSON → a report, by the source's map: a table of bodies and what they make
(or the pointer a 422 names); JSON Pointer (RFC 6901) by its own examples."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.channels.systems import pointer
from gateway.channels.systems.mapping import Unmappable, report_of
from gateway.channels.systems.settings import SystemsSettings
from gateway.config import Config
from gateway.http.resource import compile_schema
from gateway.report import Location, Sender
from gateway.schemas import load_schema, with_categories
from tests.channels.systems.city import DRILL, FIRE, city, fire_alarm

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return city(tmp_path_factory.mktemp("systems"))


@pytest.fixture(scope="module")
def settings(config: Config) -> SystemsSettings:
    return SystemsSettings.from_config(config.channels["systems"])


@pytest.fixture(scope="module")
def validate(config: Config) -> Any:
    labels = {code: c.name for code, c in config.categories.items()}
    name = "report.schema.json"
    return compile_schema(with_categories(load_schema(name), name, labels))


def make(config: Config, settings: SystemsSettings, validate: Any, body: Any,
         system: str = FIRE, key: str | None = None) -> Any:  # fmt: skip
    return report_of(settings.sources[system], body, key, NOW, config.categories, validate)


def test_a_fire_alarm_mapped_field_by_field(
    config: Config, settings: SystemsSettings, validate: Any
) -> None:
    r = make(config, settings, validate, fire_alarm())
    assert r.channel == "systems" and r.external_id == "fire119:F-0001"
    assert r.sender == Sender("system", "fire119", "119消防接处警系统")
    assert r.text == "南坝路1号仓库起火，有人被困"
    assert r.location == Location(lat=24.98, lon=102.65, address="南坝路1号")
    assert (r.category, r.priority, r.drill) == ("fire", 1, False)
    assert r.received_at == datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert r.extra == {"system": "fire119", "reporter": {"id": "13800000009", "name": "王先生"}}


def alarm(**changes: Any) -> dict[str, Any]:
    return fire_alarm(**changes)


def without(*path: str) -> dict[str, Any]:
    doc = fire_alarm()
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return doc


OK: list[tuple[str, Any, dict[str, Any]]] = [
    # (name, body, what the report has)
    ("a numeric id", alarm(alarm_id=None, id=42), {"external_id": "fire119:42"}),
    ("coordinates as strings", alarm(position={"lat": "24.98", "lng": "102.65"}),
     {"location": Location(lat=24.98, lon=102.65, address="南坝路1号")}),
    ("no category: the source's", without("alarm", "type"), {"category": "fire"}),
    ("our own category code", alarm(type="traffic"), {"category": "traffic"}),
    # An alarm is never refused for a code of its own: stored with the source's category,
    # and the call-taker is told.
    ("an unknown category", alarm(type="99"),
     {"category": "fire", "extra": {"system": "fire119", "reporter": {"id": "13800000009",
      "name": "王先生"}, "details": ["对方系统的警情类别 '99' 未对应本市类别，请接警员确定"]}}),
    ("no level: the source's", without("alarm", "level"), {"priority": 2}),
    ("a level 1 to 4", alarm(level=4), {"priority": 4}),
    ("a level as a string", alarm(level="3"), {"priority": 3}),
    ("a mapped code", alarm(level="一般"), {"priority": 3}),
    ("null is no value", alarm(address=None), {"location": Location(lat=24.98, lon=102.65)}),
    ("Unix seconds", alarm(time=1795685400),
     {"received_at": datetime(2026, 11, 26, 9, 30, tzinfo=UTC)}),
    ("no time: ours", without("alarm", "time"), {"received_at": NOW}),
    ("an exercise", alarm(exercise=True), {"drill": True}),
    ("no caller", without("caller"), {"extra": {"system": "fire119"}}),
    ("no position", without("alarm", "position"), {"location": Location(address="南坝路1号")}),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in OK], ids=[c[0] for c in OK])
def test_mapped(
    config: Config,
    settings: SystemsSettings,
    validate: Any,
    body: Any,
    expected: dict[str, Any],
) -> None:
    r = make(config, settings, validate, body)
    for name, value in expected.items():
        assert getattr(r, name) == value, name


REFUSED: list[tuple[str, Any, str, str]] = [
    # (name, body, the field the 422 names, a word of its problem)
    ("no id and no key", without("alarm", "id"), "/alarm/id", "missing"),
    ("no text", without("alarm", "content"), "/alarm/content", "missing"),
    ("not an object", [1, 2], "/alarm/id", "missing"),
    ("an empty id", alarm(alarm_id=" "), "/alarm/id", "non-empty"),
    ("a boolean id", alarm(alarm_id=True), "/alarm/id", "integer"),
    ("text not a string", alarm(content=["火"]), "/alarm/content", "string"),
    ("a level 5", alarm(level=5), "/alarm/level", "1 to 4"),
    ("a level true", alarm(level=True), "/alarm/level", "string or an integer"),
    ("lat out of range", alarm(position={"lat": 91, "lng": 102.6}), "/alarm/position/lat",
     "90"),
    ("lat not a number", alarm(position={"lat": "north", "lng": 102.6}),
     "/alarm/position/lat", "number"),
    ("lat without lon", alarm(position={"lat": 24.9}), "/alarm/position/lng", "comes with"),
    ("a time with no offset", alarm(time="2026-11-26T17:30:00"), "/alarm/time", "offset"),
    ("a time that is not one", alarm(time="昨天"), "/alarm/time", "ISO 8601"),
    ("a time in the year 5000", alarm(time=95617584000), "/alarm/time", "range"),
    ("exercise not a boolean", alarm(exercise="yes"), "/alarm/exercise", "true or false"),
    ("a control character in the text", alarm(content="起火\x07"), "/alarm/content",
     "control character"),
    ("a control character in the name",
     {**fire_alarm(), "caller": {"name": "王\x1b[31m"}}, "/caller/name", "U+001B"),
    ("a text too long", alarm(content="火" * 10001), "/alarm/content", "10000"),
    ("an id too long", alarm(alarm_id="x" * 200), "/alarm/id", "over 192"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field", "problem"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused(
    config: Config, settings: SystemsSettings, validate: Any, body: Any, field: str, problem: str
) -> None:
    with pytest.raises(Unmappable) as e:
        make(config, settings, validate, copy.deepcopy(body))
    assert e.value.field == field
    assert problem in e.value.problem


def test_the_header_key_comes_before_the_mapped_id(
    config: Config, settings: SystemsSettings, validate: Any
) -> None:
    r = make(config, settings, validate, fire_alarm(), key="retry-7")
    assert r.external_id == "fire119:retry-7"


def test_a_drill_system_files_drills_and_needs_a_key(
    config: Config, settings: SystemsSettings, validate: Any
) -> None:
    with pytest.raises(Unmappable) as e:
        make(config, settings, validate, {"msg": "演练：南坝路起火"}, DRILL)
    assert e.value.field == "Idempotency-Key"
    r = make(config, settings, validate, {"msg": "演练：南坝路起火"}, DRILL, key="d-1")
    assert (r.drill, r.external_id, r.category, r.location) == (True, "drillsys:d-1", None, None)


# RFC 6901 §5: the document and its pointers.
RFC_DOC = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4,
           "i\\j": 5, 'k"l': 6, " ": 7, "m~n": 8}  # fmt: skip
RFC_POINTERS = [
    ("", RFC_DOC), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
    ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8),
]  # fmt: skip


@pytest.mark.parametrize(("ptr", "value"), RFC_POINTERS)
def test_rfc6901_examples(ptr: str, value: Any) -> None:
    assert pointer.resolve(RFC_DOC, pointer.parse(ptr)) == value


@pytest.mark.parametrize(
    "ptr", ["/foo/2", "/foo/-", "/foo/01", "/foo/" + "9" * 5000, "/nope", "/foo/0/x"]
)
def test_pointers_to_nothing(ptr: str) -> None:
    assert pointer.resolve(RFC_DOC, pointer.parse(ptr)) is pointer.MISSING


@pytest.mark.parametrize("ptr", ["foo", "/a~2", "/a~", "#/foo"])
def test_not_pointers(ptr: str) -> None:
    with pytest.raises(ValueError, match="RFC 6901"):
        pointer.parse(ptr)


def test_tilde_escapes_in_order() -> None:
    assert pointer.parse("/~01") == ("~1",)  # not "/"
