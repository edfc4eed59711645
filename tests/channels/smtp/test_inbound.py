"""From the bytes after DATA to the report the channel files (`mime.parse` then
`inbound.file_mail`): whatever comes, a report the intake accepts (it passes
report.schema.json and round-trips through JSON), its blobs the bytes that came, and
memory bounded on the known bombs."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from datetime import UTC, datetime

import fastjsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.smtp import mime
from gateway.channels.smtp.inbound import BLOB_REF, Envelope, file_mail
from gateway.channels.smtp.settings import SmtpSettings
from gateway.report import Report
from gateway.schemas import load_schema
from tests.channels.smtp.faxpages import draw_page, tiff
from tests.channels.smtp.test_mime import attachment_named, multipart

SETTINGS = SmtpSettings(
    recipients=("110@alarm.example.cn",),
    fax_recipients=("fax110@alarm.example.cn",),
    drill_senders=("drill@alarm.example.cn",),
    drill_header_senders=("trainer@alarm.example.cn",),
)
T = datetime(2026, 11, 26, 1, 2, 3, tzinfo=UTC)
VALID = fastjsonschema.compile(load_schema("report.schema.json"))


def filed(raw: bytes, to: str = "110@alarm.example.cn", sender: str | None = "a@example.com"):  # type: ignore[no-untyped-def]
    envelope = Envelope(sender, (to,), "192.0.2.7", "client.example.com")
    return file_mail(raw, mime.parse(raw, sender), envelope, SETTINGS, T)


def assert_acceptable(raw: bytes, to: str = "110@alarm.example.cn") -> Report:
    f = filed(raw, to)
    doc = f.report.to_json()
    VALID(doc)  # what the intake checks every report against
    assert Report.from_json(doc) == f.report
    raw_blob = f.blobs[0]
    assert raw_blob.data == raw and raw_blob.sha256 == hashlib.sha256(raw).hexdigest()
    assert f.report.raw_ref == BLOB_REF + raw_blob.sha256
    shas = {b.sha256 for b in f.blobs}
    for a in f.report.attachments:
        assert a.sha256 in shas
    for b in f.blobs:
        assert hashlib.sha256(b.data).hexdigest() == b.sha256
    return f.report


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=20_000), st.sampled_from(["110@alarm.example.cn", "fax110@alarm.example.cn"])
)
def test_any_bytes_are_a_report_the_intake_accepts(raw: bytes, to: str) -> None:
    report = assert_acceptable(raw, to)
    assert report.channel == ("fax" if to.startswith("fax") else "email")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=0), st.booleans())
def test_a_real_mail_with_junk_inserted(junk: bytes, where: int, fax: bool) -> None:
    raw = bytearray(
        multipart(
            b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + "和平路有人抢劫".encode("gbk"),
            attachment_named(b'attachment; filename="=?utf-8?B?5oql6K2m?=.jpg"'),
        )
    )
    at = where % (len(raw) + 1)
    raw[at:at] = junk
    assert_acceptable(bytes(raw), "fax110@alarm.example.cn" if fax else "110@alarm.example.cn")


def test_many_attachments_are_cut_to_twenty_with_a_note() -> None:
    parts = [attachment_named(f"attachment; filename=p{i}.jpg".encode()) for i in range(25)]
    f = filed(multipart(b"\r\nbody", *parts))
    assert len(f.report.attachments) == 20
    assert any("more than 20 attachments" in p for p in f.problems)


def test_a_fax_document_is_queued_for_pages() -> None:
    document = tiff([draw_page(["测试"])])
    raw = multipart(
        b"X-Alarmgw-Fax-Caller: 13800138000\r\n\r\nignored",
        b"Content-Type: image/tiff; application=faxbw\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: attachment; filename=fax.tif\r\n\r\n"
        + base64.encodebytes(document).replace(b"\n", b"\r\n"),
    )
    f = filed(raw, "fax110@alarm.example.cn")
    assert f.fax_documents == (hashlib.sha256(document).hexdigest(),)
    assert f.report.extra["mail"]["fax_documents"] == list(f.fax_documents)
    # The same document to the alarm address is an e-mail attachment, not a fax.
    assert filed(raw).fax_documents == ()


@pytest.mark.parametrize(
    ("sender", "header", "drill"),
    [
        ("drill@alarm.example.cn", "", True),
        ("trainer@alarm.example.cn", "X-Alarmgw-Drill: 1\r\n", True),
        ("trainer@alarm.example.cn", "", False),
        ("a@example.com", "X-Alarmgw-Drill: 1\r\n", False),
    ],
)
def test_drills(sender: str, header: str, drill: bool) -> None:
    raw = f"From: {sender}\r\n{header}Subject: x\r\n\r\nbody\r\n".encode()
    assert filed(raw, sender=sender).report.drill is drill


@pytest.mark.parametrize(
    ("headers", "sender", "automatic"),
    [
        ("", "a@example.com", False),
        ("", None, True),  # a bounce (MAIL FROM:<>)
        ("Auto-Submitted: auto-replied\r\n", "a@example.com", True),
        ("Auto-Submitted: no\r\n", "a@example.com", False),
        ("Precedence: bulk\r\n", "a@example.com", True),
    ],
)
def test_automatic_mail_is_not_answered(headers: str, sender: str | None, automatic: bool) -> None:
    raw = f"From: a@example.com\r\n{headers}Subject: x\r\n\r\nbody\r\n".encode()
    assert bool(filed(raw, sender=sender).report.extra["mail"].get("auto")) is automatic


def test_the_content_key_ignores_the_way_it_came() -> None:
    raw = b"From: a@example.com\r\nMessage-ID: <k@example.com>\r\nSubject: x\r\n\r\nbody\r\n"
    relayed = b"Received: from mx2.example.com\r\n" + raw
    other = raw.replace(b"body", b"another body")
    key = filed(raw).report.extra["mail"]["content_key"]
    assert filed(relayed).report.extra["mail"]["content_key"] == key
    assert filed(other).report.extra["mail"]["content_key"] != key


@pytest.mark.parametrize(
    "bomb",
    [
        # 100 000 nested multiparts
        b"".join(
            b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
            for i in range(100_000)
        ),
        # 200 000 header fields
        b"X-A: 1\r\n" * 200_000 + b"\r\nbody",
        # one header field of 4 MB
        b"Subject: " + b"a" * 4_000_000 + b"\r\n\r\nbody",
        # 50 000 parts
        multipart(*[b"\r\nx"] * 50_000),
    ],
    ids=["nested", "headers", "long-header", "parts"],
)
def test_bombs_stay_small(bomb: bytes) -> None:
    tracemalloc.start()
    try:
        report = assert_acceptable(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.text
    # The raw bytes themselves are kept (they are the evidence); the rest stays within a
    # small multiple of them.
    assert peak < 4 * len(bomb) + 8_000_000, peak
