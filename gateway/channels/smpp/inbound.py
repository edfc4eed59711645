"""What one deliver_sm is: a delivery receipt for an SMS we sent, a whole message, or a
part of a concatenated one. Pure, no I/O, independent of the SMPP library: the adapter
copies the PDU's fields into an `Inbound`.

SMPP 3.4 §5.2.12: esm_class bits 2-5 give the message type; 0x04 (SMSC delivery receipt)
and 0x20 (intermediate notification) never become reports. Bit 6 (0x40) says the
short_message starts with a UDH. §5.3.2.32: message_payload replaces short_message (then
empty). The sar_* TLVs (§5.3.2.22-24) carry concatenation when there is no UDH.

Errors are `text.BadText` naming the field: the adapter answers them with a permanent
error status (the SMSC must not redeliver a message that can never be read) and stores
nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from gateway.channels.smpp.concat import Part
from gateway.channels.smpp.keys import Concatenation
from gateway.channels.smpp.text import BadText, decode, parse_udh

MAX_PAYLOAD = 64 * 1024  # message_payload may be up to 64 KiB (§5.3.2.32)
RECEIPT_TYPES = (0x04, 0x08, 0x10, 0x20)  # receipt, SME ack, user ack, intermediate
UDH_INDICATOR = 0x40

_RECEIPT_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.I)


@dataclass(frozen=True, slots=True)
class Inbound:
    """The fields of a deliver_sm the gateway reads (addresses decoded as ASCII/UTF-8)."""

    source: str
    dest: str
    data_coding: int
    esm_class: int
    short_message: bytes
    message_payload: bytes | None = None
    sar_ref: int | None = None
    sar_total: int | None = None
    sar_seq: int | None = None
    receipted_message_id: str | None = None
    message_state: int | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """The fate of an SMS we sent (submit_sm's message_id)."""

    message_id: str
    stat: str  # DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN, REJECTD, ENROUTE
    err: str | None
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class Whole:
    """A message in one piece: `text` None when binary (then `raw` is all there is)."""

    source: str
    dest: str
    data_coding: int
    text: str | None
    raw: bytes


# §5.3.2.35 message_state values, for receipts that carry the TLV.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def classify(pdu: Inbound, received_at: datetime) -> DeliveryReceipt | Whole | Part:
    """Raises `BadText` for what cannot be read."""
    kind = pdu.esm_class & 0x3C
    if kind in RECEIPT_TYPES:
        return receipt(pdu)
    if pdu.message_payload is not None:
        if pdu.short_message:
            raise BadText("short_message", "must be empty when message_payload is present")
        if len(pdu.message_payload) > MAX_PAYLOAD:
            raise BadText(
                "message_payload", f"{len(pdu.message_payload)} octets, over {MAX_PAYLOAD}"
            )
        body = pdu.message_payload
        field = "message_payload"
    else:
        body = pdu.short_message
        field = "short_message"
    concat = None
    if pdu.esm_class & UDH_INDICATOR:
        udh, body = parse_udh(body)
        if udh.concat is not None:
            concat = Concatenation(udh.concat.ref, udh.concat.total)
            seq = udh.concat.seq
    elif pdu.sar_total is not None or pdu.sar_seq is not None or pdu.sar_ref is not None:
        concat, seq = _sar(pdu)
    if not body and concat is None:
        raise BadText(field, "the message is empty")
    if concat is None or concat.total == 1:
        text = decode(body, pdu.data_coding, field=field)
        return Whole(pdu.source, pdu.dest, pdu.data_coding, text, body)
    try:
        text = decode(body, pdu.data_coding, field=field)
    except BadText:
        # A part alone may not decode (a sender split a surrogate pair, or a GSM escape,
        # between parts): it is kept as octets, and the whole message decoded when joined.
        text = None
    return Part(
        source=pdu.source,
        dest=pdu.dest,
        ref=concat.ref,
        total=concat.total,
        seq=seq,
        text=text,
        raw=body,
        received_at=received_at,
        data_coding=pdu.data_coding,
    )


def _sar(pdu: Inbound) -> tuple[Concatenation, int]:
    if pdu.sar_ref is None or pdu.sar_total is None or pdu.sar_seq is None:
        raise BadText("sar_msg_ref_num", "sar_* TLVs come three together or not at all")
    if not 1 <= pdu.sar_total <= 255:
        raise BadText("sar_total_segments", f"{pdu.sar_total} is not between 1 and 255")
    if not 1 <= pdu.sar_seq <= pdu.sar_total:
        raise BadText("sar_segment_seqnum", f"{pdu.sar_seq} is not between 1 and {pdu.sar_total}")
    if not 0 <= pdu.sar_ref <= 0xFFFF:
        raise BadText("sar_msg_ref_num", f"{pdu.sar_ref} is not a 16-bit reference")
    return Concatenation(pdu.sar_ref, pdu.sar_total), pdu.sar_seq


def receipt(pdu: Inbound) -> DeliveryReceipt:
    """A delivery receipt: the receipted_message_id/message_state TLVs when present, else
    the de-facto text format of SMPP 3.4 Appendix B ("id:… sub:… dlvrd:… submit date:…
    done date:… stat:… err:… text:…")."""
    body = pdu.message_payload if pdu.message_payload is not None else pdu.short_message
    fields = {k.lower(): v for k, v in _RECEIPT_FIELD.findall(body.decode("latin-1"))}
    message_id = pdu.receipted_message_id or fields.get("id")
    if not message_id:
        raise BadText("short_message", "a delivery receipt without a message id")
    if pdu.message_state is not None:
        stat = MESSAGE_STATES.get(pdu.message_state, "UNKNOWN")
    else:
        stat = (fields.get("stat") or "UNKNOWN").upper()
        if stat not in MESSAGE_STATES.values():
            stat = "UNKNOWN"  # an SMSC's own word: kept to the known ones (stored, a label)
    return DeliveryReceipt(
        message_id=message_id,
        stat=stat,
        err=fields.get("err") or None,
        done_at=_receipt_time(fields.get("done date")),
    )


def _receipt_time(raw: str | None, tz: timezone = timezone(timedelta(hours=8))) -> datetime | None:
    """YYMMDDhhmm[ss], in the SMSC's local time (China: UTC+8)."""
    if not raw or not raw.isdigit() or len(raw) not in (10, 12):
        return None
    try:
        return datetime.strptime(raw, "%y%m%d%H%M%S" if len(raw) == 12 else "%y%m%d%H%M").replace(
            tzinfo=tz
        )
    except ValueError:
        return None
