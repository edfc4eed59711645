"""deliver_sm classification (gateway/channels/smpp/inbound.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.channels.smpp.concat import Part, Reassembler
from gateway.channels.smpp.inbound import DeliveryReceipt, Inbound, Whole, classify
from gateway.channels.smpp.text import BadText, encode_ucs2, parse_udh, split_for_sending

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def pdu(**kw: object) -> Inbound:
    args: dict[str, object] = {
        "source": "13800138000",
        "dest": "12110",
        "data_coding": 8,
        "esm_class": 0,
        "short_message": encode_ucs2("有人跟踪我"),
    }
    args.update(kw)
    return Inbound(**args)  # type: ignore[arg-type]


def test_one_ucs2_message() -> None:
    got = classify(pdu(), T0)
    assert got == Whole("13800138000", "12110", 8, "有人跟踪我", encode_ucs2("有人跟踪我"))


def test_message_payload_replaces_short_message() -> None:
    long = "救命" * 200
    got = classify(pdu(short_message=b"", message_payload=encode_ucs2(long)), T0)
    assert isinstance(got, Whole) and got.text == long
    with pytest.raises(BadText) as e:
        classify(pdu(message_payload=encode_ucs2("x")), T0)
    assert e.value.field == "short_message"
    with pytest.raises(BadText) as e:
        classify(pdu(short_message=b"", message_payload=b"\x00" * 70_000), T0)
    assert e.value.field == "message_payload"


def test_empty_and_invalid_messages_are_refused() -> None:
    with pytest.raises(BadText, match="empty"):
        classify(pdu(short_message=b""), T0)
    with pytest.raises(BadText, match="odd"):
        classify(pdu(short_message=b"\x6d\x51\x00"), T0)


def test_binary_is_kept_undecoded() -> None:
    got = classify(pdu(data_coding=4, short_message=b"\x01\x02"), T0)
    assert isinstance(got, Whole) and got.text is None and got.raw == b"\x01\x02"


def test_three_parts_out_of_order_through_the_udh() -> None:
    text = "我被困在南坝路8号的仓库里，门被锁了，手机快没电了，请快来救我。" * 5  # 165
    coding, parts = split_for_sending(text, ref=42)
    assert coding == 8 and len(parts) == 3
    r = Reassembler()
    done = None
    for i in (2, 0, 1):
        got = classify(pdu(esm_class=0x40, short_message=parts[i]), T0)
        assert isinstance(got, Part) and got.total == 3 and got.ref == 42
        done = r.add(got, now=0.0) or done
    assert done is not None and done.text == text


def test_parts_through_the_sar_tlvs() -> None:
    a, b = encode_ucs2("有人"), encode_ucs2("跟踪我")
    r = Reassembler()
    first = classify(pdu(short_message=b, sar_ref=7, sar_total=2, sar_seq=2), T0)
    second = classify(pdu(short_message=a, sar_ref=7, sar_total=2, sar_seq=1), T0)
    assert isinstance(first, Part) and isinstance(second, Part)
    assert r.add(first, 0.0) is None
    done = r.add(second, 0.0)
    assert done is not None and done.text == "有人跟踪我"


@pytest.mark.parametrize(
    "sar, field",
    [
        ({"sar_ref": 1, "sar_total": 2}, "sar_msg_ref_num"),
        ({"sar_ref": 1, "sar_total": 0, "sar_seq": 1}, "sar_total_segments"),
        ({"sar_ref": 1, "sar_total": 2, "sar_seq": 3}, "sar_segment_seqnum"),
        ({"sar_ref": 70_000, "sar_total": 2, "sar_seq": 1}, "sar_msg_ref_num"),
    ],
)
def test_bad_sar_tlvs(sar: dict[str, int], field: str) -> None:
    with pytest.raises(BadText) as e:
        classify(pdu(**sar), T0)
    assert e.value.field == field


def test_a_bad_udh_names_the_udh() -> None:
    with pytest.raises(BadText) as e:
        classify(pdu(esm_class=0x40, short_message=b"\x05\x00\x03\x01"), T0)
    assert e.value.field == "udh"


def test_delivery_receipt_in_text_form() -> None:
    body = (
        b"id:0a1b2c sub:001 dlvrd:001 submit date:2611241002 done date:2611241003 "
        b"stat:DELIVRD err:000 text:"
    )
    got = classify(pdu(esm_class=0x04, data_coding=0, short_message=body), T0)
    cst = timezone(timedelta(hours=8))
    assert got == DeliveryReceipt(
        "0a1b2c", "DELIVRD", "000", datetime(2026, 11, 24, 10, 3, tzinfo=cst)
    )


def test_delivery_receipt_from_tlvs_and_refusal_without_id() -> None:
    got = classify(
        pdu(esm_class=0x04, short_message=b"", receipted_message_id="m-9", message_state=5), T0
    )
    assert isinstance(got, DeliveryReceipt) and (got.message_id, got.stat) == ("m-9", "UNDELIV")
    with pytest.raises(BadText, match="message id"):
        classify(pdu(esm_class=0x04, short_message=b"stat:DELIVRD"), T0)


@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=300),
    st.one_of(st.none(), st.binary(max_size=300)),
    st.one_of(st.none(), st.integers(-5, 70_000)),
    st.one_of(st.none(), st.integers(-5, 300)),
    st.one_of(st.none(), st.integers(-5, 300)),
)
def test_any_pdu_is_classified_or_refused_with_bad_text(
    dc: int,
    esm: int,
    sm: bytes,
    payload: bytes | None,
    ref: int | None,
    total: int | None,
    seq: int | None,
) -> None:
    p = pdu(
        data_coding=dc,
        esm_class=esm,
        short_message=sm,
        message_payload=payload,
        sar_ref=ref,
        sar_total=total,
        sar_seq=seq,
    )
    try:
        got = classify(p, T0)
    except BadText as e:
        assert e.field and e.problem
        return
    assert isinstance(got, DeliveryReceipt | Whole | Part)


def test_parse_udh_is_what_classify_uses() -> None:
    _, parts = split_for_sending("测试" * 50, ref=3)
    udh, body = parse_udh(parts[0])
    assert udh.concat is not None and udh.concat.total == len(parts)
    assert body == parts[0][6:]
