"""Strict reading of what an SMSC sends: the PDU header, and a deliver_sm's body.

smpplib writes our PDUs and parses the SMSC's responses, but its parser is lenient where
an alarm gateway must not be: an `sm_length` longer than the octets that follow is cut
short without a word, a C-string without its NUL runs into the next field, a truncated TLV
raises `struct.error`, an unknown TLV raises unless told otherwise. A deliver_sm is a
citizen's alarm, so its body is read here, field by field (SMPP 3.4 §4.6.1), and anything
that does not add up raises `PduError` with the status the deliver_sm_resp must carry and
the field it is about.

Unknown TLVs are ignored, as §3.2.3 asks ("optional parameters not recognised … shall be
ignored"); their tags come back so the adapter can log them. Known TLVs whose length is
wrong are refused (ESME_RINVPARLEN).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from smpplib import consts

from gateway.channels.smpp.inbound import RECEIPT_TYPES, Inbound

HEADER = struct.Struct(">IIII")
HEADER_SIZE = HEADER.size
# The biggest PDU we read: 64 KiB of message_payload, its TLV header, the mandatory fields
# and a few other TLVs. A longer command_length is a broken stream, not a message.
MAX_PDU = 72 * 1024

DELIVER_SM = 0x00000005
GENERIC_NACK = 0x80000000

# TLVs a deliver_sm may carry that we read, with their allowed lengths (§5.3.2).
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_SAR_REF = 0x020C
TLV_SAR_TOTAL = 0x020E
TLV_SAR_SEQ = 0x020F
TLV_RECEIPTED_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
_FIXED_TLVS = {TLV_SAR_REF: 2, TLV_SAR_TOTAL: 1, TLV_SAR_SEQ: 1, TLV_MESSAGE_STATE: 1}


class PduError(ValueError):
    """What is wrong with a PDU: `status` goes back to the SMSC, `field` names the part."""

    def __init__(self, status: int, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.status = status
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Header:
    length: int
    command_id: int
    status: int
    sequence: int

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & 0x80000000)


def header(raw: bytes) -> Header:
    """The 16-octet header; a command_length that cannot be right raises (the stream is then
    lost: the adapter answers generic_nack and drops the connection)."""
    if len(raw) < HEADER_SIZE:
        raise PduError(consts.SMPP_ESME_RINVCMDLEN, "command_length", "fewer than 16 octets")
    length, command_id, status, sequence = HEADER.unpack_from(raw)
    if not HEADER_SIZE <= length <= MAX_PDU:
        raise PduError(
            consts.SMPP_ESME_RINVCMDLEN,
            "command_length",
            f"{length} is not between {HEADER_SIZE} and {MAX_PDU}",
        )
    return Header(length, command_id, status, sequence)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.pos = 0

    def int1(self, field: str) -> int:
        if self.pos >= len(self.body):
            raise PduError(consts.SMPP_ESME_RINVCMDLEN, field, "the PDU ends before it")
        self.pos += 1
        return self.body[self.pos - 1]

    def cstring(self, field: str, max_len: int, status: int) -> str:
        """A C-Octet String of at most `max_len` octets, its NUL included."""
        end = self.body.find(b"\0", self.pos, self.pos + max_len)
        if end < 0:
            if self.body.find(b"\0", self.pos) < 0:
                raise PduError(consts.SMPP_ESME_RINVCMDLEN, field, "no NUL before the PDU ends")
            raise PduError(status, field, f"longer than {max_len - 1} octets")
        raw = self.body[self.pos : end]
        self.pos = end + 1
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise PduError(status, field, f"not ASCII: {raw.hex()}") from None

    def octets(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.body):
            raise PduError(
                consts.SMPP_ESME_RINVMSGLEN,
                field,
                f"{n} octets announced, {len(self.body) - self.pos} there",
            )
        self.pos += n
        return self.body[self.pos - n : self.pos]


@dataclass(frozen=True, slots=True)
class Deliver:
    """A deliver_sm's body read strictly: the fields the gateway uses, and the tags of TLVs
    it ignored."""

    inbound: Inbound
    service_type: str
    ignored_tlvs: tuple[int, ...]


def parse_deliver_sm(body: bytes) -> Deliver:
    """The body of a deliver_sm (after the header)."""
    r = _Reader(body)
    service_type = r.cstring("service_type", 6, consts.SMPP_ESME_RINVSERTYP)
    r.int1("source_addr_ton")
    r.int1("source_addr_npi")
    source = r.cstring("source_addr", 21, consts.SMPP_ESME_RINVSRCADR)
    r.int1("dest_addr_ton")
    r.int1("dest_addr_npi")
    dest = r.cstring("destination_addr", 21, consts.SMPP_ESME_RINVDSTADR)
    esm_class = r.int1("esm_class")
    r.int1("protocol_id")
    r.int1("priority_flag")
    r.cstring("schedule_delivery_time", 17, consts.SMPP_ESME_RINVSCHED)
    r.cstring("validity_period", 17, consts.SMPP_ESME_RINVEXPIRY)
    r.int1("registered_delivery")
    r.int1("replace_if_present_flag")
    data_coding = r.int1("data_coding")
    r.int1("sm_default_msg_id")
    sm_length = r.int1("sm_length")
    if sm_length > 254:
        raise PduError(consts.SMPP_ESME_RINVMSGLEN, "sm_length", f"{sm_length} is over 254")
    short_message = r.octets(sm_length, "short_message")
    tlvs: dict[int, bytes] = {}
    ignored: list[int] = []
    while r.pos < len(body):
        if r.pos + 4 > len(body):
            raise PduError(
                consts.SMPP_ESME_RINVOPTPARSTREAM, "tlv", f"{len(body) - r.pos} stray octets"
            )
        tag, length = struct.unpack_from(">HH", body, r.pos)
        r.pos += 4
        if r.pos + length > len(body):
            raise PduError(
                consts.SMPP_ESME_RINVOPTPARSTREAM,
                f"tlv 0x{tag:04x}",
                f"length {length} runs past the PDU's end",
            )
        value = body[r.pos : r.pos + length]
        r.pos += length
        if tag in tlvs:
            raise PduError(consts.SMPP_ESME_RINVOPTPARSTREAM, f"tlv 0x{tag:04x}", "given twice")
        if tag in _FIXED_TLVS and length != _FIXED_TLVS[tag]:
            raise PduError(
                consts.SMPP_ESME_RINVPARLEN,
                f"tlv 0x{tag:04x}",
                f"length {length}, must be {_FIXED_TLVS[tag]}",
            )
        if tag in _FIXED_TLVS or tag in (TLV_MESSAGE_PAYLOAD, TLV_RECEIPTED_ID):
            tlvs[tag] = value
        else:
            ignored.append(tag)
    receipted = None
    if TLV_RECEIPTED_ID in tlvs:
        raw = tlvs[TLV_RECEIPTED_ID]
        if not 1 <= len(raw) <= 65 or raw[-1:] != b"\0" or b"\0" in raw[:-1]:
            raise PduError(
                consts.SMPP_ESME_RINVPARLEN, "receipted_message_id", "not a C-string of ≤ 65"
            )
        try:
            receipted = raw[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise PduError(
                consts.SMPP_ESME_RINVOPTPARAMVAL, "receipted_message_id", "not ASCII"
            ) from None

    def number(tag: int) -> int | None:
        raw = tlvs.get(tag)
        return None if raw is None else int.from_bytes(raw, "big")

    if not source and esm_class & 0x3C not in RECEIPT_TYPES:  # a receipt may come from no one
        raise PduError(consts.SMPP_ESME_RINVSRCADR, "source_addr", "empty")
    inbound = Inbound(
        source=source,
        dest=dest,
        data_coding=data_coding,
        esm_class=esm_class,
        short_message=short_message,
        message_payload=tlvs.get(TLV_MESSAGE_PAYLOAD),
        sar_ref=number(TLV_SAR_REF),
        sar_total=number(TLV_SAR_TOTAL),
        sar_seq=number(TLV_SAR_SEQ),
        receipted_message_id=receipted,
        message_state=number(TLV_MESSAGE_STATE),
    )
    return Deliver(inbound, service_type, tuple(ignored))


def generic_nack(sequence: int, status: int) -> bytes:
    return HEADER.pack(HEADER_SIZE, GENERIC_NACK, status, sequence)


def cstring_at(body: bytes, pos: int = 0) -> str:
    """The C-string at `pos` of a response body (submit_sm_resp's message_id); empty when
    the body is (an error response carries no body)."""
    end = body.find(b"\0", pos)
    raw = body[pos:] if end < 0 else body[pos:end]
    return raw.decode("ascii", "replace")
