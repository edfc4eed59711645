"""Duty phones by SMS (gateway/channels/smpp/duty.py) in process: the notice's text, its
sending as the outbox's kind ``sms``, and the answer ``1 <incident>``. The end-to-end test
(test_smpp_gateway.py::test_duty_phone_acknowledges_by_sms) plays one happy path through
the npm SMSC; here each case.

The store is real (SQLite, `tests.inline`), the clock a `task.Clock`; the SMSC is faked:
`FakeTransmitter` stands in for the bind (`esme.Bind`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from smpplib import consts
from sqlalchemy import select
from twisted.internet import defer

from gateway.channels.smpp.duty import DutyNotices, duty_numbers
from gateway.channels.smpp.esme import SmppUnavailable, SubmitRefused
from gateway.channels.smpp.service import SmppChannel
from gateway.channels.smpp.tables import sms_out
from gateway.config import Config
from gateway.notify.outbox import Outbox
from gateway.report import Location
from gateway.store.tables import incidents
from gateway.workflow import records
from tests.channels.fakes import (
    CITIZEN,
    CITY_SMS,
    MINGHU,
    MINGHU_SMS,
    STATION_SMS,
    FakeContext,
    FakeTransmitter,
    deliver_sms,
    smpp_channel,
    sms_incident,
)
from tests.conftest import T0
from tests.inline import CITY, STATION, Store, result, staff


class Duty:
    """The SMS channel on a real store with one faked transmitter, and its duty notices
    as the outbox's notifier."""

    def __init__(self, store: Store, **settings: Any) -> None:
        self.store = store
        self.ctx = FakeContext(store, "smpp", **settings)
        self.trx = FakeTransmitter(store.clock)
        self.channel: SmppChannel = smpp_channel(self.ctx, self.trx)
        self.duty: DutyNotices = self.channel.duty
        self.outbox = Outbox(store.db, self.duty, store.clock, jitter=lambda: 1.0)

    def answer(self, source: str, text: str) -> bool:
        return bool(result(defer.ensureDeferred(self.duty.answer(source, text))))

    def poll(self) -> int:
        return int(result(defer.ensureDeferred(self.outbox.poll())))


@pytest.fixture
def duty(store: Store) -> Iterator[Duty]:
    yield Duty(store, throttle_pause=2.0, send_attempts=3, send_retry_seconds=10)


def state(store: Store, number: str) -> tuple[str, list[str]]:
    doc = store.document(number)
    return doc["state"], [e["actor"]["user"] for e in doc["events"] if e["action"] == "acknowledge"]


# -- the answer ---------------------------------------------------------------------------------


def test_the_registered_duty_numbers_are_normalised(channels_city: Config) -> None:
    """As configured: +8613900000001, 13900000002, 8613900000110."""
    assert duty_numbers(channels_city.org) == {
        "13900000001": frozenset({STATION}),
        "13900000002": frozenset({MINGHU}),
        "13900000110": frozenset({CITY}),
    }


@pytest.mark.parametrize(
    "source, text",
    [
        ("13900000001", "1 {n}"),  # configured as +8613900000001
        ("+8613900000001", "1 {n}"),
        ("008613900000001", " 1{n} "),
        ("8613900000001", "1   {n}\n"),
    ],
)
def test_the_dispatched_units_duty_phone_acknowledges(duty: Duty, source: str, text: str) -> None:
    number = duty.store.dispatched()
    assert duty.answer(source, text.format(n=number)) is True
    assert state(duty.store, number) == ("acknowledged", [f"sms:{STATION_SMS}"])
    ack = duty.store.events(number, "acknowledge")[0]
    assert ack["reason"] == "值班手机短信回复签收 (acknowledged by SMS)"


def test_the_city_center_told_of_a_priority_1_only_confirms(duty: Duty) -> None:
    number = duty.store.dispatched(priority=1)
    assert duty.answer("13900000110", f"1 {number}") is True  # configured as 8613900000110
    assert state(duty.store, number) == ("dispatched", [])


@pytest.mark.parametrize(
    "source, why",
    [
        (MINGHU_SMS, "a duty phone of another unit: no notice of this incident went to it"),
        (CITY_SMS, "the city center: not told of a priority 2"),
    ],
)
def test_a_duty_phone_no_notice_went_to_is_refused(duty: Duty, source: str, why: str) -> None:
    number = duty.store.dispatched()
    assert duty.answer(source, f"1 {number}") is True, why  # taken as an answer: no alarm
    assert state(duty.store, number) == ("dispatched", [])


def test_an_answer_about_an_unknown_incident_is_refused(duty: Duty) -> None:
    number = duty.store.dispatched()
    assert duty.answer(STATION_SMS, "1 530100-20261124-999999") is True
    assert state(duty.store, number) == ("dispatched", [])


@pytest.mark.parametrize(
    "source, text",
    [
        (CITIZEN, "1 {n}"),  # not a duty number: a citizen's SMS
        ("13900000003", "1 {n}"),
        (STATION_SMS, "收到 {n}"),  # the duty number, not the pattern
        (STATION_SMS, "1 {n} 马上到"),
        (STATION_SMS, "2 {n}"),
        (STATION_SMS, "1"),
    ],
)
def test_other_messages_are_not_answers(duty: Duty, source: str, text: str) -> None:
    number = duty.store.dispatched()
    assert duty.answer(source, text.format(n=number)) is False
    assert state(duty.store, number) == ("dispatched", [])


def test_through_the_inbox_an_answer_is_no_alarm_and_a_citizens_is(duty: Duty) -> None:
    number = duty.store.dispatched()

    def count() -> int:
        return len(duty.store.read(lambda c: c.execute(select(incidents.c.id)).all()))

    before = count()
    assert deliver_sms(duty.channel, duty.trx, "+86" + STATION_SMS[3:], f"1 {number}") == 0
    assert state(duty.store, number)[0] == "acknowledged"
    assert count() == before  # no report, no incident
    assert deliver_sms(duty.channel, duty.trx, CITIZEN, f"1 {number}") == 0
    assert count() == before + 1  # filed: a new alarm
    assert sms_incident(duty.store, CITIZEN) != number
    inbound = {
        k: duty.ctx.registry.get_sample_value(
            "alarmgw_sms_total", {"direction": "in", "outcome": k}
        )
        for k in ("ack", "stored")
    }
    assert inbound == {"ack": 1, "stored": 1}


# -- the notice's text ---------------------------------------------------------------------------

ADDRESS = Location(lat=24.98, lon=102.65, accuracy_m=15, address="南坝路12号")


@pytest.mark.parametrize(
    "report, accept, drill, text",
    [
        (
            {"location": ADDRESS},
            {"category": "criminal"},
            False,
            "【110指挥中心】警情{n}（刑事，2级）：南坝路有人打架 地址：南坝路12号。"
            "签收请回复：1 {n}",
        ),
        (
            {"location": ADDRESS, "drill": True},
            {"category": "fire", "priority": 1},
            True,
            "【演练】【110指挥中心】警情{n}（火灾，1级）：南坝路有人打架 地址：南坝路12号。"
            "签收请回复：1 {n}",
        ),
        (
            {"text": "  " + "有" * 70 + "  "},  # no location; the summary is cut at 60
            None,
            False,
            "【110指挥中心】警情{n}（未分类，-级）："
            + "有" * 60
            + " 地址：未知。签收请回复：1 {n}",
        ),
    ],
)
def test_the_notice_text(
    duty: Duty, report: dict[str, Any], accept: dict[str, Any] | None, drill: bool, text: str
) -> None:
    number = duty.store.submit(duty.store.report(**report)).incident
    if accept is not None:
        duty.store.act(number, "accept", staff("calltaker"), **accept)
    row = duty.store.read(lambda c: records.load(c, number))
    assert duty.duty.text(row, drill) == text.format(n=number)


# -- the notice sent (one outbox attempt) --------------------------------------------------------


def test_a_notice_is_sent_to_the_duty_phone_and_on_the_sms_thread(duty: Duty) -> None:
    number = duty.store.dispatched()
    assert duty.duty.ready()
    assert duty.poll() == 1
    # Longer than one SMS: two concatenated parts.
    assert [m["destination_addr"] for m in duty.trx.submits] == [STATION_SMS] * 2
    assert [m["esm_class"] for m in duty.trx.submits] == [0x40] * 2
    (row,) = duty.store.deliveries("sms")
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    (thread,) = duty.store.read(lambda c: list(c.execute(select(sms_out)).mappings()))
    assert (thread["kind"], thread["number"], thread["status"]) == ("notice", STATION_SMS, "sent")
    assert thread["text"].startswith(f"【110指挥中心】警情{number}（刑事，2级）")
    (event,) = duty.store.events(number, "sms_sent")
    ids = ["trx0-1", "trx0-2"]
    assert event["data"] == {"kind": "notice", "to": STATION_SMS, "message_ids": ids}
    assert duty.poll() == 0


def test_a_throttled_notice_waits_for_the_pause_and_is_no_attempt(duty: Duty) -> None:
    duty.store.dispatched()
    duty.trx.script = [SubmitRefused(consts.SMPP_ESME_RTHROTTLED)]
    assert duty.poll() == 1
    (row,) = duty.store.deliveries("sms")
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["next_at"] == T0 + timedelta(seconds=2)  # the pause's end
    assert not duty.duty.ready()  # the sender is paused: the outbox does not even claim
    duty.store.clock.advance(1.9)
    assert duty.poll() == 0
    duty.store.clock.advance(0.1)
    assert duty.poll() == 1
    (row,) = duty.store.deliveries("sms")
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert len(duty.trx.submits) == 1 + 2


@pytest.mark.parametrize(
    "error, stored",
    [
        (SubmitRefused(consts.SMPP_ESME_RINVDSTADR), "0x0000000b Invalid Destination Address"),
        (SmppUnavailable("bind trx0 went down"), "bind trx0 went down"),
    ],
)
def test_a_notice_not_sent_is_retried_then_given_up(
    duty: Duty, error: Exception, stored: str
) -> None:
    number = duty.store.dispatched()
    duty.trx.script = [error] * 3
    for attempt, delay in ((1, 10), (2, 20)):  # send_retry_seconds × 2^(n-1)
        assert duty.poll() == 1
        (row,) = duty.store.deliveries("sms")
        assert (row["status"], row["attempts"], row["error"]) == ("failed", attempt, stored)
        assert row["next_at"] == duty.store.now() + timedelta(seconds=delay)
        duty.store.clock.advance(delay)
    assert duty.poll() == 1
    (row,) = duty.store.deliveries("sms")
    assert (row["status"], row["attempts"]) == ("gave_up", 3)
    assert duty.store.events(number, "sms_sent") == []


def test_no_transmitter_no_notice(duty: Duty) -> None:
    duty.store.dispatched()
    duty.trx.up = False
    assert not duty.duty.ready()
    assert duty.poll() == 0
    assert duty.trx.submits == []
    (row,) = duty.store.deliveries("sms")
    assert (row["status"], row["attempts"], row["next_at"]) == ("pending", 0, T0)


@pytest.mark.parametrize(
    "refusal, wait",
    [
        (SubmitRefused(consts.SMPP_ESME_RTHROTTLED), 2),  # later: at the pause's end
        (SubmitRefused(consts.SMPP_ESME_RSYSERR), 10),  # retry: after the backoff
    ],
)
def test_a_notice_cut_off_after_its_first_part_goes_on_from_the_second(
    duty: Duty, refusal: Exception, wait: float
) -> None:
    """The SMSC took part 1 of the notice, then refused part 2: the next attempt sends
    part 2 alone, under the same concatenation reference, so the duty phone puts the two
    together (not part 1 twice, once as a fragment that never completes), and both parts'
    message ids are on the SMS thread, where their delivery receipts find them."""
    number = duty.store.dispatched()
    duty.trx.script = [None, refusal]
    assert duty.poll() == 1
    first = duty.trx.submits[0]["short_message"]
    duty.store.clock.advance(wait)
    assert duty.poll() == 1
    (row,) = duty.store.deliveries("sms")
    assert row["status"] == "delivered"
    second = [m["short_message"] for m in duty.trx.submits[2:]]
    assert len(second) == 1  # part 2 only
    assert (first[:6], second[0][:6]) == (first[:5] + b"\x01", first[:5] + b"\x02")  # same ref
    (event,) = duty.store.events(number, "sms_sent")
    assert event["data"]["message_ids"] == ["trx0-1", "trx0-2"]
    (thread,) = duty.store.read(lambda c: list(c.execute(select(sms_out)).mappings()))
    assert (thread["parts"], thread["ref"]) == (2, first[3])
    assert duty.duty._cut_off == {}  # nothing kept once sent
