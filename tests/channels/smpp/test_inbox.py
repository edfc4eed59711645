"""The report of a citizen's SMS (gateway/channels/smpp/inbox.py: `report_of`), and a long
message missing a part, filed after the reassembly timeout on a `task.Clock`, which the
end-to-end test (test_smpp_gateway.py) waits for in real time through the npm SMSC.

`report_of` is pure; the reassembly runs on the real store (SQLite) with the SMSC faked
(`FakeTransmitter` stands in for the bind that hands over each deliver_sm)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import fastjsonschema
import pytest
from smpplib import consts
from sqlalchemy import func, select
from twisted.internet import defer

from gateway.channels.smpp.inbound import Inbound
from gateway.channels.smpp.inbox import BINARY_KEPT, MAX_TEXT, Message, report_of
from gateway.channels.smpp.keys import Concatenation
from gateway.channels.smpp.pdu import Deliver
from gateway.channels.smpp.tables import sms_parts
from gateway.channels.smpp.text import encode_ucs2
from gateway.report import Report, Sender, format_utc
from gateway.schemas import load_schema
from gateway.store.tables import reports
from tests.channels.fakes import CITIZEN, FakeContext, FakeTransmitter, smpp_channel
from tests.conftest import T0
from tests.inline import Store, result

VALID = fastjsonschema.compile(load_schema("report.schema.json"))
DRILL_NUMBERS = ("1211099",)


def message(text: str | None = "救命", **kw: Any) -> Message:
    raw = encode_ucs2(text) if text is not None else b"\x01\x02"
    fields: dict[str, Any] = dict(
        source="+86" + CITIZEN,
        dest="12110",
        data_coding=8,
        text=text,
        raws=(raw,),
        concat=None,
        received_at=T0,
    )
    return Message(**(fields | kw))


def report(msg: Message) -> Report:
    """`report_of(msg)`, checked as intake's and the HTTP path's checks would."""
    r = report_of(msg, "sms:key@1", DRILL_NUMBERS)
    VALID(r.to_json())
    assert Report.from_json(r.to_json()) == r
    return r


def test_a_plain_message() -> None:
    r = report(message("南坝路有人打架"))
    assert (r.channel, r.external_id, r.received_at) == ("sms", "sms:key@1", T0)
    assert r.sender == Sender("phone", CITIZEN)
    assert (r.text, r.drill) == ("南坝路有人打架", False)
    assert r.extra == {"source_addr": "+86" + CITIZEN, "dest": "12110", "data_coding": 8}


@pytest.mark.parametrize(
    "source, sender",
    [
        ("+8613800000001", "13800000001"),
        ("008613800000001", "13800000001"),
        ("8613800000001", "13800000001"),
        ("13800000001", "13800000001"),
        ("+8602112345678", "+8602112345678"),  # not a mobile number: as it came
        ("+86138000000012", "+86138000000012"),  # 12 digits after +86
        ("+85291234567", "+85291234567"),  # Hong Kong
        ("12110", "12110"),
        ("1380000\x07001", "1380000?001"),  # a control character in the address
    ],
)
def test_the_sender_is_the_number_as_the_gateway_knows_it(source: str, sender: str) -> None:
    r = report(message(source=source))
    assert r.sender.id == sender
    assert r.extra["source_addr"] == source  # the address as it came is kept


@pytest.mark.parametrize(
    "dest, drill", [("1211099", True), ("12110", False), ("12110990", False), ("", False)]
)
def test_a_drill_is_a_message_to_a_drill_number(dest: str, drill: bool) -> None:
    r = report(message(dest=dest))
    assert r.drill is drill and r.extra["dest"] == dest


@pytest.mark.parametrize(
    "source, drill",
    [
        ("13800000402", True),
        ("+8613800000402", True),  # as the gateway knows the number
        ("138 0000 0402", True),
        ("13800000403", False),
        ("1380000040", False),
    ],
)
def test_a_drill_is_a_message_from_a_drill_number(source: str, drill: bool) -> None:
    """A drill phone (the drill runner's SMS injects come from one) is a drill number too."""
    r = report_of(message(source=source), "sms:key@1", ("1211099", "13800000402"))
    assert r.drill is drill


@pytest.mark.parametrize(
    "raws, data_coding, size",
    [
        ((b"\x01\x02", b"\xff"), 0x04, 3),
        ((b"\xab" * 1500, b"\xcd" * 10), 0xF5, 1510),  # over BINARY_KEPT: the first octets
    ],
)
def test_a_binary_message(raws: tuple[bytes, ...], data_coding: int, size: int) -> None:
    r = report(message(None, raws=raws, data_coding=data_coding))
    assert r.text == f"[二进制短信，{size}字节，未解码 (data_coding 0x{data_coding:02x})]"
    assert r.extra["binary_hex"] == b"".join(raws)[:BINARY_KEPT].hex()
    assert "control_characters_replaced" not in r.extra and "raw_hex" not in r.extra


@pytest.mark.parametrize("length", [MAX_TEXT + 1, 10_050, 60_000])
def test_an_over_long_message_is_cut_and_says_so(length: int) -> None:
    r = report(message("警" * length))
    suffix = f"[…超长，共{length}字，余下未存…]"
    assert r.text == "警" * (MAX_TEXT - 40) + suffix
    assert len(r.text) <= MAX_TEXT


def test_a_message_of_max_text_is_kept_whole() -> None:
    assert report(message("警" * MAX_TEXT)).text == "警" * MAX_TEXT


@pytest.mark.parametrize(
    "text, stored",
    [
        ("救命\x00", "救命\ufffd"),  # a NUL some handsets append
        ("\x0c南坝路", "\ufffd南坝路"),  # a GSM form feed
        ("a\x1bb\x7fc\x85d\x9f", "a\ufffdb\ufffdc\ufffdd\ufffd"),  # ESC, DEL, C1 controls
    ],
)
def test_control_characters_are_replaced_and_the_octets_kept(text: str, stored: str) -> None:
    msg = message(text)
    r = report(msg)
    assert r.text == stored
    assert r.extra["control_characters_replaced"] is True
    assert r.extra["raw_hex"] == msg.raws[0].hex()


def test_tabs_and_line_breaks_are_text() -> None:
    r = report(message("南坝路\t12号\r\n有人打架\n"))
    assert r.text == "南坝路\t12号\r\n有人打架\n"
    assert "control_characters_replaced" not in r.extra


@pytest.mark.parametrize(
    "missing, extra",
    [
        ((), {"parts": 3}),
        ((2,), {"parts": 3, "incomplete": True, "missing_parts": [2]}),
        ((1, 3), {"parts": 3, "incomplete": True, "missing_parts": [1, 3]}),
    ],
)
def test_the_parts_of_a_long_message(missing: tuple[int, ...], extra: dict[str, Any]) -> None:
    r = report(message(concat=Concatenation(7, 3), missing=missing))
    assert {k: v for k, v in r.extra.items() if k in ("parts", "incomplete", "missing_parts")} == (
        extra
    )


# -- a part missing: filed after the reassembly timeout ---------------------------------------


def udh(ref: int, total: int, seq: int) -> bytes:
    return bytes((0x05, 0x00, 0x03, ref, total, seq))


def deliver_part(channel: Any, bind: FakeTransmitter, seq: int, text: str) -> int:
    inbound = Inbound("+86" + CITIZEN, "12110", 8, 0x40, udh(9, 3, seq) + encode_ucs2(text))
    token = (1, len(bind.responses) + 1)
    at = datetime.fromtimestamp(channel.clock.seconds(), T0.tzinfo)
    result(defer.ensureDeferred(channel.inbox.deliver(bind, token, Deliver(inbound, "", ()), at)))
    return bind.responses[-1][1]


def sms_reports(store: Store) -> list[Any]:
    q = select(reports).where(reports.c.channel == "sms").order_by(reports.c.id)
    return store.read(lambda c: list(c.execute(q).mappings()))


def test_a_missing_part_files_an_incomplete_report_after_the_timeout(store: Store) -> None:
    ctx = FakeContext(store, "smpp", reassembly_timeout=60.0)
    trx = FakeTransmitter(store.clock)
    channel = smpp_channel(ctx, trx)

    def parts_stored() -> int:
        q = select(func.count()).select_from(sms_parts)
        return int(store.read(lambda c: c.execute(q).scalar()))

    assert deliver_part(channel, trx, 1, "南坝路") == consts.SMPP_ESME_ROK
    store.clock.advance(5)
    assert deliver_part(channel, trx, 3, "有人打架") == consts.SMPP_ESME_ROK
    assert parts_stored() == 2  # acknowledged parts are in the store, not only in memory
    store.clock.advance(54.9)
    channel.inbox.expire()
    assert sms_reports(store) == []  # 60 s from the first part: not yet
    store.clock.advance(0.1)
    channel.inbox.expire()
    (first,) = sms_reports(store)
    doc = first["doc"]
    assert doc["text"] == "南坝路[…缺第2段…]有人打架"
    assert (doc["extra"]["incomplete"], doc["extra"]["missing_parts"]) == (True, [2])
    assert doc["received_at"] == format_utc(T0)  # its first part's arrival
    assert parts_stored() == 0  # filed: its parts are dropped
    # The late part is a message of its own (incomplete too, in time), on the same incident.
    store.clock.advance(30)
    assert deliver_part(channel, trx, 2, "有人") == consts.SMPP_ESME_ROK
    store.clock.advance(60)
    channel.inbox.expire()
    first, late = sms_reports(store)
    assert late["doc"]["text"] == "[…缺第1段…]有人[…缺第3段…]"
    assert (late["incident_id"], late["auto_attached"]) == (first["incident_id"], True)
    assert parts_stored() == 0


def test_parts_stored_before_a_restart_wait_a_whole_timeout_from_it(store: Store) -> None:
    """Down longer than the reassembly timeout: the parts reloaded at start are not filed
    incomplete at once (the SMSC redelivers the part we never acknowledged once we bind
    again), and the message is put together from both lives' parts."""
    before = smpp_channel(FakeContext(store, "smpp", reassembly_timeout=60.0))
    trx = FakeTransmitter(store.clock)
    for seq, text in ((1, "南坝路"), (2, "有人")):
        assert deliver_part(before, trx, seq, text) == consts.SMPP_ESME_ROK
    store.clock.advance(300)  # the gateway was down for 5 minutes
    after = smpp_channel(FakeContext(store, "smpp", reassembly_timeout=60.0))
    result(defer.ensureDeferred(after.inbox.resume()))
    store.clock.advance(59)
    after.inbox.expire()
    assert sms_reports(store) == []
    assert deliver_part(after, trx, 3, "打架") == consts.SMPP_ESME_ROK
    (filed,) = sms_reports(store)
    assert filed["doc"]["text"] == "南坝路有人打架"
    assert "incomplete" not in filed["doc"]["extra"]
