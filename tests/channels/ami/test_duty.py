"""Duty phones called over AMI (gateway/channels/ami/duty.py) in process: each outbox row
of kind ``phone`` is an Originate carrying its id, and only the dialplan's echo of that id
(``AlarmgwNotifyAck`` / ``AlarmgwNotifyResult`` with ``Delivery``) answers it. The
end-to-end tests (test_calls.py) ring a sipp phone through the real Asterisk.

The store is real (SQLite, `tests.inline`), the outbox's clock a `task.Clock`; Asterisk is
faked: `FakeAmiLink` stands in for the AMI link (`client.AmiLink`), answers Originate as
scripted, and the test plays the dialplan's UserEvents. The channel's coroutines run on
the reactor's asyncio loop, as in the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from gateway.channels.ami import duty as duty_module
from gateway.channels.ami.client import AmiError, AmiUnavailable
from gateway.channels.ami.duty import DutyCalls
from gateway.channels.ami.service import AmiChannel
from gateway.notify.outbox import Outbox
from tests.channels.fakes import (
    CITY_PHONE,
    STATION_DRILL_PHONE,
    STATION_PHONE,
    FakeAmiLink,
    FakeContext,
    ami_channel,
)
from tests.inline import CITY, STATION, Store

ACK_REASON = "值班电话按键 1 签收 (acknowledged by phone, DTMF 1)"


class Phone:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.ctx = FakeContext(store, "ami", notify_attempts=3, notify_retry_seconds=60)
        self.link = FakeAmiLink()
        self.channel: AmiChannel = ami_channel(self.ctx, self.link)
        self.duty: DutyCalls = self.channel.duty
        self.outbox = Outbox(store.db, self.duty, store.clock, jitter=lambda: 1.0)

    def calls(self) -> list[dict[str, Any]]:
        """The Originates so far, each with its channel variables as a dict."""
        out = []
        for name, fields in self.link.actions:
            if name == "Originate":
                variables = dict(v.split("=", 1) for v in fields["Variable"])
                out.append(fields | {"Variable": variables})
        return out

    def delivery(self, call: dict[str, Any]) -> str:
        return str(call["Variable"]["ALARMGW_DELIVERY"])

    def row(self, delivery: str | int) -> Any:
        (row,) = [r for r in self.store.deliveries("phone") if r["id"] == int(delivery)]
        return row


@pytest.fixture
def phone(store: Store) -> Iterator[Phone]:
    p = Phone(store)
    yield p
    for waiter in list(p.duty._waiting.values()):  # a failed test leaves no call waiting
        waiter.cancel()


async def settle() -> None:
    """Let the channel's coroutines run until they wait for something."""
    for _ in range(10):
        await task.deferLater(reactor, 0)


def ack(delivery: str | None, digit: str = "1") -> dict[str, str]:
    """The dialplan's event when the duty phone pressed a key."""
    ev = {"Event": "UserEvent", "UserEvent": "AlarmgwNotifyAck", "Digit": digit}
    return ev if delivery is None else ev | {"Delivery": delivery}


def no_ack(delivery: str) -> dict[str, str]:
    """The dialplan's event when the rounds ended with no 1."""
    return {"Event": "UserEvent", "UserEvent": "AlarmgwNotifyResult", "Delivery": delivery}


def state(store: Store, number: str) -> tuple[str, list[str]]:
    doc = store.document(number)
    return doc["state"], [e["actor"]["user"] for e in doc["events"] if e["action"] == "acknowledge"]


@pytest_twisted.ensureDeferred
async def test_a_call_is_answered_only_by_the_echo_of_its_delivery(phone: Phone) -> None:
    number = phone.store.dispatched()
    polling = defer.ensureDeferred(phone.outbox.poll())
    await settle()
    (call,) = phone.calls()
    delivery = phone.delivery(call)
    assert phone.row(delivery)["unit"] == STATION
    assert (call["Channel"], call["Context"], call["Exten"]) == (
        f"PJSIP/{STATION_PHONE}@carrier",
        "alarmgw-notify",
        "s",
    )
    assert call["Variable"] == {
        "ALARMGW_DELIVERY": delivery,
        "ALARMGW_INCIDENT": number,
        "ALARMGW_UNIT": STATION,
        "ALARMGW_CATEGORY": "criminal",
        "ALARMGW_DRILL": "0",
    }
    for other in (
        ack(str(int(delivery) + 1)),  # another call's answer
        ack(None),  # no Delivery at all
        ack(""),
        ack(f"{delivery}x"),
        ack(f" {delivery}"),
        ack("²"),  # a digit to str.isdigit, not to int()
        no_ack(str(int(delivery) - 1)),
    ):
        phone.duty.answered(other)
        await settle()
        assert not polling.called, other
        assert not phone.duty._waiting[int(delivery)].done(), other
    assert state(phone.store, number) == ("dispatched", [])
    phone.channel._on_event(ack(delivery))  # as the AMI link hands it over
    assert await polling == 1
    assert phone.duty._waiting == {}
    assert (phone.row(delivery)["status"], phone.row(delivery)["attempts"]) == ("delivered", 1)
    assert state(phone.store, number) == ("acknowledged", [f"phone:{STATION_PHONE}"])
    assert phone.store.events(number, "acknowledge")[0]["reason"] == ACK_REASON


@pytest.mark.parametrize("event", [no_ack, lambda d: ack(d, digit="2"), lambda d: ack(d, "")])
@pytest_twisted.ensureDeferred
async def test_answered_without_a_1_is_retried(phone: Phone, event: Any) -> None:
    number = phone.store.dispatched()
    polling = defer.ensureDeferred(phone.outbox.poll())
    await settle()
    (call,) = phone.calls()
    phone.duty.answered(event(phone.delivery(call)))
    assert await polling == 1
    row = phone.row(phone.delivery(call))
    assert (row["status"], row["attempts"], row["error"]) == (
        "failed",
        1,
        "answered but not acknowledged",
    )
    assert row["next_at"] == phone.store.now() + timedelta(seconds=60)
    assert state(phone.store, number) == ("dispatched", [])


@pytest_twisted.ensureDeferred
async def test_a_drill_is_said_to_be_one(phone: Phone) -> None:
    report = phone.store.report(drill=True, location=None)
    number = phone.store.dispatched(phone.store.submit(report).incident, unit=STATION)
    polling = defer.ensureDeferred(phone.outbox.poll())
    await settle()
    (call,) = phone.calls()  # the drill phone only: never the real duty phone
    assert call["Channel"] == f"PJSIP/{STATION_DRILL_PHONE}@carrier"
    assert call["Variable"]["ALARMGW_DRILL"] == "1"
    phone.duty.answered(ack(phone.delivery(call)))
    assert await polling == 1
    assert state(phone.store, number)[0] == "acknowledged"


@pytest.mark.parametrize(
    "answer, error",
    [
        (
            [{"Response": "Success"}, {"Event": "OriginateResponse", "Reason": "5"}],
            "not answered: busy",
        ),
        (
            [{"Response": "Success"}, {"Event": "OriginateResponse", "Reason": "3"}],
            "not answered: no answer",
        ),
        ({"Response": "Error", "Message": "nope"}, "not answered: refused"),
        (AmiError("Originate", "Permission denied"), "not answered: Originate: Permission denied"),
        (
            AmiUnavailable("Originate: the AMI link dropped"),
            "not answered: Originate: the AMI link dropped",
        ),
    ],
)
@pytest_twisted.ensureDeferred
async def test_a_call_that_does_not_get_through_is_retried(
    phone: Phone, answer: Any, error: str
) -> None:
    number = phone.store.dispatched()
    phone.link.answers["Originate"] = answer
    assert await phone.outbox.poll() == 1
    (row,) = phone.store.deliveries("phone")
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 1, error)
    assert phone.duty._waiting == {}
    assert state(phone.store, number) == ("dispatched", [])


@pytest_twisted.ensureDeferred
async def test_two_calls_at_once_each_answered_by_its_own_echo(phone: Phone) -> None:
    """Priority 1: the city center's duty desk (told at accept) and the station's duty
    phone (at dispatch) ring at once; the city's 1 only confirms, the station's does not
    come."""
    number = phone.store.dispatched(priority=1)
    polling = defer.ensureDeferred(phone.outbox.poll())
    await settle()
    calls = {c["Variable"]["ALARMGW_UNIT"]: phone.delivery(c) for c in phone.calls()}
    assert phone.calls()[0]["Channel"] == f"PJSIP/{CITY_PHONE}@carrier"
    assert set(calls) == {CITY, STATION}
    phone.duty.answered(ack(calls[CITY]))
    await settle()
    assert not polling.called  # the station's call still rings
    assert phone.row(calls[CITY])["status"] == "delivered"
    assert state(phone.store, number) == ("dispatched", [])  # the city only confirmed
    phone.duty.answered(no_ack(calls[STATION]))
    assert await polling == 2
    assert phone.row(calls[STATION])["status"] == "failed"
    assert state(phone.store, number) == ("dispatched", [])


@pytest_twisted.ensureDeferred
async def test_no_answer_from_the_dialplan_ends_the_wait(
    phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANSWER_WAIT is on asyncio's clock (not the context's): shortened here."""
    monkeypatch.setattr(duty_module, "ANSWER_WAIT", 0.05)
    phone.store.dispatched()
    assert await phone.outbox.poll() == 1
    (row,) = phone.store.deliveries("phone")
    assert (row["status"], row["error"]) == ("failed", "answered but not acknowledged")
    assert phone.duty._waiting == {}


@pytest_twisted.ensureDeferred
async def test_no_link_no_call(phone: Phone) -> None:
    phone.store.dispatched()
    phone.link.up = False
    assert not phone.duty.ready()
    assert await phone.outbox.poll() == 0
    assert phone.link.actions == []
    (row,) = phone.store.deliveries("phone")
    assert (row["status"], row["attempts"]) == ("pending", 0)


def test_the_policy_follows_the_settings(store: Store) -> None:
    ctx = FakeContext(store, "ami", ring_seconds=20, notify_attempts=5, notify_retry_seconds=30)
    policy = ami_channel(ctx, FakeAmiLink()).duty.policy
    assert policy.lease == 20 + duty_module.ANSWER_WAIT + 60  # longer than any one call
    assert (policy.backoff.max_attempts, policy.backoff.initial, policy.backoff.max) == (
        5,
        30,
        120,
    )
