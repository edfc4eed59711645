"""Reading e-mail (gateway.channels.smtp.mime): charsets, encodings, structure, identities,
bounds, and that no input makes it raise."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import random
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.smtp import mime
from gateway.channels.smtp.mime import MAX_DEPTH, MAX_HEADERS, MAX_PARTS, MAX_TEXT, Mail, parse

ALARM = "有人抢劫，幸福路12号"


def raw_mail(*headers: str, body: bytes = b"", crlf: bool = True) -> bytes:
    """A message from header lines (ASCII, or bytes written as latin-1) and a body."""
    eol = b"\r\n" if crlf else b"\n"
    head = eol.join(h.encode("latin-1") for h in headers)
    return head + eol + eol + body


def text_mail(body: bytes, *headers: str) -> bytes:
    return raw_mail("From: a@example.com", "Subject: s", *headers, body=body)


def assert_sane(mail: Mail) -> None:
    """What every result must be, whatever came in."""
    assert isinstance(mail, Mail)
    assert mail.text
    assert len(mail.text) <= MAX_TEXT
    for text in (mail.text, mail.body, mail.subject, mail.from_name or "", mail.from_address or ""):
        text.encode("utf-8")  # no lone surrogates
        assert not any(ord(c) < 32 and c not in "\n\t" for c in text)
        assert "\x7f" not in text
        assert "\r" not in text
    assert "\n" not in mail.subject
    for name, value in mail.headers:
        value.encode("utf-8")
        assert name == name.lower()
    assert len(mail.attachments) <= MAX_PARTS
    assert sum(len(a.data) for a in mail.attachments) <= mime.MAX_ATTACHMENT_BYTES
    for attachment in mail.attachments:
        assert attachment.sha256 == hashlib.sha256(attachment.data).hexdigest()
        if attachment.filename is not None:
            assert attachment.filename
            assert len(attachment.filename) <= mime.MAX_FILENAME
            assert "/" not in attachment.filename and "\\" not in attachment.filename
            attachment.filename.encode("utf-8")
    assert len(mail.problems) <= mime.MAX_PROBLEMS + 1
    assert mail.external_id.startswith(("mail:", "mail-sha256:"))
    hash(mail)


# Bodies: transfer encodings and charsets.


@pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
@pytest.mark.parametrize("charset", ["utf-8", "gb18030", "big5"])
def test_text_body_in_each_encoding(cte: str, charset: str) -> None:
    text = "搶劫，幸福路12號" if charset == "big5" else ALARM
    message = EmailMessage()
    message["From"] = "a@example.com"
    message["Subject"] = "报警"
    message.set_content(text, charset=charset, cte=cte)
    mail = parse(message.as_bytes())
    assert mail.readable
    assert mail.body == text
    assert mail.text == f"报警\n\n{text}"
    assert mail.problems == ()
    assert_sane(mail)


@pytest.mark.parametrize(
    ("label", "body", "expected"),
    [
        # GBK-only characters in mail labelled GB2312 (镕 is b"\xe9F" in GBK).
        ("gb2312", "张镕报警".encode("gbk"), "张镕报警"),
        ("GB2312", "张镕报警".encode("gbk"), "张镕报警"),
        ("gbk", "张镕报警".encode("gbk"), "张镕报警"),
        ("x-gbk", "张镕报警".encode("gbk"), "张镕报警"),
        ("cp936", "张镕报警".encode("gbk"), "张镕报警"),
        ("euc-cn", "张镕报警".encode("gbk"), "张镕报警"),
        ('"gb2312"', "张镕报警".encode("gbk"), "张镕报警"),
        ("gb18030", "张镕报警𠀀".encode("gb18030"), "张镕报警𠀀"),
        ("big5", "搶劫".encode("big5"), "搶劫"),
        ("hz-gb-2312", "抢劫".encode("hz"), "抢劫"),
        ("iso-8859-1", "café".encode("latin-1"), "café"),
        ("us-ascii", b"plain", "plain"),
    ],
)
def test_charset_labels(label: str, body: bytes, expected: str) -> None:
    raw = text_mail(body, f"Content-Type: text/plain; charset={label}")
    mail = parse(raw)
    assert mail.body == expected
    assert mail.problems == ()


@pytest.mark.parametrize(
    ("label", "body", "expected", "problem"),
    [
        # No label: UTF-8, else GB18030, without a note.
        (None, ALARM.encode(), ALARM, None),
        (None, ALARM.encode("gb18030"), ALARM, None),
        # Unknown or lying labels: the same order, noted.
        ("x-unknown", ALARM.encode(), ALARM, "unknown charset 'x-unknown', read as utf-8"),
        ("x-unknown", ALARM.encode("gbk"), ALARM, "unknown charset 'x-unknown', read as gb18030"),
        ("us-ascii", ALARM.encode(), ALARM, "not valid 'us-ascii', read as utf-8"),
        ("utf-8", ALARM.encode("gbk"), ALARM, "not valid 'utf-8', read as gb18030"),
        ("base64", ALARM.encode(), ALARM, "unknown charset 'base64', read as utf-8"),
        ("idna", ALARM.encode(), ALARM, "unknown charset 'idna', read as utf-8"),
        ("a\x00b", ALARM.encode(), ALARM, "unknown charset 'a\\x00b', read as utf-8"),
        # Unknown but ASCII: nothing to say.
        ("x-unknown", b"plain", "plain", None),
        # Neither: replaced.
        ("utf-8", b"ok \xff\xfe\xff", "ok \ufffd\ufffd\ufffd", "undecodable bytes replaced"),
    ],
)
def test_charset_fallbacks(label: str | None, body: bytes, expected: str, problem: str) -> None:
    headers = [] if label is None else [f"Content-Type: text/plain; charset={label}"]
    mail = parse(text_mail(body, *headers))
    assert mail.body == expected
    assert mail.problems == (() if problem is None else (f"the message: {problem}",))


def test_line_breaks_and_control_characters() -> None:
    mail = parse(text_mail(b"line 1\r\nline\x00 2\x1b\r\n\tend\x7f\rlast\r\n\r\n"))
    assert mail.body == "line 1\nline 2\n\tend\nlast"
    assert_sane(mail)


def test_lone_surrogates_never_come_out() -> None:
    # Python's UTF-7 decodes "+2D0-" to a lone surrogate, which PostgreSQL would refuse.
    assert b"+2D0-".decode("utf-7") == "\ud83d"
    mail = parse(text_mail(b"+2D0-x", "Content-Type: text/plain; charset=utf-7"))
    assert mail.body == "\ufffdx"
    assert_sane(mail)


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("5pyJ5Lq65oqi5Yqr", "有人抢劫"),  # well formed
        ("5pyJ5Lq6\r\n5oqi5Yqr\r\n", "有人抢劫"),  # lines
        ("5pyJ5Lq65oqi5Yqr5Y+3", "有人抢劫号"),  # no padding needed
        ("5Y+3", "号"),
        ("5pyJ5Lq6!!5oqi*5Yqr", "有人抢劫"),  # junk characters skipped
        ("5pyJ5Lq65oqi5Yqr==\r\n-- signature", "有人抢劫"),  # text after the padding
        ("5pyJ5Lq65oqi5Yqr5a", "有人抢劫\ufffd"),  # missing padding
        ("5pyJ5Lq65oqi5Yqr5", "有人抢劫"),  # a lone sextet
    ],
)
def test_base64_is_read_leniently(encoded: str, expected: str) -> None:
    raw = text_mail(
        encoded.encode(),
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: base64",
    )
    assert parse(raw).body == expected


def test_quoted_printable_soft_breaks() -> None:
    body = binascii.b2a_qp(("有人抢劫，" * 20).encode()).replace(b"\n", b"\r\n")
    assert b"=\r\n" in body
    raw = text_mail(
        body,
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: Quoted-Printable",
    )
    assert parse(raw).body == "有人抢劫，" * 20


def test_unknown_transfer_encoding_is_kept_as_it_is() -> None:
    mail = parse(text_mail(b"hello", "Content-Transfer-Encoding: x-rot13"))
    assert mail.body == "hello"
    assert mail.problems == ("the message: transfer encoding 'x-rot13' left as it is",)


def test_bare_line_feeds() -> None:
    raw = raw_mail("From: a@example.com", "Subject: lf", body=ALARM.encode(), crlf=False)
    mail = parse(raw)
    assert (mail.subject, mail.body, mail.problems) == ("lf", ALARM, ())


# Header fields: RFC 2047, raw 8-bit, folding.


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"=?gb2312?B?sai+r+lG?=", "报警镕"),  # GBK-only 镕 labelled gb2312
        (b"=?GB2312?b?sai+r+lG?=", "报警镕"),
        (b"=?utf-8?B?5oql6K2m?= =?utf-8?Q?=EF=BC=9A?=", "报警："),  # white space between dropped
        (b"=?utf-8?B?5oql?= tail", "报 tail"),
        (b"=?utf-8*zh?B?5oql?=", "报"),  # RFC 2231 language
        (b"=?x-bogus?B?5oql?=", "报"),  # unknown charset
        (b"=?utf-8?B?5?=", "=?utf-8?B?5?="),  # broken: shown as it stands
        (b"=?utf-8?B?5oql6K2m", "=?utf-8?B?5oql6K2m"),  # unterminated
        ("报警：抢劫".encode(), "报警：抢劫"),  # raw 8-bit UTF-8
        ("报警：镕".encode("gbk"), "报警：镕"),  # raw 8-bit GBK
        ("报警".encode() + b"\xff", "报警\ufffd"),  # raw 8-bit, broken
        (b"a\r\n  folded\r\n\tsubject", "a folded subject"),
        (b"  ", ""),
    ],
)
def test_subject(value: bytes, expected: str) -> None:
    mail = parse(b"From: a@example.com\r\nSubject: " + value + b"\r\n\r\nbody")
    assert mail.subject == expected
    assert_sane(mail)


def test_no_subject() -> None:
    mail = parse(raw_mail("From: a@example.com", body=ALARM.encode()))
    assert (mail.subject, mail.text) == ("", ALARM)


def test_kept_headers() -> None:
    raw = raw_mail(
        "Received: from relay",
        "From: =?gb2312?B?1cXpRg==?= <a@example.com>",
        "Subject: =?utf-8?B?5oql6K2m?=",
        "Message-ID: <1@example.com>",
        "X-Fax-Pages: 3",
        "X-Caller-ID: 13800138000",
        "X-Alarmgw-Drill: yes",
        "X-Mailer: something",
        "x-fax-remote-id:  +86 10\r\n 1234",
        body=b"x",
    )
    assert parse(raw).headers == (
        ("from", "张镕 <a@example.com>"),
        ("subject", "报警"),
        ("message-id", "<1@example.com>"),
        ("x-fax-pages", "3"),
        ("x-caller-id", "13800138000"),
        ("x-alarmgw-drill", "yes"),
        ("x-fax-remote-id", "+86 10 1234"),
    )


def test_obsolete_space_before_colon_and_mbox_line() -> None:
    raw = b"From sender@example.com Mon Nov 20 19:12:08 2023\nSubject : spaced\n\nbody"
    mail = parse(raw)
    assert (mail.readable, mail.subject, mail.body) == (True, "spaced", "body")


def test_missing_blank_line_starts_the_body() -> None:
    mail = parse(b"Subject: s\r\nthis is the body\r\nmore")
    assert (mail.subject, mail.body) == ("s", "this is the body\nmore")
    assert mail.problems == ("the message: no blank line after the header section",)


# HTML.

HTML = """<!DOCTYPE html><html><head><title>ignored title</title>
<style>p { color: red }</style><script>alert("no")</script></head>
<body><!-- a comment --><p>有人&nbsp;抢劫，
  幸福路12号</p><div>a &amp; b&lt;c<br>next line<br/>last</div>
<table><tr><td>cell 1</td><td>cell 2</td></tr></table><p>x &#x5f20;&#24352;</p></body></html>"""


def test_html_only_mail_becomes_text() -> None:
    raw = text_mail(HTML.encode(), "Content-Type: text/html; charset=utf-8")
    assert parse(raw).body == (
        "有人 抢劫， 幸福路12号\n\na & b<c\nnext line\nlast\n\ncell 1 cell 2\n\nx 张张"
    )


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("a < b", "a < b"),
        ("a <b", "a <b"),
        ("<script>never closed", "never closed"),
        ("<script>x</script>after", "after"),
        ("<SCRIPT>x</Script >after", "after"),
        ("<!-- never closed", "never closed"),
        ("a<!-- x -->b", "ab"),
        ("<p>x</p><p>y", "x\n\ny"),
        ("<!--[if mso]><xml>o</xml><![endif]-->text", "text"),
        ("<?xml version='1.0'?>text", "text"),
    ],
)
def test_html_edges(markup: str, expected: str) -> None:
    raw = text_mail(markup.encode(), "Content-Type: text/html")
    assert parse(raw).body == expected


def test_html_bombs_are_linear() -> None:
    """html.parser takes minutes on these; each must come back at once."""
    for markup in (b"<a" * 300_000, b"<!--" * 200_000, b"</" * 300_000, b"<script>" * 100_000):
        mail = parse(text_mail(markup, "Content-Type: text/html"))
        assert_sane(mail)


# Structure: alternatives, attachments, forwarded mail.


def alarm_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "张三 <zhang@example.com>"
    message["Subject"] = "报警"
    message["Message-ID"] = "<alarm-1@example.com>"
    message.set_content(ALARM)
    return message


def test_alternative_prefers_plain() -> None:
    message = alarm_message()
    message.add_alternative("<p>HTML version</p>", subtype="html")
    mail = parse(message.as_bytes())
    assert (mail.body, mail.attachments) == (ALARM, ())


def test_alternative_with_plain_last() -> None:
    message = EmailMessage()
    message["Subject"] = "s"
    message.set_content("<p>HTML version</p>", subtype="html")
    message.add_alternative("plain version")
    assert parse(message.as_bytes()).body == "plain version"


def test_html_with_inline_image() -> None:
    message = EmailMessage()
    message["Subject"] = "s"
    message.set_content("<p>见图</p><img src='cid:photo'>", subtype="html")
    message.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<photo>")
    assert message.get_content_type() == "multipart/related"
    mail = parse(message.as_bytes())
    assert mail.body == "见图"
    assert [(a.content_type, a.data) for a in mail.attachments] == [("image/png", b"\x89PNG")]


def test_alternative_without_plain_reads_html() -> None:
    html = b"Content-Type: text/html\r\n\r\n<p>the html</p>"
    enriched = b"Content-Type: text/enriched\r\n\r\n<bold>x</bold>"
    mail = parse(multipart(html, enriched, subtype="alternative"))
    assert mail.body == "the html"
    assert [a.content_type for a in mail.attachments] == ["text/enriched"]


def test_mixed_with_attachments_and_forwarded_mail() -> None:
    message = alarm_message()
    message.add_attachment(b"\xff\xd8jpeg", maintype="image", subtype="jpeg", filename="现场.jpg")
    forwarded = EmailMessage()
    forwarded["Subject"] = "inner"
    forwarded.set_content("内层正文 should not be the body")
    message.add_attachment(forwarded)
    raw = message.as_bytes()
    assert b"filename*=utf-8''%E7%8E%B0%E5%9C%BA.jpg" in raw
    mail = parse(raw)
    assert mail.body == ALARM
    photo, inner = mail.attachments
    assert (photo.filename, photo.content_type, photo.data) == (
        "现场.jpg",
        "image/jpeg",
        b"\xff\xd8jpeg",
    )
    assert photo.sha256 == hashlib.sha256(b"\xff\xd8jpeg").hexdigest()
    assert (inner.filename, inner.content_type) == (None, "message/rfc822")
    assert "内层正文".encode() in inner.data
    assert mail.problems == ()


def multipart(*parts: bytes, subtype: str = "mixed", boundary: str = "BOUNDARY") -> bytes:
    body = b"preamble\r\n"
    for part in parts:
        body += b"--" + boundary.encode() + b"\r\n" + part + b"\r\n"
    body += b"--" + boundary.encode() + b"--\r\nepilogue\r\n"
    return raw_mail(
        "From: a@example.com",
        "Subject: s",
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"',
        body=body,
    )


def attachment_named(disposition: bytes, content_type: bytes = b"image/jpeg") -> bytes:
    return (
        b"Content-Type: " + content_type + b"\r\nContent-Transfer-Encoding: base64\r\n"
        b"Content-Disposition: " + disposition + b"\r\n\r\n/9hqcGVn\r\n"
    )


@pytest.mark.parametrize(
    ("disposition", "content_type", "filename"),
    [
        (b"attachment; filename*=UTF-8''%E7%8E%B0%E5%9C%BA.jpg", b"image/jpeg", "现场.jpg"),
        (b"attachment; filename*=utf-8'zh-cn'%E7%8E%B0%E5%9C%BA.jpg", b"image/jpeg", "现场.jpg"),
        (
            b"attachment;\r\n filename*0*=UTF-8''%E7%8E;\r\n filename*1*=%B0%E5%9C%BA.jpg",
            b"image/jpeg",
            "现场.jpg",
        ),
        (b"attachment; filename*=gb2312''%D5%C5%E9F.jpg", b"image/jpeg", "张镕.jpg"),
        (b"attachment; filename*=''%E7%8E%B0.jpg", b"image/jpeg", "现.jpg"),
        (b"attachment; filename*=bad%E7%8E%B0.jpg", b"image/jpeg", "bad现.jpg"),
        (b'attachment; filename="=?UTF-8?B?546w5Zy6LmpwZw==?="', b"image/jpeg", "现场.jpg"),
        (b'attachment; filename="=?gb2312?B?1cXpRg==?=.jpg"', b"image/jpeg", "张镕.jpg"),
        (b'attachment; filename="' + "现场.jpg".encode() + b'"', b"image/jpeg", "现场.jpg"),
        (b'attachment; filename="' + "张镕.jpg".encode("gbk") + b'"', b"image/jpeg", "张镕.jpg"),
        (b"inline", b'image/jpeg; name="=?UTF-8?B?546w5Zy6LmpwZw==?="', "现场.jpg"),
        (b"attachment", b"image/jpeg", None),
        (b'attachment; filename="../../etc/passwd"', b"image/jpeg", "_.._etc_passwd"),
        (b'attachment; filename="C:\\\\x\\\\a.exe"', b"image/jpeg", "C:_x_a.exe"),
        (b'attachment; filename="photo\xe2\x80\xaegpj.exe"', b"image/jpeg", "photogpj.exe"),
        (b'attachment; filename="a\x01b\tc.jpg"', b"image/jpeg", "ab c.jpg"),
        (b'attachment; filename=".."', b"image/jpeg", None),
        (b'attachment; filename="' + b"x" * 300 + b'.jpeg"', b"image/jpeg", "x" * 195 + ".jpeg"),
        (b'attachment; filename="' + b"y" * 300 + b'"', b"image/jpeg", "y" * 200),
    ],
)
def test_attachment_file_names(
    disposition: bytes, content_type: bytes, filename: str | None
) -> None:
    mail = parse(
        multipart(
            b"Content-Type: text/plain\r\n\r\nbody", attachment_named(disposition, content_type)
        )
    )
    assert mail.body == "body"
    (attachment,) = mail.attachments
    assert attachment.filename == filename
    assert attachment.data == b"\xff\xd8jpeg"
    assert_sane(mail)


def test_fax_tiff_keeps_its_parameters() -> None:
    fax = (
        b'Content-Type: image/TIFF; application=faxbw; name="fax.tif"; Pages="3"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"II*\x00tiff")
    )
    mail = parse(multipart(fax))
    (attachment,) = mail.attachments
    assert attachment.content_type == "image/tiff"
    assert attachment.params == (("application", "faxbw"), ("name", "fax.tif"), ("pages", "3"))
    assert (attachment.filename, attachment.data) == ("fax.tif", b"II*\x00tiff")
    assert mail.text == "s"


@pytest.mark.parametrize(
    ("parts", "body", "kinds"),
    [
        # Several text parts in a mixed mail are all the body.
        ([b"\r\nfirst", b"Content-Type: text/plain\r\n\r\nsecond"], "first\n\nsecond", []),
        # A text part named as a file, or marked attachment, is an attachment.
        (
            [b"\r\nbody", b"Content-Type: text/plain; name=a.txt\r\n\r\nfile"],
            "body",
            ["text/plain"],
        ),
        ([b"\r\nbody", b"Content-Disposition: attachment\r\n\r\nfile"], "body", ["text/plain"]),
        # Other text types are attachments.
        ([b"\r\nbody", b"Content-Type: text/calendar\r\n\r\nBEGIN"], "body", ["text/calendar"]),
        # A part with no header fields is text/plain.
        ([b"", b"\r\n"], "", []),
        # An invalid content type is text/plain (RFC 2045 §5.2).
        ([b"Content-Type: text\r\n\r\nbody"], "body", []),
    ],
)
def test_mixed_parts(parts: list[bytes], body: str, kinds: list[str]) -> None:
    mail = parse(multipart(*parts))
    assert mail.body == body
    assert [a.content_type for a in mail.attachments] == kinds


def test_digest_parts_are_mails() -> None:
    mail = parse(multipart(b"\r\nSubject: one\r\n\r\nfirst", subtype="digest"))
    (attachment,) = mail.attachments
    assert attachment.content_type == "message/rfc822"
    assert attachment.data == b"Subject: one\r\n\r\nfirst"


def test_boundary_edges() -> None:
    # Transport padding after a delimiter, a boundary that is a prefix of a line, no preamble.
    body = b"--b  \r\n\r\none\r\n--bb\r\nstill one\r\n--b--  \r\n"
    raw = raw_mail("Content-Type: multipart/mixed; boundary=b", body=body)
    mail = parse(raw)
    assert mail.body == "one\n--bb\nstill one"
    assert mail.problems == ()


def test_missing_close_delimiter() -> None:
    raw = raw_mail(
        "Subject: s", "Content-Type: multipart/mixed; boundary=b", body=b"--b\r\n\r\ncut off"
    )
    mail = parse(raw)
    assert mail.body == "cut off"
    assert mail.problems == ("the message: no closing boundary",)


@pytest.mark.parametrize(
    "content_type",
    ["multipart/mixed", 'multipart/mixed; boundary=""', 'multipart/mixed; boundary="absent"'],
)
def test_multipart_without_boundary_is_read_as_text(content_type: str) -> None:
    mail = parse(raw_mail("Subject: s", f"Content-Type: {content_type}", body=b"the text"))
    assert mail.body == "the text"
    assert len(mail.problems) == 1


def test_lone_boundary_declaration() -> None:
    mail = parse(b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n')
    assert mail.readable and mail.text.startswith("无主题无正文的邮件")
    assert_sane(mail)


# Identity, sender, date.


@pytest.mark.parametrize(
    ("value", "message_id"),
    [
        ("<alarm-1@example.com>", "alarm-1@example.com"),
        ("  <a.b+c@[10.0.0.1]>  ", "a.b+c@[10.0.0.1]"),
        ("<x@y>\r\n ", "x@y"),
        ("alarm-1@example.com", None),  # no angle brackets
        ("<alarm-1>", None),  # no @
        ("<a@b@c>", None),  # two
        ("<@b>", None),
        ("<a@>", None),
        ("<a b@c>", None),  # a space
        ("<报警@example.com>", None),  # not ASCII
        ("<" + "a" * 1000 + "@" + "b" * 999 + ">", None),  # 2000 characters
        # "mail:" + the id is the report's external id, at most 200 characters
        ("<" + "a" * 180 + "@" + "b" * 9 + ">", "a" * 180 + "@" + "b" * 9),  # 190
        ("<" + "a" * 180 + "@" + "b" * 10 + ">", None),  # 191
        ("", None),
    ],
)
def test_message_id(value: str, message_id: str | None) -> None:
    raw = b"Subject: s\r\nMessage-ID: " + value.encode() + b"\r\n\r\nbody"
    mail = parse(raw)
    assert mail.message_id == message_id
    if message_id is None:
        assert mail.external_id == "mail-sha256:" + hashlib.sha256(raw).hexdigest()
    else:
        assert mail.external_id == "mail:" + message_id


def test_external_id_is_stable() -> None:
    raw = text_mail(ALARM.encode())
    assert parse(raw).external_id == parse(raw).external_id == parse(raw, "x@y.z").external_id
    assert parse(raw).external_id != parse(raw + b"\r\n").external_id


@pytest.mark.parametrize(
    ("headers", "envelope", "address", "name"),
    [
        (["From: =?gb2312?B?1cXpRg==?= <Zhang@Example.COM>"], None, "Zhang@example.com", "张镕"),
        (['From: "=?gb2312?B?1cXpRg==?=" <zhang@example.com>'], None, "zhang@example.com", "张镕"),
        (
            ["From: " + "张三".encode().decode("latin-1") + " <a@example.com>"],
            None,
            "a@example.com",
            "张三",
        ),
        (['From: "Zhang, San" <a@example.com>'], None, "a@example.com", "Zhang, San"),
        (["From: a@example.com (Comment)"], None, "a@example.com", "Comment"),
        (["From: a@example.com, b@example.com"], None, "a@example.com", None),
        (
            ["From: undisclosed-recipients:;", "Sender: s@Example.com"],
            "e@x.com",
            "s@example.com",
            None,
        ),
        (["Sender: Duty <s@example.com>"], "e@x.com", "s@example.com", "Duty"),
        (["From: nobody"], "<E@X.COM>", "E@x.com", None),
        ([], "e@x.com", "e@x.com", None),
        ([], "<>", None, None),
        ([], None, None, None),
        ([], "not an address", None, None),
        (["From: " + "(" * 5000], "e@x.com", "e@x.com", None),
    ],
)
def test_sender(
    headers: list[str], envelope: str | None, address: str | None, name: str | None
) -> None:
    mail = parse(raw_mail("Subject: s", *headers, body=b"x"), envelope)
    assert (mail.from_address, mail.from_name) == (address, name)


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("Mon, 20 Nov 2023 19:12:08 +0800", datetime(2023, 11, 20, 11, 12, 8, tzinfo=UTC)),
        ("20 Nov 2023 19:12 -0500", datetime(2023, 11, 21, 0, 12, tzinfo=UTC)),
        ("Mon, 20 Nov 2023 19:12:08 -0000", datetime(2023, 11, 20, 19, 12, 8, tzinfo=UTC)),
        ("Mon, 20 Nov 2023 19:12:08 GMT", datetime(2023, 11, 20, 19, 12, 8, tzinfo=UTC)),
        ("yesterday", None),
        ("Mon, 31 Feb 2023 19:12:08 +0800", None),
        ("Mon, 20 Nov 99999 19:12:08 +0800", None),
        ("31 Dec 9999 23:59:59 -2359", None),  # past datetime.max in UTC
        ("", None),
    ],
)
def test_date(value: str, date: datetime | None) -> None:
    mail = parse(raw_mail("Subject: s", f"Date: {value}", body=b"x"))
    assert mail.date == date
    if date is not None:
        assert mail.date is not None and mail.date.utcoffset() is not None


def test_no_date() -> None:
    assert parse(text_mail(b"x")).date is None


# What is no mail at all.


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00" * 1000,
        b"\r\n\r\n",
        b"just some words",
        b"\xff\xfe\x00garbage",
        b"Content-Type: multipart/mixed; boundary=x",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x--",
        b":\r\n\r\n",
        b" folded first\r\n\r\n",
        b"Subject: \x00\r\n\r\n\x00",
        b"Content-Type: text/plain; charset=\r\n\r\nx",
        b"Content-Type: ;;;=;\"\r\nContent-Disposition: ;filename*0*=x'y;filename*1=\r\n\r\n",
        random.Random(110).randbytes(5000),
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    assert_sane(parse(raw, "sender@example.com"))


def test_unreadable_mail_names_the_envelope_sender() -> None:
    mail = parse(b"\x00" * 1000, "sender@example.com")
    assert not mail.readable
    assert mail.text == "无法解析的邮件，发件人 sender@example.com"
    assert mail.external_id == "mail-sha256:" + hashlib.sha256(b"\x00" * 1000).hexdigest()
    assert parse(b"").text == "无法解析的邮件，发件人 未知"


def test_a_bug_of_ours_is_an_unreadable_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(mime._Reading, "mail", broken)
    mail = parse(text_mail(b"x"), "e@x.com")
    assert (mail.readable, mail.text) == (False, "无法解析的邮件，发件人 e@x.com")
    assert mail.problems == ("the mail could not be read (RuntimeError)",)


def test_every_prefix_of_a_mail() -> None:
    """A mail cut off anywhere (a dropped connection) is still read."""
    message = alarm_message()
    message.add_alternative("<p>有人抢劫</p>", subtype="html")
    message.add_attachment(b"II*\x00" * 50, maintype="image", subtype="tiff", filename="传真.tif")
    raw = message.as_bytes()
    for end in range(len(raw) + 1):
        assert_sane(parse(raw[:end]))
    assert parse(raw).body == ALARM


# Bounds.


def test_header_bomb() -> None:
    fields = b"".join(b"X-Fax-%d: %s\r\n" % (i, b"v" * 40) for i in range(100_000))
    raw = b"Subject: s\r\n" + fields + b"\r\nbody"
    assert len(raw) > 5_000_000
    mail = parse(raw)
    assert (mail.subject, mail.body) == ("s", "body")
    assert len(mail.headers) == MAX_HEADERS
    assert mail.problems == (f"the message: over {MAX_HEADERS} header fields, rest skipped",)


def test_long_and_folded_header_values() -> None:
    raw = (
        b"Subject: "
        + b"x" * 5_000_000
        + b"\r\nX-Fax-A: a\r\n"
        + b" y\r\n" * 1_000_000
        + b"\r\nbody"
    )
    mail = parse(raw)
    assert mail.body == "body"
    assert len(mail.subject) == mime.MAX_HEADER_BYTES
    assert all(len(value) <= mime.MAX_HEADER_BYTES for _, value in mail.headers)
    assert mail.problems == (f"the message: header fields cut at {mime.MAX_HEADER_BYTES} bytes",)


def nested(levels: int, text: bytes = b"deep text", preamble: bytes = b"") -> bytes:
    head = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n%s--b%d\r\n" % (i, preamble, i)
        for i in range(levels)
    )
    tail = b"".join(b"\r\n--b%d--" % i for i in reversed(range(levels)))
    return b"Subject: s\r\n" + head + b"Content-Type: text/plain\r\n\r\n" + text + tail


def test_nesting_bomb() -> None:
    raw = nested(10_000, preamble=b"preamble " * 50 + b"\r\n")
    assert len(raw) > 5_000_000
    mail = parse(raw)
    assert mail.readable and mail.body == ""
    assert mail.problems == (f"nesting deeper than {MAX_DEPTH} cut at part " + ".".join("1" * 10),)


def test_nesting_up_to_the_bound() -> None:
    assert parse(nested(MAX_DEPTH)).body == "deep text"
    assert parse(nested(MAX_DEPTH + 1)).body == ""


def test_part_bomb() -> None:
    raw = multipart(*[b"Content-Type: application/octet-stream\r\n\r\nx"] * 10_000)
    mail = parse(raw)
    assert len(mail.attachments) == MAX_PARTS - 1  # the multipart itself is a part
    assert mail.problems == (f"too many parts (over {MAX_PARTS}) — rest ignored",)


def test_parameter_bomb() -> None:
    """Message.get_params rescans a value at each ";": quadratic without the cut."""
    value = b'application/x-fax; x="' + b";" * 8000 + b'"'
    part = b"Content-Type: " + value + b"\r\nContent-Disposition: attachment; " + value[18:]
    mail = parse(multipart(*[part + b"\r\n\r\nx"] * 99))
    assert [a.data for a in mail.attachments] == [b"x"] * 99


def test_attachment_bytes_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mime, "MAX_ATTACHMENT_BYTES", 10)
    part = b"Content-Type: application/octet-stream\r\n\r\n123456"
    mail = parse(multipart(part, part, b"Content-Type: image/png\r\n\r\n1234"))
    assert [a.data for a in mail.attachments] == [b"123456", b"1234"]
    assert mail.problems == ("part 2: attachment dropped, over 10 bytes",)


def test_body_and_text_bounds() -> None:
    mail = parse(text_mail(("报" * 1_200_000).encode()))
    assert len(mail.body) == mime.MAX_BODY
    assert len(mail.text) == MAX_TEXT and mail.text.endswith("…")
    assert mail.text.startswith("s\n\n报报")
    assert mail.problems == (f"the message: text cut, the body is over {mime.MAX_BODY} characters",)


def test_problems_are_bounded() -> None:
    parts = [b"Content-Type: text/plain; charset=x-nope\r\n\r\n\xff"] * 90
    mail = parse(multipart(*parts))
    assert len(mail.problems) == mime.MAX_PROBLEMS + 1
    assert mail.problems[-1] == "more problems, not listed"


# Properties.


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20_000), st.one_of(st.none(), st.text(max_size=50)))
def test_any_bytes(raw: bytes, envelope: str | None) -> None:
    assert_sane(parse(raw, envelope))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.integers(min_value=0))
def test_any_bytes_after_real_headers(junk: bytes, where: int) -> None:
    raw = bytearray(multipart(b"\r\nbody", attachment_named(b"attachment; filename=a.jpg")))
    at = where % (len(raw) + 1)
    raw[at:at] = junk
    assert_sane(parse(bytes(raw)))


CODECS = {"utf-8": "utf-8", "gb18030": "gb18030", "big5": "big5", "gbk": "gbk", "gb2312": "gbk"}
LIES = ["utf-8", "gb18030", "big5", "gbk", "us-ascii", "x-unknown", "iso-8859-1"]
texts = st.text(
    st.one_of(
        st.characters(exclude_categories=("Cc", "Cs")),
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    ),
    max_size=300,
)


@st.composite
def labelled_mails(draw: st.DrawFn) -> tuple[bytes, str, str, bool]:
    """A mail with a subject and a body in one charset, the label truthful or not."""
    label = draw(st.sampled_from(sorted(CODECS)))
    codec = CODECS[label]
    text = draw(texts).encode(codec, "ignore").decode(codec)
    subject = draw(texts).encode(codec, "ignore").decode(codec)
    truthful = draw(st.booleans())
    named = label if truthful else draw(st.sampled_from(LIES))
    cte = draw(st.sampled_from(["8bit", "base64", "quoted-printable"]))
    data = text.encode(codec)
    if cte == "base64":
        data = base64.encodebytes(data)
    elif cte == "quoted-printable":
        data = binascii.b2a_qp(data)
    encoded_subject = base64.b64encode(subject.encode(codec)).decode()
    raw = raw_mail(
        "From: a@example.com",
        f"Subject: =?{named}?B?{encoded_subject}?=",
        f"Content-Type: text/plain; charset={named}",
        f"Content-Transfer-Encoding: {cte}",
        body=data,
    )
    return raw, " ".join(subject.split()), text, truthful


@settings(max_examples=200, deadline=None)
@given(labelled_mails())
def test_labelled_text_round_trips(case: tuple[bytes, str, str, bool]) -> None:
    raw, subject, text, truthful = case
    mail = parse(raw)
    assert_sane(mail)
    if truthful:
        assert mail.body == text.strip()
        assert mail.subject == subject
        assert mail.problems == ()


file_names = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Cf", "Z"), exclude_characters='<>"/\\'),
    min_size=1,
    max_size=30,
).filter(lambda name: name.strip(".") == name)


@st.composite
def leaves(draw: st.DrawFn) -> EmailMessage:
    part = EmailMessage()
    if draw(st.booleans()):
        part.set_content(
            draw(st.binary(max_size=300)),
            maintype="application",
            subtype="octet-stream",
            cte=draw(st.sampled_from(["base64", "quoted-printable"])),
            filename=draw(file_names),
        )
    else:
        charset = draw(st.sampled_from(["utf-8", "gb18030", "big5", "gbk"]))
        text = draw(texts).encode(charset, "ignore").decode(charset)
        cte = draw(st.sampled_from(["base64", "quoted-printable", "8bit"]))
        subtype = draw(st.sampled_from(["plain", "html"]))
        part.set_content(text + "x", subtype=subtype, charset=charset, cte=cte)
    return part


def multipart_of(subtype: str, parts: list[EmailMessage]) -> EmailMessage:
    message = EmailMessage()
    message.set_type(f"multipart/{subtype}")
    for part in parts:
        message.attach(part)
    return message


trees = st.recursive(
    leaves(),
    lambda children: st.builds(
        multipart_of,
        st.sampled_from(["mixed", "alternative", "related"]),
        st.lists(children, min_size=1, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=100, deadline=None)
@given(trees, st.sampled_from(["\r\n", "\n"]))
def test_attachments_agree_with_the_email_package(message: EmailMessage, linesep: str) -> None:
    """On well-formed mail the email package and we find the same files."""
    message["Subject"] = "s"
    raw = message.as_bytes(policy=email.policy.default.clone(linesep=linesep))
    mail = parse(raw)
    assert mail.problems == ()
    theirs = email.message_from_bytes(raw, policy=email.policy.default)
    files = [
        (part.get_filename(), part.get_payload(decode=True))
        for part in theirs.walk()
        if not part.is_multipart() and part.get_filename()
    ]
    assert [(a.filename, a.data) for a in mail.attachments] == files
