"""The SMSC peer (tests/peers/smsc: the npm `smpp` server, scripted) works, seen from
smpplib as the ESME: binds, deliver_sm and submit_sm byte-exact both ways, throttling,
SMSC-side unbind and drop. Skips unless the peer is installed (scripts/install-peers);
ALARMGW_REQUIRE_SMSC=1 turns the skip into a failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from tests.peers.smsc import HOST, Smsc, peer_or_skip

SYSTEM_ID = "alarmgw"
PASSWORD = "s3cret"
TEXT = "有人跟踪我"
UCS2 = TEXT.encode("utf-16-be")
ESME_RTHROTTLED = 0x58
ESME_RBINDFAIL = 0x0D


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with peer_or_skip(SYSTEM_ID, PASSWORD) as peer:
        yield peer


_clients: list[Any] = []


@pytest.fixture(autouse=True)
def _disconnect_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().disconnect()


def client(smsc: Smsc, timeout: float = 2.0) -> Any:
    c = smpplib.client.Client(HOST, smsc.port, timeout=timeout, allow_unknown_opt_params=True)
    _clients.append(c)
    c.connect()
    return c


def bound(smsc: Smsc) -> Any:
    c = client(smsc)
    c.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
    smsc.wait_event(lambda e: e["event"] == "bind" and e["command_status"] == 0)
    return c


class Listener:
    """smpplib's blocking listen() in a thread; received deliver_sm are kept, and each is
    answered with the next of `statuses` (then 0)."""

    def __init__(self, c: Any, statuses: list[int] | None = None) -> None:
        self.client = c
        self.statuses = list(statuses or [])
        self.received: list[Any] = []
        self.got = threading.Condition()
        self.error: BaseException | None = None
        c.set_message_received_handler(self._on_message)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_message(self, pdu: Any) -> int:
        with self.got:
            self.received.append(pdu)
            self.got.notify_all()
        return self.statuses.pop(0) if self.statuses else 0

    def _run(self) -> None:
        try:
            self.client.listen()
        except BaseException as e:  # noqa: BLE001 - the way listen() ends is the result
            self.error = e

    def wait(self, n: int, timeout: float = 3.0) -> list[Any]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.received) >= n, timeout), self.received
            return list(self.received)


def test_bind_transceiver_and_wrong_password(smsc: Smsc) -> None:
    c = bound(smsc)
    c.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=c))
    assert c.read_pdu().command == "enquire_link_resp"
    smsc.wait_event("enquire_link")
    resp = c.unbind()
    assert resp.command == "unbind_resp" and resp.status == 0
    smsc.wait_event("unbind")
    c.disconnect()
    smsc.wait_event("close")

    bad = client(smsc)
    with pytest.raises(smpplib.exceptions.PDUError) as err:
        bad.bind_transceiver(system_id=SYSTEM_ID, password="wrong")
    assert err.value.args[1] == ESME_RBINDFAIL
    ev = smsc.wait_event("bind")
    assert (ev["system_id"], ev["command_status"]) == (SYSTEM_ID, ESME_RBINDFAIL)
    smsc.wait_event("close")  # the SMSC hangs up after a refused bind
    bad.disconnect()


def test_deliver_sm_ucs2_byte_exact_and_resp_reported(smsc: Smsc) -> None:
    c = bound(smsc)
    listener = Listener(c, statuses=[0, 0x08])
    ack = smsc.send(
        {
            "cmd": "deliver",
            "source_addr": "13800138000",
            "destination_addr": "12110",
            "data_coding": 8,
            "short_message_hex": UCS2.hex(),
            "id": "d1",
        }
    )
    assert ack["sequence_number"] >= 1
    (pdu,) = listener.wait(1)
    assert pdu.short_message == UCS2
    assert pdu.short_message.decode("utf-16-be") == TEXT
    assert (pdu.data_coding, pdu.esm_class) == (8, 0)
    assert pdu.source_addr in ("13800138000", b"13800138000")
    ev = smsc.wait_event(lambda e: e["event"] == "deliver_sm_resp" and e["id"] == "d1")
    assert ev["command_status"] == 0 and 0 <= ev["ms"] < 2000

    # A concatenated part (UDH, esm_class 0x40), answered by the ESME with an error status.
    part = bytes([5, 0, 3, 0x2A, 2, 1]) + UCS2
    smsc.send(
        {
            "cmd": "deliver",
            "source_addr": "13800138000",
            "destination_addr": "12110",
            "data_coding": 8,
            "esm_class": 0x40,
            "short_message_hex": part.hex(),
            "id": "d2",
        }
    )
    pdu = listener.wait(2)[1]
    assert (pdu.short_message, pdu.esm_class) == (part, 0x40)
    ev = smsc.wait_event(lambda e: e["event"] == "deliver_sm_resp" and e["id"] == "d2")
    assert ev["command_status"] == 0x08

    smsc.send({"cmd": "drop"})
    listener.thread.join(3)
    assert not listener.thread.is_alive()


def test_deliver_tlvs_and_receipt(smsc: Smsc) -> None:
    c = bound(smsc)
    listener = Listener(c)
    smsc.send(
        {
            "cmd": "deliver",
            "source_addr": "13800138000",
            "destination_addr": "12110",
            "data_coding": 8,
            "tlvs": {
                "message_payload": UCS2.hex(),
                "sar_msg_ref_num": 7,
                "sar_total_segments": 2,
                "sar_segment_seqnum": 1,
            },
        }
    )
    smsc.send({"cmd": "receipt", "message_id": "abc123", "stat": "DELIVRD"})
    first, receipt = listener.wait(2)
    assert first.short_message in (b"", None)
    assert first.message_payload == UCS2
    assert (first.sar_msg_ref_num, first.sar_total_segments, first.sar_segment_seqnum) == (7, 2, 1)
    assert receipt.esm_class == 0x04
    text = receipt.short_message.decode("ascii")
    assert text.startswith("id:abc123 sub:001 dlvrd:001 submit date:")
    assert " stat:DELIVRD err:000 text:" in text
    assert receipt.receipted_message_id in ("abc123", b"abc123")
    smsc.send({"cmd": "drop"})
    listener.thread.join(3)


def test_submit_sm_byte_exact_with_udh(smsc: Smsc) -> None:
    c = bound(smsc)
    udh = bytes([5, 0, 3, 0x11, 1, 1])
    c.send_message(
        source_addr="12110",
        destination_addr="13800138000",
        short_message=udh + UCS2,
        data_coding=8,
        esm_class=0x40,
        registered_delivery=1,
    )
    resp = c.read_pdu()
    assert resp.command == "submit_sm_resp" and resp.status == 0
    ev = smsc.wait_event("submit_sm")
    assert ev["short_message_hex"] == (udh + UCS2).hex()
    assert (ev["data_coding"], ev["esm_class"], ev["registered_delivery"]) == (8, 0x40, 1)
    assert (ev["source_addr"], ev["destination_addr"]) == ("12110", "13800138000")
    message_id = resp.message_id.decode() if isinstance(resp.message_id, bytes) else resp.message_id
    assert message_id == ev["message_id"]


def test_throttle(smsc: Smsc) -> None:
    c = bound(smsc)
    smsc.send({"cmd": "throttle", "n": 1})
    c.send_message(source_addr="12110", destination_addr="1", short_message=b"a")
    with pytest.raises(smpplib.exceptions.PDUError) as err:
        c.read_once()
    assert err.value.args[1] == ESME_RTHROTTLED
    assert smsc.wait_event("submit_sm")["command_status"] == ESME_RTHROTTLED
    c.send_message(source_addr="12110", destination_addr="1", short_message=b"b")
    resp = c.read_pdu()
    assert resp.status == 0 and resp.message_id
    c.unbind()


def test_smsc_unbind_and_drop(smsc: Smsc) -> None:
    c = bound(smsc)
    smsc.send({"cmd": "unbind"})
    pdu = c.read_pdu()
    assert pdu.command == "unbind"
    # smpplib's read_once() does not answer an unbind: the ESME has to.
    resp = smpplib.smpp.make_pdu("unbind_resp", client=c)
    resp.sequence = pdu.sequence
    c.send_pdu(resp)
    assert smsc.wait_event("unbind_resp")["command_status"] == 0
    smsc.wait_event("close")
    with pytest.raises(smpplib.exceptions.ConnectionError):
        c.read_pdu()

    c2 = bound(smsc)
    listener = Listener(c2)
    smsc.send({"cmd": "drop"})
    listener.thread.join(3)
    assert not listener.thread.is_alive()
    assert isinstance(listener.error, smpplib.exceptions.ConnectionError)
    smsc.wait_event("close")


def test_test_account_submit_sm_becomes_an_mo_deliver_sm() -> None:
    """The operator's test account (--test-account): its submit_sm to the service number
    reaches the ESME's session as a deliver_sm, octets, UDHI and TLVs as submitted; to
    another number it is refused; the test account never receives one itself."""
    with peer_or_skip(SYSTEM_ID, PASSWORD, test_account=("drill", "dpw")) as smsc:
        listener = Listener(bound(smsc))
        handset = client(smsc)
        handset.bind_transmitter(system_id="drill", password="dpw")
        ev = smsc.wait_event(lambda e: e["event"] == "bind" and e["system_id"] == "drill")
        assert (ev["command_status"], ev["test_account"]) == (0, True)
        part = bytes([5, 0, 3, 0x2A, 2, 1]) + UCS2
        handset.send_message(
            source_addr="13800000402",
            destination_addr="12110",
            data_coding=8,
            esm_class=0x40,
            short_message=part,
        )
        resp = handset.read_pdu()
        assert resp.command == "submit_sm_resp" and resp.status == 0
        handset.send_message(
            source_addr="13800000402",
            destination_addr="1211099",
            data_coding=8,
            short_message=b"",
            message_payload=UCS2,
            sar_msg_ref_num=9,
            sar_total_segments=2,
            sar_segment_seqnum=2,
        )
        assert handset.read_pdu().status == 0
        handset.send_message(
            source_addr="13800000402", destination_addr="10086", short_message=b"a"
        )
        assert handset.read_pdu().status == 0x0B  # ESME_RINVDSTADR
        first, second = listener.wait(2)
        assert (first.short_message, first.esm_class, first.data_coding) == (part, 0x40, 8)
        assert first.source_addr in ("13800000402", b"13800000402")
        assert second.destination_addr in ("1211099", b"1211099")
        assert second.message_payload == UCS2
        assert (second.sar_msg_ref_num, second.sar_total_segments, second.sar_segment_seqnum) == (
            9,
            2,
            2,
        )
        mos = [smsc.wait_event("mo") for _ in range(3)]
        assert [e["command_status"] for e in mos] == [0, 0, 0x0B]
        for mo in mos[:2]:
            ev = smsc.wait_event(
                lambda e, i=mo["id"]: e["event"] == "deliver_sm_resp" and e["id"] == i
            )
            assert ev["command_status"] == 0
