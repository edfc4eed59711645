"""One e-mail as the SMTP server received it (the bytes after DATA), read for the 110 centre.
Pure, no I/O, and `parse` never raises: an alarm is never bounced because we could not read
it. What cannot be read gives a `Mail` with `readable=False` and whatever could be got.

The MIME structure is split here, not by `email.message_from_bytes`: its feed parser
recurses once per nested multipart (RecursionError near 1000 levels, and each line costs
the depth) and keeps every header field. Here each bound is checked as the bytes are
walked, so the time and memory stay linear in the input. The `email` package still reads
the parts' values: parameters with RFC 2231 continuations (`Message.get_params`),
RFC 2047 encoded words (`decode_header`), addresses and dates (`email.utils`).

Charsets and HTML are read in `gateway.channels.smtp.text`: the label's codec first,
except that GB2312 and GBK are read as GB18030 (a superset: mail labelled gb2312 often
holds GBK-only characters such as 镕) and Big5 falls back to cp950; a missing, unknown or
lying label is read as UTF-8, else GB18030, else UTF-8 with the bad bytes replaced (noted
in `problems`). HTML-only mail is turned into text by a small linear scanner: `html.parser`
is quadratic on unterminated markup (on Python 3.11, "<a" 200 000 times takes it over a
minute).
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from gateway.channels.smtp import text as mailtext

MAX_DEPTH = 10  # levels of multipart nesting read; deeper multiparts are skipped
MAX_PARTS = 100  # MIME parts read (multiparts included); the rest are ignored
MAX_HEADERS = 500  # header fields read per part; the rest of the header section is skipped
MAX_HEADER_BYTES = 8192  # of one header field's unfolded value; the rest is cut
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024  # decoded, all attachments together
MAX_BODY = 1_000_000  # characters of body text, all text parts together
MAX_TEXT = 10_000  # characters of `Mail.text`, the cut marked "…"
MAX_FILENAME = 200  # characters of an attachment's file name
MAX_PROBLEMS = 50  # problems listed; one more line says there were more

UNREADABLE = "无法解析的邮件，发件人 {sender}"
EMPTY = "无主题无正文的邮件，发件人 {sender}"
UNKNOWN_SENDER = "未知"

# Headers kept in `Mail.headers` for the fax path, the answer (RFC 3834: automatic mail is
# not answered) and the record.
_KEPT = frozenset(
    {"subject", "message-id", "from", "sender", "to", "date", "reply-to"}
    | {"auto-submitted", "precedence", "in-reply-to"}
)
_KEPT_PREFIXES = ("x-fax-", "x-alarmgw-", "x-caller-")


@dataclass(frozen=True)
class Attachment:
    """A part that is not the mail's text: a file, an image, a fax page, a forwarded mail."""

    filename: str | None  # decoded; no path separators or control characters
    content_type: str  # "type/subtype", lowercased
    params: tuple[tuple[str, str], ...]  # the Content-Type parameters, keys lowercased
    data: bytes  # the payload, transfer encoding undone
    sha256: str  # hex digest of data


@dataclass(frozen=True)
class Mail:
    """What the 110 centre needs of one e-mail."""

    readable: bool
    message_id: str | None  # without angle brackets, only when plausible
    external_id: str  # "mail:<message id>", else "mail-sha256:<hex of the raw bytes>"
    from_address: str | None  # From, else Sender, else the envelope's MAIL FROM
    from_name: str | None
    subject: str
    body: str
    text: str  # subject and body for the report, at most MAX_TEXT characters
    date: datetime | None  # in UTC
    headers: tuple[tuple[str, str], ...]  # the kept header fields, names lowercased, decoded
    attachments: tuple[Attachment, ...]
    problems: tuple[str, ...]  # what was wrong with the mail, for the record


def parse(raw: bytes, envelope_from: str | None = None) -> Mail:
    """Read one e-mail; never raises."""
    digest = hashlib.sha256(raw).hexdigest()
    sender = _mailbox(envelope_from) if isinstance(envelope_from, str) else None
    try:
        return _Reading(raw).mail(digest, sender)
    except Exception as error:  # a bug of ours must not bounce an alarm
        return Mail(
            readable=False,
            message_id=None,
            external_id="mail-sha256:" + digest,
            from_address=sender,
            from_name=None,
            subject="",
            body="",
            text=UNREADABLE.format(sender=sender or UNKNOWN_SENDER),
            date=None,
            headers=(),
            attachments=(),
            problems=(f"the mail could not be read ({type(error).__name__})",),
        )


@dataclass(eq=False)
class _Part:
    """One MIME part: its header fields and where its body lies in the raw bytes."""

    number: str  # IMAP section number (RFC 3501 §6.4.5): "" for the message, "2.1" ...
    fields: list[tuple[str, bytes]]  # (name lowercased, unfolded raw value)
    start: int
    end: int
    content_type: str = "text/plain"
    params: list[tuple[str, object]] = field(default_factory=list)  # as Message.get_params
    filename: str | None = None
    is_text: bool = False  # text/plain or text/html meant to be read, not saved
    children: list[_Part] = field(default_factory=list)

    def header(self, name: str) -> bytes | None:
        """The value of the first header field of that name."""
        return next((value for key, value in self.fields if key == name), None)

    def param(self, name: str) -> str | None:
        """A Content-Type parameter as written (an RFC 2231 value undecoded)."""
        for key, value in self.params:
            if key == name:
                return str(value[2] if isinstance(value, tuple) else value)
        return None

    @property
    def where(self) -> str:
        return f"part {self.number}" if self.number else "the message"


class _Reading:
    """One message being read: its bytes, the problems found, what is left of each bound."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.problems: list[str] = []
        self.parts = 0
        self.parts_cut = False
        self.attachment_bytes_left = MAX_ATTACHMENT_BYTES
        self.body_left = MAX_BODY

    def note(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        elif len(self.problems) == MAX_PROBLEMS:
            self.problems.append("more problems, not listed")

    def mail(self, digest: str, envelope: str | None) -> Mail:
        start = 0
        if self.raw.startswith(b"From "):  # an mbox separator line some relays leave in
            eol = self.raw.find(b"\n")
            start = len(self.raw) if eol < 0 else eol + 1
        root = self.part(start, len(self.raw), "", 0, "text/plain")
        texts: list[str] = []
        attachments: list[Attachment] = []
        self.contents(root, True, texts, attachments)

        from_name, from_address = self.address(root.header("from"))
        if from_address is None:
            from_name, from_address = self.address(root.header("sender"))
        from_address = from_address or envelope
        sender = from_address or UNKNOWN_SENDER
        message_id = _message_id(root.header("message-id"))
        headers = tuple(
            (name, self.header_text(value, name))
            for name, value in root.fields
            if name in _KEPT or name.startswith(_KEPT_PREFIXES)
        )
        subject = next((value for name, value in headers if name == "subject"), "")
        body = mailtext.clean("\n\n".join(text.strip() for text in texts if text.strip()))
        readable = bool(root.fields)
        if not readable:
            self.note("no header fields: not a mail message")
            text = UNREADABLE.format(sender=sender)
        else:
            text = f"{subject}\n\n{body}".strip() or EMPTY.format(sender=sender)
        if len(text) > MAX_TEXT:
            text = text[: MAX_TEXT - 1] + "…"
        return Mail(
            readable=readable,
            message_id=message_id,
            external_id=f"mail:{message_id}" if message_id else f"mail-sha256:{digest}",
            from_address=from_address,
            from_name=from_name,
            subject=subject,
            body=body,
            text=text,
            date=self.date(root.header("date")),
            headers=headers,
            attachments=tuple(attachments),
            problems=tuple(self.problems),
        )

    # The structure: header sections and multipart boundaries.

    def part(self, start: int, end: int, number: str, depth: int, default: str) -> _Part:
        """The part in raw[start:end], its multipart children read down to MAX_DEPTH."""
        self.parts += 1
        part = _Part(number, [], start, end)
        part.fields, part.start = self.head(part)
        part.content_type, part.params = self.content_type(part, default)
        disposition, disposition_params = _parameters(part.header("content-disposition"))
        name = dict(disposition_params).get("filename")
        if name is None:
            name = dict(part.params).get("name")
        part.filename = None if name is None else _filename(_param_text(name))
        part.is_text = (
            part.content_type in ("text/plain", "text/html")
            and part.filename is None
            and disposition != "attachment"
        )
        if part.content_type.startswith("multipart/"):
            if depth == MAX_DEPTH:
                self.note(f"nesting deeper than {MAX_DEPTH} cut at {part.where}")
            else:
                self.split(part, depth + 1)
        return part

    def head(self, part: _Part) -> tuple[list[tuple[str, bytes]], int]:
        """The part's header fields, unfolded (RFC 5322 §2.2.3), and where its body starts."""
        raw, pos, end = self.raw, part.start, part.end
        fields: list[tuple[str, bytearray]] = []
        cut = False
        while pos < end:
            eol = raw.find(b"\n", pos, end)
            next_line = end if eol < 0 else eol + 1
            line = raw[pos:next_line].rstrip(b"\r\n")
            if not line:  # the blank line before the body
                pos = next_line
                break
            if line[0] in b" \t":  # a folded line goes on with the field before it
                if fields:
                    folded = fields[-1][1]  # grown in place: linear however many lines
                    cut = cut or len(folded) + len(line) > MAX_HEADER_BYTES
                    folded += line[: MAX_HEADER_BYTES - len(folded)]
            else:
                match = _FIELD.match(line)
                if match is None:  # no blank line: the body starts with this line
                    self.note(f"{part.where}: no blank line after the header section")
                    break
                if len(fields) == MAX_HEADERS:
                    self.note(f"{part.where}: over {MAX_HEADERS} header fields, rest skipped")
                    blank = _BLANK_LINE.search(raw, pos - 1, end)
                    pos = end if blank is None else blank.end()
                    break
                name = match.group(1).decode("ascii").lower()
                fields.append((name, bytearray(line[match.end() :][:MAX_HEADER_BYTES])))
                cut = cut or len(line) - match.end() > MAX_HEADER_BYTES
            pos = next_line
        if cut:
            self.note(f"{part.where}: header fields cut at {MAX_HEADER_BYTES} bytes")
        return [(name, bytes(value)) for name, value in fields], pos

    def content_type(self, part: _Part, default: str) -> tuple[str, list[tuple[str, object]]]:
        value = part.header("content-type")
        if value is None:
            return default, []
        content_type, params = _parameters(value)
        if _CONTENT_TYPE.fullmatch(content_type) is None:
            self.note(f"{part.where}: content type {content_type[:40]!r} read as {default}")
            return default, params
        return content_type, params

    def split(self, part: _Part, depth: int) -> None:
        """Read the parts between the boundary lines (RFC 2046 §5.1.1)."""
        boundary = part.param("boundary")
        if not boundary or len(boundary) > 200:
            self.note(f"{part.where}: multipart without a boundary, read as text")
            part.content_type, part.is_text = "text/plain", True
            return
        delimiter = re.compile(
            b"^--" + re.escape(boundary.encode("latin-1", "replace")) + rb"(--)?[ \t]*\r?$",
            re.MULTILINE,
        )
        start: int | None = None
        for match in delimiter.finditer(self.raw, part.start, part.end):
            if start is not None:
                # The line break before a delimiter belongs to the delimiter.
                stop = match.start() - 1
                if stop > start and self.raw[stop - 1] == 0x0D:
                    stop -= 1
                if not self.child(part, start, max(stop, start), depth):
                    return
            if match.group(1):  # the close delimiter; the epilogue after it is ignored
                return
            start = min(match.end() + 1, part.end)
        if start is None:
            self.note(f"{part.where}: multipart without its boundary lines, read as text")
            part.content_type, part.is_text = "text/plain", True
            return
        self.note(f"{part.where}: no closing boundary")
        self.child(part, start, part.end, depth)

    def child(self, parent: _Part, start: int, end: int, depth: int) -> bool:
        """Read one child part; False once MAX_PARTS are read."""
        if self.parts >= MAX_PARTS:
            if not self.parts_cut:
                self.parts_cut = True
                self.note(f"too many parts (over {MAX_PARTS}) — rest ignored")
            return False
        number = f"{parent.number}.{len(parent.children) + 1}".lstrip(".")
        # RFC 2046 §5.1.5: in a digest the parts are mails unless they say otherwise.
        default = "message/rfc822" if parent.content_type == "multipart/digest" else "text/plain"
        try:
            parent.children.append(self.part(start, end, number, depth, default))
        except Exception as error:  # one bad part must not cost the others
            self.note(f"part {number} could not be read ({type(error).__name__})")
        return True

    # The contents: the body text and the attachments.

    def contents(
        self, part: _Part, in_body: bool, texts: list[str], attachments: list[Attachment]
    ) -> None:
        """Collect the body texts and the attachments of the part, in order."""
        if part.content_type.startswith("multipart/"):
            chosen = None
            if part.content_type == "multipart/alternative":
                chosen = _alternative(part.children)
            for child in part.children:
                self.contents(
                    child, in_body and (chosen is None or chosen is child), texts, attachments
                )
            return
        try:
            if part.is_text:
                if in_body:
                    texts.append(self.text(part))
                return
            data = self.payload(part)
            if len(data) > self.attachment_bytes_left:
                self.note(f"{part.where}: attachment dropped, over {MAX_ATTACHMENT_BYTES} bytes")
                return
            self.attachment_bytes_left -= len(data)
            params = tuple((key, _param_text(value)) for key, value in part.params[1:] if key)
            attachments.append(
                Attachment(
                    filename=part.filename,
                    content_type=part.content_type,
                    params=params,
                    data=data,
                    sha256=hashlib.sha256(data).hexdigest(),
                )
            )
        except Exception as error:  # one bad part must not cost the others
            self.note(f"{part.where} could not be read ({type(error).__name__})")

    def text(self, part: _Part) -> str:
        if self.body_left <= 0:
            self.note(f"{part.where}: text ignored, the body is over {MAX_BODY} characters")
            return ""
        text, problem = mailtext.decode(self.payload(part), part.param("charset"))
        if problem:
            self.note(f"{part.where}: {problem}")
        if len(text) > self.body_left:
            self.note(f"{part.where}: text cut, the body is over {MAX_BODY} characters")
            text = text[: self.body_left]
        self.body_left -= len(text)
        return mailtext.html_text(text) if part.content_type == "text/html" else text

    def payload(self, part: _Part) -> bytes:
        """The part's body with its transfer encoding (RFC 2045 §6) undone."""
        data = self.raw[part.start : part.end]
        value = part.header("content-transfer-encoding")
        encoding = "" if value is None else value.decode("latin-1").strip(" \t\"'").lower()
        if encoding == "base64":
            return mailtext.base64_lenient(data)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(data)
        if encoding not in ("", "7bit", "8bit", "binary"):
            self.note(f"{part.where}: transfer encoding {encoding[:40]!r} left as it is")
        return data

    # Header values.

    def header_text(self, value: bytes, name: str) -> str:
        """A header value decoded to one line: RFC 2047 encoded words, raw 8-bit bytes."""
        text, problem = _header_text(value)
        if problem:
            self.note(f"{name}: {problem}")
        return text

    def address(self, value: bytes | None) -> tuple[str | None, str | None]:
        """The display name and address of the first mailbox in an address field."""
        if value is None:
            return None, None
        plain = _PLAIN_MAILBOX.fullmatch(value)
        if plain is not None:  # the usual `Name <a@b>` or `a@b`: no need for the full parser
            name = (plain["name"] or b"").strip()
            address = plain["address"] or plain["address2"]
            mailbox = _mailbox(mailtext.decode(address, None)[0])
            if mailbox is not None:
                text, _ = _header_text(name)
                return text or None, mailbox
        try:
            pairs = getaddresses([value.decode("latin-1")])
        except Exception:  # e.g. RecursionError on deeply nested comments
            self.note("an address field could not be read")
            return None, None
        for name, address in pairs:
            mailbox = _mailbox(mailtext.decode(address.encode("latin-1", "replace"), None)[0])
            if mailbox is not None:
                text, _ = _header_text(name.encode("latin-1", "replace"))
                return text or None, mailbox
        return None, None

    def date(self, value: bytes | None) -> datetime | None:
        if value is None:
            return None
        try:
            when = parsedate_to_datetime(value.decode("latin-1").strip())
            if when.tzinfo is None:  # RFC 5322 §3.3: -0000 is UTC, the sender's zone unknown
                when = when.replace(tzinfo=UTC)
            return when.astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            self.note(f"Date {value[:60].decode('latin-1')!r} not understood")
            return None


# Header sections and parameters.

_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:[ \t]*")  # RFC 5322 §3.6.8 (and obs-optional WSP)
_BLANK_LINE = re.compile(rb"\n\r?\n")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")
_MAX_PARAMS = 64
# `Display Name <local@domain>` or `local@domain`, with no quotes, comments, groups or
# second mailbox: most From lines, read without email.utils' full address parser.
_PLAIN_MAILBOX = re.compile(
    rb"\s*(?:(?P<name>[^\"(),:;<>@\\]*?)\s*<(?P<address>[^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+)>"
    rb"|(?P<address2>[^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+))\s*"
)

# Printable ASCII but < and >; at most 190, so that "mail:" + it fits an external id (200).
_MESSAGE_ID = re.compile(r"<([!-;=?-~]{1,190})>")


def _parameters(value: bytes | None) -> tuple[str, list[tuple[str, object]]]:
    """A Content-Type or Content-Disposition value: its lowercased main value, and all of
    `Message.get_params` (RFC 2231 values as (charset, language, text) tuples)."""
    if value is None:
        return "", []
    # get_params rescans the value at each ";" (quadratic); real values have a few dozen.
    value = b";".join(value.split(b";", _MAX_PARAMS + 1)[: _MAX_PARAMS + 1])
    message = Message()
    message["Content-Type"] = value.decode("latin-1")
    params: list[tuple[str, object]] = list(message.get_params(failobj=[]))
    if not params:
        return "", []
    return str(params[0][0]).strip().lower(), params


def _param_text(value: object) -> str:
    """A parameter's value decoded: RFC 2231 with its charset, else RFC 2047 or raw bytes."""
    if isinstance(value, tuple) and len(value) == 3:
        charset, _language, text = value
        data = str(text).encode("latin-1", "replace")
        return mailtext.line(
            mailtext.decode(data, charset if isinstance(charset, str) else None)[0]
        )
    return _header_text(str(value).encode("latin-1", "replace"))[0]


def _header_text(value: bytes) -> tuple[str, str | None]:
    """An unfolded header value as one line of text, and a problem if it had one."""
    problem: str | None = None
    chunks: list[tuple[bytes | str, str | None]]
    try:
        chunks = decode_header(value.decode("latin-1"))
    except (HeaderParseError, ValueError):  # a broken encoded word: shown as it stands
        chunks, problem = [(value, None)], "broken encoded word"
    pieces = []
    for chunk, charset in chunks:
        # decode_header gives str, or bytes via raw-unicode-escape: latin-1 both ways here.
        data = chunk.encode("latin-1") if isinstance(chunk, str) else chunk
        text, chunk_problem = mailtext.decode(data, charset)
        pieces.append(text)
        problem = problem or chunk_problem
    return mailtext.line("".join(pieces)), problem


def _message_id(value: bytes | None) -> str | None:
    """The Message-ID without its angle brackets, if it looks like one (RFC 5322 §3.6.4)."""
    if value is None:
        return None
    match = _MESSAGE_ID.fullmatch(value.decode("latin-1").strip())
    if match is None:
        return None
    local, at, domain = match.group(1).partition("@")
    if not local or not domain or "@" in domain:
        return None
    return match.group(1)


def _mailbox(text: str) -> str | None:
    """An address as local@domain with the domain lowercased, or None if it is none."""
    text = mailtext.clean(text).strip().strip("<>")
    local, at, domain = text.rpartition("@")
    if not local or not domain or len(text) > 320 or any(c.isspace() for c in text):
        return None
    return f"{local}@{domain.lower()}"


def _filename(name: str) -> str | None:
    """A file name safe to show and to store: no directories, controls or bidi overrides."""
    name = (
        mailtext.BIDI.sub("", mailtext.line(name)).replace("/", "_").replace("\\", "_").strip(" .")
    )
    if len(name) > MAX_FILENAME:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            name = stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME]
    return name or None


def _alternative(children: list[_Part]) -> _Part | None:
    """The alternative to read: the first with plain text, else the first with HTML."""
    for content_type in ("text/plain", "text/html"):
        for child in children:
            if content_type in _texts(child):
                return child
    return children[-1] if children else None


def _texts(part: _Part) -> set[str]:
    """The content types of the readable texts in a part."""
    if part.children:
        return set().union(*(_texts(child) for child in part.children))
    return {part.content_type} if part.is_text else set()
