"""A fax end to end: the chroot's Asterisk 22 sends a one-page Chinese fax (drawn here with a
CJK font) by SendFAX to the center's fax number, over a SIP/RTP loop on loopback that comes
back in through the carrier trunk (G.711 audio, spandsp on both ends, `tests/peers/faxsend.py`);
the shipped dialplan receives it (`[fax-in]`, ReceiveFAX) and its hangup AGI mails the TIFF to
a real gateway process's SMTP port; the gateway files a ``fax`` report from the caller's
number and then images and reads (tesseract, chi_sim) the page, which the incident document
shows. At fine and at standard resolution.

One gateway and one Asterisk for the module; a fax takes ~15 s, its OCR a few more. Where
Asterisk cannot run the tests skip (``ALARMGW_REQUIRE_ASTERISK=1``: fail), and so where
tesseract cannot read Chinese (``ALARMGW_REQUIRE_MAIL=1``: fail).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops

from gateway.channels.smtp import ocr
from tests.channels.smtp.faxpages import draw_page, tiff
from tests.channels.smtp.test_fax_asterisk import (
    FAX_DIR,
    FAX_LOG,
    FAX_NUMBER,
    caller_number,
    fax2mail_pids,
    fax_call,
)
from tests.peers.ami import AmiSession
from tests.peers.asterisk import Asterisk, available
from tests.peers.faxsend import send_fax, use_faxloop
from tests.peers.gateway import GatewayProcess, db, smtp_gateway

FAX_TO = "fax110@alarm.example.cn"  # one of sample_with_smtp's fax_recipients
CSID = "+86 28 8765 4321"
PAGE = ["报警：和平路12号银行门口", "有人持刀抢劫，请速派警", "联系电话13800138000"]
KEY_WORDS = ("和平路", "抢劫")
TIMEOUT = 90.0  # from SendFAX to the page's text on the incident


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    reason = available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_ASTERISK") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_ASTERISK=1 but {reason}")
        pytest.skip(reason)
    reason = ocr.available()
    if reason is not None:
        if os.environ.get("ALARMGW_REQUIRE_MAIL") == "1":
            pytest.fail(f"ALARMGW_REQUIRE_MAIL=1 but {reason}")
        pytest.skip(reason)
    g = smtp_gateway(tmp_path_factory.mktemp("fax-e2e"))
    g.start()
    yield g
    assert g.stop() == 0, g.log()


@pytest.fixture(scope="module")
def token(gw: GatewayProcess) -> str:
    return gw.token("li.jiejing", "calltaker")


@pytest.fixture(scope="module")
def asterisk(gw: GatewayProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Asterisk]:
    """Asterisk with the fax loop, its fax line mailing to the gateway."""
    ast = Asterisk(tmp_path_factory.mktemp("asterisk"))
    use_faxloop(ast)
    # No fax queued by an earlier run: its mail would go to this gateway too.
    shutil.rmtree(ast.host_path(FAX_DIR), ignore_errors=True)
    ast.host_path(FAX_LOG).unlink(missing_ok=True)
    ast.start()
    ast.set_global("ALARMGW_FAX_SMTP", f"127.0.0.1:{gw.smtp_port}")
    ast.set_global("ALARMGW_FAX_TO", FAX_TO)
    yield ast
    ast.stop()
    for pid in fax2mail_pids():
        os.kill(pid, signal.SIGKILL)
    shutil.rmtree(ast.host_path(FAX_DIR), ignore_errors=True)


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


def fax_reports(gw: GatewayProcess, uid: str) -> list[dict[str, Any]]:
    """The reports filed from the mail of the fax call `uid` (Message-ID <fax-UID@host>),
    with their receipt and incident number."""
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.doc, r.receipt, i.number FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.external_id LIKE ? ORDER BY r.id",
            (f"mail:fax-{uid}@%",),
        ).fetchall()
    return [json.loads(doc) | {"receipt": receipt, "number": n} for doc, receipt, n in rows]


def fetch(gw: GatewayProcess, path: str, token: str) -> tuple[int, bytes, str]:
    """GET a file of the incident: (status, the bytes, content type)."""
    request = urllib.request.Request(gw.base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, resp.read(), resp.headers["Content-Type"]


def until(deadline: float, what: str, fn: Any) -> Any:
    """fn()'s first true value before `deadline` (time.monotonic()); its last value shown
    when there is none."""
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not within {TIMEOUT:g} s of the fax: {what} (last: {last!r})")


@pytest.mark.parametrize(("resolution", "lines_per_m"), [("fine", "7700"), ("standard", "3850")])
def test_a_fax_end_to_end(
    gw: GatewayProcess,
    token: str,
    asterisk: Asterisk,
    ami: AmiSession,
    tmp_path: Path,
    resolution: str,
    lines_per_m: str,
) -> None:
    sent = draw_page(PAGE, resolution=resolution)
    page_file = tmp_path / f"alarm-{resolution}.tif"
    page_file.write_bytes(tiff([sent], compression="group3"))
    caller = caller_number()  # one incident per fax: the gateway correlates by sender
    mark = ami.mark()
    started = time.monotonic()
    deadline = started + TIMEOUT
    send_fax(asterisk, ami, page_file, number=FAX_NUMBER, caller=caller, station_id=CSID)
    uid = fax_call(ami, mark)
    received = ami.wait_event("ReceiveFAX", TIMEOUT, since=mark, Uniqueid=uid)
    assert received["PagesTransferred"] == "1", received
    assert received["Resolution"].endswith("x" + lines_per_m), received
    faxed = time.monotonic() - started

    # The report, at once (the fax script had its 250 after the commit).
    (report,) = until(deadline, "the fax report", lambda: fax_reports(gw, uid))
    filed = time.monotonic() - started
    assert report["channel"] == "fax"
    assert report["sender"] == {"kind": "phone", "id": caller, "name": CSID}
    assert "传真" in report["text"] and caller in report["text"]
    mail = report["extra"]["mail"]
    assert mail["fax"] == {"number": caller, "csid": CSID, "pages": 1, "resolution": resolution}
    assert mail["recipients"] == [FAX_TO]
    (attachment,) = report["attachments"]
    assert attachment["content_type"].startswith("image/tiff"), attachment

    # Then its page image and text on the incident.
    def read() -> dict[str, Any] | None:
        status, doc = gw.request("GET", f"/api/v1/incidents/{report['number']}", token=token)
        assert status == 200, doc
        final = doc["fax"] and all(d["status"] in ("done", "failed") for d in doc["fax"])
        return doc if final else None

    doc = until(deadline, "the fax page read", read)
    took = time.monotonic() - started
    assert [r["receipt"] for r in doc["reports"]] == [report["receipt"]]
    (document,) = doc["fax"]
    assert document["status"] == "done", document
    assert document["receipt"] == report["receipt"]
    (page,) = document["pages"]
    assert page["page"] == 1
    assert page["width"] == 1728
    assert page["stretched"] is (resolution == "standard")
    text = page["text"]
    print(f"{resolution}: OCR read {text!r}")
    for word in KEY_WORDS:
        assert word in text, text
    (event,) = [e for e in doc["events"] if e["action"] == "fax_ocr"]
    assert event["data"]["text"] == text

    status, png, content_type = fetch(gw, page["image"], token)
    assert (status, content_type) == (200, "image/png") and png[:8] == b"\x89PNG\r\n\x1a\n"
    # The page as drawn, line for line; at standard resolution each line doubled.
    expected = sent.resize((1728, sent.height * (1 + page["stretched"])), Image.Resampling.NEAREST)
    assert page["height"] == expected.height
    with Image.open(io.BytesIO(png)) as image:
        assert image.size == expected.size
        shown = image.convert("1")
    differ = ImageChops.logical_xor(shown, expected).histogram()[255]
    # On loopback none; a line hit by a bit error in audio without ECM spoils the rest of
    # its row at worst. A page cropped, shifted or stretched wrong differs in far more.
    assert differ < 1728 * 10, f"{differ} pixels differ from the page drawn"
    status, original, content_type = fetch(gw, document["file"], token)
    assert status == 200 and original[:4] == b"II*\0", original[:16]
    print(
        f"{resolution}: faxed in {faxed:.1f} s, filed at {filed:.1f} s, read at {took:.1f} s; "
        f"{page['height']} rows shown, {differ} pixels differ from the page drawn"
    )
