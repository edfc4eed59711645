"""Property-based fuzzing of POST /api/v1/reports on one real gateway process.

Whatever a client sends, the answer is a 201 with a receipt that can be looked up, or a
4xx JSON error document `{"error", "message", "field"}`; never a 5xx, never a half-stored
incident, and the server keeps serving. Text that is accepted comes back exactly as sent.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from gateway.phone import looks_like_phone
from tests.peers.gateway import GatewayProcess

NUMBER = re.compile(r"^\d{6}-\d{8}-\d{6}$")
RECEIPT = re.compile(r"^[0-9A-Z]{1,32}$")
KINDS = ["phone", "email", "account", "terminal", "web", "system"]
CATEGORIES = [
    "criminal",
    "public_order",
    "traffic",
    "fire",
    "disaster",
    "dispute",
    "assistance",
    "tip",
    "other",
]
ERROR_KEYS = {"error", "message", "field"}


def fuzz_settings(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# -- talking to the gateway ------------------------------------------------------------------


def post_raw(gw: GatewayProcess, data: bytes, token: str | None = None) -> tuple[int, Any]:
    """POST bytes as application/json with a fresh Idempotency-Key."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    return gw.request("POST", "/api/v1/reports", raw=data, headers=headers, token=token)


def encode(doc: Any, ascii_only: bool) -> bytes:
    """JSON bytes; lone surrogates can only travel as \\u escapes."""
    return json.dumps(doc, ensure_ascii=ascii_only or _has_surrogate(doc)).encode()


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    return False


def incident_count(gw: GatewayProcess) -> int:
    status, body = gw.request("GET", "/healthz")
    assert status == 200, body
    return int(body["incidents"])


def assert_error_doc(status: int, body: Any, allowed: set[int]) -> None:
    assert status in allowed, (status, body)
    assert isinstance(body, dict), body
    assert set(body) == ERROR_KEYS, body
    assert isinstance(body["error"], str) and body["error"], body
    assert isinstance(body["message"], str) and body["message"].strip(), body
    assert body["field"] is None or isinstance(body["field"], str), body


def assert_receipt(gw: GatewayProcess, body: Any) -> None:
    assert isinstance(body, dict), body
    assert RECEIPT.match(body["receipt"]), body
    assert NUMBER.match(body["incident"]["number"]), body
    status, doc = gw.request("GET", f"/api/v1/receipts/{body['receipt']}")
    assert status == 200, doc
    assert doc["receipt"] == body["receipt"]


@pytest.fixture(scope="module")
def supervisor(gateway: GatewayProcess) -> str:
    return gateway.token("fuzz-sv", "supervisor")


@pytest.fixture(scope="module")
def integration(gateway: GatewayProcess) -> str:
    return gateway.token("fuzz-int", "integration")


# -- strategies --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

numbers = (
    st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(min_value=-200, max_value=200)
)


def rfc3339(t: datetime, offset_minutes: int, digits: int) -> str:
    """Render a date-time the way the schema's pattern allows, with any offset."""
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    frac = f".{t.microsecond:06d}{'0' * 3}"[: digits + 1] if digits else ""
    if offset_minutes == 0:
        zone = "Z"
    else:
        sign = "+" if offset_minutes > 0 else "-"
        hh, mm = divmod(abs(offset_minutes), 60)
        zone = f"{sign}{hh:02d}:{mm:02d}"
    return base + frac + zone


MAX_OFFSET = 23 * 60 + 59
date_times = st.builds(
    rfc3339,
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    | st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]),
    st.integers(min_value=-MAX_OFFSET, max_value=MAX_OFFSET)
    | st.sampled_from([0, 1, -1, 480, MAX_OFFSET, -MAX_OFFSET]),
    st.integers(min_value=0, max_value=9),
)

phone_sender = st.builds(
    lambda digits: {"kind": "phone", "id": "138" + digits},
    st.text("0123456789", min_size=8, max_size=8),
)
senders = st.one_of(
    phone_sender,
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(KINDS) | json_values,
            "id": st.text(max_size=30) | json_values,
        },
        optional={"name": st.text(max_size=30) | json_values, "colour": json_values},
    ),
    json_values,
)
locations = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "lat": numbers,
            "lon": numbers,
            "accuracy_m": numbers,
            "address": st.text(max_size=60) | json_values,
        },
    ),
    json_values,
)
attachment = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=20),
        "content_type": st.sampled_from(["image/jpeg", "audio/amr", ""]),
        "size": st.integers(min_value=-1),
        "sha256": st.text("0123456789abcdef", min_size=64, max_size=64),
    },
    optional={"ref": st.text(max_size=20)},
)
alarms = st.fixed_dictionaries(
    {"account": st.text(max_size=70)}, optional={"zone": st.text(max_size=40)}
)
printable = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=60)
# Values the schema accepts: most fields of a mutated report keep one of these ...
valid_fields = {
    "location": st.fixed_dictionaries(
        {},
        optional={
            "accuracy_m": st.floats(min_value=0, max_value=100000),
            "address": printable,
        },
    )
    | st.fixed_dictionaries(
        {"lat": st.floats(min_value=-90, max_value=90), "lon": st.integers(-180, 180)}
    ),
    "text": st.text(st.characters(exclude_categories=["Cc", "Cs"]) | st.sampled_from("\n\r\t")),
    "category": st.sampled_from(CATEGORIES),
    "attachments": st.lists(
        st.builds(dict, attachment, content_type=st.just("image/jpeg"), size=st.integers(0)),
        max_size=3,
    ),
    "alarm": st.builds(dict, alarms, account=st.text("0123456789", min_size=1, max_size=8)),
    "received_at": date_times,
    "drill": st.just(False),
    "channel": st.just("web"),
    "external_id": st.text(min_size=1, max_size=20),
    "raw_ref": printable,
    "extra": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
}
# ... and a few get one of these, plausible or not.
report_fields = {
    "location": locations,
    "text": st.text(max_size=200) | json_values,
    "sender": senders,
    "category": st.sampled_from(CATEGORIES) | json_values,
    "attachments": st.lists(attachment | json_values, max_size=3) | json_values,
    "alarm": alarms | json_values,
    "received_at": date_times | st.text(max_size=30) | json_values,
    "drill": st.booleans() | json_values,
    "channel": st.sampled_from(["web", "sms", "Web"]) | json_values,
    "external_id": st.text(max_size=20) | json_values,
    "raw_ref": st.text(max_size=20) | json_values,
    "extra": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
}


@st.composite
def mutated_reports(draw: st.DrawFn) -> dict[str, Any]:
    """The valid skeleton, some valid optional fields, then up to two fields (or unknown
    keys) given random values."""
    doc: dict[str, Any] = {"sender": draw(phone_sender)}
    doc.update(draw(st.fixed_dictionaries({}, optional=valid_fields)))
    for key in draw(st.lists(st.sampled_from(sorted(report_fields)), max_size=2, unique=True)):
        doc[key] = draw(report_fields[key])
    doc.update(draw(st.dictionaries(st.text(max_size=10), json_values, max_size=1) | st.just({})))
    return doc


# -- 1. arbitrary bytes --------------------------------------------------------------------------


@fuzz_settings(150)
@given(data=st.binary(max_size=2000))
@example(data=b"")
@example(data=b"\xef\xbb\xbf{}")
@example(data=b"\xff\xfe{\x00}\x00")
@example(data=b'{"sender": {"kind": "phone", "id": "1\xff"}}')
@example(data=b"NaN")
@example(data=b'{"sender": Infinity}')
@example(data=b"1" * 1999)
def test_arbitrary_bytes_get_a_4xx_error_document(gateway: GatewayProcess, data: bytes) -> None:
    status, body = post_raw(gateway, data)
    assert_error_doc(status, body, {400, 422})
    assert gateway.request("GET", "/healthz")[0] == 200


# -- 2. arbitrary JSON ---------------------------------------------------------------------------


@fuzz_settings(200)
@given(doc=st.one_of(json_values, mutated_reports(), mutated_reports()), ascii_only=st.booleans())
@example(doc={"sender": {"kind": "phone", "id": "13800000000"}}, ascii_only=False)
@example(doc=[], ascii_only=False)
@example(
    doc={"sender": {"kind": "phone", "id": "13800000000"}, "location": {"lat": 1}}, ascii_only=False
)
@example(doc={"sender": {"kind": "phone", "id": "13800000000"}, "drill": True}, ascii_only=True)
@example(doc={"sender": {"kind": "phone", "id": "13800000000"}, "channel": "sms"}, ascii_only=True)
def test_arbitrary_json_is_stored_whole_or_refused_with_nothing_stored(
    gateway: GatewayProcess, doc: Any, ascii_only: bool
) -> None:
    before = incident_count(gateway)
    status, body = post_raw(gateway, encode(doc, ascii_only))
    after = incident_count(gateway)
    event(f"status {status}" + (f" field {body['field']}" if status != 201 else ""))
    if status == 201:
        assert_receipt(gateway, body)
        assert after in (before, before + 1)  # a new incident, or attached to one
    else:
        assert_error_doc(status, body, {400, 403, 422})
        assert after == before, f"a refused report changed the incident count: {body}"


# -- 3. Unicode in text and sender.id -----------------------------------------------------------

any_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cc", "Cs"]), min_size=1),
    st.text(),
    st.text(st.characters(categories=["Cc", "Zl", "Zp", "Cf", "Co", "Cn"]), max_size=5),
    st.text(st.characters() | st.characters(categories=["Cs"]), max_size=10),
)


def _bad_chars(value: str, allowed: str) -> bool:
    return any(c not in allowed and unicodedata.category(c) in ("Cc", "Cs") for c in value)


@fuzz_settings(150)
@given(
    text=any_text,
    sender_id=any_text,
    kind=st.sampled_from(KINDS),
    ascii_only=st.booleans(),
)
@example(
    text="a\r\nb\tc\x85\u2028\u2029\ufeff\u200b",
    sender_id="13800000000",
    kind="phone",
    ascii_only=False,
)
@example(text="\x00", sender_id="13800000000", kind="phone", ascii_only=False)
@example(text="ok", sender_id="\x7f", kind="phone", ascii_only=False)
@example(text="\ud83d", sender_id="13800000000", kind="phone", ascii_only=True)
@example(text="\U0001f6a8 e\u0301 \ufb01", sender_id="\u00e9", kind="email", ascii_only=False)
@example(text="ok", sender_id="", kind="phone", ascii_only=False)
def test_unicode_text_round_trips_or_is_refused_naming_the_field(
    gateway: GatewayProcess,
    supervisor: str,
    text: str,
    sender_id: str,
    kind: str,
    ascii_only: bool,
) -> None:
    doc = {"sender": {"kind": kind, "id": sender_id}, "text": text}
    bad = set()
    if not sender_id or len(sender_id) > 200 or _bad_chars(sender_id, ""):
        bad.add("sender.id")
    if kind == "phone" and not looks_like_phone(sender_id):  # the web channel's check
        bad.add("sender.id")
    if len(text) > 10000 or _bad_chars(text, "\n\r\t"):
        bad.add("text")

    before = incident_count(gateway)
    status, body = post_raw(gateway, encode(doc, ascii_only))
    event(f"status {status}" + (f" field {body['field']}" if status != 201 else ""))
    if status != 201:
        assert_error_doc(status, body, {422})
        assert body["field"] in ("text", "sender.id"), body
        assert body["field"] in bad, (bad, body)
        assert incident_count(gateway) == before
        return
    assert not bad, f"accepted a report with bad {sorted(bad)}: {doc!r}"
    assert_receipt(gateway, body)
    number, receipt = body["incident"]["number"], body["receipt"]
    status, incident = gateway.request("GET", f"/api/v1/incidents/{number}", token=supervisor)
    assert status == 200, incident
    [stored] = [r for r in incident["reports"] if r["receipt"] == receipt]
    assert stored["text"] == text
    assert stored["sender"]["id"] == sender_id


# -- 4. received_at from an integration token ------------------------------------------------------


@fuzz_settings(100)
@given(received_at=date_times)
@example(received_at="2026-11-24T08:00:00.123456789+08:00")
@example(received_at="0000-01-01T00:00:00Z")
# Found by this test: the offset moves the instant outside datetime's range (year 0 or
# 10000) and parse_utc's astimezone raises OverflowError, which the API answers with 500.
@example(received_at="0001-01-01T00:00:00+00:01")
@example(received_at="9999-12-31T23:59:59-00:01")
def test_integration_received_at_is_stored_or_refused(
    gateway: GatewayProcess, integration: str, received_at: str
) -> None:
    doc = {"sender": {"kind": "terminal", "id": "fuzz-panel"}, "received_at": received_at}
    before = incident_count(gateway)
    status, body = post_raw(gateway, encode(doc, True), token=integration)
    if status == 201:
        assert_receipt(gateway, body)
        return
    assert_error_doc(status, body, {422})
    assert body["field"] == "received_at", body
    assert incident_count(gateway) == before
    # Only a time outside the years the schemas allow (1900-2999: an alarm is not older,
    # and no offset then pushes the instant out of what a datetime holds) may be refused.
    try:
        parsed = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError:
        return
    if not 1900 <= parsed.year <= 2999:
        return
    pytest.fail(f"refused an in-range received_at {received_at!r}: {body}")


# -- 5. deeply nested JSON ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[" * 1000 + b"]" * 1000, id="array-1000-deep"),
        pytest.param(b"[" * 2000, id="unclosed-array-2000-deep"),
        pytest.param(b'{"a":' * 1000 + b"1" + b"}" * 1000, id="object-1000-deep"),
        pytest.param(
            b'{"sender": {"kind": "phone", "id": "13800000000"}, "extra": {"x": '
            + b"[" * 950
            + b"]" * 950
            + b"}}",
            id="report-with-extra-950-deep",
        ),
    ],
)
def test_deeply_nested_json_gets_a_4xx(gateway: GatewayProcess, data: bytes) -> None:
    before = incident_count(gateway)
    status, body = post_raw(gateway, data)
    if status == 201:
        assert_receipt(gateway, body)
    else:
        assert_error_doc(status, body, {400, 413, 422})
        assert incident_count(gateway) == before
