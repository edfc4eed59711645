"""Drill SMS injects (gateway/channels/smpp/drill.py): an SMS from a drill number reaches
the gateway as a citizen's would, and is filed as ONE drill report.

Through the SMSC: the SMS channel runs in process on a real store (`tests.inline`), its
bind real, bound to the SMSC peer (tests/peers/smsc: the npm `smpp` server) that also
offers the operator's test account; the injector binds the test account, submits, and the
SMSC hands each part to the gateway's bind as an MO deliver_sm. These skip where node or
the peer is missing (ALARMGW_REQUIRE_SMSC=1, as in CI, makes that a failure).

Without a test account, the adapter's drill injection: the same parts go through the
inbox's own path (no SMSC needed), and the report says it never crossed the SMSC.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import defer, reactor, task

from gateway.channels.smpp.drill import VIA_ADAPTER, VIA_SMSC, inject
from gateway.channels.smpp.service import SmppChannel
from gateway.channels.smpp.settings import SmppSettings, SmscTestAccount
from gateway.channels.smpp.text import split_for_sending
from gateway.config import ConfigError, load_config, sample_text
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import Expectation, Inject, InjectSource, Sms
from gateway.store.tables import reports
from tests.channels.fakes import FakeContext, FakeTransmitter, deliver_sms, smpp_channel
from tests.inline import STATION, Store, result
from tests.peers.smsc import HOST, Smsc, peer_or_skip

SYSTEM_ID = "alarmgw"
PASSWORD = "s3cret"
TEST_ID = "drill110"
TEST_PASSWORD = "drillpw"
DRILL = "13800000402"  # a drill phone: in drill_numbers
CITIZEN = "13800000999"  # not one
ESME_ROK = 0x00
ESME_RBINDFAIL = 0x0D
SHORT = "松林路公交站有个小孩走失了，大概五岁，穿红衣服，一直在哭。"
# Three UCS2 parts (67 characters each after the UDH), a character outside the BMP among
# them: the text must come out exactly as it went in.
LONG = (
    "我在湖滨街和翠柳巷路口，看到两个人在抢一位老人的包，老人摔倒了，头上在流血。"
    "嫌疑人一个穿黑衣服、平头，另一个穿灰色运动服、戴白色口罩，骑一辆没有牌照的电动车，"
    "往翠柳巷北边跑了。现在老人坐在路边，旁边有几个路人在帮忙，我不敢打电话怕被他们听到。"
    "请尽快派人来，另外需要救护车。𠀋"
)


def drill_inject(
    text: str, sender: str = DRILL, run: int = 7, inject_id: str = "i2"
) -> DrillInject:
    return DrillInject(
        run=run,
        inject=Inject(
            id=inject_id,
            at=90.0,
            channel="sms",
            content=Sms(sender=sender, text=text),
            location=None,
            expect=Expectation("robbery", "criminal", 2, STATION),
            note=None,
            source=InjectSource(index=2, line=27),
        ),
        files={},
    )


def sms_reports(store: Store, number: str) -> list[dict[str, Any]]:
    """The SMS reports from `number`: their documents, with the drill column."""
    q = (
        select(reports.c.doc, reports.c.drill)
        .where(reports.c.channel == "sms", reports.c.sender_key == f"phone:{number}")
        .order_by(reports.c.id)
    )
    rows = store.read(lambda c: list(c.execute(q)))
    return [dict(_doc(doc), drill_column=drill) for doc, drill in rows]


def _doc(doc: Any) -> dict[str, Any]:
    return json.loads(doc) if isinstance(doc, str) else dict(doc)


def test_lengths() -> None:
    assert len(split_for_sending(SHORT, 0)[1]) == 1
    coding, parts = split_for_sending(LONG, 0)
    assert (coding, len(parts)) == (8, 3)


# -- through the SMSC's test account -----------------------------------------------------------


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with peer_or_skip(SYSTEM_ID, PASSWORD, test_account=(TEST_ID, TEST_PASSWORD)) as peer:
        yield peer


async def sleep(seconds: float) -> None:
    await task.deferLater(reactor, seconds)


async def until(what: str, fn: Any, timeout: float = 10.0) -> Any:
    """Wait on the real reactor for `fn()` to be truthy; its value."""
    for _ in range(int(timeout / 0.05)):
        value = fn()
        if value:
            return value
        await sleep(0.05)
    raise AssertionError(f"waited {timeout} s for {what}")


class Gateway:
    """The SMS channel in process on `store`, its bind to the SMSC peer real."""

    def __init__(self, store: Store, smsc: Smsc, account: SmscTestAccount | None) -> None:
        self.store = store
        self.ctx = FakeContext(
            store,
            "smpp",
            host=HOST,
            port=smsc.port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
            enquire_link=5.0,
            response_timeout=2.0,
            reconnect_max=1.0,
            drill_numbers=("1211099", DRILL),
            test_account=account,
        )
        self.channel = SmppChannel(self.ctx)

    async def start(self) -> None:
        await self.channel.startService()
        await until("the gateway's bind", lambda: all(b.up for b in self.channel.binds))

    async def stop(self) -> None:
        await self.channel.stopService()


async def gateway(store: Store, smsc: Smsc, password: str = TEST_PASSWORD) -> Gateway:
    gw = Gateway(store, smsc, SmscTestAccount(TEST_ID, password))
    await gw.start()
    return gw


def mo_events(smsc: Smsc) -> list[dict[str, Any]]:
    return [e for e in smsc.events() if e["event"] == "mo"]


def account_binds(smsc: Smsc) -> list[dict[str, Any]]:
    return [e for e in smsc.events() if e["event"] == "bind" and e["system_id"] == TEST_ID]


@pytest.mark.parametrize("text, parts", [(SHORT, 1), (LONG, 3)], ids=["one part", "three parts"])
@pytest_twisted.ensureDeferred
async def test_an_inject_through_the_test_account_is_one_drill_report(
    store: Store, smsc: Smsc, text: str, parts: int
) -> None:
    gw = await gateway(store, smsc)
    try:
        sent = await inject(gw.channel, drill_inject(text))
        assert sent == Sent(report_channel="sms", sender_key=f"phone:{DRILL}", via=VIA_SMSC)
        got = await until("the report", lambda: sms_reports(store, DRILL))
        await sleep(0.3)  # a second one would show up now
    finally:
        await gw.stop()

    # The test account bound as a transmitter, and unbound when done.
    (bind,) = account_binds(smsc)
    assert (bind["command"], bind["command_status"], bind["test_account"]) == (
        "bind_transmitter",
        ESME_ROK,
        True,
    )
    smsc.wait_event(lambda e: e["event"] == "unbind" and e["session"] == bind["session"])
    # Each part went to the gateway's session as an MO deliver_sm from the drill number, UCS2,
    # concatenated with a UDH, and the gateway answered each ESME_ROK.
    mos = mo_events(smsc)
    assert len(mos) == parts
    body = b""
    for seq, mo in enumerate(mos, 1):
        assert (mo["source_addr"], mo["destination_addr"], mo["data_coding"]) == (
            DRILL,
            "12110",
            8,
        )
        assert mo["command_status"] == ESME_ROK and mo["to_session"] != bind["session"]
        raw = bytes.fromhex(mo["short_message_hex"])
        if parts > 1:
            assert mo["esm_class"] == 0x40
            assert raw[:3] == b"\x05\x00\x03" and raw[4:6] == bytes((parts, seq))
            raw = raw[6:]
        else:
            assert mo["esm_class"] == 0
        body += raw
        resp = smsc.wait_event(
            lambda e, i=mo["id"]: e["event"] == "deliver_sm_resp" and e["id"] == i
        )
        assert resp["command_status"] == ESME_ROK
    assert body.decode("utf-16-be") == text

    (report,) = got
    assert report["text"] == text
    assert report["drill"] is True and report["drill_column"] is True
    assert report["sender"] == {"kind": "phone", "id": DRILL}
    assert "injected" not in report.get("extra", {})  # it crossed the SMSC
    assert report["extra"].get("parts") == (parts if parts > 1 else None)


@pytest_twisted.ensureDeferred
async def test_a_refused_test_account_is_an_inject_error_naming_the_bind(
    store: Store, smsc: Smsc
) -> None:
    gw = await gateway(store, smsc, password="wrong")
    try:
        with pytest.raises(InjectError) as e:
            await inject(gw.channel, drill_inject(SHORT))
    finally:
        await gw.stop()
    message = str(e.value)
    assert f"refused the test account {TEST_ID}'s bind_transmitter" in message
    assert "0x0000000d" in message and "wrong" not in message
    bind = smsc.wait_event(lambda e: e["event"] == "bind" and e["system_id"] == TEST_ID)
    assert bind["command_status"] == ESME_RBINDFAIL and len(account_binds(smsc)) == 1
    assert mo_events(smsc) == []
    assert sms_reports(store, DRILL) == []


@pytest_twisted.ensureDeferred
async def test_a_sender_not_among_drill_numbers_is_never_sent(store: Store, smsc: Smsc) -> None:
    gw = await gateway(store, smsc)
    try:
        with pytest.raises(InjectError, match=f"{CITIZEN} is not among .*drill_numbers"):
            await inject(gw.channel, drill_inject(SHORT, sender=CITIZEN))
        await sleep(0.3)
    finally:
        await gw.stop()
    assert account_binds(smsc) == []  # nothing reached the SMSC
    assert sms_reports(store, CITIZEN) == []


@pytest_twisted.ensureDeferred
async def test_the_gateway_unbound_is_an_inject_error(store: Store, smsc: Smsc) -> None:
    """The SMSC cannot hand the message on (the peer queues nothing): said, not lost."""
    gw = await gateway(store, smsc)
    try:
        for b in gw.channel.binds:  # only the bind: the channel still runs
            await b.stop()
        await until(
            "no bound session",
            lambda: not any(s["bound"] for s in smsc.send({"cmd": "sessions"})["sessions"]),
        )
        with pytest.raises(InjectError, match="refused the test account's submit_sm: 0x00000045"):
            await inject(gw.channel, drill_inject(SHORT))
    finally:
        await gw.stop()


# -- the adapter's drill injection (no test account) -------------------------------------------


class Adapter:
    """The SMS channel in process, no test account; its bind faked (nothing connects)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.ctx = FakeContext(store, "smpp", drill_numbers=("1211099", DRILL))
        self.trx = FakeTransmitter(store.clock)
        self.channel = smpp_channel(self.ctx, self.trx)
        result(self.channel.startService())

    def inject(self, d: DrillInject) -> Sent:
        sent: Sent = result(defer.ensureDeferred(inject(self.channel, d)))
        return sent

    def count(self, outcome: str) -> float:
        value = self.ctx.registry.get_sample_value(
            "alarmgw_sms_total", {"direction": "inject", "outcome": outcome}
        )
        return value or 0.0


@pytest.fixture
def adapter(store: Store) -> Iterator[Adapter]:
    a = Adapter(store)
    yield a
    result(a.channel.stopService())


@pytest.mark.parametrize("text, parts", [(SHORT, 1), (LONG, 3)], ids=["one part", "three parts"])
def test_the_adapter_injection_files_a_drill_report_marked_as_injected(
    adapter: Adapter, text: str, parts: int
) -> None:
    sent = adapter.inject(drill_inject(text, sender="+86 138 0000 0402"))
    assert sent == Sent(report_channel="sms", sender_key=f"phone:{DRILL}", via=VIA_ADAPTER)
    (report,) = sms_reports(adapter.store, DRILL)
    assert report["text"] == text
    assert report["drill"] is True and report["drill_column"] is True
    assert report["extra"]["injected"] == {
        "by": "drill_runner",
        "run": 7,
        "inject": "i2",
        "smsc": False,
        "via": VIA_ADAPTER,
    }
    assert report["extra"]["dest"] == "12110" and report["extra"]["data_coding"] == 8
    assert report["extra"].get("parts") == (parts if parts > 1 else None)
    assert adapter.trx.responses == []  # no deliver_sm to answer: the SMSC saw nothing
    # Counted as what the inbox made of each deliver_sm: a long message's are parts.
    assert (adapter.count("stored"), adapter.count("part")) == ((1, 0) if parts == 1 else (0, 3))
    assert adapter.channel.inbox._injected == {}


def test_a_real_sms_from_the_drill_phone_is_a_drill_but_not_marked_injected(
    adapter: Adapter,
) -> None:
    assert deliver_sms(adapter.channel, adapter.trx, DRILL, SHORT) == ESME_ROK
    (report,) = sms_reports(adapter.store, DRILL)
    assert report["drill"] is True and "injected" not in report["extra"]


def test_the_adapter_refuses_a_sender_not_among_drill_numbers(adapter: Adapter) -> None:
    with pytest.raises(InjectError, match="would be filed as a real alarm"):
        adapter.inject(drill_inject(SHORT, sender=CITIZEN))
    with pytest.raises(InjectError, match="not a phone number"):
        adapter.inject(drill_inject(SHORT, sender="drill-phone"))
    assert sms_reports(adapter.store, CITIZEN) == []


def test_the_same_text_again_is_said_to_be_folded(adapter: Adapter) -> None:
    adapter.inject(drill_inject(SHORT))
    with pytest.raises(InjectError, match="taken as a redelivery"):
        adapter.inject(drill_inject(SHORT, inject_id="i3"))
    assert len(sms_reports(adapter.store, DRILL)) == 1


def test_a_stopped_channel_sends_nothing(adapter: Adapter) -> None:
    result(adapter.channel.stopService())
    with pytest.raises(InjectError, match="not running"):
        adapter.inject(drill_inject(SHORT))


# -- settings ----------------------------------------------------------------------------------


def with_test_account(lines: str) -> str:
    old = "[channels.smpp]\nenabled = false\n"
    text = sample_text()
    assert old in text
    return text.replace(old, f"{old}\n[channels.smpp.test_account]\n{lines}\n")


def test_the_test_account_is_a_setting(tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text(
        with_test_account('system_id = "drill110"\npassword = "pw"\nport = 2776'), encoding="utf-8"
    )
    section = load_config(path).channels["smpp"]
    s = SmppSettings.from_config(section)
    assert s.test_account == SmscTestAccount("drill110", "pw", port=2776)
    assert SmppSettings.from_config({"enabled": True}).test_account is None


def test_a_bad_test_account_password_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / "city.toml"
    path.write_text(
        with_test_account('system_id = "drill110"\npassword = "toolong99"'), encoding="utf-8"
    )
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "channels.smpp.test_account.password: the value is too long" in str(e.value)
    assert "toolong99" not in str(e.value)
