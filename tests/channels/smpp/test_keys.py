"""The SMS idempotency key (gateway/channels/smpp/keys.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.smpp.keys import (
    Concatenation,
    content_key,
    external_id,
    first_arrival,
    id_range,
)
from gateway.channels.smpp.text import encode_ucs2

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
HELP = encode_ucs2("有人跟踪我，在南坝路")


def key(**kw: object) -> str:
    args: dict[str, object] = {
        "source": "13800138000",
        "dest": "12110",
        "data_coding": 8,
        "parts": [HELP],
        "concat": None,
    }
    args.update(kw)
    return content_key(**args)  # type: ignore[arg-type]


def test_a_redelivery_has_the_same_key() -> None:
    assert key() == key()
    assert len(key()) == 32 and int(key(), 16) >= 0


def test_what_makes_another_message() -> None:
    base = key()
    assert key(source="13800138001") != base
    assert key(dest="12110123") != base
    assert key(data_coding=0) != base
    assert key(parts=[HELP + b"\x00!"]) != base
    assert key(concat=Concatenation(7, 1)) != base
    assert key(concat=Concatenation(7, 2)) != key(concat=Concatenation(8, 2))


def test_parts_are_framed() -> None:
    """Splitting the same octets differently is another message (lengths are hashed)."""
    assert key(parts=[b"ab", b"c"]) != key(parts=[b"a", b"bc"])


def test_first_arrival_then_redelivery_within_the_window() -> None:
    k = key()
    first = external_id(k, T0, [])
    assert first == f"sms:{k}@{int(T0.timestamp())}"
    assert first_arrival(first, k) == T0.timestamp()
    # The SMSC resends five minutes later: the same external id, so the same receipt.
    assert external_id(k, T0 + timedelta(minutes=5), [first]) == first
    # A day and a minute later it is a new alarm.
    later = T0 + timedelta(hours=24, minutes=1)
    assert external_id(k, later, [first]) == f"sms:{k}@{int(later.timestamp())}"


def test_the_latest_earlier_arrival_in_the_window_wins() -> None:
    k = key()
    old = external_id(k, T0, [])
    newer_at = T0 + timedelta(hours=23)
    newer = external_id(k, newer_at, [old])
    assert newer == old  # still within 24 h of the first
    two_days = T0 + timedelta(hours=48)
    fresh = external_id(k, two_days, [old])
    assert fresh != old
    assert external_id(k, two_days + timedelta(minutes=1), [old, fresh]) == fresh


def test_foreign_and_malformed_ids_are_ignored() -> None:
    k = key()
    other = key(source="13900000000")
    ids = [f"sms:{other}@{int(T0.timestamp())}", f"sms:{k}@notanumber", "web-123"]
    assert external_id(k, T0, ids) == f"sms:{k}@{int(T0.timestamp())}"
    lo, hi = id_range(k)
    assert lo <= external_id(k, T0, []) < hi


@given(
    st.text(max_size=20),
    st.text(max_size=20),
    st.integers(0, 255),
    st.lists(st.binary(max_size=200), max_size=5),
)
def test_key_is_stable_and_hex(source: str, dest: str, dc: int, parts: list[bytes]) -> None:
    a = content_key(source, dest, dc, parts)
    assert a == content_key(source, dest, dc, list(parts))
    assert len(a) == 32 and all(c in "0123456789abcdef" for c in a)
