"""The center's fax line on the real Asterisk 22 (the project's asterisk/ configuration):
a fax sent to the fax number reaches the gateway's SMTP port as a fax-to-mail.

The fax is sent by the same Asterisk (`tests/peers/faxsend.py`: SendFAX over a SIP/RTP
loop on loopback that comes back in as the carrier, G.711 audio) and received by the
shipped dialplan (`[from-carrier]` → `[fax-in]` → ReceiveFAX → hangup handler →
`agi-bin/alarmgw-fax2mail`). The gateway is stood in for by an aiosmtpd sink in a thread
of its own. A one-page fax takes ~15 s. Where Asterisk cannot run the tests skip with the
reason; `ALARMGW_REQUIRE_ASTERISK=1` turns the skip into a failure.
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from PIL import Image

from tests.peers.ami import AmiSession
from tests.peers.asterisk import CHROOT, Asterisk, available
from tests.peers.faxsend import fax_page, send_fax, use_faxloop
from tests.peers.gateway import free_port

FAX_NUMBER = "88110110"
FAX_TO = "fax@alarm.example.cn"
FAX_DIR = "/var/spool/asterisk/fax"
FAX_LOG = "/var/log/asterisk/alarmgw-fax2mail.log"
SHIPPED_FAX_GLOBALS = {"ALARMGW_FAX_SMTP": "127.0.0.1:2525", "ALARMGW_FAX_TO": FAX_TO}


# -- the gateway's stand-in -------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail: EmailMessage


class Sink:
    """An SMTP server that keeps what it is sent; `refuse` answers the first n DATA with
    451, as the gateway does when it cannot store."""

    def __init__(self, port: int | None = None, refuse: int = 0) -> None:
        self.port = port or free_port()
        self.refuse = refuse
        self.received: list[Received] = []
        self.refused = 0
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._cond:
            if self.refused < self.refuse:
                self.refused += 1
                return "451 4.3.0 try again later"
            mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(mail, EmailMessage)
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), mail))
            self._cond.notify_all()
        return "250 OK"

    def start(self) -> Sink:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mails_of(self, uniqueid: str) -> list[Received]:
        with self._cond:
            return [r for r in self.received if r.mail["X-Alarmgw-Fax-Uniqueid"] == uniqueid]

    def wait_for(self, uniqueid: str, timeout: float) -> Received:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.mails_of(uniqueid):
                left = deadline - time.monotonic()
                assert left > 0, f"no mail for fax {uniqueid} in {timeout} s"
                self._cond.wait(left)
            return self.mails_of(uniqueid)[0]


# -- fixtures ---------------------------------------------------------------------------


def fax2mail_pids() -> list[int]:
    """The fax-to-mail runs still going in Asterisk's root (detached from Asterisk)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != str(CHROOT):
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"alarmgw-fax2mail" in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    reason = available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_ASTERISK") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_ASTERISK=1 but {reason}")
        pytest.skip(reason)
    ast = Asterisk(tmp_path_factory.mktemp("asterisk"))
    use_faxloop(ast)
    shutil.rmtree(ast.host_path(FAX_DIR), ignore_errors=True)
    ast.host_path(FAX_LOG).unlink(missing_ok=True)
    ast.start()
    yield ast
    ast.stop()


@pytest.fixture
def ami(asterisk: Asterisk) -> Iterator[AmiSession]:
    session = AmiSession(
        asterisk.ami_host, asterisk.ami_port, asterisk.ami_user, asterisk.ami_secret
    ).connect()
    yield session
    session.close()
    # Shown by pytest only when the test failed.
    print(asterisk.log_tail(80))
    log = asterisk.host_path(FAX_LOG)
    if log.exists():
        print(log.read_text(encoding="utf-8", errors="replace")[-4000:])
    # Known state: no call up, no fax-to-mail run left, an empty spool, shipped globals.
    for pid in fax2mail_pids():
        os.kill(pid, signal.SIGKILL)
    if asterisk.running:
        asterisk.cli("channel request hangup all")
        for name, value in SHIPPED_FAX_GLOBALS.items():
            asterisk.set_global(name, value)
    shutil.rmtree(asterisk.host_path(FAX_DIR), ignore_errors=True)


@pytest.fixture
def sink(asterisk: Asterisk) -> Iterator[Sink]:
    """The gateway's SMTP port, where ALARMGW_FAX_SMTP points; started by the test."""
    s = Sink()
    asterisk.set_global("ALARMGW_FAX_SMTP", f"127.0.0.1:{s.port}")
    yield s
    s.stop()


def caller_number() -> str:
    return "028" + "".join(secrets.choice("0123456789") for _ in range(8))


def fax_call(ami: AmiSession, since: int) -> str:
    """The Uniqueid of the fax line's channel (its AlarmgwFax event)."""
    ev = ami.wait_event("UserEvent", 15, since=since, UserEvent="AlarmgwFax")
    assert ev["Called"] == FAX_NUMBER
    assert ev["Context"] == "fax-in"
    return ev["Uniqueid"]


def attachment(mail: EmailMessage) -> EmailMessage:
    parts = [p for p in mail.iter_attachments() if isinstance(p, EmailMessage)]
    assert len(parts) == 1, [p.get_content_type() for p in parts]
    return parts[0]


def spool(asterisk: Asterisk, *parts: str) -> Path:
    return asterisk.host_path(FAX_DIR).joinpath(*parts)


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.1)


def voice_call(ami: AmiSession, caller: str) -> str:
    """A call to the fax line that sends no fax (hangs up after 3 s); its Uniqueid."""
    mark = ami.mark()
    res = ami.action(
        "Originate",
        Channel=f"PJSIP/{FAX_NUMBER}@faxloop",
        Application="Wait",
        Data="3",
        CallerID=f'"voice" <{caller}>',
        Async="true",
    )
    assert res["Response"] == "Success", res
    return fax_call(ami, mark)


def flush(asterisk: Asterisk) -> int:
    """`alarmgw-fax2mail flush` as cron would run it in Asterisk's root."""
    script = "/usr/share/asterisk/agi-bin/alarmgw-fax2mail"
    out = subprocess.run(
        ["chroot", str(CHROOT), script, "flush"], capture_output=True, text=True, timeout=60
    )
    return out.returncode


# -- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resolution", "ydpi", "lines_per_m"), [("fine", 196, "7700"), ("standard", 98, "3850")]
)
def test_fax_arrives_as_mail(
    asterisk: Asterisk,
    ami: AmiSession,
    sink: Sink,
    tmp_path: Path,
    resolution: str,
    ydpi: int,
    lines_per_m: str,
) -> None:
    sink.start()
    caller = caller_number()
    page = fax_page(tmp_path / f"page-{resolution}.tif", resolution)
    mark = ami.mark()
    started = time.monotonic()
    send_fax(asterisk, ami, page, number=FAX_NUMBER, caller=caller, station_id="+86 28 8765 4321")
    uid = fax_call(ami, mark)

    got = sink.wait_for(uid, timeout=90)
    took = time.monotonic() - started
    received = ami.wait_event("ReceiveFAX", 5, since=mark, Uniqueid=uid)
    assert received["PagesTransferred"] == "1"

    mail = got.mail
    host = mail["Message-ID"].rpartition("@")[2].rstrip(">")
    assert got.rcpt_tos == [FAX_TO]
    assert got.mail_from == f"fax-server@{host}"
    assert mail["From"] == f"fax-server@{host}"
    assert mail["To"] == FAX_TO
    assert mail["Message-ID"] == f"<fax-{uid}@{host}>"
    assert mail["Subject"] == f"Facsimile received from {caller}"
    assert mail["X-Alarmgw-Fax-Caller"] == caller
    assert mail["X-Alarmgw-Fax-CSID"] == "+86 28 8765 4321"
    assert mail["X-Alarmgw-Fax-Pages"] == "1"
    assert mail["X-Alarmgw-Fax-Status"] == "SUCCESS"
    assert mail["X-Alarmgw-Fax-Uniqueid"] == uid
    assert mail["X-Alarmgw-Fax-Called"] == FAX_NUMBER
    assert re.fullmatch(rf"\d+x{lines_per_m}", mail["X-Alarmgw-Fax-Resolution"])
    body = mail.get_body(("plain",))
    assert body is not None and caller in body.get_content()

    tiff = attachment(mail)
    assert tiff.get_content_type() == "image/tiff"
    assert tiff.get_param("application") == "faxbw"
    assert tiff.get_filename() == f"fax-{uid}.tif"
    with Image.open(io.BytesIO(tiff.get_content())) as img:
        assert img.n_frames == 1
        assert img.width == 1728
        xdpi, got_ydpi = img.info["dpi"]
        assert round(xdpi) == 204 and abs(got_ydpi - ydpi) < 2, img.info

    # Taken: the queue entry is gone, the TIFF kept under sent/, nothing sent twice.
    wait_until(lambda: not fax2mail_pids(), 10, "the fax-to-mail run ended")
    assert not spool(asterisk, "outgoing-mail", f"{uid}.eml").exists()
    assert spool(asterisk, "sent", f"{uid}.tif").exists()
    assert len(sink.received) == 1
    print(f"{resolution}: fax sent and mailed in {took:.1f} s")


def test_gateway_down_at_hangup(
    asterisk: Asterisk, ami: AmiSession, sink: Sink, tmp_path: Path
) -> None:
    """The gateway's SMTP is closed when the fax ends and answers 451 at first when it
    comes up: the fax is kept, retried, and arrives exactly once."""
    sink.refuse = 1
    caller = caller_number()
    mark = ami.mark()
    send_fax(asterisk, ami, fax_page(tmp_path / "page.tif", "standard"), caller=caller)
    uid = fax_call(ami, mark)
    ami.wait_event("ReceiveFAX", 60, since=mark, Uniqueid=uid)
    entry = spool(asterisk, "outgoing-mail", f"{uid}.eml")
    wait_until(entry.exists, 10, "the mail queued")
    assert spool(asterisk, f"{uid}.tif").exists()

    time.sleep(5)
    assert entry.exists() and not sink.received
    sink.start()
    got = sink.wait_for(uid, timeout=40)
    assert sink.refused == 1
    assert got.mail["X-Alarmgw-Fax-Caller"] == caller
    assert got.mail["X-Alarmgw-Fax-Status"] == "SUCCESS"
    wait_until(lambda: not fax2mail_pids(), 10, "the fax-to-mail run ended")
    assert not entry.exists()
    assert spool(asterisk, "sent", f"{uid}.tif").exists()
    assert len(sink.received) == 1
    log = asterisk.host_path(FAX_LOG).read_text()
    assert re.search(rf"{re.escape(uid)}: attempt \d+ .* failed \(ConnectionRefused", log)
    assert re.search(rf"{re.escape(uid)}: attempt \d+ .* failed \(451 ", log)


def test_failed_fax_is_reported(asterisk: Asterisk, ami: AmiSession, sink: Sink) -> None:
    """A caller who hangs up before any page came is still reported, without attachment:
    someone tried to fax the center."""
    sink.start()
    caller = caller_number()
    uid = voice_call(ami, caller)
    mail = sink.wait_for(uid, timeout=30).mail
    assert mail["X-Alarmgw-Fax-Status"] == "FAILED"
    assert mail["X-Alarmgw-Fax-Pages"] == "0"
    assert mail["X-Alarmgw-Fax-Caller"] == caller
    assert mail["X-Alarmgw-Fax-Error"]
    assert mail["Subject"] == f"Facsimile reception failed from {caller}"
    assert not list(mail.iter_attachments())
    body = mail.get_body(("plain",))
    assert body is not None and "call back" in body.get_content()


def test_queued_mail_goes_with_the_next_fax(
    asterisk: Asterisk, ami: AmiSession, sink: Sink
) -> None:
    """A mail whose run gave up (here: killed) stays queued; `flush` while the gateway is
    down leaves it there; the next fax's run sends it after its own. Each arrives once."""
    first = voice_call(ami, caller_number())
    entry = spool(asterisk, "outgoing-mail", f"{first}.eml")
    log = asterisk.host_path(FAX_LOG)
    wait_until(
        lambda: log.exists() and f"{first}: attempt 1" in log.read_text(), 15, "a failed try"
    )
    for pid in fax2mail_pids():
        os.kill(pid, signal.SIGKILL)
    assert flush(asterisk) == 1
    assert entry.exists()

    sink.start()
    second = voice_call(ami, caller_number())
    sink.wait_for(second, timeout=20)
    sink.wait_for(first, timeout=10)
    wait_until(lambda: not fax2mail_pids(), 10, "the fax-to-mail run ended")
    assert not entry.exists()
    assert sorted(r.mail["X-Alarmgw-Fax-Uniqueid"] for r in sink.received) == sorted(
        [first, second]
    )
    assert flush(asterisk) == 0
