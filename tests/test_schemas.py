"""The JSON Schemas in schemas/: well-formed, in step with gateway.report, and giving the same
verdict under jsonschema (the 2020-12 reference) and fastjsonschema (what the gateway runs)."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from gateway.config import load_config
from gateway.discovery import declaration, installed
from gateway.http import contract
from gateway.http.openapi import SCHEMA_COMPONENTS, component_schema, openapi_document
from gateway.report import (
    SENDER_KINDS,
    AlarmRef,
    Attachment,
    InvalidReport,
    Location,
    Receipt,
    Report,
    Sender,
)
from gateway.schemas import load_schema
from gateway.workflow.table import Action, State

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
BASE = "https://alarmgw.invalid/schemas/"
ALL_FILES = sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))
# The files this test owns in detail (config.schema.json is checked for well-formedness only).
API_FILES = sorted(SCHEMA_COMPONENTS)
HOT_PATH = ("report.schema.json", "report-submission.schema.json")


def _file(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))


SCHEMAS = {name: _file(name) for name in ALL_FILES}
REGISTRY: Registry = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()
)


def _local_only(uri: str) -> dict[str, Any]:
    """fastjsonschema handler: cross-file $refs come from schemas/, never from the network."""
    if not uri.startswith(BASE) or uri[len(BASE) :] not in SCHEMAS:
        raise AssertionError(f"unexpected remote $ref {uri}")
    return copy.deepcopy(SCHEMAS[uri[len(BASE) :]])


def _no_remote(uri: str) -> dict[str, Any]:
    raise AssertionError(f"hot-path schema fetched {uri}: it must be self-contained")


_FAST: dict[str, Any] = {}


def fast(name: str) -> Any:
    if name not in _FAST:
        # compile() rewrites $refs in place: never hand it a shared dict (load_schema's cache).
        handler = _no_remote if name in HOT_PATH else _local_only
        _FAST[name] = fastjsonschema.compile(
            copy.deepcopy(SCHEMAS[name]), handlers={"https": handler, "http": handler}
        )
    return _FAST[name]


def ref_validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMAS[name], registry=REGISTRY)


def verdicts(name: str, doc: Any) -> tuple[bool, bool]:
    reference = ref_validator(name).is_valid(doc)
    try:
        fast(name)(copy.deepcopy(doc))
        quick = True
    except fastjsonschema.JsonSchemaValueException:
        quick = False
    return reference, quick


# -- the files themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FILES)
def test_valid_2020_12_schema(name: str) -> None:
    schema = SCHEMAS[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == BASE + name
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", ALL_FILES)
def test_fastjsonschema_compiles(name: str) -> None:
    assert callable(fast(name))


def test_load_schema_gives_the_files() -> None:
    for name in API_FILES:
        assert load_schema(name) == SCHEMAS[name], name


def test_load_schema_gives_each_caller_its_own_copy() -> None:
    """fastjsonschema rewrites the $refs of the dict it compiles: a caller that compiled
    the shared one changed every later caller's schema (found by test order, once)."""
    fastjsonschema.compile(load_schema("report.schema.json"))
    assert load_schema("report.schema.json") == SCHEMAS["report.schema.json"]
    assert load_schema("report.schema.json") is not load_schema("report.schema.json")


# Keywords that mean the same in draft-07 (fastjsonschema) and 2020-12, plus annotations and
# the two spellings of the lat/lon dependency (each draft ignores the other's).
PORTABLE = {
    "$schema", "$id", "$ref", "$defs", "title", "description", "type", "properties",
    "required", "additionalProperties", "enum", "pattern", "minLength", "maxLength",
    "minimum", "maximum", "maxItems", "items", "format", "anyOf",
    "dependentRequired", "dependencies", "if", "then", "const",
}  # fmt: skip
NAME_MAPS = {"properties", "$defs", "dependentRequired", "dependencies"}


def _walk_keywords(node: dict[str, Any], where: str) -> list[str]:
    problems = []
    for key, value in node.items():
        if key not in PORTABLE:
            problems.append(f"{where}: keyword {key} is not draft-07/2020-12 portable")
        if key == "$ref" and set(node) - {"$ref", "description"}:
            problems.append(f"{where}: draft-07 ignores the siblings of $ref")
        if key == "items" and not isinstance(value, dict):
            problems.append(f"{where}: items must be one schema")
        if key == "pattern" and ("\\d" in value or "\\w" in value):
            problems.append(f"{where}: \\d/\\w match non-ASCII digits in Python")
        if key in NAME_MAPS and key not in ("dependentRequired", "dependencies"):
            for sub, subschema in value.items():
                problems += _walk_keywords(subschema, f"{where}/{key}/{sub}")
        elif key in ("items", "additionalProperties", "if", "then") and isinstance(value, dict):
            problems += _walk_keywords(value, f"{where}/{key}")
        elif key == "anyOf":
            for i, subschema in enumerate(value):
                problems += _walk_keywords(subschema, f"{where}/anyOf/{i}")
    return problems


@pytest.mark.parametrize("name", API_FILES)
def test_only_portable_keywords(name: str) -> None:
    assert _walk_keywords(SCHEMAS[name], name) == []


def _objects(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append((where, node))
        for key, value in node.items():
            found += _objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _objects(value, f"{where}/{i}")
    return found


@pytest.mark.parametrize("name", API_FILES)
def test_closed_objects(name: str) -> None:
    """additionalProperties: false everywhere except the free-form `extra` and `data`, and a
    task (each channel's kind of task has fields of its own)."""
    free = ("#/$defs/extra", "#/properties/data")
    for where, node in _objects(SCHEMAS[name]):
        if where.startswith(("#/if", "#/then")):
            continue  # a condition and what it adds: applicators, not objects of their own
        if where in free:
            assert "properties" not in node
            continue
        if (name, where) == ("incident.schema.json", "#/$defs/task"):
            assert "additionalProperties" not in node  # a channel's task adds its fields
            continue
        assert node.get("additionalProperties") is False, f"{name} {where}"


def test_hot_path_schemas_are_self_contained() -> None:
    for name in HOT_PATH:
        text = json.dumps(SCHEMAS[name])
        assert '"$ref": "#/$defs/' in text
        assert all(ref.startswith("#/") for ref in _refs(SCHEMAS[name])), name
    # and compile with no handler at all, as the gateway does
    fastjsonschema.compile(copy.deepcopy(SCHEMAS["report.schema.json"]))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        out = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        for value in node.values():
            out += _refs(value)
        return out
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_submission_in_step_with_report() -> None:
    report, submission = SCHEMAS["report.schema.json"], SCHEMAS["report-submission.schema.json"]
    assert submission["properties"] == report["properties"]
    assert submission["$defs"] == report["$defs"]
    assert submission["additionalProperties"] is False
    server_stamped = {"channel", "external_id", "received_at"}
    assert server_stamped <= set(report["required"])
    assert sorted(submission["required"]) == sorted(set(report["required"]) - server_stamped)
    # ... and one rule of its own: a phone typed by a person must look like one.
    assert set(submission) == set(report) | {"if", "then"}


def test_incident_report_entry_in_step_with_report() -> None:
    report = SCHEMAS["report.schema.json"]
    entry = SCHEMAS["incident.schema.json"]["$defs"]["report_entry"]
    assert set(entry["properties"]) == set(report["properties"]) | {"receipt", "auto_attached"}
    for key, sub in report["properties"].items():
        assert entry["properties"][key] == {"$ref": "report.schema.json" + sub["$ref"]}, key
    assert set(entry["required"]) == set(report["required"]) | {"receipt"}


def test_enums_match_the_workflow_tables() -> None:
    incident = SCHEMAS["incident.schema.json"]
    assert incident["$defs"]["state"]["enum"] == [s.value for s in State]
    assert set(incident["$defs"]["milestones"]["properties"]) == {s.value for s in State}
    events = set(SCHEMAS["event.schema.json"]["properties"]["action"]["enum"])
    assert {a.value for a in Action} <= events
    body = set(SCHEMAS["action.schema.json"]["properties"]["action"]["enum"])
    extra = {"detach", "callback", "reply"}
    assert {a.value for a in Action} <= body <= {a.value for a in Action} | extra
    # A callback or an SMS reply changes no state: they log callback_started and
    # callback_result, sms_reply and sms_sent.
    assert body - {"callback", "reply"} <= events
    assert {"callback_started", "callback_result", "sms_reply", "sms_sent"} <= events
    sender = SCHEMAS["report.schema.json"]["$defs"]["sender"]
    assert tuple(sender["properties"]["kind"]["enum"]) == SENDER_KINDS


# -- reports: a table of cases, one verdict -----------------------------------------------

SHA = hashlib.sha256(b"photo").hexdigest()
MINIMAL: dict[str, Any] = {
    "channel": "sms",
    "external_id": "msg-1",
    "received_at": "2026-11-24T00:00:00.000Z",
    "sender": {"kind": "phone", "id": "+8613800000000"},
}
FULL: dict[str, Any] = {
    **MINIMAL,
    "sender": {"kind": "phone", "id": "13800000000", "name": "张三"},
    "text": "我家楼下有人打架，快来！\n地址：五华区青年路1号",
    "location": {"lat": 25.04, "lon": 102.71, "accuracy_m": 35.5,
                 "address": "昆明市五华区青年路1号"},
    "attachments": [
        {"name": "现场.jpg", "content_type": "image/jpeg", "size": 1024, "sha256": SHA,
         "ref": "blob/ab/cd"},
    ],
    "raw_ref": "raw/sms/2026/11/24/msg-1",
    "drill": False,
    "category": "public_order",
    "alarm": {"account": "1234", "zone": "003"},
    "extra": {"smsc": {"pdu": "deliver_sm", "parts": [1, 2]}, "note": None},
}  # fmt: skip


def _with(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of doc with path ("location.lat") set to value, or removed if value is DROP."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DROP:
        del node[last]
    else:
        node[last] = value
    return out


DROP = object()

VALID = {
    "minimal": MINIMAL,
    "full": FULL,
    "offset +08:00": _with(MINIMAL, "received_at", "2026-11-24T08:00:00+08:00"),
    "negative offset, no fraction": _with(MINIMAL, "received_at", "2026-11-24T08:00:00-05:30"),
    "nanoseconds": _with(MINIMAL, "received_at", "2026-11-24T08:00:00.123456789Z"),
    "leap day 2028": _with(MINIMAL, "received_at", "2028-02-29T00:00:00Z"),
    "leap day 2000": _with(MINIMAL, "received_at", "2000-02-29T00:00:00Z"),
    "integer coordinates": _with(MINIMAL, "location", {"lat": 25, "lon": 102}),
    "poles and antimeridian": _with(MINIMAL, "location", {"lat": -90, "lon": 180.0}),
    "address only": _with(MINIMAL, "location", {"address": "翠湖公园北门"}),
    "empty location": _with(MINIMAL, "location", {}),
    "accuracy 0 and 100 km": _with(FULL, "location.accuracy_m", 100000),
    "empty text": _with(MINIMAL, "text", ""),
    "text 10000": _with(MINIMAL, "text", "警" * 10000),
    "external_id 200": _with(MINIMAL, "external_id", "x" * 200),
    "channel 32": _with(MINIMAL, "channel", "a" + "_9" * 15 + "z"),
    "20 attachments": _with(FULL, "attachments", FULL["attachments"] * 20),
    "size as 1.0": _with(FULL, "attachments.0.size", 1.0),
    "drill": _with(MINIMAL, "drill", True),
    "alarm without zone": _with(MINIMAL, "alarm", {"account": "0001"}),
    "empty extra": _with(MINIMAL, "extra", {}),
    "sender name empty": _with(MINIMAL, "sender.name", ""),
    **{f"sender kind {k}": _with(MINIMAL, "sender.kind", k) for k in SENDER_KINDS},
}

INVALID = {
    **{f"missing {k}": _with(MINIMAL, k, DROP) for k in MINIMAL},
    "unknown top-level key": _with(MINIMAL, "phone", "13800000000"),
    "not an object": [MINIMAL],
    "channel upper case": _with(MINIMAL, "channel", "SMS"),
    "channel leading digit": _with(MINIMAL, "channel", "1sms"),
    "channel 33": _with(MINIMAL, "channel", "a" * 33),
    "channel with dash": _with(MINIMAL, "channel", "we-chat"),
    "channel not a string": _with(MINIMAL, "channel", 110),
    "external_id empty": _with(MINIMAL, "external_id", ""),
    "external_id 201": _with(MINIMAL, "external_id", "x" * 201),
    "received_at without offset": _with(MINIMAL, "received_at", "2026-11-24T08:00:00"),
    "received_at date only": _with(MINIMAL, "received_at", "2026-11-24"),
    "received_at space": _with(MINIMAL, "received_at", "2026-11-24 08:00:00Z"),
    "received_at lower-case t": _with(MINIMAL, "received_at", "2026-11-24t08:00:00Z"),
    "received_at Feb 30": _with(MINIMAL, "received_at", "2026-02-30T08:00:00Z"),
    "received_at Feb 29 2027": _with(MINIMAL, "received_at", "2027-02-29T08:00:00Z"),
    "received_at Feb 29 2100": _with(MINIMAL, "received_at", "2100-02-29T08:00:00Z"),
    "received_at hour 24": _with(MINIMAL, "received_at", "2026-11-24T24:00:00Z"),
    "received_at offset no colon": _with(MINIMAL, "received_at", "2026-11-24T08:00:00+0800"),
    "received_at Chinese digits": _with(MINIMAL, "received_at", "２０２６-11-24T08:00:00Z"),
    "received_at epoch number": _with(MINIMAL, "received_at", 1795000000),
    "sender kind fax": _with(MINIMAL, "sender.kind", "fax"),
    "sender without id": _with(MINIMAL, "sender.id", DROP),
    "sender id empty": _with(MINIMAL, "sender.id", ""),
    "sender id 201": _with(MINIMAL, "sender.id", "1" * 201),
    "sender name 201": _with(MINIMAL, "sender.name", "名" * 201),
    "sender name null": _with(MINIMAL, "sender.name", None),
    "sender unknown key": _with(MINIMAL, "sender.imsi", "460001234567890"),
    "text 10001": _with(MINIMAL, "text", "警" * 10001),
    "text null": _with(MINIMAL, "text", None),
    "lat 91": _with(FULL, "location.lat", 91),
    "lat -90.0001": _with(FULL, "location.lat", -90.0001),
    "lon 180.5": _with(FULL, "location.lon", 180.5),
    "lat as string": _with(FULL, "location.lat", "25.04"),
    "lat as boolean": _with(FULL, "location.lat", True),
    "lat without lon": _with(FULL, "location.lon", DROP),
    "lon without lat": _with(FULL, "location.lat", DROP),
    "accuracy negative": _with(FULL, "location.accuracy_m", -1),
    "accuracy over 100 km": _with(FULL, "location.accuracy_m", 100000.5),
    "accuracy infinite": _with(FULL, "location.accuracy_m", math.inf),
    "address 501": _with(FULL, "location.address", "路" * 501),
    "location unknown key": _with(FULL, "location.altitude", 1900),
    "location null": _with(MINIMAL, "location", None),
    "21 attachments": _with(FULL, "attachments", FULL["attachments"] * 21),
    "attachments not a list": _with(FULL, "attachments", FULL["attachments"][0]),
    "attachment without sha256": _with(FULL, "attachments.0.sha256", DROP),
    "attachment sha256 upper case": _with(FULL, "attachments.0.sha256", SHA.upper()),
    "attachment sha256 63": _with(FULL, "attachments.0.sha256", SHA[:63]),
    "attachment sha256 65": _with(FULL, "attachments.0.sha256", SHA + "0"),
    "attachment size negative": _with(FULL, "attachments.0.size", -1),
    "attachment size 1.5": _with(FULL, "attachments.0.size", 1.5),
    "attachment size boolean": _with(FULL, "attachments.0.size", True),
    "attachment name empty": _with(FULL, "attachments.0.name", ""),
    "attachment unknown key": _with(FULL, "attachments.0.url", "http://x"),
    "raw_ref 501": _with(FULL, "raw_ref", "r" * 501),
    "drill as string": _with(MINIMAL, "drill", "true"),
    "drill as 1": _with(MINIMAL, "drill", 1),
    "category unknown": _with(MINIMAL, "category", "murder"),
    "category null": _with(MINIMAL, "category", None),
    "alarm without account": _with(MINIMAL, "alarm", {"zone": "1"}),
    "alarm account empty": _with(MINIMAL, "alarm", {"account": ""}),
    "alarm zone 33": _with(MINIMAL, "alarm", {"account": "1", "zone": "9" * 33}),
    "alarm unknown key": _with(MINIMAL, "alarm", {"account": "1", "event": "E130"}),
    "extra a list": _with(MINIMAL, "extra", [1]),
}


@pytest.mark.parametrize("schema", HOT_PATH)
@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_reports(schema: str, case: str) -> None:
    assert verdicts(schema, VALID[case]) == (True, True)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_reports(case: str) -> None:
    assert verdicts("report.schema.json", INVALID[case]) == (False, False)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_submission_rejects_the_same_except_server_stamped(case: str) -> None:
    server_stamped = {f"missing {k}" for k in ("channel", "external_id", "received_at")}
    expected = case in server_stamped
    assert verdicts("report-submission.schema.json", INVALID[case]) == (expected, expected)


def test_submission_minimal() -> None:
    assert verdicts("report-submission.schema.json", {"sender": MINIMAL["sender"]}) == (True, True)
    assert verdicts("report-submission.schema.json", {}) == (False, False)


@pytest.mark.parametrize("value", ["web\n", "2026-11-24T00:00:00Z\n"])
def test_known_divergence_trailing_newline(value: str) -> None:
    """Python's `$` also matches before a final newline; jsonschema uses `re.search` as is,
    fastjsonschema (the gateway's validator) rewrites `$` to `\\Z`, as ECMA-262 means it.
    Documented here so that a change on either side is noticed; from_json refuses the
    date-time anyway."""
    field = "channel" if value.startswith("web") else "received_at"
    doc = _with(MINIMAL, field, value)
    assert verdicts("report.schema.json", doc) == (True, False)
    if field == "received_at":
        with pytest.raises(InvalidReport):
            Report.from_json(doc)


def test_fastjsonschema_leaves_the_document_alone() -> None:
    """No `default` keywords: fastjsonschema would write them into the document."""
    doc = copy.deepcopy(MINIMAL)
    assert fast("report.schema.json")(doc) == MINIMAL
    assert doc == MINIMAL
    assert '"default"' not in json.dumps([SCHEMAS[n] for n in API_FILES])


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_reports_load(case: str) -> None:
    doc = VALID[case]
    report = Report.from_json(doc)
    assert verdicts("report.schema.json", report.to_json()) == (True, True)


def test_from_json_checks_what_the_schema_cannot() -> None:
    nan_accuracy = _with(FULL, "location.accuracy_m", math.nan)
    assert verdicts("report.schema.json", nan_accuracy) == (True, True)  # NaN slips through
    with pytest.raises(InvalidReport) as err:
        Report.from_json(nan_accuracy)
    assert err.value.field == "location.accuracy_m"
    bell = _with(FULL, "attachments.0.name", "a\x07.jpg")
    with pytest.raises(InvalidReport) as err:
        Report.from_json(bell)
    assert err.value.field == "attachments.0.name"
    with pytest.raises(InvalidReport):
        Report.from_json(_with(FULL, "location.lat", math.nan))
    with pytest.raises(InvalidReport):
        Report.from_json(_with(FULL, "text", "报警\x00"))


# -- reports: random ones ---------------------------------------------------------------------

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
LINE_CHARS = st.characters(blacklist_categories=("Cc", "Cs")) | CJK
TEXT_CHARS = LINE_CHARS | st.sampled_from("\n\r\t，。！？")


def line(min_size: int = 0, max_size: int = 50) -> st.SearchStrategy[str]:
    return st.text(LINE_CHARS, min_size=min_size, max_size=max_size)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | line(max_size=20),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(line(max_size=8), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip

OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))]
)


@st.composite
def locations(draw: st.DrawFn) -> Location:
    point = draw(st.booleans())
    return Location(
        lat=draw(st.floats(-90, 90)) if point else None,
        lon=draw(st.floats(-180, 180)) if point else None,
        accuracy_m=draw(optional(st.floats(0, 100000))),
        address=draw(optional(line(max_size=500))),
    )


@st.composite
def attachments(draw: st.DrawFn) -> Attachment:
    content = draw(st.binary(max_size=64))
    return Attachment(
        name=draw(line(1, 255)),
        content_type=draw(st.sampled_from(["image/jpeg", "audio/amr", "application/pdf"])),
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        ref=draw(optional(line(max_size=500))),
    )


@st.composite
def reports(draw: st.DrawFn) -> Report:
    received = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=OFFSETS))
    return Report(
        channel=draw(st.from_regex(r"\A[a-z][a-z0-9_]{0,31}\Z")),
        external_id=draw(line(1, 200)),
        # the wire format carries milliseconds (format_utc): a finer time cannot round-trip
        received_at=received.replace(microsecond=received.microsecond // 1000 * 1000),
        sender=Sender(
            kind=draw(st.sampled_from(SENDER_KINDS)),
            id=draw(line(1, 200)),
            name=draw(optional(line(max_size=200))),
        ),
        text=draw(st.text(TEXT_CHARS, max_size=300) | st.sampled_from(["", "有人抢劫！快来"])),
        location=draw(optional(locations())),
        attachments=tuple(draw(st.lists(attachments(), max_size=3))),
        raw_ref=draw(optional(line(max_size=500))),
        drill=draw(st.booleans()),
        category=draw(optional(st.sampled_from(SCHEMAS["report.schema.json"]["$defs"]["category"]["enum"]))),
        alarm=draw(optional(st.builds(AlarmRef, line(1, 64), optional(line(max_size=32))))),
        extra=draw(st.dictionaries(line(max_size=10), JSON_VALUES, max_size=3)),
    )  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_random_reports_round_trip(report: Report) -> None:
    doc = report.to_json()
    assert verdicts("report.schema.json", doc) == (True, True)
    assert verdicts("report-submission.schema.json", doc) == (True, True)
    assert Report.from_json(doc) == report
    wire = json.loads(json.dumps(doc, ensure_ascii=False, allow_nan=False))
    assert Report.from_json(wire) == report


def test_receipt_document() -> None:
    doc = Receipt("7K2MQ9XWRT", "530100-20261124-000123", "received", False, False).to_json()
    assert verdicts("receipt.schema.json", doc) == (True, True)
    assert verdicts("receipt.schema.json", {**doc, "duplicate": False}) == (False, False)


# -- incident, event, receipt status, error ----------------------------------------------

T = "2026-11-24T08:00:00.000Z"
EVENT: dict[str, Any] = {
    "seq": 1,
    "incident": "530100-20261124-000123",
    "action": "create",
    "actor": {"user": "system", "role": "system", "unit": None},
    "at": T,
    "from_state": None,
    "to_state": "received",
    "reason": None,
    "data": {"receipt": "7K2MQ9XWRT"},
    "drill": False,
    "prev_hash": "0" * 64,
    "hash": hashlib.sha256(b"event 1").hexdigest(),
}
INCIDENT: dict[str, Any] = {
    "number": "530100-20261124-000123",
    "state": "dispatched",
    "category": "public_order",
    "priority": 2,
    "location": {"lat": 25.04, "lon": 102.71},
    "unit": "530102510000",
    "unit_assigned": True,
    "drill": False,
    "master": None,
    "summary": "我家楼下有人打架，快来！",
    "reason": None,
    "result": None,
    "created_at": T,
    "updated_at": T,
    "milestones": {"received": T, "accepted": T, "dispatched": T},
    "deadlines": [
        {"step": "acknowledge", "due": T, "unit": "530102510000", "fired": False},
        {"step": "accept", "due": T, "unit": None, "fired": True},
    ],
    "report_count": 1,
    "reports": [{**FULL, "receipt": "7K2MQ9XWRT", "auto_attached": False}],
    "events": [EVENT],
    "deliveries": [
        {"target": "五华分局指挥室", "kind": "webhook", "attempt": 1, "status": "failed",
         "http_status": 502, "at": T, "error": "Bad Gateway"},
        {"target": "五华分局指挥室", "kind": "sms", "attempt": 1, "status": "delivered",
         "http_status": None, "at": T, "error": None},
    ],
}  # fmt: skip
LIST_VIEW = {k: v for k, v in INCIDENT.items() if k not in ("reports", "events", "deliveries")}
REQUIRED_ONLY = {k: INCIDENT[k] for k in ("number", "state", "drill", "created_at")} | {
    "milestones": {}
}

DOCS_VALID = [
    ("incident.schema.json", INCIDENT),
    ("incident.schema.json", LIST_VIEW),
    ("incident.schema.json", REQUIRED_ONLY),
    ("incident.schema.json", _with(LIST_VIEW, "category", None)),
    ("incident.schema.json", _with(LIST_VIEW, "location", None)),
    ("incident.schema.json", _with(LIST_VIEW, "priority", None)),
    ("incident.schema.json", _with(LIST_VIEW, "unit", None)),
    ("incident.schema.json", _with(_with(LIST_VIEW, "state", "merged"), "master",
                                   "530100-20261124-000100")),
    ("event.schema.json", EVENT),
    ("event.schema.json", _with(EVENT, "incident", None)),
    ("event.schema.json", _with(EVENT, "actor", {"user": "li.si", "role": "dispatcher",
                                                 "unit": "530100000000"})),
    ("receipt-status.schema.json", {"receipt": "7K2MQ9XWRT", "state": "accepted",
                                    "received_at": T, "milestones": {"received": T}}),
    ("error.schema.json", {"error": "invalid_report", "message": "location.lat: 超出范围",
                           "field": "location.lat"}),
    ("error.schema.json", {"error": "not_found", "message": "no such receipt"}),
]  # fmt: skip
DOCS_INVALID = [
    ("incident.schema.json", _with(LIST_VIEW, "number", "530100-2026112-000123")),
    ("incident.schema.json", _with(LIST_VIEW, "number", "５30100-20261124-000123")),
    ("incident.schema.json", _with(LIST_VIEW, "state", "open")),
    ("incident.schema.json", _with(LIST_VIEW, "priority", 5)),
    ("incident.schema.json", _with(LIST_VIEW, "priority", 0)),
    ("incident.schema.json", _with(LIST_VIEW, "category", "murder")),
    ("incident.schema.json", _with(LIST_VIEW, "unit", "5301")),
    ("incident.schema.json", _with(LIST_VIEW, "location", {"lat": 100, "lon": 0})),
    ("incident.schema.json", _with(LIST_VIEW, "summary", "字" * 201)),
    ("incident.schema.json", _with(LIST_VIEW, "milestones.opened", T)),
    ("incident.schema.json", _with(LIST_VIEW, "milestones.received", "yesterday")),
    ("incident.schema.json", _with(LIST_VIEW, "created_at", DROP)),
    ("incident.schema.json", _with(LIST_VIEW, "drill", DROP)),
    ("incident.schema.json", _with(LIST_VIEW, "deadlines.0.step", "close")),
    ("incident.schema.json", _with(LIST_VIEW, "phone", "13800000000")),
    ("incident.schema.json", _with(INCIDENT, "reports.0.receipt", DROP)),
    ("incident.schema.json", _with(INCIDENT, "reports.0.location.lat", 91)),
    ("incident.schema.json", _with(INCIDENT, "reports.0.secret", 1)),
    ("incident.schema.json", _with(INCIDENT, "events.0.hash", "abc")),
    ("incident.schema.json", _with(INCIDENT, "events.0.to_state", "done")),
    ("incident.schema.json", _with(INCIDENT, "deliveries.0.status", "sent")),
    ("incident.schema.json", _with(INCIDENT, "deliveries.0.attempt", -1)),
    ("event.schema.json", _with(EVENT, "seq", 0)),
    ("event.schema.json", _with(EVENT, "action", "delete")),
    ("event.schema.json", _with(EVENT, "prev_hash", "0" * 63)),
    ("event.schema.json", _with(EVENT, "hash", DROP)),
    ("event.schema.json", _with(EVENT, "actor.unit", "abc")),
    ("event.schema.json", _with(EVENT, "data", None)),
    ("receipt-status.schema.json", {"receipt": "7K2MQ9XWRT", "state": "accepted",
                                    "received_at": T, "milestones": {}, "number": "x"}),
    ("receipt-status.schema.json", {"receipt": "../etc", "state": "accepted",
                                    "received_at": T, "milestones": {}}),
    ("error.schema.json", {"error": "Not Found", "message": "x"}),
    ("error.schema.json", {"error": "not_found"}),
]  # fmt: skip


@pytest.mark.parametrize("i", range(len(DOCS_VALID)))
def test_documents_valid(i: int) -> None:
    name, doc = DOCS_VALID[i]
    assert verdicts(name, doc) == (True, True)


@pytest.mark.parametrize("i", range(len(DOCS_INVALID)))
def test_documents_invalid(i: int) -> None:
    name, doc = DOCS_INVALID[i]
    assert verdicts(name, doc) == (False, False)


@pytest.mark.parametrize(
    "where",
    ["top", "milestones"],
)
def test_receipt_status_leaks_no_personal_data(where: str) -> None:
    good = {"receipt": "7K2MQ9XWRT", "state": "dispatched", "received_at": T,
            "milestones": {"received": T, "dispatched": T}}  # fmt: skip
    assert verdicts("receipt-status.schema.json", good) == (True, True)
    leak = copy.deepcopy(good)
    target = leak if where == "top" else leak["milestones"]
    target["sender"] = {"kind": "phone", "id": "13800000000"}
    assert verdicts("receipt-status.schema.json", leak) == (False, False)


# -- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_document_is_valid() -> None:
    validator = pytest.importorskip(
        "openapi_spec_validator",
        reason="openapi-spec-validator is not installed (pip install openapi-spec-validator)",
    )
    validator.validate(openapi_document())


def test_openapi_is_json_and_fresh() -> None:
    doc = openapi_document()
    assert json.loads(json.dumps(doc)) == doc
    doc["components"]["schemas"]["Report"]["title"] = "changed"
    assert openapi_document()["components"]["schemas"]["Report"]["title"] != "changed"
    assert load_schema("report.schema.json") == SCHEMAS["report.schema.json"]


def test_openapi_survives_a_mutated_schema_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """fastjsonschema.compile() rewrites every $ref of the dict it gets to an absolute URI.
    Should someone compile load_schema()'s shared dict, the OpenAPI document stays the same."""
    import gateway.http.openapi as openapi

    clean = openapi_document()
    mutated = {name: copy.deepcopy(SCHEMAS[name]) for name in API_FILES}
    for name in API_FILES:
        fastjsonschema.compile(mutated[name], handlers={"https": _local_only})
    assert mutated["report.schema.json"] != SCHEMAS["report.schema.json"]  # it did rewrite
    monkeypatch.setattr(openapi, "load_schema", lambda name: mutated[name])
    assert openapi_document() == clean


def _unrewrite(node: Any, own: str, files: dict[str, str]) -> Any:
    """Map #/components/schemas/Name/... back to the file's own form of the $ref."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref":
                prefix = "#/components/schemas/"
                assert value.startswith(prefix), value
                name, _, pointer = value[len(prefix) :].partition("/")
                pointer = "/" + pointer if pointer else ""
                if name == own:
                    out[key] = "#" + pointer
                else:
                    out[key] = files[name] + ("#" + pointer if pointer else "")
            else:
                out[key] = _unrewrite(value, own, files)
        return out
    if isinstance(node, list):
        return [_unrewrite(item, own, files) for item in node]
    return node


def test_openapi_components_are_the_schema_files() -> None:
    components = openapi_document()["components"]["schemas"]
    files = {component: filename for filename, component in SCHEMA_COMPONENTS.items()}
    assert set(API_FILES) == set(ALL_FILES) - {"config.schema.json"}
    channels = [declaration(code) for code in installed()]
    added = {  # what the channels add to two of the files: their views and their actions
        "incident.schema.json": contract.incident_schema(channels),
        "action.schema.json": contract.action_schema(channels),
    }
    for filename, component in SCHEMA_COMPONENTS.items():
        expected = {k: v for k, v in SCHEMAS[filename].items() if k not in ("$id", "$schema")}
        if filename in added:
            expected = {k: v for k, v in added[filename].items() if k not in ("$id", "$schema")}
        assert _unrewrite(components[component], component, files) == expected, filename
        if filename not in added:
            assert components[component] == component_schema(filename)
    incident = components["Incident"]["properties"]
    assert {"calls", "sms"} <= set(incident) and "calls" not in SCHEMAS["incident.schema.json"]
    actions = components["IncidentAction"]["properties"]["action"]["enum"]
    assert {"callback", "reply"} <= set(actions)


def test_openapi_refs_resolve_and_validate() -> None:
    """The embedded schemas, resolved inside the OpenAPI document, give the files' verdicts."""
    doc = openapi_document()
    uri = "urn:alarmgw:openapi"
    registry: Registry = Registry().with_resource(
        uri, Resource.from_contents(doc, default_specification=DRAFT202012)
    )

    def check(component: str, instance: Any) -> bool:
        schema = {"$ref": f"{uri}#/components/schemas/{component}"}
        return jsonschema.Draft202012Validator(schema, registry=registry).is_valid(instance)

    for name, instance in DOCS_VALID + [("report.schema.json", FULL)]:
        assert check(SCHEMA_COMPONENTS[name], instance), name
    for name, instance in DOCS_INVALID:
        assert not check(SCHEMA_COMPONENTS[name], instance), name
    for case in ("lat without lon", "received_at Feb 30", "sender kind fax"):
        assert not check("Report", INVALID[case]), case
    assert check("ReportSubmission", {"sender": MINIMAL["sender"]})
    assert check("IncidentAction", {"action": "merge", "master": "530100-20261124-000100"})
    assert not check("IncidentAction", {"action": "delete"})
    assert check("Unit", {"code": "530100000000", "name": "市局指挥中心", "tier": "city",
                          "children": [{"code": "530102000000", "name": "五华分局",
                                        "tier": "district", "children": []}]})  # fmt: skip
    assert not check("Unit", {"code": "530100000000", "name": "x", "tier": "city",
                              "children": [{"code": "1"}]})  # fmt: skip
    geojson = load_config(None).org.to_geojson()
    assert check("UnitCollection", geojson)
    geojson["features"][0]["properties"]["notify"] = []
    assert not check("UnitCollection", geojson)


def test_openapi_paths() -> None:
    doc = openapi_document()
    paths = doc["paths"]
    assert set(paths) == {
        "/api/v1/reports", "/api/v1/receipts/{receipt}", "/api/v1/units", "/api/v1/incidents",
        "/api/v1/incidents/{number}", "/api/v1/incidents/{number}/actions", "/healthz",
        "/api/v1/incidents/{number}/eido",
        "/metrics", "/api/v1/openapi.json", "/", "/report", "/report/locate.js", "/receipt",
        "/receipt/{receipt}", "/api/v1/calltakers/{calltaker}/current",
        "/api/v1/incidents/{number}/files/{sha256}",
        "/api/v1/incidents/{number}/recordings/{linkedid}",
        "/api/v1/targets/premises", "/api/v1/targets/premises/{id}",
        "/api/v1/targets/vehicles", "/api/v1/targets/vehicles/{terminal}",
        "/api/v1/telegram/webhook", "/api/v1/telegram/files/{sha256}",
        "/api/v1/systems/{system}/alarms", "/api/v1/cap", "/api/v1/cap/feed",
        "/api/v1/drills", "/api/v1/drills/{run}", "/api/v1/drills/{run}/pause",
        "/api/v1/drills/{run}/resume", "/api/v1/drills/{run}/abort",
        "/api/v1/drills/{run}/scorecard", "/api/v1/drills/{run}/scorecard.pdf",
    }  # fmt: skip
    post = paths["/api/v1/reports"]["post"]
    assert set(post["responses"]) == {"201", "400", "401", "403", "413", "415", "422", "503"}
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReportSubmission"
    }
    assert paths["/api/v1/receipts/{receipt}"]["get"]["security"] == []
    # A receipt as typed (Crockford's reading rules) in the JSON route and the page alike.
    receipt = paths["/api/v1/receipts/{receipt}"]["get"]["parameters"][0]
    assert paths["/receipt/{receipt}"]["get"]["parameters"] == [receipt]
    typed = re.compile(receipt["schema"]["pattern"])
    assert all(typed.match(r) for r in ("7K2MQ9XWRT", "7k2m-q9xw-rt", "OIL0"))
    assert not any(typed.match(r) for r in ("7K2U", "-", "7K 2", "7K#2"))
    units = paths["/api/v1/units"]["get"]
    assert set(units["responses"]["200"]["content"]) == {"application/json", "application/geo+json"}
    assert units["parameters"][0]["schema"] == {"enum": ["tree", "geojson"]}
    assert "security" not in paths["/api/v1/incidents"]["get"]  # the global bearer applies
    assert doc["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    actions = paths["/api/v1/incidents/{number}/actions"]["post"]["responses"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(actions)
    assert "text/plain" in paths["/metrics"]["get"]["responses"]["200"]["content"]


# -- what the gateway really renders -----------------------------------------------------------


def test_rendered_documents_validate(store_url: str, config: Any) -> None:
    """Documents made by intake and the workflow against a real store (fixtures from
    tests/conftest.py: SQLite, and PostgreSQL where one runs) pass their schemas."""
    from tests.conftest import T0
    from tests.harness import STATION, Harness, actor

    def check(name: str, doc: Any) -> None:
        problems = [(list(e.path), e.message) for e in ref_validator(name).iter_errors(doc)]
        assert problems == [], name
        assert verdicts(name, doc) == (True, True)

    h = Harness(store_url, config, T0)
    try:

        def detail(number: str) -> dict[str, Any]:
            return h.read(lambda c: h.workflow.documents.of(c, number, detail=True))

        here = Location(lat=24.98, lon=102.65, accuracy_m=15, address="南坝路")
        receipt = h.submit(h.report(location=here, alarm=AlarmRef("12", "3"), text="有人\n抢劫"))
        check("receipt.schema.json", receipt.to_json())
        n = receipt.incident
        check("incident.schema.json", h.act(n, "accept", actor("calltaker"), category="criminal"))
        h.act(n, "dispatch", actor("dispatcher"))
        check("incident.schema.json", detail(n))  # with a pending delivery, 0 attempts
        officer = actor("unit_officer", STATION)
        h.act(n, "acknowledge", officer)
        h.act(n, "arrive", officer)
        h.act(n, "feedback", officer, result="已处置")
        closed = h.act(n, "close", actor("supervisor"))
        check("incident.schema.json", closed)
        a = h.submit(h.report(location=here)).incident
        b = h.submit(h.report(location=here)).incident
        h.act(b, "merge", actor("calltaker"), master=a)
        check("incident.schema.json", detail(a))
        check("incident.schema.json", detail(b))
        late = h.submit(h.report(location=here, category="criminal", drill=True)).incident
        h.advance(6 * 3600)
        h.fire()
        doc = detail(late)
        check("incident.schema.json", doc)
        assert any(d["fired"] for d in doc["deadlines"])
        for event in doc["events"] + detail(n)["events"]:
            check("event.schema.json", event)
    finally:
        h.close()
