"""SMS to 12110 end to end: the SMSC peer (the npm `smpp` server, tests/peers/smsc) → SMPP
→ a real gateway process → its store, its HTTP API, and its answers back to the SMSC.

Every scenario of the SMS issue is here: one UCS2 message with its receipt reply (two
concatenated parts, with a correct UDH) and that reply's delivery receipt; a 3-part
Chinese message out of order; a missing part (incomplete after the timeout, the late part
joining the same incident); GSM 7-bit with extension characters; a store failure (a real
SQLite lock) → ESME_RX_T_APPN → the SMSC's redelivery → one report; the SMSC dropping the
link mid-stream and the gateway killed with SIGKILL: nothing acknowledged is lost;
throttling honoured; a duty phone's ``1 <incident>``; the call-taker's ``reply`` action;
bad input refused with the right status while the bind stays up.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.channels.smpp.text import encode_gsm7
from tests.peers.gateway import (
    GatewayProcess,
    LogMark,
    db,
    dispatched_incident,
    sample_with_smpp,
    wait_for,
)
from tests.peers.smsc import Smsc, peer_or_skip

SYSTEM_ID = "alarmgw"
PASSWORD = "s3cret"
NANBA = "530102510000"  # 南坝派出所 in the sample city
DUTY_MOBILE = "13900000001"
ESME_ROK = 0x00
ESME_RX_T_APPN = 0x64
ESME_RX_P_APPN = 0x65
ESME_RINVMSGLEN = 0x01
# Longer than one UCS2 SMS (70 characters) with the incident number filled in: the receipt
# reply goes as two concatenated parts.
RECEIPT = (
    "【110】您的报警已收到，编号{incident}。请保持手机畅通，注意自身安全；"
    "不便通话可继续发短信说明情况。情况紧急请直接拨打110。"
)
SETTINGS = f"""enquire_link = 1
response_timeout = 2
reconnect_max = 1
reassembly_timeout = 3
tps = 50
throttle_pause = 0.5
send_retry_seconds = 1
drill_numbers = ["1211099"]
reply_receipt = "{RECEIPT}"
"""


@pytest.fixture(scope="module")
def smsc() -> Iterator[Smsc]:
    with peer_or_skip(SYSTEM_ID, PASSWORD, deliver_timeout=5.0) as peer:
        yield peer


def sms_config(tmp: Path, port: int) -> Path:
    text = sample_with_smpp(port, SYSTEM_ID, PASSWORD, SETTINGS)
    text = text.replace("[storage]\n", "[storage]\nbusy_timeout_ms = 300\n")
    webhook = f'{{ kind = "webhook", address = "http://127.0.0.1:9/units/{NANBA}" }},'
    assert webhook in text
    text = text.replace(
        webhook,
        webhook
        + f'\n    {{ kind = "sms", address = "{DUTY_MOBILE}", name = "南坝派出所值班手机" }},',
    )
    path = tmp / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


def bound(smsc: Smsc, binds_before: int = 0) -> None:
    wait_for(
        "the gateway's bind",
        lambda: (
            sum(1 for e in smsc.events() if e["event"] == "bind" and e["command_status"] == 0)
            > binds_before
        ),
        20,
    )
    wait_for(
        "a bound session",
        lambda: any(s["bound"] for s in smsc.send({"cmd": "sessions"})["sessions"]),
        10,
    )


def binds(smsc: Smsc) -> int:
    return sum(1 for e in smsc.events() if e["event"] == "bind" and e["command_status"] == 0)


@pytest.fixture(scope="module")
def gw(smsc: Smsc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    assert smsc.port is not None
    tmp = tmp_path_factory.mktemp("sms")
    g = GatewayProcess(tmp / "data", sms_config(tmp, smsc.port))
    g.start()
    bound(smsc)
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


@pytest.fixture(scope="module")
def supervisor(gw: GatewayProcess) -> str:
    return gw.token("zhang.zhihui", "supervisor")


@pytest.fixture(scope="module")
def calltaker(gw: GatewayProcess) -> str:
    return gw.token("li.jiejing", "calltaker")


# -- helpers --------------------------------------------------------------------------------


def ucs2(text: str) -> str:
    return text.encode("utf-16-be").hex()


def udh(ref: int, total: int, seq: int) -> str:
    return bytes((0x05, 0x00, 0x03, ref, total, seq)).hex()


def deliver(
    smsc: Smsc,
    source: str,
    hex_: str,
    *,
    dc: int = 8,
    esm: int = 0,
    tlvs: dict[str, Any] | None = None,
    dest: str = "12110",
    wait: bool = True,
    timeout: float = 5.0,
) -> Any:
    """A deliver_sm from the SMSC; with `wait`, the command_status of its deliver_sm_resp
    (None if none came within `timeout`), else the command's id."""
    ack = smsc.send(
        {
            "cmd": "deliver",
            "source_addr": source,
            "destination_addr": dest,
            "data_coding": dc,
            "esm_class": esm,
            "short_message_hex": hex_,
            "tlvs": tlvs or {},
            "timeout": timeout,
        }
    )
    if not wait:
        return ack["id"]
    return answer(smsc, ack["id"], timeout + 2)


def answer(smsc: Smsc, cmd_id: str, timeout: float = 7.0) -> int | None:
    ev = smsc.wait_event(
        lambda e: e.get("id") == cmd_id and e["event"] in ("deliver_sm_resp", "deliver_timeout"),
        timeout,
    )
    return ev.get("command_status") if ev["event"] == "deliver_sm_resp" else None


def reports(gw: GatewayProcess, source: str) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.external_id, r.doc, i.number, i.state FROM reports r "
            "JOIN incidents i ON r.incident_id = i.id "
            "WHERE r.channel = 'sms' AND r.sender_key = ? ORDER BY r.id",
            (f"phone:{source}",),
        ).fetchall()
    return [dict(json.loads(r["doc"]), external_id=r[0], incident=r[2], state=r[3]) for r in rows]


def one_report(gw: GatewayProcess, source: str, timeout: float = 10.0) -> dict[str, Any]:
    got = wait_for(f"a report from {source}", lambda: reports(gw, source), timeout)
    time.sleep(0.3)  # a second one would show up now
    got = reports(gw, source)
    assert len(got) == 1, got
    return got[0]


def submits(smsc: Smsc, to: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The next `n` accepted submit_sm to `to`, in the order the SMSC got them."""
    return [
        smsc.wait_event(
            lambda e: (
                e["event"] == "submit_sm"
                and e["destination_addr"] == to
                and e["command_status"] == 0
            ),
            timeout,
        )
        for _ in range(n)
    ]


def text_of(parts: list[dict[str, Any]]) -> str:
    """The text a handset shows: the parts put together by their UDH."""
    out = {}
    for p in parts:
        raw = bytes.fromhex(p["short_message_hex"])
        if p["esm_class"] & 0x40:
            header, raw = raw[: raw[0] + 1], raw[raw[0] + 1 :]
            out[header[5]] = raw
        else:
            out[1] = raw
    coding = parts[0]["data_coding"]
    body = b"".join(out[k] for k in sorted(out))
    return body.decode("utf-16-be") if coding == 8 else body.decode("ascii")


def incident(gw: GatewayProcess, token: str, number: str) -> dict[str, Any]:
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
    assert status == 200, doc
    return doc  # type: ignore[no-any-return]


# -- scenarios ------------------------------------------------------------------------------


def test_ucs2_message_filed_answered_and_receipt_recorded(
    smsc: Smsc, gw: GatewayProcess, supervisor: str
) -> None:
    citizen = "13800138001"
    text = "救命！有人持刀闯入我家，幸福路12号3单元501，我躲在卫生间不敢出声"
    assert deliver(smsc, citizen, ucs2(text)) == ESME_ROK
    r = one_report(gw, citizen)
    assert r["text"] == text and r["sender"] == {"kind": "phone", "id": citizen}
    assert r["external_id"].startswith("sms:") and r["extra"]["dest"] == "12110"
    number = r["incident"]

    # The receipt reply: UCS2, longer than 70 characters, so two parts with one UDH ref.
    parts = submits(smsc, citizen, 2)
    assert [p["data_coding"] for p in parts] == [8, 8]
    assert [p["esm_class"] & 0x40 for p in parts] == [0x40, 0x40]
    headers = [bytes.fromhex(p["short_message_hex"])[:6] for p in parts]
    assert headers[0][:3] == headers[1][:3] == b"\x05\x00\x03"
    assert headers[0][3] == headers[1][3]  # one reference
    assert [h[4:] for h in headers] == [b"\x02\x01", b"\x02\x02"]
    assert [p["source_addr"] for p in parts] == ["12110", "12110"]
    assert text_of(parts) == RECEIPT.format(incident=number)
    assert all(p["registered_delivery"] == 1 for p in parts)

    # The SMSC's delivery receipts for both parts: the reply is delivered, on the record.
    for p in parts:
        smsc.send({"cmd": "receipt", "message_id": p["message_id"], "stat": "DELIVRD"})
    doc = wait_for(
        "the reply's delivery",
        lambda: (lambda d: d if d["sms"] and d["sms"][0]["status"] == "delivered" else None)(
            incident(gw, supervisor, number)
        ),
    )
    assert doc["sms"][0]["kind"] == "receipt" and doc["sms"][0]["to"] == citizen
    actions = [e["action"] for e in doc["events"]]
    assert "sms_sent" in actions and "sms_delivered" in actions
    # A receipt never becomes a report.
    assert len(reports(gw, citizen)) == 1


def test_three_part_chinese_message_out_of_order(smsc: Smsc, gw: GatewayProcess) -> None:
    citizen = "13800138002"
    chunks = [
        "我被困在城东工业园区7号仓库二楼，门被人从外面锁住了，",
        "对方有三个人，其中一人有刀，他们在楼下打电话，",
        "我手机快没电了，请不要回电话，发短信联系我。",
    ]
    for seq in (3, 1, 2):
        status = deliver(smsc, citizen, udh(0x4D, 3, seq) + ucs2(chunks[seq - 1]), esm=0x40)
        assert status == ESME_ROK
    r = one_report(gw, citizen)
    assert r["text"] == "".join(chunks)
    assert r["extra"]["parts"] == 3 and "incomplete" not in r["extra"]
    # The parts were stored until the message was filed, then dropped.
    with db(gw) as conn:
        assert (
            conn.execute("SELECT count(*) FROM sms_parts WHERE source = ?", (citizen,)).fetchone()[
                0
            ]
            == 0
        )


def test_sar_tlv_parts(smsc: Smsc, gw: GatewayProcess) -> None:
    citizen = "13800138003"
    chunks = ["路口有车祸，", "一人倒地不动"]
    for seq in (2, 1):
        tlvs = {"sar_msg_ref_num": 777, "sar_total_segments": 2, "sar_segment_seqnum": seq}
        assert deliver(smsc, citizen, ucs2(chunks[seq - 1]), tlvs=tlvs) == ESME_ROK
    assert one_report(gw, citizen)["text"] == "".join(chunks)


def test_missing_part_gives_an_incomplete_report_and_the_late_part_joins(
    smsc: Smsc, gw: GatewayProcess
) -> None:
    citizen = "13800138004"
    chunks = ["有人在小区门口抢劫，", "抢了一个包往北跑了，", "穿黑色上衣戴帽子"]
    for seq in (1, 3):
        assert deliver(smsc, citizen, udh(9, 3, seq) + ucs2(chunks[seq - 1]), esm=0x40) == 0
    r = one_report(gw, citizen, timeout=10)  # after the 3 s reassembly timeout
    assert r["text"] == chunks[0] + "[…缺第2段…]" + chunks[2]
    assert r["extra"]["incomplete"] is True and r["extra"]["missing_parts"] == [2]
    # The missing part comes late: it is filed too, and joins the same incident.
    assert deliver(smsc, citizen, udh(9, 3, 2) + ucs2(chunks[1]), esm=0x40) == ESME_ROK
    got = wait_for(
        "the late part", lambda: (lambda rs: rs if len(rs) == 2 else None)(reports(gw, citizen))
    )
    assert chunks[1] in got[1]["text"] and got[1]["incident"] == r["incident"]
    assert got[1]["auto_attached"] if "auto_attached" in got[1] else True


def test_gsm7_with_extension_characters(smsc: Smsc, gw: GatewayProcess) -> None:
    citizen = "13800138005"
    text = "Help! Robbery at {Bank} [No.5] ~ 100€ taken | call me^"
    septets = encode_gsm7(text)
    assert septets is not None and b"\x1b" in septets
    assert deliver(smsc, citizen, septets.hex(), dc=0) == ESME_ROK
    assert one_report(gw, citizen)["text"] == text


def test_store_failure_temporary_error_then_redelivery_gives_one_report(
    smsc: Smsc, gw: GatewayProcess
) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout. Nothing can be stored, so the SMSC gets ESME_RX_T_APPN; it
    redelivers once the lock is gone, and again (its resp lost, say): one report."""
    citizen = "13800138006"
    text = "我在KTV被人下药了，在东风路金色年华3楼"
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        assert deliver(smsc, citizen, ucs2(text), timeout=8) == ESME_RX_T_APPN
        assert reports(gw, citizen) == []
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert deliver(smsc, citizen, ucs2(text)) == ESME_ROK
    assert deliver(smsc, citizen, ucs2(text)) == ESME_ROK
    r = one_report(gw, citizen)
    assert r["text"] == text
    submits(smsc, citizen, 2)  # its receipt reply, once
    time.sleep(0.5)
    assert not [
        e for e in smsc.events()
        if e["event"] == "submit_sm" and e["destination_addr"] == citizen
    ][2:]  # fmt: skip


def test_smsc_drops_the_link_mid_stream_nothing_lost(smsc: Smsc, gw: GatewayProcess) -> None:
    """The SMSC drops the TCP connection with 20 messages just sent. What was answered
    ESME_ROK is stored; what was not, the SMSC redelivers once the gateway has bound again
    (here the test plays that redelivery), and more messages follow on the new link:
    every message exactly one report."""

    def text(i: int) -> str:
        return ucs2(f"第{i}条：东门有人打架")

    before = binds(smsc)
    sent = {
        f"138001381{i:02d}": deliver(smsc, f"138001381{i:02d}", text(i), wait=False)
        for i in range(20)
    }
    smsc.send({"cmd": "drop"})
    unanswered = [c for c, cid in sent.items() if answer(smsc, cid) != ESME_ROK]
    assert unanswered, "everything was answered before the drop: no fault was made"
    for citizen in sent:
        if citizen not in unanswered:  # acknowledged → stored, before any redelivery
            assert len(reports(gw, citizen)) == 1, citizen
    bound(smsc, before)
    for citizen in unanswered:
        assert deliver(smsc, citizen, text(int(citizen[-2:]))) == ESME_ROK
    for i in range(20, 30):
        assert deliver(smsc, f"138001381{i:02d}", text(i)) == ESME_ROK
    for i in range(30):
        assert one_report(gw, f"138001381{i:02d}")["text"] == f"第{i}条：东门有人打架"


def test_throttled_reply_is_sent_after_a_pause(
    smsc: Smsc, gw: GatewayProcess, supervisor: str
) -> None:
    citizen = "13800138007"
    smsc.send({"cmd": "throttle", "n": 2})
    assert deliver(smsc, citizen, ucs2("楼下有人一直在撬门")) == ESME_ROK
    throttled = [
        smsc.wait_event(
            lambda e: e["event"] == "submit_sm" and e["destination_addr"] == citizen, 10
        )
        for _ in range(2)
    ]
    assert [e["command_status"] for e in throttled] == [0x58, 0x58]
    t0 = time.monotonic()
    parts = submits(smsc, citizen, 2, timeout=15)
    assert time.monotonic() - t0 >= 0.4  # the pause (0.5 s, then 1 s)
    number = one_report(gw, citizen)["incident"]
    assert text_of(parts) == RECEIPT.format(incident=number)
    doc = wait_for(
        "the reply sent",
        lambda: (lambda d: d if d["sms"] and d["sms"][0]["status"] == "sent" else None)(
            incident(gw, supervisor, number)
        ),
    )
    assert doc["sms"][0]["attempts"] == 1  # throttling is not a failed attempt


def test_follow_up_joins_and_reply_action_answers_the_citizen(
    smsc: Smsc, gw: GatewayProcess, calltaker: str, supervisor: str
) -> None:
    citizen = "13800138008"
    assert deliver(smsc, citizen, ucs2("我家门口有可疑的人在徘徊")) == ESME_ROK
    submits(smsc, citizen, 2)
    assert deliver(smsc, citizen, ucs2("他现在在敲隔壁的门")) == ESME_ROK
    follow = submits(smsc, citizen, 1)
    rs = wait_for(
        "both reports", lambda: (lambda r: r if len(r) == 2 else None)(reports(gw, citizen))
    )
    number = rs[0]["incident"]
    assert rs[1]["incident"] == number  # the follow-up joined the same incident
    assert text_of(follow) == f"【110】补充信息已收到（编号{number}）。"

    status, doc = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply", "text": "民警已出发，请锁好门待在屋内，不要开门。"},
        token=calltaker,
    )
    assert status == 202, doc
    (reply,) = submits(smsc, citizen, 1)
    assert text_of([reply]) == "民警已出发，请锁好门待在屋内，不要开门。"
    doc = incident(gw, supervisor, number)
    kinds = [m["kind"] for m in doc["sms"]]
    assert kinds == ["receipt", "followup", "reply"]
    replied = [e for e in doc["events"] if e["action"] == "sms_reply"]
    assert replied and replied[0]["actor"]["user"] == "li.jiejing"

    # Refusals: nothing to say; a number that never wrote to the incident.
    status, err = gw.request(
        "POST", f"/api/v1/incidents/{number}/actions", {"action": "reply"}, token=calltaker
    )
    assert status == 422 and err["field"] == "text"
    status, err = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply", "text": "你好", "to": "13999999999"},
        token=calltaker,
    )
    assert status == 422 and err["field"] == "to"

    # The state updates the citizen hears about (reply_updates: dispatched, closed). (Not
    # to 南坝: its duty phone's notices belong to test_duty_phone_acknowledges_by_sms.)
    for body in (
        {"action": "accept", "category": "public_order", "priority": 2},
        {"action": "dispatch", "unit": "530102520000"},
    ):
        status, doc = gw.request(
            "POST", f"/api/v1/incidents/{number}/actions", body, token=supervisor
        )
        assert status == 200, doc
    (update,) = submits(smsc, citizen, 1)
    assert text_of([update]) == f"【110】已派警处置您的报警（编号{number}），请保持手机畅通。"


def test_duty_phone_acknowledges_by_sms(smsc: Smsc, gw: GatewayProcess, supervisor: str) -> None:
    number = dispatched_incident(gw, supervisor, NANBA, "13912340001")
    notice = submits(smsc, DUTY_MOBILE, 1, timeout=15)
    shown = text_of(notice) if notice[0]["esm_class"] & 0x40 == 0 else None
    parts = notice
    if shown is None:  # a long notice: collect its other parts
        total = bytes.fromhex(notice[0]["short_message_hex"])[4]
        parts += submits(smsc, DUTY_MOBILE, total - 1)
        shown = text_of(parts)
    assert number in shown and f"1 {number}" in shown and "治安" in shown

    # Someone else's phone cannot acknowledge for the unit.
    assert deliver(smsc, "13900000009", f"1 {number}".encode().hex(), dc=0) == ESME_ROK
    time.sleep(0.5)
    assert incident(gw, supervisor, number)["state"] == "dispatched"
    # The unit's duty phone can.
    assert deliver(smsc, DUTY_MOBILE, f"1 {number}".encode().hex(), dc=0) == ESME_ROK
    doc = wait_for(
        "the acknowledgement by SMS",
        lambda: (lambda d: d if d["state"] == "acknowledged" else None)(
            incident(gw, supervisor, number)
        ),
    )
    ack = [e for e in doc["events"] if e["action"] == "acknowledge"][-1]
    assert ack["actor"]["user"] == f"sms:{DUTY_MOBILE}" and ack["actor"]["unit"] == NANBA
    assert [d["status"] for d in doc["deliveries"] if d["kind"] == "sms"] == ["delivered"]
    # The notice is on the incident's SMS thread; its delivery receipts land there too.
    for p in parts:
        smsc.send({"cmd": "receipt", "message_id": p["message_id"], "stat": "DELIVRD"})
    doc = wait_for(
        "the notice's delivery",
        lambda: (lambda d: d if [m["status"] for m in d["sms"]] == ["delivered"] else None)(
            incident(gw, supervisor, number)
        ),
    )
    assert doc["sms"][0]["kind"] == "notice" and doc["sms"][0]["to"] == DUTY_MOBILE
    assert reports(gw, DUTY_MOBILE) == []  # an acknowledgement is not an alarm


def test_drill_number_gives_a_drill_report(smsc: Smsc, gw: GatewayProcess) -> None:
    citizen = "13800138009"
    assert deliver(smsc, citizen, ucs2("演练：银行门口有人持枪"), dest="1211099") == ESME_ROK
    assert one_report(gw, citizen)["drill"] is True
    (first, *_rest) = submits(smsc, citizen, 2)
    assert text_of([first]).startswith("【演练】")


@pytest.mark.parametrize(
    ("what", "fields", "status"),
    [
        ("odd-length UCS2", {"short_message_hex": "4f60597d00"}, ESME_RX_P_APPN),
        ("lone surrogate", {"short_message_hex": "d83d0041"}, ESME_RX_P_APPN),
        ("empty message", {"short_message_hex": ""}, ESME_RX_P_APPN),
        (
            "UDH longer than the message",
            {"short_message_hex": "0b0003010201", "esm_class": 0x40},
            ESME_RX_P_APPN,
        ),
    ],
)
def test_bad_input_is_refused_and_the_bind_stays_up(
    smsc: Smsc, gw: GatewayProcess, what: str, fields: dict[str, Any], status: int
) -> None:
    citizen = "13800138010"
    before = binds(smsc)
    ack = smsc.send(
        dict(
            {
                "cmd": "deliver",
                "source_addr": citizen,
                "destination_addr": "12110",
                "data_coding": 8,
            },
            **fields,
        )
    )
    assert answer(smsc, ack["id"]) == status, what
    assert reports(gw, citizen) == []
    # Still bound, on the same session: a good message goes through.
    assert deliver(smsc, "13800138011", ucs2("测试")) == ESME_ROK
    assert binds(smsc) == before
    assert "refused" in gw.log()


def test_control_characters_are_replaced_not_refused(smsc: Smsc, gw: GatewayProcess) -> None:
    """Intake refuses control characters in a report's text; a citizen's SMS with a stray
    one (a NUL a handset appended, a bell) is still an alarm: filed, each replaced by
    U+FFFD, the octets kept."""
    citizen = "13800138016"
    assert deliver(smsc, citizen, ucs2("救命\x07在3楼\x00")) == ESME_ROK
    r = one_report(gw, citizen)
    assert r["text"] == "救命\ufffd在3楼\ufffd"
    assert r["extra"]["control_characters_replaced"] is True
    assert bytes.fromhex(r["extra"]["raw_hex"]).decode("utf-16-be") == "救命\x07在3楼\x00"


def test_unknown_tlv_is_ignored(smsc: Smsc, gw: GatewayProcess) -> None:
    citizen = "13800138012"
    # user_message_reference and language_indicator: TLVs the gateway does not read.
    tlvs = {"user_message_reference": 42, "language_indicator": 0}
    assert deliver(smsc, citizen, ucs2("电动车被偷了"), tlvs=tlvs) == ESME_ROK
    assert one_report(gw, citizen)["text"] == "电动车被偷了"
    assert re.search(r"ignored TLVs 0x0204, 0x020d", gw.log())


def test_kill_9_loses_nothing_acknowledged(smsc: Smsc, gw: GatewayProcess, tmp_path: Path) -> None:
    """SIGKILL while messages stream in: every message answered ESME_ROK is in the store
    after the restart; the parts of a long one acknowledged before the kill are completed
    by its last part after the restart."""
    long_citizen = "13800138013"
    assert deliver(smsc, long_citizen, udh(5, 2, 1) + ucs2("后备箱里好像有人，"), esm=0x40) == 0
    sent = {}
    for i in range(20):
        citizen = f"138001382{i:02d}"
        sent[citizen] = deliver(smsc, citizen, ucs2(f"第{i}条：有人落水"), wait=False)
    first = next(iter(sent))
    assert answer(smsc, sent.pop(first)) == ESME_ROK  # the kill comes mid-stream
    gw.kill()
    acked = [first] + [c for c, cid in sent.items() if answer(smsc, cid) == ESME_ROK]
    before = binds(smsc)
    mark = LogMark(gw)
    # Down for longer than the reassembly timeout (3 s): the stored first part still waits
    # a whole timeout after the restart for its second, which the SMSC sends once bound.
    time.sleep(4)
    gw.start()
    bound(smsc, before)
    for citizen in acked:
        assert len(reports(gw, citizen)) == 1, citizen
    assert "stored parts of long messages picked up" in mark.text()
    time.sleep(1.5)  # past the first reassembly check after the start
    assert deliver(smsc, long_citizen, udh(5, 2, 2) + ucs2("车牌云A12345"), esm=0x40) == 0
    assert one_report(gw, long_citizen)["text"] == "后备箱里好像有人，车牌云A12345"


def test_smsc_unbind_is_answered_and_the_gateway_binds_again(
    smsc: Smsc, gw: GatewayProcess
) -> None:
    before = binds(smsc)
    smsc.send({"cmd": "unbind"})
    resp = smsc.wait_event("unbind_resp", 5)
    assert resp["command_status"] == 0
    bound(smsc, before)
    assert deliver(smsc, "13800138014", ucs2("恢复后的短信")) == ESME_ROK
    assert one_report(gw, "13800138014")["text"] == "恢复后的短信"


def test_receiver_and_transmitter_binds(tmp_path: Path) -> None:
    """mode = receiver+transmitter with two sessions: four binds; a message comes in on a
    receiver, its receipt reply goes out on a transmitter."""
    with peer_or_skip(SYSTEM_ID, PASSWORD, deliver_timeout=5.0) as peer:
        assert peer.port is not None
        config = sms_config(tmp_path, peer.port)
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace(
                "enquire_link = 1\n",
                'enquire_link = 1\nmode = "receiver+transmitter"\nsessions = 2\n',
            ),
            encoding="utf-8",
        )
        g = GatewayProcess(tmp_path / "data", config)
        g.start()
        try:
            wait_for("four binds", lambda: binds(peer) == 4, 20)
            kinds = sorted(e["command"] for e in peer.events() if e["event"] == "bind")
            assert kinds == ["bind_receiver"] * 2 + ["bind_transmitter"] * 2
            sessions = {e["session"]: e["command"] for e in peer.events() if e["event"] == "bind"}
            citizen = "13800138015"
            assert deliver(peer, citizen, ucs2("两种绑定")) == ESME_ROK
            parts = submits(peer, citizen, 2)
            assert {sessions[p["session"]] for p in parts} == {"bind_transmitter"}
            assert one_report(g, citizen)["text"] == "两种绑定"
        finally:
            assert g.stop() == 0, g.log()


def test_same_text_after_the_incident_is_closed_is_a_new_alarm(
    smsc: Smsc, gw: GatewayProcess, supervisor: str
) -> None:
    """The idempotency window folds a redelivery, not a new alarm: once the first message's
    incident is no longer open, the same words from the same number open a new one."""
    citizen = "13800138017"
    assert deliver(smsc, citizen, ucs2("又有人砸车")) == ESME_ROK
    first = one_report(gw, citizen)["incident"]
    status, doc = gw.request(
        "POST",
        f"/api/v1/incidents/{first}/actions",
        {"action": "mark_invalid", "reason": "测试：误报"},
        token=supervisor,
    )
    assert status == 200, doc
    assert deliver(smsc, citizen, ucs2("又有人砸车")) == ESME_ROK
    got = wait_for(
        "a second report", lambda: (lambda r: r if len(r) == 2 else None)(reports(gw, citizen))
    )
    assert got[1]["incident"] != first


def test_reused_reference_files_the_first_message_and_keeps_the_second(
    smsc: Smsc, gw: GatewayProcess
) -> None:
    """Some senders use one concatenation reference for every long message. Message A's
    second part never comes; message B arrives with A's reference: A is filed at once with
    its gap marked, and B whole (neither part of B is taken for A's)."""
    citizen = "13800138018"
    assert deliver(smsc, citizen, udh(7, 2, 1) + ucs2("甲：门口有人，"), esm=0x40) == 0
    assert deliver(smsc, citizen, udh(7, 2, 1) + ucs2("乙：有人持刀，"), esm=0x40) == 0
    assert deliver(smsc, citizen, udh(7, 2, 2) + ucs2("在三楼"), esm=0x40) == 0
    got = wait_for(
        "both reports", lambda: (lambda r: r if len(r) == 2 else None)(reports(gw, citizen))
    )
    texts = sorted(r["text"] for r in got)
    assert texts == ["乙：有人持刀，在三楼", "甲：门口有人，[…缺第2段…]"]


def test_part_redelivered_after_its_message_was_filed_is_no_new_report(
    smsc: Smsc, gw: GatewayProcess
) -> None:
    citizen = "13800138019"
    for seq, text in ((1, "车里有个孩子被锁，"), (2, "停车场B2")):
        assert deliver(smsc, citizen, udh(3, 2, seq) + ucs2(text), esm=0x40) == ESME_ROK
    assert one_report(gw, citizen)["text"] == "车里有个孩子被锁，停车场B2"
    # Its answer lost, the SMSC sends part 2 again: acknowledged, and nothing new after the
    # reassembly timeout (3 s) either.
    assert deliver(smsc, citizen, udh(3, 2, 2) + ucs2("停车场B2"), esm=0x40) == ESME_ROK
    time.sleep(4)
    assert len(reports(gw, citizen)) == 1


def test_surrogate_pair_split_between_parts(smsc: Smsc, gw: GatewayProcess) -> None:
    """A sender that splits an emoji's surrogate pair between two parts: neither part
    decodes alone, the message does."""
    citizen = "13800138020"
    whole = "救命🆘在这".encode("utf-16-be")
    cut = len("救命".encode("utf-16-be")) + 2  # inside the pair
    for seq, body in ((1, whole[:cut]), (2, whole[cut:])):
        assert deliver(smsc, citizen, udh(4, 2, seq) + body.hex(), esm=0x40) == ESME_ROK
    assert one_report(gw, citizen)["text"] == "救命🆘在这"


def test_gbk_data_coding_15(smsc: Smsc, gw: GatewayProcess) -> None:
    """data_coding 15: GBK, as Chinese operators' gateways (CMPP, SGIP) send it."""
    citizen = "13800138021"
    assert deliver(smsc, citizen, "老人走失，穿灰色外套".encode("gbk").hex(), dc=15) == ESME_ROK
    assert one_report(gw, citizen)["text"] == "老人走失，穿灰色外套"
