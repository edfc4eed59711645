"""Delivery receipts for the SMS the gateway sent (gateway/channels/smpp/inbox.py
`_receipt`, store.delivery_receipt) in process: matched by the SMSC's message id of each
part, final once every part has a final one, and a receipt that overtakes the write of its
message id looked up again on the clock. End to end (test_smpp_gateway.py) the npm SMSC
sends one receipt for one message, in real time.

The store is real (SQLite), the clock a `task.Clock`; the SMSC is faked (`FakeTransmitter`
stands in for the bind that takes our submit_sm and hands over its deliver_sm)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from smpplib import consts
from sqlalchemy import select
from twisted.internet import defer

from gateway.channels.smpp.esme import SubmitRefused
from gateway.channels.smpp.inbound import Inbound
from gateway.channels.smpp.pdu import Deliver
from gateway.channels.smpp.tables import sms_out, sms_out_parts
from tests.channels.fakes import (
    CITIZEN,
    FakeContext,
    FakeTransmitter,
    deliver_sms,
    smpp_channel,
    sms_incident,
)
from tests.inline import Store, result, staff


class Receipts:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.ctx = FakeContext(store, "smpp", tps=1000)
        self.trx = FakeTransmitter(store.clock)
        self.channel = smpp_channel(self.ctx, self.trx)
        assert deliver_sms(self.channel, self.trx, CITIZEN, "南坝路有人打架") == 0
        self.number = sms_incident(store, CITIZEN)

    def send(self) -> None:
        result(defer.ensureDeferred(self.channel.sender.send_due()))

    def receipt(self, message_id: str, stat: str) -> defer.Deferred[None]:
        """A delivery receipt in the text form of SMPP 3.4 Appendix B, handed over as the
        bind would; fires once it is answered."""
        body = (
            f"id:{message_id} sub:001 dlvrd:001 submit date:2611240900 "
            f"done date:2611240901 stat:{stat} err:000 text:"
        ).encode()
        token = (1, 1000 + len(self.trx.responses))
        at = datetime.fromtimestamp(self.store.clock.seconds(), UTC)
        d = Deliver(Inbound("12110", CITIZEN, 0, 0x04, body), "", ())
        return defer.ensureDeferred(self.channel.inbox.deliver(self.trx, token, d, at))  # type: ignore[arg-type]

    def got(self, message_id: str, stat: str) -> None:
        result(self.receipt(message_id, stat))
        assert self.trx.responses[-1][1] == consts.SMPP_ESME_ROK

    def rows(self) -> list[Any]:
        q = select(sms_out).order_by(sms_out.c.id)
        return self.store.read(lambda c: list(c.execute(q).mappings()))

    def part_stats(self) -> list[tuple[str, str]]:
        q = select(sms_out_parts.c.message_id, sms_out_parts.c.status).order_by(sms_out_parts.c.id)
        return self.store.read(lambda c: [tuple(r) for r in c.execute(q)])


@pytest.fixture
def r(store: Store) -> Receipts:
    return Receipts(store)


def test_a_receipt_marks_the_message_delivered(r: Receipts) -> None:
    r.send()
    (row,) = r.rows()
    assert row["status"] == "sent"
    r.got("trx0-1", "DELIVRD")
    (row,) = r.rows()
    assert (row["status"], row["done_at"]) == (
        "delivered",
        datetime(2026, 11, 24, 1, 1, tzinfo=UTC),
    )  # 09:01 in UTC+8
    (event,) = r.store.events(r.number, "sms_delivered")
    assert event["data"] == {
        "kind": "receipt",
        "to": CITIZEN,
        "receipts": ["DELIVRD"],
        "err": "000",
    }


@pytest.mark.parametrize(
    "stats, status",
    [
        (["DELIVRD", "DELIVRD", "DELIVRD"], "delivered"),
        (["DELIVRD", "UNDELIV", "DELIVRD"], "undelivered"),
        (["EXPIRED", "DELIVRD", "DELIVRD"], "undelivered"),
    ],
)
def test_a_long_message_is_final_once_every_part_is(
    r: Receipts, stats: list[str], status: str
) -> None:
    r.send()  # the receipt reply
    result(defer.ensureDeferred(r.channel.sender.reply(r.number, staff("calltaker"), "警" * 140)))
    r.send()
    reply = r.rows()[1]
    assert (reply["status"], reply["parts"]) == ("sent", 3)
    ids = ["trx0-2", "trx0-3", "trx0-4"]
    r.got(ids[0], "ENROUTE")  # not final
    for message_id, stat in zip(ids[:2], stats[:2], strict=True):
        r.got(message_id, stat)
        assert r.rows()[1]["status"] == "sent"  # a part still waits
    r.got(ids[2], stats[2])
    assert r.rows()[1]["status"] == status
    (event,) = r.store.events(r.number, f"sms_{status}")
    assert event["data"]["receipts"] == stats and event["data"]["kind"] == "reply"
    r.got(ids[0], "UNDELIV")  # a receipt after the end changes nothing
    assert r.rows()[1]["status"] == status
    assert len(r.store.events(r.number, f"sms_{status}")) == 1


def test_a_receipt_that_overtakes_its_message_id_is_looked_up_again(r: Receipts) -> None:
    """The SMSC may send the receipt before the write that records the part's message id
    has committed: it is looked up again after 0.2, 0.5 and 1 s, and answered only then."""
    answered = r.receipt("trx0-1", "DELIVRD")
    assert not answered.called and r.trx.responses[-1][0][1] < 1000  # not answered yet
    r.store.clock.advance(0.2)
    r.send()  # the submit's write commits now
    r.store.clock.advance(0.5)
    assert answered.called
    assert r.rows()[0]["status"] == "delivered"


def test_a_receipt_for_no_message_of_ours_is_answered_after_the_lookups(r: Receipts) -> None:
    answered = r.receipt("not-ours-7", "DELIVRD")
    for wait in (0.2, 0.5):
        r.store.clock.advance(wait)
        assert not answered.called
    r.store.clock.advance(1.0)
    assert answered.called and r.trx.responses[-1][1] == consts.SMPP_ESME_ROK
    assert r.part_stats() == []
    value = r.ctx.registry.get_sample_value(
        "alarmgw_sms_total", {"direction": "receipt", "outcome": "DELIVRD"}
    )
    assert value == 1


def test_a_receipt_for_the_parts_sent_so_far_does_not_end_the_message(r: Receipts) -> None:
    """Part 1 of 3 taken, part 2 refused: part 1's receipt must not make the message
    delivered (it would never be sent whole)."""
    r.send()  # the receipt reply
    result(defer.ensureDeferred(r.channel.sender.reply(r.number, staff("calltaker"), "警" * 140)))
    r.trx.script = [None, SubmitRefused(consts.SMPP_ESME_RSYSERR)]
    r.send()
    r.got("trx0-2", "DELIVRD")
    reply = r.rows()[1]
    assert (reply["status"], reply["attempts"]) == ("failed", 1)
    r.store.clock.advance((reply["next_at"] - r.store.now()).total_seconds())
    r.send()
    assert r.rows()[1]["status"] == "sent"
    r.got("trx0-3", "DELIVRD")
    r.got("trx0-4", "DELIVRD")
    assert r.rows()[1]["status"] == "delivered"
