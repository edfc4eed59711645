"""SMS out (gateway/channels/smpp/sender.py) in process: pacing, throttling, retries and
partial sends, which the end-to-end tests (test_smpp_gateway.py) reach only through the
npm SMSC and wall-clock time, if at all.

The store is real (SQLite, `tests.inline`), the clock a `task.Clock`; the SMSC is faked:
`FakeTransmitter` stands in for the bind (`esme.Bind`), taking or refusing each submit_sm
as the test scripts it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from smpplib import consts
from sqlalchemy import select
from twisted.internet import defer, task

from gateway import phone
from gateway.channels.smpp.esme import SmppUnavailable, SubmitRefused
from gateway.channels.smpp.sender import MAX_REPLY, NoSmsThread, Sender
from gateway.channels.smpp.service import SmppChannel
from gateway.channels.smpp.tables import sms_out, sms_out_parts
from gateway.channels.smpp.text import split_for_sending
from gateway.errors import DomainError
from gateway.report import InvalidReport
from tests.channels.fakes import (
    CITIZEN,
    FakeContext,
    FakeTransmitter,
    deliver_sms,
    smpp_channel,
    sms_incident,
)
from tests.conftest import T0
from tests.inline import Store, result, staff

THROTTLED = consts.SMPP_ESME_RTHROTTLED
OTHER = "13800000002"


def throttled() -> SubmitRefused:
    return SubmitRefused(THROTTLED)


def refused() -> SubmitRefused:
    return SubmitRefused(consts.SMPP_ESME_RSYSERR)


def run(d: defer.Deferred[Any], clock: task.Clock) -> Any:
    """Advance `clock` from one scheduled call to the next until `d` fires.

    The token bucket's rates here are powers of two, so that its waits add up exactly at
    T0 (about 1.8e9 s, where a float's step is 2.4e-7 s). With tps = 10, the wait for the
    11th part ends a hair short of a token (0.0999999 s elapsed), and the bucket asks for a
    wait below that step: a real reactor's clock has moved on by its next turn, but a
    `task.Clock` runs such a call within the same `advance`, for ever."""
    while not d.called:
        calls = clock.getDelayedCalls()
        assert calls, "waiting, but not for the clock"
        clock.advance(max(0.0, min(c.getTime() for c in calls) - clock.seconds()))
    return result(d)


class Sms:
    """The SMS channel on a real store with one faked transmitter."""

    def __init__(self, store: Store, **settings: Any) -> None:
        self.store = store
        self.clock = store.clock
        self.ctx = FakeContext(store, "smpp", **settings)
        self.trx = FakeTransmitter(self.clock)
        self.channel: SmppChannel = smpp_channel(self.ctx, self.trx)
        self.sender: Sender = self.channel.sender

    def citizen_writes(self, source: str = CITIZEN, text: str = "南坝路有人打架") -> str:
        """A citizen's SMS, stored (its receipt reply queued): its incident."""
        assert deliver_sms(self.channel, self.trx, source, text) == consts.SMPP_ESME_ROK
        return sms_incident(self.store, phone.normalise(source))

    def send_due(self) -> None:
        """One round of the send loop, run to its end."""
        run(defer.ensureDeferred(self.sender.send_due()), self.clock)

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def rows(self) -> list[Any]:
        return self.store.read(
            lambda c: list(c.execute(select(sms_out).order_by(sms_out.c.id)).mappings())
        )

    def parts(self, sms_id: int) -> list[tuple[int, str]]:
        q = (
            select(sms_out_parts.c.seq, sms_out_parts.c.message_id)
            .where(sms_out_parts.c.sms_id == sms_id)
            .order_by(sms_out_parts.c.seq)
        )
        return self.store.read(lambda c: [tuple(r) for r in c.execute(q)])

    def count(self, outcome: str) -> float:
        value = self.ctx.registry.get_sample_value(
            "alarmgw_sms_total", {"direction": "out", "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
def sms(store: Store) -> Iterator[Sms]:
    yield Sms(store, tps=1000, throttle_pause=1.0, send_attempts=3, send_retry_seconds=10)


def at(offset: float) -> datetime:
    return T0 + timedelta(seconds=offset)


def text_of(parts: int) -> str:
    """A UCS2 text of `parts` parts (one SMS holds 70 characters; a part of a longer one
    67)."""
    text = "警" * (1 if parts == 1 else 67 * (parts - 1) + 4)
    assert len(split_for_sending(text, 0)[1]) == parts
    return text


# -- the token bucket -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tps, parts, offsets",
    [
        (0.5, 3, [0, 2, 4]),  # a burst of one part (never less), then one every 2 s
        (2, 5, [0, 0, 0.5, 1.0, 1.5]),  # a burst of one second's worth, then every 0.5 s
        (8, 10, [0] * 8 + [0.125, 0.25]),
    ],
)
def test_parts_go_at_tps_after_a_burst_of_one_second(
    store: Store, tps: float, parts: int, offsets: list[float]
) -> None:
    s = Sms(store, tps=tps)
    run(defer.ensureDeferred(s.sender.submit(CITIZEN, text_of(parts), 7)), s.clock)
    got = [m["at"] - T0.timestamp() for m in s.trx.submits]
    assert got == pytest.approx(offsets)
    assert len({m["short_message"] for m in s.trx.submits}) == parts


def test_an_idle_bucket_holds_one_second_not_more(store: Store) -> None:
    s = Sms(store, tps=2)
    run(defer.ensureDeferred(s.sender.submit(CITIZEN, text_of(3), 1)), s.clock)
    s.advance(60)  # a minute idle fills the bucket to 2 parts, not 120
    start = s.clock.seconds()
    run(defer.ensureDeferred(s.sender.submit(CITIZEN, text_of(4), 2)), s.clock)
    later = [m["at"] - start for m in s.trx.submits[3:]]
    assert later == pytest.approx([0, 0, 0.5, 1.0])


def test_a_clock_stepped_back_does_not_put_the_bucket_in_debt(store: Store) -> None:
    s = Sms(store, tps=2)
    run(defer.ensureDeferred(s.sender.submit(CITIZEN, text_of(2), 1)), s.clock)  # empty now
    s.advance(-50)  # the system clock is stepped back (NTP)
    start = s.clock.seconds()
    run(defer.ensureDeferred(s.sender.submit(CITIZEN, text_of(1), 2)), s.clock)
    # One token takes 1/tps from the stepped-back time, not the 50 s it stepped back.
    assert s.trx.submits[-1]["at"] - start == pytest.approx(0.5)


# -- can_send, pause, resumed ----------------------------------------------------------------


@pytest.mark.parametrize(
    "binds, paused_for, can",
    [
        ([], 0, False),
        ([("transceiver", True)], 0, True),
        ([("transmitter", True)], 0, True),
        ([("receiver", True)], 0, False),  # bound, but it cannot send
        ([("transceiver", False)], 0, False),  # not bound
        ([("receiver", True), ("transmitter", False)], 0, False),
        ([("receiver", True), ("transmitter", True)], 0, True),
        ([("transceiver", True)], 0.5, False),  # throttled: paused for another 0.5 s
        ([("transceiver", True)], -0.5, True),  # the pause ended
    ],
)
def test_can_send(
    store: Store, binds: list[tuple[str, bool]], paused_for: float, can: bool
) -> None:
    s = Sms(store)
    s.channel.binds = [  # type: ignore[assignment]
        FakeTransmitter(s.clock, f"b{i}", mode, up) for i, (mode, up) in enumerate(binds)
    ]
    s.sender.paused_until = s.clock.seconds() + paused_for
    assert s.sender.can_send() is can


@pytest.mark.parametrize(
    "first, pauses",
    [
        (1.0, [1, 2, 4, 8, 16, 30, 30]),
        (0.5, [0.5, 1, 2, 4, 8, 16, 30, 30]),
        (20.0, [20, 30, 30]),
    ],
)
def test_each_throttling_doubles_the_pause_up_to_30_s(
    store: Store, first: float, pauses: list[float]
) -> None:
    s = Sms(store, throttle_pause=first)
    got = []
    for _ in pauses:
        until = s.sender.pause()
        assert until == datetime.fromtimestamp(s.sender.paused_until, UTC)
        got.append(s.sender.paused_until - s.clock.seconds())
        assert not s.sender.can_send()
        s.advance(got[-1])
        assert s.sender.can_send()
    assert got == pauses
    s.sender.resumed()
    s.sender.pause()
    assert s.sender.paused_until - s.clock.seconds() == first  # from the shortest again
    assert s.count("throttled") == len(pauses) + 1


# -- sending queued messages -------------------------------------------------------------------


def test_a_queued_receipt_is_sent_and_recorded(sms: Sms) -> None:
    number = sms.citizen_writes()
    (row,) = sms.rows()
    assert (row["kind"], row["number"], row["status"]) == ("receipt", CITIZEN, "pending")
    sms.send_due()
    (submit,) = sms.trx.submits
    assert submit["destination_addr"] == CITIZEN and submit["registered_delivery"] == 1
    assert split_for_sending(row["text"], row["ref"])[1] == [submit["short_message"]]
    (row,) = sms.rows()
    assert (row["status"], row["attempts"], row["sent_at"]) == ("sent", 1, T0)
    assert sms.parts(row["id"]) == [(1, "trx0-1")]
    (event,) = sms.store.events(number, "sms_sent")
    assert event["data"] == {"kind": "receipt", "to": CITIZEN, "message_ids": ["trx0-1"]}
    assert sms.count("receipt") == 1
    sms.send_due()
    assert len(sms.trx.submits) == 1  # sent means done


def test_throttled_mid_batch_the_rest_waits_for_the_pause_uncounted(sms: Sms) -> None:
    for i in range(3):
        sms.citizen_writes(f"1380000010{i}")
    sms.trx.script = [None, throttled()]
    sms.send_due()
    assert len(sms.trx.submits) == 2  # the third was not tried
    first, second, third = sms.rows()
    assert (first["status"], first["attempts"]) == ("sent", 1)
    # The throttled one and the one after it are due at the pause's end, not attempts.
    assert (second["attempts"], second["next_at"]) == (0, at(1))
    assert second["error"].startswith("0x00000058")
    assert (third["status"], third["attempts"], third["next_at"]) == ("pending", 0, at(1))
    sms.advance(0.5)
    sms.send_due()
    assert len(sms.trx.submits) == 2  # still paused
    sms.advance(0.5)
    sms.send_due()
    assert len(sms.trx.submits) == 4
    assert [(r["status"], r["attempts"]) for r in sms.rows()] == [("sent", 1)] * 3
    assert sms.count("failed") == 0 and sms.count("throttled") == 1


def test_throttled_again_pauses_longer_and_a_send_resets_the_pause(sms: Sms) -> None:
    sms.citizen_writes()
    sms.trx.script = [throttled(), throttled()]
    sms.send_due()
    assert sms.rows()[0]["next_at"] == at(1)
    sms.advance(1)
    sms.send_due()  # throttled again: 2 s
    assert sms.rows()[0]["next_at"] == at(3)
    sms.advance(2)
    sms.send_due()
    assert (sms.rows()[0]["status"], sms.rows()[0]["attempts"]) == ("sent", 1)
    sms.citizen_writes(OTHER)
    sms.trx.script = [throttled()]
    sms.send_due()
    assert sms.rows()[1]["next_at"] == at(3 + 1)  # 1 s again, not 4


@pytest.mark.parametrize(
    "error, stored",
    [
        (refused(), "0x00000008 System Error"),
        (SmppUnavailable("bind trx0 went down"), "bind trx0 went down"),
        (RuntimeError("a bug"), "RuntimeError: a bug"),
    ],
)
def test_not_sent_is_retried_with_backoff_then_given_up(
    sms: Sms, error: Exception, stored: str
) -> None:
    number = sms.citizen_writes()
    sms.trx.script = [error] * 3
    delays = []
    for attempt in (1, 2):
        sms.send_due()
        (row,) = sms.rows()
        assert (row["status"], row["attempts"], row["error"]) == ("failed", attempt, stored)
        delays.append((row["next_at"] - sms.store.now()).total_seconds())
        sms.advance(delays[-1] - 0.1)
        sms.send_due()
        assert len(sms.trx.submits) == attempt  # not before it is due
        sms.advance(0.1)
    # send_retry_seconds × 2^(attempt-1), ±10 % of jitter
    assert 9 <= delays[0] <= 11 and 18 <= delays[1] <= 22
    sms.send_due()
    (row,) = sms.rows()
    assert (row["status"], row["attempts"], row["done_at"]) == ("gave_up", 3, sms.store.now())
    (event,) = sms.store.events(number, "sms_failed")
    assert event["data"] == {"kind": "receipt", "to": CITIZEN, "attempts": 3, "error": stored}
    sms.advance(3600)
    sms.send_due()
    assert len(sms.trx.submits) == 3
    assert sms.count("failed") == 3


@pytest.mark.parametrize(
    "failure, attempts_then",
    [(refused(), 1), (throttled(), 0)],
)
def test_parts_the_smsc_took_are_not_sent_again(
    sms: Sms, failure: SubmitRefused, attempts_then: int
) -> None:
    number = sms.citizen_writes()
    sms.send_due()  # the receipt
    text = text_of(3)
    result(defer.ensureDeferred(sms.sender.reply(number, staff("calltaker"), text)))
    sms.trx.script = [None, failure]
    sms.send_due()
    reply = sms.rows()[1]
    assert (reply["kind"], reply["parts"], reply["attempts"]) == ("reply", 3, attempts_then)
    assert sms.parts(reply["id"]) == [(1, "trx0-2")]  # the first part was taken
    sms.advance((reply["next_at"] - sms.store.now()).total_seconds())
    before = len(sms.trx.submits)
    sms.send_due()
    _coding, expected = split_for_sending(text, reply["ref"])
    assert [m["short_message"] for m in sms.trx.submits[before:]] == expected[1:]
    assert all(m["esm_class"] == 0x40 for m in sms.trx.submits[1:])
    reply = sms.rows()[1]
    assert (reply["status"], reply["attempts"]) == ("sent", attempts_then + 1)
    ids = ["trx0-2", "trx0-3", "trx0-4"]
    assert sms.parts(reply["id"]) == list(enumerate(ids, 1))
    assert sms.store.events(number, "sms_sent")[-1]["data"]["message_ids"] == ids


def test_sends_alternate_between_transmitters(sms: Sms) -> None:
    second = FakeTransmitter(sms.clock, "tx1", "transmitter")
    receiver = FakeTransmitter(sms.clock, "rx0", "receiver")
    sms.channel.binds.extend([receiver, second])  # type: ignore[list-item]
    run(defer.ensureDeferred(sms.sender.submit(CITIZEN, text_of(4), 3)), sms.clock)
    assert (len(sms.trx.submits), len(second.submits), len(receiver.submits)) == (2, 2, 0)


# -- the call-taker's reply -------------------------------------------------------------------


def reply(sms: Sms, number: str, text: str, to: str | None = None) -> dict[str, Any]:
    return result(defer.ensureDeferred(sms.sender.reply(number, staff("calltaker"), text, to)))


@pytest.mark.parametrize(
    "text, to, field",
    [
        ("", None, "text"),
        (" \n\t ", None, "text"),
        ("请\ud800回电", None, "text"),  # a lone surrogate: no SMS coding can carry it
        ("警" * (MAX_REPLY + 1), None, "text"),
        ("请回电", "13800009999", "to"),  # a number that never wrote to this incident
    ],
)
def test_reply_refusals(sms: Sms, text: str, to: str | None, field: str) -> None:
    number = sms.citizen_writes()
    before = sms.rows()
    with pytest.raises(InvalidReport) as e:
        reply(sms, number, text, to)
    assert e.value.field == field and e.value.kind == "invalid"
    assert sms.rows() == before
    assert sms.store.events(number, "sms_reply") == []


def test_reply_to_an_incident_no_sms_came_for_is_a_conflict(sms: Sms) -> None:
    number = sms.store.submit().incident  # a web report
    with pytest.raises(NoSmsThread) as e:
        reply(sms, number, "请回电")
    assert isinstance(e.value, DomainError) and e.value.kind == "conflict"
    assert sms.rows() == []


def test_reply_goes_to_the_latest_writer_or_to_the_one_named(sms: Sms) -> None:
    first = sms.citizen_writes(CITIZEN)
    sms.advance(10)
    second = sms.citizen_writes("+86" + OTHER)  # known as 13800000002
    sms.store.act(second, "merge", staff("calltaker"), master=first)
    longest = "警" * MAX_REPLY
    out = reply(sms, first, longest)
    assert out == {"incident": first, "sms": {"to": OTHER, "text": longest, "status": "pending"}}
    reply(sms, first, "请问具体位置？", to=CITIZEN)
    reply(sms, first, "民警已出发", to="+86" + OTHER)  # however the call-taker writes it
    replies = [r for r in sms.rows() if r["kind"] == "reply"]
    assert [(r["number"], r["parts"], r["actor"]) for r in replies] == [
        (OTHER, 10, "tester"),
        (CITIZEN, 1, "tester"),
        (OTHER, 1, "tester"),
    ]
    events = sms.store.events(first, "sms_reply")
    assert [(e["actor"]["user"], e["data"]["to"]) for e in events] == [
        ("tester", OTHER),
        ("tester", CITIZEN),
        ("tester", OTHER),
    ]


# -- state updates ------------------------------------------------------------------------


def test_state_updates_go_once_to_each_writer_while_running(sms: Sms) -> None:
    number = sms.citizen_writes()
    sms.channel.startService()
    try:
        result(sms.ctx.act(number, "accept", staff("calltaker"), {"category": "criminal"}))
        result(sms.ctx.act(number, "dispatch", staff("dispatcher"), {}))
        result(sms.ctx.act(number, "transfer", staff("dispatcher"), {"unit": "530102520000"}))
    finally:
        result(sms.channel.stopService())
    assert sms.ctx.listeners == []  # unsubscribed at stop
    kinds = [(r["kind"], r["dedupe"]) for r in sms.rows()]
    assert kinds[1:] == [("update", f"update:{number}:dispatched:{CITIZEN}")]
    boss = staff("supervisor")
    for action, params in (("acknowledge", {}), ("arrive", {}), ("feedback", {"result": "已处置"})):
        result(sms.ctx.act(number, action, boss, params))
    assert result(sms.ctx.act(number, "close", boss, {}))["state"] == "closed"
    assert len(sms.rows()) == 2  # stopped: "closed" has a template, but nobody listens
