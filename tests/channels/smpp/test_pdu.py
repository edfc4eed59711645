"""Strict reading of SMPP PDUs (gateway/channels/smpp/pdu.py): round trips against smpplib as
an independent encoder, every refusal with its status and field, ignored TLVs, and fuzzing.

A deliver_sm is a citizen's alarm: a body that does not add up must come back as a
`PduError` carrying the status of its deliver_sm_resp, never as an IndexError or a
struct.error that would drop the link without an answer.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest
import smpplib.consts as c
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.smpp import pdu
from gateway.channels.smpp.inbound import Inbound
from gateway.channels.smpp.pdu import PduError

# Every status parse_deliver_sm may answer with; anything else would be a slip.
STATUSES = {
    c.SMPP_ESME_RINVMSGLEN,
    c.SMPP_ESME_RINVCMDLEN,
    c.SMPP_ESME_RINVSRCADR,
    c.SMPP_ESME_RINVDSTADR,
    c.SMPP_ESME_RINVSERTYP,
    c.SMPP_ESME_RINVSCHED,
    c.SMPP_ESME_RINVEXPIRY,
    c.SMPP_ESME_RINVOPTPARSTREAM,
    c.SMPP_ESME_RINVPARLEN,
    c.SMPP_ESME_RINVOPTPARAMVAL,
}
USER_MESSAGE_REFERENCE = 0x0204  # an SMPP 3.4 TLV of deliver_sm that the gateway does not read


def smpplib_deliver(fields: dict[str, Any], sequence: int = 1) -> bytes:
    """A whole deliver_sm PDU as smpplib writes it."""
    # make_pdu needs a sequence (else it asks the absent client for one) but then keeps the
    # class default: set it afterwards.
    p = smpplib.smpp.make_pdu("deliver_sm", client=None, sequence=sequence, **fields)
    p.sequence = sequence
    return p.generate()


def cstr(s: str) -> bytes:
    return s.encode("ascii") + b"\0"


def tlv(tag: int, value: bytes, length: int | None = None) -> bytes:
    """tag(2) length(2) value (§3.2.3); `length` to lie about it."""
    return struct.pack(">HH", tag, len(value) if length is None else length) + value


# The mandatory part of a deliver_sm (§4.6.1), field by field, in order.
MANDATORY = {
    "service_type": cstr("CMT"),
    "source_addr_ton": b"\x01",
    "source_addr_npi": b"\x01",
    "source_addr": cstr("13800138000"),
    "dest_addr_ton": b"\x00",
    "dest_addr_npi": b"\x00",
    "destination_addr": cstr("12110"),
    "esm_class": b"\x00",
    "protocol_id": b"\x00",
    "priority_flag": b"\x00",
    "schedule_delivery_time": cstr(""),
    "validity_period": cstr(""),
    "registered_delivery": b"\x00",
    "replace_if_present_flag": b"\x00",
    "data_coding": b"\x08",
    "sm_default_msg_id": b"\x00",
    "sm_length": b"\x04",
    "short_message": "救命".encode("utf-16-be"),
}


def body(tlvs: bytes = b"", **octets: bytes) -> bytes:
    """A deliver_sm body by hand: MANDATORY with some fields' octets replaced, sm_length
    following short_message unless given, then `tlvs`."""
    fields = {**MANDATORY, **octets}
    if "sm_length" not in octets:
        fields["sm_length"] = bytes([len(fields["short_message"])])
    return b"".join(fields.values()) + tlvs


def refusal(raw_body: bytes) -> tuple[int, str]:
    with pytest.raises(PduError) as e:
        pdu.parse_deliver_sm(raw_body)
    return e.value.status, e.value.field


def parses_or_refuses(raw_body: bytes) -> None:
    """The fuzzing property: a Deliver, or a PduError with a status we mean to send."""
    try:
        d = pdu.parse_deliver_sm(raw_body)
    except PduError as e:
        assert e.status in STATUSES, (hex(e.status), str(e))
    else:
        assert isinstance(d.inbound, Inbound)


# --- round trip against smpplib -----------------------------------------------------------

DIGITS = "0123456789"
ASCII_NO_NUL = st.characters(min_codepoint=1, max_codepoint=127)

deliver_fields = st.tuples(
    st.fixed_dictionaries(
        {
            "service_type": st.text(ASCII_NO_NUL, max_size=5),
            "source_addr": st.text(DIGITS, min_size=1, max_size=20),
            "destination_addr": st.text(DIGITS, max_size=20),
            "esm_class": st.integers(0, 255),
            "data_coding": st.integers(0, 255),
        },
        optional={
            "sar_msg_ref_num": st.integers(0, 0xFFFF),
            "sar_total_segments": st.integers(0, 255),
            "sar_segment_seqnum": st.integers(0, 255),
            # smpplib lets 65 characters through, 66 octets with the NUL: over §5.3.2.12's 65.
            "receipted_message_id": st.text(ASCII_NO_NUL, min_size=1, max_size=64),
            "message_state": st.integers(0, 255),
            "user_message_reference": st.integers(0, 0xFFFF),
        },
    ),
    # smpplib refuses both at once, as §5.3.2.32 does; it omits an empty message_payload.
    st.one_of(
        st.fixed_dictionaries({"short_message": st.binary(max_size=254)}),
        st.fixed_dictionaries({"message_payload": st.binary(min_size=1, max_size=600)}),
    ),
).map(lambda t: t[0] | t[1])


def test_smpplib_writes_each_tlv_we_read() -> None:
    """The round trip below is only independent if smpplib really emits these TLVs: here
    they are, octet for octet, as §5.3.2 lays them out."""
    raw = smpplib_deliver(
        {
            "source_addr": "1",
            "short_message": b"",
            "message_payload": b"\x00\x41",
            "sar_msg_ref_num": 0x1234,
            "sar_total_segments": 3,
            "sar_segment_seqnum": 2,
            "receipted_message_id": "m-9",
            "message_state": 5,
            "user_message_reference": 7,
        }
    )
    assert raw.endswith(
        tlv(0x0204, b"\x00\x07")
        + tlv(0x020C, b"\x12\x34")
        + tlv(0x020E, b"\x03")
        + tlv(0x020F, b"\x02")
        + tlv(0x0424, b"\x00\x41")
        + tlv(0x0427, b"\x05")
        + tlv(0x001E, b"m-9\0")
    )


@given(deliver_fields, st.integers(0, 2**32 - 1))
def test_round_trip_through_smpplib(fields: dict[str, Any], sequence: int) -> None:
    raw = smpplib_deliver(fields, sequence)
    assert pdu.header(raw) == pdu.Header(len(raw), pdu.DELIVER_SM, 0, sequence)
    d = pdu.parse_deliver_sm(raw[pdu.HEADER_SIZE :])
    assert d.inbound == Inbound(
        source=fields["source_addr"],
        dest=fields["destination_addr"],
        data_coding=fields["data_coding"],
        esm_class=fields["esm_class"],
        short_message=fields.get("short_message", b""),
        message_payload=fields.get("message_payload"),
        sar_ref=fields.get("sar_msg_ref_num"),
        sar_total=fields.get("sar_total_segments"),
        sar_seq=fields.get("sar_segment_seqnum"),
        receipted_message_id=fields.get("receipted_message_id"),
        message_state=fields.get("message_state"),
    )
    assert d.service_type == fields["service_type"]
    assert d.ignored_tlvs == (
        (USER_MESSAGE_REFERENCE,) if "user_message_reference" in fields else ()
    )


def test_the_biggest_message_payload_fits_max_pdu() -> None:
    """A TLV's length is 16 bits: 65535 octets of message_payload must still be read."""
    payload = bytes(range(256)) * 255 + bytes(range(255))
    raw = smpplib_deliver({"source_addr": "13800138000", "message_payload": payload})
    assert pdu.header(raw).length == len(raw) <= pdu.MAX_PDU
    assert pdu.parse_deliver_sm(raw[pdu.HEADER_SIZE :]).inbound.message_payload == payload


# --- the header -----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 15, pdu.MAX_PDU + 1, 2**32 - 1])
def test_impossible_command_length(length: int) -> None:
    with pytest.raises(PduError) as e:
        pdu.header(struct.pack(">IIII", length, pdu.DELIVER_SM, 0, 1))
    assert (e.value.status, e.value.field) == (c.SMPP_ESME_RINVCMDLEN, "command_length")


@pytest.mark.parametrize("length", [16, pdu.MAX_PDU])
def test_command_length_bounds_are_accepted(length: int) -> None:
    assert pdu.header(struct.pack(">IIII", length, 0x15, 0, 7)).length == length


def test_header_needs_16_octets() -> None:
    with pytest.raises(PduError) as e:
        pdu.header(b"\x00" * 15)
    assert (e.value.status, e.value.field) == (c.SMPP_ESME_RINVCMDLEN, "command_length")


@given(st.binary(min_size=16, max_size=16))
def test_any_16_octets_are_a_header_or_a_bad_command_length(raw: bytes) -> None:
    try:
        h = pdu.header(raw)
    except PduError as e:
        assert e.status == c.SMPP_ESME_RINVCMDLEN
    else:
        assert pdu.HEADER_SIZE <= h.length <= pdu.MAX_PDU
        assert h.is_response == bool(raw[4] & 0x80)


@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_generic_nack_reads_back(sequence: int, status: int) -> None:
    raw = pdu.generic_nack(sequence, status)
    assert len(raw) == 16
    h = pdu.header(raw)
    assert h == pdu.Header(16, pdu.GENERIC_NACK, status, sequence) and h.is_response


# --- every refusal, with its status and field --------------------------------------------

REFUSALS = [
    # A C-string whose NUL never comes: the PDU is shorter than it claims.
    (MANDATORY["service_type"][:-1], c.SMPP_ESME_RINVCMDLEN, "service_type"),
    (body()[:23], c.SMPP_ESME_RINVCMDLEN, "destination_addr"),
    # Too long for its field (the NUL comes, but past the field's size).
    (body(service_type=cstr("CMTXYZ")), c.SMPP_ESME_RINVSERTYP, "service_type"),
    (body(source_addr=cstr("1" * 21)), c.SMPP_ESME_RINVSRCADR, "source_addr"),
    (body(destination_addr=cstr("1" * 21)), c.SMPP_ESME_RINVDSTADR, "destination_addr"),
    (body(schedule_delivery_time=cstr("1" * 17)), c.SMPP_ESME_RINVSCHED, "schedule_delivery_time"),
    (body(validity_period=cstr("1" * 17)), c.SMPP_ESME_RINVEXPIRY, "validity_period"),
    # Not ASCII.
    (body(service_type=b"\xe4\0"), c.SMPP_ESME_RINVSERTYP, "service_type"),
    (body(source_addr=b"1380\xff\0"), c.SMPP_ESME_RINVSRCADR, "source_addr"),
    (
        body(destination_addr="１２１１０".encode() + b"\0"),
        c.SMPP_ESME_RINVDSTADR,
        "destination_addr",
    ),
    # Nobody sent it.
    (body(source_addr=b"\0"), c.SMPP_ESME_RINVSRCADR, "source_addr"),
    # sm_length: past the octets there are, or over 254 even when they are there.
    (body(sm_length=b"\x05"), c.SMPP_ESME_RINVMSGLEN, "short_message"),
    (body(short_message=b"\x00" * 40)[:-1], c.SMPP_ESME_RINVMSGLEN, "short_message"),
    (body(short_message=b"a" * 255), c.SMPP_ESME_RINVMSGLEN, "sm_length"),
    # The optional part: stray octets, a length past the end, a TLV twice.
    (body(b"\x04"), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv"),
    (body(b"\x04\x24"), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv"),
    (body(b"\x04\x24\x00"), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv"),
    (body(tlv(0x0427, b"\x02") + b"\x00\x00"), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv"),
    (body(tlv(0x0424, b"abc", length=4)), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv 0x0424"),
    (body(tlv(0x1403, b"", length=1)), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv 0x1403"),
    (body(tlv(0x020C, b"\x00\x01") * 2), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv 0x020c"),
    (body(tlv(0x0424, b"a") + tlv(0x0424, b"b")), c.SMPP_ESME_RINVOPTPARSTREAM, "tlv 0x0424"),
    # Known TLVs of the wrong length.
    (body(tlv(0x020C, b"\x01")), c.SMPP_ESME_RINVPARLEN, "tlv 0x020c"),
    (body(tlv(0x020E, b"\x00\x02")), c.SMPP_ESME_RINVPARLEN, "tlv 0x020e"),
    (body(tlv(0x020F, b"")), c.SMPP_ESME_RINVPARLEN, "tlv 0x020f"),
    (body(tlv(0x0427, b"\x00\x02")), c.SMPP_ESME_RINVPARLEN, "tlv 0x0427"),
    # receipted_message_id: a C-string of at most 65 octets, its NUL included (§5.3.2.12).
    (body(tlv(0x001E, b"m-9")), c.SMPP_ESME_RINVPARLEN, "receipted_message_id"),
    (body(tlv(0x001E, b"")), c.SMPP_ESME_RINVPARLEN, "receipted_message_id"),
    (body(tlv(0x001E, b"m\0-9\0")), c.SMPP_ESME_RINVPARLEN, "receipted_message_id"),
    (body(tlv(0x001E, cstr("m" * 65))), c.SMPP_ESME_RINVPARLEN, "receipted_message_id"),
    # A value no redelivery will mend: not ESME_RSYSERR, which says the fault is ours and
    # which SMSCs commonly retry.
    (body(tlv(0x001E, b"m\xe9\0")), c.SMPP_ESME_RINVOPTPARAMVAL, "receipted_message_id"),
]


@pytest.mark.parametrize(
    ("raw_body", "status", "field"), REFUSALS, ids=[f"{r[2]}-{i}" for i, r in enumerate(REFUSALS)]
)
def test_refused(raw_body: bytes, status: int, field: str) -> None:
    assert refusal(raw_body) == (status, field)


def test_field_sizes_are_inclusive_of_the_nul() -> None:
    """The sizes of §4.6.1 count the NUL: a 20-digit address and a 5-character service_type
    are the longest there may be, and are read."""
    d = pdu.parse_deliver_sm(
        body(
            service_type=cstr("CMTXY"),
            source_addr=cstr("1" * 20),
            destination_addr=cstr("2" * 20),
            schedule_delivery_time=cstr("261124020000000+"),
            validity_period=cstr("000001000000000R"),
            short_message=b"a" * 254,
            tlvs=tlv(0x001E, cstr("m" * 64)),
        )
    )
    assert (d.service_type, d.inbound.source, d.inbound.dest) == ("CMTXY", "1" * 20, "2" * 20)
    assert d.inbound.short_message == b"a" * 254
    assert d.inbound.receipted_message_id == "m" * 64


@pytest.mark.parametrize("esm_class", [0x04, 0x08, 0x10, 0x20, 0x44])
def test_a_receipt_may_come_from_no_one(esm_class: int) -> None:
    """Some SMSCs leave source_addr empty in delivery receipts: only a message needs one."""
    d = pdu.parse_deliver_sm(body(source_addr=b"\0", esm_class=bytes([esm_class])))
    assert d.inbound.source == "" and d.inbound.esm_class == esm_class


def _field_spans() -> list[tuple[str, int, int]]:
    spans, start = [], 0
    for name, octets in MANDATORY.items():
        spans.append((name, start, start + len(octets)))
        start += len(octets)
    return spans


@pytest.mark.parametrize(("field", "start", "end"), _field_spans())
def test_truncated_inside_the_mandatory_fields(field: str, start: int, end: int) -> None:
    """Cut anywhere in a field: the field named, and ESME_RINVCMDLEN (the PDU is shorter
    than its parts) but for short_message, whose sm_length promised more (ESME_RINVMSGLEN)."""
    status = c.SMPP_ESME_RINVMSGLEN if field == "short_message" else c.SMPP_ESME_RINVCMDLEN
    for cut in range(start, end):
        assert refusal(body()[:cut]) == (status, field)


# --- TLVs we do not read -------------------------------------------------------------------


def test_unknown_and_unread_tlvs_are_ignored_in_order() -> None:
    """§3.2.3: optional parameters not recognised shall be ignored. Their tags come back in
    the order they came, repeats included; lengths are checked only of the TLVs we read."""
    d = pdu.parse_deliver_sm(
        body(
            tlv(0x1403, b"vendor")
            + tlv(0x020C, b"\x00\x2a")
            + tlv(USER_MESSAGE_REFERENCE, b"\x00\x07\x09")  # 2 octets by §5.3.2.17: unread
            + tlv(0xFFFF, b"")
            + tlv(0x020E, b"\x02")
            + tlv(0x1403, b"again")
            + tlv(0x020F, b"\x01")
        )
    )
    assert d.ignored_tlvs == (0x1403, USER_MESSAGE_REFERENCE, 0xFFFF, 0x1403)
    assert (d.inbound.sar_ref, d.inbound.sar_total, d.inbound.sar_seq) == (42, 2, 1)


def test_user_message_reference_alone_is_just_ignored() -> None:
    d = pdu.parse_deliver_sm(body(tlv(USER_MESSAGE_REFERENCE, b"\x00\x07")))
    assert d.ignored_tlvs == (USER_MESSAGE_REFERENCE,)
    assert d.inbound == pdu.parse_deliver_sm(body()).inbound


# --- fuzzing ------------------------------------------------------------------------------


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bodies_parse_or_are_refused(raw_body: bytes) -> None:
    parses_or_refuses(raw_body)


@st.composite
def mutated_bodies(draw: st.DrawFn) -> bytes:
    """A valid body from smpplib, then a few octets flipped, inserted or deleted, then maybe
    cut short (mostly by little: every cut in the mandatory part is tested above). Bodies are
    never under 18 octets, so four edits cannot empty one."""
    b = bytearray(smpplib_deliver(draw(deliver_fields))[pdu.HEADER_SIZE :])
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        i = draw(st.integers(0, len(b) - 1))
        if op == "flip":
            b[i] ^= draw(st.integers(1, 255))
        elif op == "insert":
            b.insert(i, draw(st.integers(0, 255)))
        else:
            del b[i]
    return bytes(b[: len(b) - draw(st.integers(0, len(b)))])


@settings(max_examples=1000)
@given(mutated_bodies())
def test_mutated_bodies_parse_or_are_refused(raw_body: bytes) -> None:
    parses_or_refuses(raw_body)


# --- cstring_at -----------------------------------------------------------------------------


def test_cstring_at() -> None:
    """submit_sm_resp's message_id: an error response may carry no body at all."""
    assert pdu.cstring_at(b"") == ""
    assert pdu.cstring_at(b"abc\0") == "abc"
    assert pdu.cstring_at(b"abc\0def\0", 4) == "def"
    assert pdu.cstring_at(b"abc") == "abc"
