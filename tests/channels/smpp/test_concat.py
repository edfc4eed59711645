"""Reassembling concatenated SMS (gateway.channels.smpp.concat)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.smpp.concat import Complete, Part, Reassembler
from gateway.channels.smpp.text import (
    GSM7_CHARACTERS,
    GSM7_EXTENSION_CHARACTERS,
    decode,
    parse_udh,
    split_for_sending,
)

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def part(
    seq: int,
    total: int = 3,
    *,
    ref: int = 1,
    source: str = "13800138000",
    text: str | None = None,
    at: int = 0,
) -> Part:
    body = f"<{seq}>" if text is None else text
    return Part(
        source,
        "110",
        ref,
        total,
        seq,
        body,
        body.encode(),
        T0 + timedelta(seconds=at),
    )


def test_single_part_completes_at_once() -> None:
    r = Reassembler()
    done = r.add(part(1, 1), 0)
    assert done is not None
    assert (done.text, done.total, done.parts_seen) == ("<1>", 1, 1)
    assert r.pending() == 0


def test_out_of_order_completion() -> None:
    r = Reassembler()
    assert r.add(part(3, at=0), 0) is None
    assert r.add(part(1, at=1), 1) is None
    assert r.pending() == 1
    done = r.add(part(2, at=2), 2)
    assert done is not None
    assert (done.source, done.dest, done.ref, done.total) == ("13800138000", "110", 1, 3)
    assert done.text == "<1><2><3>"
    assert done.raw == b"<1><2><3>"
    assert done.received_at == (T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), T0)
    assert [p.seq for p in done.parts] == [1, 2, 3]
    assert done.parts_seen == 3
    assert r.pending() == 0
    assert r.expire(1000) == []


def test_duplicates_first_wins_and_are_counted() -> None:
    r = Reassembler()
    r.add(part(1, 2, text="first"), 0)
    r.add(part(1, 2, text="second"), 1)
    done = r.add(part(2, 2, text="!"), 2)
    assert done is not None
    assert (done.text, done.parts_seen) == ("first!", 3)


def test_keys_keep_messages_apart() -> None:
    r = Reassembler()
    r.add(part(1, 2, ref=1), 0)
    r.add(part(1, 2, ref=2), 0)
    r.add(part(1, 2, source="other"), 0)
    r.add(part(1, 3, ref=1), 0)  # same ref, other total: another message
    assert r.pending() == 4
    assert r.add(part(2, 2, ref=2), 0) is not None
    assert r.pending() == 3


def test_undecodable_part_gives_no_text_but_raw() -> None:
    r = Reassembler()
    # A surrogate pair another sender split across parts: each half alone does not decode.
    a = Part("s", "110", 9, 2, 1, None, b"\x00a\xd8\x3d", T0)
    b = Part("s", "110", 9, 2, 2, None, b"\xde\x00", T0)
    r.add(b, 0)
    done = r.add(a, 0)
    assert done is not None
    assert done.text is None
    assert decode(done.raw, 8) == "a😀"


def test_timeout_gives_incomplete_with_missing() -> None:
    r = Reassembler(timeout=60)
    r.add(part(1, 4, at=0), 0)
    r.add(part(4, 4, at=30), 30)
    r.add(part(4, 4, at=31), 31)
    r.add(part(1, 2, ref=5, at=50), 50)
    assert r.expire(59.9) == []
    (gone,) = r.expire(60)
    assert gone.reason == "timeout"
    assert gone.missing == (2, 3)
    assert gone.text == "<1>[…缺第2段…][…缺第3段…]<4>"
    assert [p.seq for p in gone.parts] == [1, 4]
    assert gone.received_at == (T0, T0 + timedelta(seconds=30))
    assert gone.parts_seen == 3
    assert r.pending() == 1
    (gone,) = r.expire(110)
    assert (gone.ref, gone.missing, gone.text) == (5, (2,), "<1>[…缺第2段…]")
    assert r.pending() == 0


def test_incomplete_marks_undecodable_part() -> None:
    r = Reassembler(timeout=10)
    r.add(Part("s", "110", 1, 3, 2, None, b"\xff", T0), 0)
    r.add(part(3, source="s"), 0)
    (gone,) = r.expire(10)
    assert gone.text == "[…缺第1段…][…第2段无法解码…]<3>"
    assert gone.missing == (1,)


def test_eviction_bound() -> None:
    r = Reassembler(max_groups=3)
    for ref in range(5):
        assert r.add(part(1, 2, ref=ref), ref) is None
    assert r.pending() == 3
    evicted = r.expire(4)
    assert [(g.ref, g.reason, g.missing) for g in evicted] == [
        (0, "evicted", (2,)),
        (1, "evicted", (2,)),
    ]
    assert r.expire(4) == []
    # A part of a waiting message does not evict anything.
    assert r.add(part(2, 2, ref=4), 5) is not None
    assert r.pending() == 2


def test_bad_parts_and_settings() -> None:
    r = Reassembler()
    with pytest.raises(ValueError):
        r.add(part(0, 2), 0)
    with pytest.raises(ValueError):
        r.add(part(3, 2), 0)
    with pytest.raises(ValueError):
        Reassembler(timeout=0)
    with pytest.raises(ValueError):
        Reassembler(max_groups=0)


any_text = st.one_of(
    st.text(max_size=800),
    st.text(alphabet=sorted(GSM7_CHARACTERS | GSM7_EXTENSION_CHARACTERS), max_size=800),
    st.text(alphabet="a€😀中", max_size=400),
)


@given(any_text, st.integers(0, 255), st.randoms(use_true_random=False))
def test_split_then_reassemble(text: str, ref: int, rnd: random.Random) -> None:
    coding, messages = split_for_sending(text, ref)
    parts = []
    for sm in messages:
        if len(messages) == 1:
            payload, seq, total = sm, 1, 1
        else:
            udh, payload = parse_udh(sm)
            assert udh.concat is not None
            assert udh.concat.ref == ref
            seq, total = udh.concat.seq, udh.concat.total
            assert len(sm) <= 6 + (153 if coding == 0 else 134)
        parts.append(Part("s", "110", ref, total, seq, decode(payload, coding), payload, T0))
    rnd.shuffle(parts)
    r = Reassembler()
    results = [r.add(p, 0) for p in parts]
    assert all(x is None for x in results[:-1])
    done = results[-1]
    assert isinstance(done, Complete)
    assert done.text == text
    assert r.pending() == 0
