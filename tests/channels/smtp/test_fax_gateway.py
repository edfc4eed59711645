"""Fax-to-mail end to end, from the fax server's mail on: a mail to the fax address (as our
Asterisk's fax script or HylaFAX sends it) → a real gateway process → a ``fax`` report at
once (250 after the commit), then the page images and, from tesseract in the gateway's OCR
worker process, the page text on the incident. The fax through the real Asterisk is in
test_fax_asterisk.py."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from gateway.channels.smtp import ocr
from tests.channels.smtp.faxpages import draw_page, pdf, tiff
from tests.channels.smtp.test_smtp_gateway import crlf, receipt_in, reports
from tests.peers.gateway import GatewayProcess, smtp_gateway, wait_for
from tests.peers.postfix import require_env

FAX = "fax110@alarm.example.cn"
FAX_SERVER = "fax-server@pbx.alarm.example.cn"
PAGE = ["报警：和平路12号银行门口", "有人持刀抢劫，请速派警", "联系电话 13800138000"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    reason = ocr.available()
    if reason is not None:
        if require_env():
            pytest.fail(f"ALARMGW_REQUIRE_MAIL=1 but {reason}")
        pytest.skip(reason)
    g = smtp_gateway(tmp_path_factory.mktemp("fax"))
    g.start()
    yield g
    assert g.stop() == 0, g.log()


@pytest.fixture(scope="module")
def token(gw: GatewayProcess) -> str:
    return gw.token("li.jiejing", "calltaker")


def fax_mail(
    document: bytes, content_type: str, name: str, message_id: str, **headers: str
) -> bytes:
    m = EmailMessage()
    m["From"] = FAX_SERVER
    m["To"] = FAX
    m["Message-ID"] = f"<{message_id}>"
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content("A fax was received.")
    maintype, subtype = content_type.split("/")
    params = {"application": "faxbw"} if content_type == "image/tiff" else {}
    m.add_attachment(document, maintype=maintype, subtype=subtype, filename=name, params=params)
    return m.as_bytes()


def send(gw: GatewayProcess, raw: bytes) -> str:
    with smtplib.SMTP("127.0.0.1", gw.smtp_port, timeout=30) as s:
        s.ehlo("pbx.alarm.example.cn")
        s.mail(FAX_SERVER)
        assert s.rcpt(FAX)[0] == 250
        code, answer = s.data(crlf(raw))
        assert code == 250, answer
        return answer.decode()


def fetch(gw: GatewayProcess, path: str, token: str) -> tuple[int, bytes, str]:
    """GET a file: (status, the bytes as they came, content type)."""
    request = urllib.request.Request(gw.base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return resp.status, resp.read(), resp.headers["Content-Type"]


def incident(gw: GatewayProcess, token: str, answer: str) -> dict[str, Any]:
    number = answer.split("incident ", 1)[1].split(",", 1)[0]
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=token)
    assert status == 200, doc
    return doc


def read_fax(gw: GatewayProcess, token: str, answer: str, timeout: float = 90) -> dict[str, Any]:
    """The incident once every fax document on it is read (or given up)."""

    def done() -> dict[str, Any] | None:
        doc = incident(gw, token, answer)
        final = doc["fax"] and all(d["status"] in ("done", "failed") for d in doc["fax"])
        return doc if final else None

    return wait_for("the fax read", done, timeout)


@pytest.mark.parametrize("resolution", ["fine", "standard"])
def test_a_fax_from_our_asterisk_is_read(gw: GatewayProcess, token: str, resolution: str) -> None:
    document = tiff([draw_page(PAGE, resolution=resolution)], compression="group4")
    caller = {"fine": "087163301234", "standard": "087163309876"}[resolution]
    raw = fax_mail(
        document,
        "image/tiff",
        f"fax-{resolution}.tif",
        f"fax-{resolution}@pbx.alarm.example.cn",
        Subject=f"Facsimile received from {caller}",
        X_Alarmgw_Fax_Caller=caller,
        X_Alarmgw_Fax_CSID="ALARM FAX",
        X_Alarmgw_Fax_Pages="1",
        X_Alarmgw_Fax_Resolution="204x98" if resolution == "standard" else "204x196",
        X_Alarmgw_Fax_Status="SUCCESS",
    )
    answer = send(gw, raw)
    (r,) = reports(gw, f"mail:fax-{resolution}@pbx.alarm.example.cn")
    assert r["receipt"] == receipt_in(answer)
    assert r["channel"] == "fax"
    assert r["sender"] == {"kind": "phone", "id": caller, "name": "ALARM FAX"}
    assert "传真" in r["text"] and caller in r["text"]
    doc = read_fax(gw, token, answer)
    (fax,) = doc["fax"]
    assert fax["status"] == "done", fax
    (page,) = fax["pages"]
    assert page["width"] == 1728
    assert page["stretched"] is (resolution == "standard")
    for word in ("和平路", "抢劫"):
        assert word in page["text"], page["text"]
    events = [e for e in doc["events"] if e["action"] == "fax_ocr"]
    assert events and "抢劫" in events[0]["data"]["text"]  # in the audit log, searchable
    status, png, content_type = fetch(gw, page["image"], token)
    assert (status, content_type) == (200, "image/png") and png[:8] == b"\x89PNG\r\n\x1a\n"
    status, original, content_type = fetch(gw, fax["file"], token)
    assert (status, content_type) == (200, "application/octet-stream")
    assert original == document


def test_a_hylafax_pdf_of_two_pages(gw: GatewayProcess, token: str) -> None:
    pages = [draw_page(PAGE), draw_page(["第二页：嫌疑人身穿黑色外套", "向东风路方向逃跑"])]
    raw = fax_mail(
        pdf(pages),
        "application/pdf",
        "fax.pdf",
        "hylafax-1@fax.example.cn",
        Subject="Facsimile received from +86 871 6330 5678",
    )
    answer = send(gw, raw)
    (r,) = reports(gw, "mail:hylafax-1@fax.example.cn")
    assert r["sender"]["kind"] == "phone" and r["sender"]["id"] == "+8687163305678"
    doc = read_fax(gw, token, answer)
    (fax,) = doc["fax"]
    assert [p["page"] for p in fax["pages"]] == [1, 2]
    assert "逃跑" in fax["pages"][1]["text"] or "东风路" in fax["pages"][1]["text"]


def test_an_unreadable_fax_document_is_still_an_alarm(gw: GatewayProcess, token: str) -> None:
    """A truncated TIFF: the report is stored at once; the document is marked unreadable
    for the call-taker (who still has the file), and nothing is retried forever."""
    document = tiff([draw_page(PAGE)])[:300]
    raw = fax_mail(
        document,
        "image/tiff",
        "broken.tif",
        "broken@pbx.alarm.example.cn",
        X_Alarmgw_Fax_Caller="13800138000",
    )
    answer = send(gw, raw)
    doc = read_fax(gw, token, answer)
    (fax,) = doc["fax"]
    assert fax["status"] == "failed" and fax["error"]
    assert any(e["action"] == "fax_unreadable" for e in doc["events"])
    assert doc["reports"][0]["sender"]["id"] == "13800138000"


def test_files_are_only_for_their_incident(gw: GatewayProcess, token: str, tmp_path: Path) -> None:
    document = tiff([draw_page(["测试"])])
    answer = send(
        gw, fax_mail(document, "image/tiff", "a.tif", "scope-a@pbx", X_Alarmgw_Fax_Caller="110001")
    )
    other = send(
        gw,
        fax_mail(
            document[:-1], "image/tiff", "b.tif", "scope-b@pbx", X_Alarmgw_Fax_Caller="220002"
        ),
    )
    assert other.split("incident ")[1] != answer.split("incident ")[1]
    doc = incident(gw, token, answer)
    sha = doc["reports"][0]["attachments"][0]["sha256"]
    number_b = other.split("incident ", 1)[1].split(",", 1)[0]
    status, body = gw.request("GET", f"/api/v1/incidents/{number_b}/files/{sha}", token=token)
    assert status == 404  # the other incident's file
    status, body = gw.request("GET", f"/api/v1/incidents/{doc['number']}/files/{sha}")
    assert status == 401, body
    assert json.dumps(body)  # an error document


def test_a_fax_call_without_pages_is_still_reported(gw: GatewayProcess, token: str) -> None:
    """Our Asterisk mails a failed reception too (no attachment): someone tried to fax the
    110 center, and a call-taker can call back."""
    m = EmailMessage()
    m["From"] = FAX_SERVER
    m["To"] = FAX
    m["Message-ID"] = "<fax-failed@pbx.alarm.example.cn>"
    m["Subject"] = "Facsimile reception failed from 13912345678"
    m["X-Alarmgw-Fax-Caller"] = "13912345678"
    m["X-Alarmgw-Fax-Pages"] = "0"
    m["X-Alarmgw-Fax-Status"] = "FAILED"
    m.set_content("传真接收失败，请回拨来电号码。\nFax reception failed.")
    answer = send(gw, m.as_bytes())
    (r,) = reports(gw, "mail:fax-failed@pbx.alarm.example.cn")
    assert r["receipt"] == receipt_in(answer)
    assert r["channel"] == "fax" and r["sender"]["id"] == "13912345678"
    assert "传真接收失败" in r["text"]
    assert incident(gw, token, answer)["fax"] == []


def test_a_missing_tesseract_is_said_at_start(tmp_path: Path) -> None:
    """Without tesseract (PATH without it) the gateway still starts and takes faxes, and
    says once why their pages will not be read."""
    g = smtp_gateway(tmp_path)
    g.env["PATH"] = str(tmp_path)  # nothing in it
    g.start()
    try:
        assert "fax pages will be imaged but not read: tesseract is not installed" in g.log()
    finally:
        assert g.stop() == 0, g.log()
