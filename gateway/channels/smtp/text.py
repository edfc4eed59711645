"""Text out of mail: charsets as Chinese mail labels them, lenient base64, HTML read as
text, and clean-up so that what is stored is valid UTF-8 without control characters."""

from __future__ import annotations

import binascii
import codecs
import html
import re

# Charsets.

_CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+()-]{0,39}")
# Labels seen in mail that Python does not know.
_LABELS = {
    "x-gbk": "gbk",
    "windows-936": "gbk",
    "csgb2312": "gb2312",
    "gb_2312-80": "gb2312",
    "x-gb2312": "gb2312",
    "x-big5": "big5",
    "csbig5": "big5",
}
# Codecs Python has that no mail text is in.
_NOT_CHARSETS = frozenset({"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined"})


def _codecs(label: str | None) -> tuple[str, ...]:
    """The codecs to read text labelled so with, in order; () if the label is unknown."""
    if label is None:
        return ()
    label = label.strip().split("*", 1)[0]  # RFC 2231 §5: charset*language in encoded words
    if _CHARSET.fullmatch(label) is None:
        return ()
    label = label.lower()
    try:
        name = codecs.lookup(_LABELS.get(label, label)).name
        b"a".decode(name)  # LookupError for codecs that are not for text (base64, zlib)
    except LookupError:
        return ()
    except ValueError:  # a text codec that one byte is too short for (UTF-16)
        pass
    if name in ("gb2312", "gbk"):
        return ("gb18030",)
    if name == "big5":
        return ("big5", "cp950")
    if name in _NOT_CHARSETS:
        return ()
    return (name,)


def decode(data: bytes, label: str | None) -> tuple[str, str | None]:
    """Text from bytes labelled with a charset (or not), and a problem if it was guessed."""
    known = _codecs(label)
    for codec in known:
        try:
            return data.decode(codec), None
        except ValueError:
            pass
    for codec in ("utf-8", "gb18030"):
        try:
            text = data.decode(codec)
        except ValueError:
            continue
        if label is None or data.isascii():
            return text, None
        why = "not valid" if known else "unknown charset"
        return text, f"{why} {label[:40]!r}, read as {codec}"
    return data.decode("utf-8", "replace"), "undecodable bytes replaced"


_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_NOT_BASE64 = bytes(sorted(set(range(256)) - set(_BASE64_ALPHABET)))


def base64_lenient(data: bytes) -> bytes:
    """Base64 read leniently: up to the padding, other characters skipped, padding fixed."""
    data = data.split(b"=", 1)[0].translate(None, _NOT_BASE64)
    extra = len(data) % 4
    if extra == 1:  # six bits are no byte
        data = data[:-1]
    elif extra:
        data += b"=" * (4 - extra)
    return binascii.a2b_base64(data)


# Text clean-up.

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """Text fit to store and show: \\n line breaks, no control characters but \\n and \\t,
    no lone surrogates (PostgreSQL takes only valid UTF-8)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def line(text: str) -> str:
    """Text as one line, runs of white space made one space."""
    return " ".join(clean(text).split())


# HTML to text.

_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)")
_BLOCKS = frozenset(
    "address article aside blockquote br caption dd div dl dt fieldset figure footer form "
    "h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tr ul".split()
)
# Elements whose content is not the mail's text, and their end tags.
_HIDDEN = {
    name: re.compile(rf"</{name}\s*>", re.IGNORECASE) for name in ("script", "style", "title")
}
_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def html_text(markup: str) -> str:
    """The readable text of an HTML document: scripts and styles dropped, block elements on
    lines of their own, entities unescaped. Linear: whatever is found unterminated once is
    not searched for again."""
    out: list[str] = []
    unterminated: set[str] = set()
    pos, end = 0, len(markup)
    while pos < end:
        lt = markup.find("<", pos)
        if lt < 0:
            lt = end
        out.append(html.unescape(_SPACES.sub(" ", markup[pos:lt])))
        if lt == end:
            break
        if markup.startswith("<!--", lt):
            close = -1 if "-->" in unterminated else markup.find("-->", lt + 4)
            if close < 0:
                unterminated.add("-->")
                pos = lt + 4
            else:
                pos = close + 3
            continue
        tag = _TAG.match(markup, lt)
        if tag is None and markup[lt + 1 : lt + 2] not in ("!", "?"):
            out.append("<")  # a lone "<" is text
            pos = lt + 1
            continue
        gt = -1 if ">" in unterminated else markup.find(">", lt + 1)
        if gt < 0:
            unterminated.add(">")
            out.append("<")
            pos = lt + 1
            continue
        pos = gt + 1
        if tag is None:  # <!DOCTYPE ...>, <?xml ...?>, <![if ...]>
            continue
        name = tag.group(2).lower()
        if name in _BLOCKS:
            out.append("\n")
        elif name in ("td", "th"):
            out.append(" ")
        if not tag.group(1) and name in _HIDDEN and name not in unterminated:
            close_tag = _HIDDEN[name].search(markup, pos)
            if close_tag is None:
                unterminated.add(name)
            else:
                pos = close_tag.end()
    lines = (" ".join(line.split()) for line in "".join(out).split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
