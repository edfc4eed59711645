"""The systems channel in process, on a real store: the request as its route sees it (a
`RouteCall` of bytes and headers) → 201, or an HTTP error and nothing stored.

Property: whatever the body and headers, the answer is a receipt or a 4xx (never another
exception: the site would answer 500), and nothing is stored without a signature by the
system's secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from twisted.internet import defer

from gateway.channels.systems.service import SystemsChannel
from gateway.http.resource import HttpError
from gateway.notify.webhook import sign
from gateway.report import InvalidReport, Receipt
from gateway.store.tables import reports
from tests.channels.fakes import FakeContext
from tests.channels.systems.city import DRILL, DRILL_SECRET, FIRE, FIRE_SECRETS, city, fire_alarm
from tests.inline import Store, result


class Call:
    """A `gateway.channel.RouteCall` of raw octets and headers."""

    def __init__(self, now: datetime, body: bytes, headers: dict[str, str]) -> None:
        self.actor = None
        self.params: dict[str, str] = {}
        self.now = now
        self._body = body
        self._headers = {k.lower(): v for k, v in headers.items()}
        self.query: dict[str, str] = {}
        self.too_large = False

    def form(self) -> dict[str, str]:
        return {}

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self._body)

    def body(self, *media_types: str) -> bytes:
        ctype = (self.header("content-type") or "").split(";")[0].strip().lower()
        if media_types and ctype not in media_types:
            raise HttpError(415, "unsupported_media_type", "json")
        return self._body


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    tmp = tmp_path_factory.mktemp("systems-store")
    s = Store(f"sqlite:///{tmp / 'alarmgw.db'}", city(tmp))
    yield s
    s.close()


@pytest.fixture(scope="module")
def channel(store: Store) -> SystemsChannel:
    return SystemsChannel(FakeContext(store, "systems"))


def stored(store: Store) -> int:
    return store.read(lambda c: c.execute(select(func.count()).select_from(reports)).scalar_one())


def post(
    channel: SystemsChannel,
    store: Store,
    body: bytes,
    system: str = FIRE,
    secret: str | None = FIRE_SECRETS[0],
    ts: int | None = None,
    **headers: str,
) -> Receipt:
    ts = int(store.now().timestamp()) if ts is None else ts
    sent = {"Content-Type": "application/json", "X-Alarmgw-Timestamp": str(ts)}
    if secret is not None:
        sent["X-Alarmgw-Signature"] = sign(secret, ts, body)
    sent |= {k.replace("_", "-"): v for k, v in headers.items()}
    d = defer.ensureDeferred(channel.receive(system, Call(store.now(), body, sent)))
    return result(d)


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def test_a_signed_alarm_is_stored_once(channel: SystemsChannel, store: Store) -> None:
    before = stored(store)
    body = encode(fire_alarm("R-1"))
    first = post(channel, store, body)
    again = post(channel, store, body)  # the same request again, inside the window
    assert again.duplicate and (again.receipt, again.incident) == (first.receipt, first.incident)
    assert stored(store) == before + 1
    doc = store.document(first.incident)
    assert doc["category"] == "fire" and doc["priority"] == 1
    assert channel.metrics.accepted.labels(FIRE, "stored")._value.get() >= 1


def test_the_secret_being_rotated_out_still_signs(channel: SystemsChannel, store: Store) -> None:
    assert not post(channel, store, encode(fire_alarm("R-2")), secret=FIRE_SECRETS[1]).duplicate


def test_two_systems_keys_do_not_collide(channel: SystemsChannel, store: Store) -> None:
    a = post(channel, store, encode({"msg": "演练"}), DRILL, DRILL_SECRET, Idempotency_Key="X-1")
    b = post(channel, store, encode(fire_alarm("R-3")), Idempotency_Key="X-1")
    assert a.receipt != b.receipt and not b.duplicate


@pytest.mark.parametrize(
    ("system", "secret", "reason"),
    [
        (FIRE, "fire119-wrong-secret-000", "bad_signature"),
        ("nosuch", FIRE_SECRETS[0], "unknown_system"),
        (FIRE, None, "no_signature"),
    ],
)
def test_refused_without_a_good_signature(
    channel: SystemsChannel, store: Store, system: str, secret: str | None, reason: str
) -> None:
    before = stored(store)
    with pytest.raises(HttpError) as e:
        post(channel, store, encode(fire_alarm("R-4")), system, secret)
    assert e.value.status == 401 and e.value.error == "unauthorized"
    assert "WWW-Authenticate" in e.value.headers
    label = "unknown" if system == "nosuch" else system
    assert channel.metrics.refused.labels(label, reason)._value.get() >= 1
    assert stored(store) == before


def test_an_unknown_system_hears_what_a_bad_signature_does(
    channel: SystemsChannel, store: Store
) -> None:
    answers = []
    for system, secret in ((FIRE, "fire119-wrong-secret-000"), ("nosuch", FIRE_SECRETS[0])):
        with pytest.raises(HttpError) as e:
            post(channel, store, encode(fire_alarm("R-5")), system, secret)
        answers.append((e.value.status, e.value.error, e.value.message, e.value.field))
    assert answers[0] == answers[1]


def test_a_signed_request_sent_again_under_another_key_is_refused(
    channel: SystemsChannel, store: Store
) -> None:
    body = encode({"msg": "演练：南坝路起火"})
    ts = int(store.now().timestamp())
    post(channel, store, body, DRILL, DRILL_SECRET, ts, Idempotency_Key="D-1")
    before = stored(store)
    with pytest.raises(HttpError) as e:
        post(channel, store, body, DRILL, DRILL_SECRET, ts, Idempotency_Key="D-2")
    assert (e.value.status, e.value.field) == (401, "Idempotency-Key")
    assert post(channel, store, body, DRILL, DRILL_SECRET, ts, Idempotency_Key="D-1").duplicate
    assert stored(store) == before


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"{not json", {}, 400, None),
        (b'{"alarm": {"id": NaN}}', {}, 400, None),
        (encode({"alarm": {"content": "起火"}}), {}, 422, "/alarm/id"),
        (encode(fire_alarm("R-7")), {"Idempotency_Key": ""}, 422, "Idempotency-Key"),
        (encode(fire_alarm("R-7")), {"Idempotency_Key": "键"}, 422, "Idempotency-Key"),
        (encode(fire_alarm("R-7")), {"Content_Type": "text/plain"}, 415, None),
    ],
)
def test_a_signed_body_that_is_no_alarm(
    channel: SystemsChannel,
    store: Store,
    body: bytes,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    before = stored(store)
    with pytest.raises(HttpError) as e:
        post(channel, store, body, **headers)
    assert (e.value.status, e.value.field) == (status, field)
    assert stored(store) == before


# -- whatever comes -------------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_VALUES = st.one_of(_JSON, st.sampled_from(["01", "紧急", 1, 5, "24.98", "2026-11-24T09:00:00Z"]))
_ABSENT = object()


def _field(valid: Any) -> st.SearchStrategy[Any]:
    """Mostly the valid value; else any JSON value, or none at all."""
    return st.one_of(st.just(valid), st.just(valid), _VALUES, st.just(_ABSENT))


def _alarm(fields: dict[str, Any]) -> dict[str, Any]:
    alarm = {k: v for k, v in fields.items() if v is not _ABSENT and k != "caller"}
    body: dict[str, Any] = {"alarm": alarm, "msg": alarm.get("content", "")}
    if fields["caller"] is not _ABSENT:
        body["caller"] = fields["caller"]
    return body


_ALARMS = st.fixed_dictionaries(
    {
        "id": st.one_of(st.uuids().map(str), st.integers(0, 10**6), _VALUES),
        **{k: _field(v) for k, v in fire_alarm()["alarm"].items() if k != "id"},
        "exercise": _field(False),
        "caller": _field({"phone": "13800000009", "name": "王先生"}),
    }
).map(_alarm)
_BODIES = st.one_of(st.binary(max_size=300), _JSON.map(encode), _ALARMS.map(encode),
                     _ALARMS.map(encode))  # fmt: skip
_HEADER = st.text(st.characters(min_codepoint=32, max_codepoint=0xFF), max_size=80)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=_BODIES,
    system=st.sampled_from([FIRE, DRILL, "nosuch"]),
    signer=st.sampled_from(["right", "right", "wrong", "none", "garbage"]),
    skew=st.sampled_from([0, 0, 0, -299, 301, -10_000]),
    garbage=_HEADER,
    key=st.none() | _HEADER,
)
def test_whatever_comes_is_a_receipt_or_a_4xx_and_only_signed_is_stored(
    channel: SystemsChannel,
    store: Store,
    body: bytes,
    system: str,
    signer: str,
    skew: int,
    garbage: str,
    key: str | None,
) -> None:
    ts = int(store.now().timestamp()) + skew
    secret = {FIRE: FIRE_SECRETS[1], DRILL: DRILL_SECRET}.get(system, DRILL_SECRET)
    headers = {"Content-Type": "application/json", "X-Alarmgw-Timestamp": str(ts)}
    if signer == "right":
        headers["X-Alarmgw-Signature"] = sign(secret, ts, body)
    elif signer == "wrong":
        headers["X-Alarmgw-Signature"] = sign("not-the-secret-at-all", ts, body)
    elif signer == "garbage":
        headers["X-Alarmgw-Signature"] = garbage
    if key is not None:
        headers["Idempotency-Key"] = key
    before = stored(store)
    try:
        receipt = result(
            defer.ensureDeferred(channel.receive(system, Call(store.now(), body, headers)))
        )
    except HttpError as e:
        event(f"{e.status} {e.field}")
        assert 400 <= e.status < 500, e.message
        assert stored(store) == before
        if signer != "right" or system == "nosuch" or abs(skew) > 300:
            assert e.status == 401
        return
    except InvalidReport:  # intake's own check: a 422
        event("422 from intake")
        assert stored(store) == before
        return
    event("duplicate" if receipt.duplicate else "stored")
    assert signer == "right" and system != "nosuch" and abs(skew) <= 300
    assert stored(store) == before + (0 if receipt.duplicate else 1)
