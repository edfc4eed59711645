"""Alarms by e-mail end to end: SMTP clients (Python's smtplib, and swaks, a third-party
client) → a real gateway process → its store and HTTP API, and its mail back out through a
smarthost (an aiosmtpd sink standing in for the site's MTA; the MTA tests with postfix are
in test_postfix.py).

Here: 250 only with the report stored (the raw message and the attachments with it), a
resend is the same report, a reused Message-ID with other content is not; 550 for any
other recipient, 552 over the size limit, 451 on a store failure (a real SQLite lock) and
the retry gives one report, the commit survives the client hanging up; Chinese mail in
every charset a Chinese mailbox sends; an unreadable message is still an alarm; the rate
limit; drills; the receipt and the call-taker's reply by mail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import quopri
import smtplib
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess, db, smtp_gateway, wait_for
from tests.peers.smtpsink import SmtpSink

ALARM = "110@alarm.example.cn"
CITIZEN = "wang.fang@example.com"
DRILLER = "drill@alarm.example.cn"
MAX_SIZE = 200_000
NANBA = "530102510000"  # 南坝派出所 in the sample city
DUTY = "duty.nanba@police.example.cn"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        s.start()
        yield s


def start_gateway(tmp: Path, sink: SmtpSink, busy_timeout_ms: int) -> GatewayProcess:
    extra = (
        f"max_message_size = {MAX_SIZE}\n"
        f'smarthost = "127.0.0.1:{sink.port}"\n'
        'mail_from = "110@alarm.example.cn"\n'
        "send_retry_seconds = 1\n"
        f'drill_senders = ["{DRILLER}"]\n'
        'drill_header_senders = ["trainer@alarm.example.cn"]\n'
        "ocr = false\n"
        "[channels.smtp.rate_limit]\nmessages = 1000\nconnections = 4\n"
    )

    def duty_mailbox(text: str) -> str:
        webhook = f'{{ kind = "webhook", address = "http://127.0.0.1:9/units/{NANBA}" }},'
        assert webhook in text
        target = f'{{ kind = "email", address = "{DUTY}", name = "南坝派出所值班邮箱" }},'
        return text.replace(webhook, f"{webhook}\n    {target}")

    g = smtp_gateway(tmp, extra, busy_timeout_ms=busy_timeout_ms, edit=duty_mailbox)
    g.start()
    return g


@pytest.fixture(scope="module")
def gw(sink: SmtpSink, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = start_gateway(tmp_path_factory.mktemp("smtp"), sink, busy_timeout_ms=300)
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


# -- helpers --------------------------------------------------------------------------------


def smtp(gw: GatewayProcess) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=20)


def send(gw: GatewayProcess, raw: bytes, to: str = ALARM, sender: str = CITIZEN) -> tuple[int, str]:
    """One transaction; (code, text) of the answer to DATA (or of the refusal before)."""
    with smtp(gw) as s:
        s.ehlo("client.example.com")
        code, said = s.mail(sender)
        if code != 250:
            return code, said.decode()
        code, said = s.rcpt(to)
        if code != 250:
            return code, said.decode()
        # smtplib sends bytes as they are: lines must end in CRLF (RFC 5321 §2.3.8).
        code, said = s.data(crlf(raw))
        return code, said.decode()


def crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def mail(
    text: str = "和平路12号有人抢劫",
    subject: str = "报警",
    sender: str = CITIZEN,
    message_id: str | None = None,
    **headers: str,
) -> bytes:
    m = EmailMessage()
    m["From"] = f"王芳 <{sender}>"
    m["To"] = ALARM
    m["Subject"] = subject
    m["Message-ID"] = message_id or f"<{time.monotonic_ns()}@example.com>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(text)
    return m.as_bytes()


def reports(gw: GatewayProcess, external_id: str) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT doc, receipt FROM reports WHERE external_id LIKE ? ORDER BY id",
            (external_id + "%",),
        ).fetchall()
    return [json.loads(doc) | {"receipt": receipt} for doc, receipt in rows]


def blob(gw: GatewayProcess, sha: str) -> bytes | None:
    with db(gw) as conn:
        row = conn.execute("SELECT data FROM mail_blobs WHERE sha256 = ?", (sha,)).fetchone()
    return None if row is None else bytes(row[0])


def receipt_in(answer: str) -> str:
    return answer.rsplit("receipt ", 1)[1].strip()


# -- 250 after the commit -------------------------------------------------------------------


def test_a_mail_is_an_alarm_with_its_raw_message_and_attachments(gw: GatewayProcess) -> None:
    m = EmailMessage()
    m["From"] = f"王芳 <{CITIZEN}>"
    m["To"] = ALARM
    m["Subject"] = "紧急：和平路12号银行门口有人持刀"
    m["Message-ID"] = "<first-alarm@example.com>"
    m.set_content("我在和平路12号，银行门口有人持刀抢劫，请快来。电话13800138000")
    photo = b"\x89PNG\r\n\x1a\n" + b"photo" * 100
    m.add_attachment(photo, maintype="image", subtype="png", filename="现场照片.png")
    raw = m.as_bytes()
    code, answer = send(gw, raw)
    assert code == 250, answer
    assert "incident" in answer and "receipt" in answer
    (r,) = reports(gw, "mail:first-alarm@example.com")
    assert r["receipt"] == receipt_in(answer)
    assert r["channel"] == "email"
    assert r["sender"] == {"kind": "email", "id": CITIZEN, "name": "王芳"}
    assert r["text"].startswith("紧急：和平路12号银行门口有人持刀")
    assert "持刀抢劫" in r["text"]
    (a,) = r["attachments"]
    assert a["name"] == "现场照片.png" and a["content_type"] == "image/png"
    assert a["sha256"] == hashlib.sha256(photo).hexdigest()
    assert blob(gw, a["sha256"]) == photo  # committed with the report
    raw_sha = r["raw_ref"].removeprefix("mail-blob:")
    stored_raw = blob(gw, raw_sha)
    assert stored_raw is not None and hashlib.sha256(stored_raw).hexdigest() == raw_sha
    assert b"first-alarm@example.com" in stored_raw
    assert r["extra"]["mail"]["envelope_from"] == CITIZEN
    assert r["extra"]["mail"]["recipients"] == [ALARM]
    assert not list((gw.data_dir.parent / "spool").iterdir())  # nothing left in the spool


def test_a_resend_is_the_same_report(gw: GatewayProcess) -> None:
    """The MTA did not see our 250 and sends the message again: the same receipt."""
    raw = mail(message_id="<resent@example.com>")
    code1, answer1 = send(gw, raw)
    code2, answer2 = send(gw, raw.replace(b"Subject:", b"Received: from relay2\r\nSubject:"))
    assert (code1, code2) == (250, 250)
    assert receipt_in(answer1) == receipt_in(answer2)
    assert len(reports(gw, "mail:resent@example.com")) == 1


def test_a_reused_message_id_with_other_content_is_another_alarm(gw: GatewayProcess) -> None:
    code1, answer1 = send(gw, mail("第一封：东风路有人打架", message_id="<same@example.com>"))
    code2, answer2 = send(gw, mail("第二封：南坝路着火了", message_id="<same@example.com>"))
    assert (code1, code2) == (250, 250)
    assert receipt_in(answer1) != receipt_in(answer2)
    texts = [r["text"] for r in reports(gw, "mail:same@example.com")]
    assert len(texts) == 2 and "打架" in texts[0] and "着火" in texts[1]


def test_a_message_without_message_id_is_known_by_its_hash(gw: GatewayProcess) -> None:
    raw = (f"From: {CITIZEN}\r\nTo: {ALARM}\r\nSubject: no id\r\n\r\n东风路车祸\r\n").encode()
    code, answer = send(gw, raw)
    assert code == 250, answer
    assert send(gw, raw)[1] == answer
    digest = hashlib.sha256(raw).hexdigest()
    assert len(reports(gw, f"mail-sha256:{digest}")) == 1


# -- refused --------------------------------------------------------------------------------


def test_any_other_recipient_is_refused_at_rcpt(gw: GatewayProcess) -> None:
    """Never an open relay: 550 for an address that is not ours, and nothing stored."""
    for rcpt in ("someone@example.org", "111@alarm.example.cn", "110@alarm.example.com"):
        code, answer = send(gw, mail(message_id="<relay@example.com>"), to=rcpt)
        assert code == 550, answer
        assert "not a relay" in answer
    assert reports(gw, "mail:relay@example.com") == []


def test_the_alarm_address_is_not_case_sensitive(gw: GatewayProcess) -> None:
    code, answer = send(gw, mail(message_id="<case@example.com>"), to="110@ALARM.example.CN")
    assert code == 250, answer


def test_too_big_is_552(gw: GatewayProcess) -> None:
    raw = mail("大" * MAX_SIZE, message_id="<big@example.com>")
    code, answer = send(gw, raw)
    assert code == 552, answer
    assert reports(gw, "mail:big@example.com") == []
    with smtp(gw) as s:  # declared too big in MAIL FROM's SIZE (RFC 1870): refused at once
        s.ehlo("client.example.com")
        code, _ = s.mail(CITIZEN, [f"SIZE={MAX_SIZE * 2}"])
        assert code == 552


def test_swaks_is_answered_250(gw: GatewayProcess) -> None:
    """A third-party client: swaks, as an operator would test the address."""
    out = subprocess.run(
        [
            "swaks", "--server", f"127.0.0.1:{gw.smtp_port}",
            "--from", CITIZEN, "--to", ALARM, "--helo", "client.example.com",
            "--header", "Subject: swaks test", "--header", "Message-Id: <swaks-1@example.com>",
            "--body", "swaks: 东风路有人晕倒",
        ],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "<-  250 2.0.0 OK alarm stored" in out.stdout
    (r,) = reports(gw, "mail:swaks-1@example.com")
    assert "东风路有人晕倒" in r["text"]


# -- the store fails: 451, and the retry is one report ---------------------------------------


def test_store_failure_is_451_and_the_retry_gives_one_report(gw: GatewayProcess) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout. Nothing is stored, the client hears 451 (try later, never a 5xx
    for our own fault); the retry after the lock is gone, and a second one (our 250 lost),
    give one report."""
    raw = mail("南坝路有人溺水", message_id="<locked@example.com>")
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        code, answer = send(gw, raw)
        assert code == 451, answer
        assert answer.startswith("4.3.0")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert reports(gw, "mail:locked@example.com") == []
    assert send(gw, raw)[0] == 250
    assert send(gw, raw)[0] == 250
    assert len(reports(gw, "mail:locked@example.com")) == 1


def test_a_client_hanging_up_does_not_cancel_the_commit(sink: SmtpSink, tmp_path: Path) -> None:
    """The client sends the message and closes the connection while the commit waits for
    the store (a lock held 1 s, inside this gateway's 5 s busy timeout): the report is
    stored all the same (aiosmtpd cancels the session's handler on a hang-up; the commit is
    shielded from it). The client, not having seen 250, will send again: the same receipt."""
    gw = start_gateway(tmp_path, sink, busy_timeout_ms=5000)
    try:
        raw = mail("和平路有人跳楼", message_id="<hangup@example.com>")
        lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
        lock.isolation_level = None
        port = gw.smtp_port
        with socket.create_connection(("127.0.0.1", port)) as c:
            f = c.makefile("rwb")

            def say(line: bytes) -> bytes:
                f.write(line + b"\r\n")
                f.flush()
                return f.readline()

            assert f.readline().startswith(b"220")
            assert say(b"HELO client.example.com").startswith(b"250")
            assert say(b"MAIL FROM:<" + CITIZEN.encode() + b">").startswith(b"250")
            assert say(b"RCPT TO:<" + ALARM.encode() + b">").startswith(b"250")
            assert say(b"DATA").startswith(b"354")
            lock.execute("BEGIN IMMEDIATE")
            f.write(crlf(raw) + b".\r\n")
            f.flush()
            time.sleep(0.3)  # the gateway has the whole message and waits on the lock
        time.sleep(0.7)  # hung up
        assert reports(gw, "mail:hangup@example.com") == []
        lock.execute("ROLLBACK")
        lock.close()
        (r,) = wait_for("the report", lambda: reports(gw, "mail:hangup@example.com") or None, 10)
        code, answer = send(gw, raw)
        assert code == 250 and receipt_in(answer) == r["receipt"]
    finally:
        assert gw.stop() == 0, gw.log()


# -- Chinese mail ------------------------------------------------------------------------------


def _single(charset: str, cte: str, body: bytes, subtype: str = "plain") -> bytes:
    """One text part in `charset`, its subject an RFC 2047 encoded word in the same."""
    encoded = base64.b64encode(_subject(charset).encode(_codec(charset))).decode()
    head = (
        f"From: {CITIZEN}\r\nTo: {ALARM}\r\nSubject: =?{charset}?B?{encoded}?=\r\n"
        f"Message-ID: <cs-{charset}-{cte}-{subtype}@example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/{subtype}; charset={charset}\r\n"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + body + b"\r\n"


def _subject(charset: str) -> str:
    return "報警" if charset == "big5" else "报警"


def _codec(charset: str) -> str:
    return "gb18030" if charset == "gb2312" else charset


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _qp(data: bytes) -> bytes:
    return quopri.encodestring(data).replace(b"\n", b"\r\n")


CHARSET_CASES = [
    ("gb18030", "8bit", "朱镕基路有人抢劫𠀀".encode("gb18030"), "plain", "朱镕基路有人抢劫"),
    # Labelled gb2312, holding a GBK-only character (镕): read as GB18030, not mojibake.
    ("gb2312", "8bit", "朱镕基路有人抢劫".encode("gbk"), "plain", "朱镕基路有人抢劫"),
    ("gbk", "base64", _b64("东风路火灾，三楼有人被困".encode("gbk")), "plain", "三楼有人被困"),
    ("big5", "quoted-printable", _qp("台北路有人受傷".encode("big5")), "plain", "台北路有人受傷"),
    ("utf-8", "8bit", "和平路发生车祸，两人受伤".encode(), "plain", "两人受伤"),
    ("utf-8", "quoted-printable", _qp("银行门口有可疑包裹".encode()), "plain", "可疑包裹"),
    ("utf-8", "base64", _b64("小区里有人吵架".encode()), "plain", "有人吵架"),
    (
        "utf-8",
        "base64",
        _b64("<html><body><p>地址：<b>南坝路8号</b></p><p>有人持刀</p></body></html>".encode()),
        "html",
        "南坝路8号",
    ),
]


@pytest.mark.parametrize(
    ("charset", "cte", "body", "subtype", "expected"),
    CHARSET_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CHARSET_CASES],
)
def test_chinese_mail(
    gw: GatewayProcess, charset: str, cte: str, body: bytes, subtype: str, expected: str
) -> None:
    raw = _single(charset, cte, body, subtype)
    code, answer = send(gw, raw)
    assert code == 250, answer
    (r,) = reports(gw, f"mail:cs-{charset}-{cte}-{subtype}@example.com")
    assert r["text"].startswith(_subject(charset))
    assert expected in r["text"]
    assert "<" not in r["text"]  # HTML as text


def test_an_unreadable_message_is_still_an_alarm(gw: GatewayProcess) -> None:
    """Bytes that are no e-mail at all: stored (the raw kept) and shown to a call-taker,
    never bounced because our parser could not read it."""
    raw = b"\x00\x01\x02 not a mail \xff\xfe\r\n\r\n\x80\x81\r\n"
    code, answer = send(gw, raw)
    assert code == 250, answer
    (r,) = reports(gw, "mail-sha256:" + hashlib.sha256(raw).hexdigest())
    assert CITIZEN in r["text"]
    assert blob(gw, hashlib.sha256(raw).hexdigest()) == raw


# -- drills --------------------------------------------------------------------------------------


def test_drills(gw: GatewayProcess) -> None:
    send(
        gw, mail("演练：和平路抢劫", sender=DRILLER, message_id="<d1@example.com>"), sender=DRILLER
    )
    marked = mail(
        "演练：东风路火灾",
        sender="trainer@alarm.example.cn",
        message_id="<d2@example.com>",
        X_Alarmgw_Drill="1",
    )
    send(gw, marked, sender="trainer@alarm.example.cn")
    forged = mail("东风路火灾", message_id="<d3@example.com>", X_Alarmgw_Drill="1")
    send(gw, forged)
    assert reports(gw, "mail:d1@example.com")[0]["drill"] is True
    assert reports(gw, "mail:d2@example.com")[0]["drill"] is True
    assert reports(gw, "mail:d3@example.com")[0]["drill"] is False  # not an allowed sender


# -- mail back ---------------------------------------------------------------------------------


def test_the_citizen_gets_a_receipt_by_mail_and_the_calltaker_replies(
    gw: GatewayProcess, sink: SmtpSink
) -> None:
    who = "li.lei@example.net"
    code, answer = send(
        gw, mail("南坝路有人打架", sender=who, message_id="<thread@example.net>"), sender=who
    )
    assert code == 250, answer
    receipt = receipt_in(answer)
    (r,) = reports(gw, "mail:thread@example.net")

    def to_who() -> list[Any]:
        return [m for m in sink.messages() if who in m.rcpt_tos]

    (got,) = wait_for("the receipt mail", lambda: to_who() or None, 15)
    m = message_from_bytes(got.content, policy=policy.default)
    assert m["In-Reply-To"] == "<thread@example.net>"
    assert m["Auto-Submitted"] == "auto-replied"
    assert m["Date"].datetime.utcoffset().total_seconds() == 8 * 3600  # city time
    body = m.get_content()
    assert receipt in body and "110" in body
    number = answer.split("incident ", 1)[1].split(",", 1)[0]
    assert number in m["Subject"]
    token = gw.token("li.jiejing", "calltaker")
    status, out = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply_mail", "message": "民警已出发，请在原地等候。"},
        token=token,
    )
    assert status == 202, out
    assert out["mail"]["to"] == who
    wait_for("the reply", lambda: len(to_who()) == 2 or None, 15)
    reply = message_from_bytes(to_who()[1].content, policy=policy.default)
    assert reply.get_content().strip() == "民警已出发，请在原地等候。"
    assert reply["In-Reply-To"] == "<thread@example.net>"
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
    assert status == 200
    kinds = [(x["kind"], x["status"]) for x in doc["mail"]]
    assert ("receipt", "sent") in kinds
    wait_for(
        "the reply recorded as sent",
        lambda: (
            ("reply", "sent")
            in [
                (x["kind"], x["status"])
                for x in gw.request("GET", f"/api/v1/incidents/{number}", token=token)[1]["mail"]
            ]
            or None
        ),
    )
    assert r["receipt"] == receipt


def test_a_bounce_is_stored_but_never_answered(gw: GatewayProcess, sink: SmtpSink) -> None:
    """MAIL FROM:<> (a bounce, RFC 5321 §4.5.5): an alarm like any other mail, but no
    receipt goes back (two robots would answer each other for ever)."""
    who = "mailer-daemon@example.org"
    raw = mail("Undelivered Mail Returned to Sender", sender=who, message_id="<bounce@ex.org>")
    code, answer = send(gw, raw, sender="")
    assert code == 250, answer
    (r,) = reports(gw, "mail:bounce@ex.org")
    assert r["extra"]["mail"]["auto"] is True and "envelope_from" not in r["extra"]["mail"]
    time.sleep(1.5)  # the receipt of a mail is sent within a poll (0.5 s)
    assert not [m for m in sink.messages() if who in m.rcpt_tos]


def test_state_updates_by_mail(gw: GatewayProcess, sink: SmtpSink) -> None:
    """Dispatched and closed: the citizen hears of each once, in Chinese (config `updates`)."""
    who = "zhao.min@example.org"
    raw = mail("南坝路有人打架", sender=who, message_id="<updates@example.org>")
    code, answer = send(gw, raw, sender=who)
    assert code == 250, answer
    number = answer.split("incident ", 1)[1].split(",", 1)[0]
    token = gw.token("zhang.zhihui", "supervisor")
    for body in (
        {"action": "accept", "category": "public_order", "priority": 2},
        {"action": "dispatch", "unit": NANBA},
    ):
        status, doc = gw.request("POST", f"/api/v1/incidents/{number}/actions", body, token=token)
        assert status == 200, doc

    def updates() -> list[Any]:
        got = [m for m in sink.messages() if who in m.rcpt_tos]
        parsed = [message_from_bytes(m.content, policy=policy.default) for m in got]
        return [m for m in parsed if "处理进展" in m["Subject"]]

    (update,) = wait_for("the dispatched update", lambda: updates() or None, 15)
    assert "已派警处置" in update.get_content() and number in update.get_content()
    assert update["In-Reply-To"] == "<updates@example.org>"
    # The duty mailbox of the unit got the notice (the outbox's kind email).
    notices = wait_for(
        "the duty notice",
        lambda: (
            [m for m in sink.messages() if DUTY in m.rcpt_tos and number.encode() in m.content]
            or None
        ),
        15,
    )
    notice = message_from_bytes(notices[0].content, policy=policy.default)
    assert number in notice["Subject"] and "治安" in notice["Subject"]
    assert "南坝路有人打架" in notice.get_content()


def test_reply_mail_to_an_incident_nobody_mailed_is_409(gw: GatewayProcess) -> None:
    status, receipt = gw.request(
        "POST", "/api/v1/reports", {"sender": {"kind": "phone", "id": "13800000000"}, "text": "x"}
    )
    assert status == 201
    token = gw.token("li.jiejing", "calltaker")
    number = receipt["incident"]["number"]
    status, out = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply_mail", "message": "您好"},
        token=token,
    )
    assert status == 409, out
    assert "nobody wrote" in out["message"]


# -- the rate limit ------------------------------------------------------------------------------


def test_connections_over_the_limit_get_421(gw: GatewayProcess) -> None:
    held = [smtp(gw) for _ in range(4)]
    try:
        with socket.create_connection(("127.0.0.1", gw.smtp_port), timeout=5) as c:
            assert c.makefile("rb").readline().startswith(b"421 4.7.0")
    finally:
        for s in held:
            s.close()
    assert send(gw, mail())[0] == 250  # the service goes on


def test_keeps_running_after_garbage(gw: GatewayProcess, tmp_path: Path) -> None:
    with socket.create_connection(("127.0.0.1", gw.smtp_port), timeout=5) as c:
        c.sendall(b"\xff\xfe\x00 GARBAGE\r\n" * 50 + b"A" * 70000 + b"\r\nQUIT\r\n")
        c.recv(65536)
    assert send(gw, mail())[0] == 250
