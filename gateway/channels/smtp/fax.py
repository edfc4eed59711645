"""Fax documents that came by mail: their pages as PNG images for the console and OCR,
and who sent them, from the fax server's headers. Pure: bytes in, values out.

A fax server (Asterisk's ReceiveFAX through spandsp, HylaFAX) writes what it received as
TIFF-F (RFC 2306): one 1-bit image per page, 1728 pixels across an A4 line (T.4),
coded G3 1-D/2-D (T.4) or G4 (T.6), mailed as `image/tiff; application=faxbw`
(RFC 3965) or converted to PDF. A page sent at standard resolution has half as many
lines per mm as pels (T.4: 3.85 lines/mm against 8 pels/mm, 204×98 dpi): shown or
read as it is, its text is squashed to half its height and OCR reads garbage, so such a
page is stretched 2× vertically, each line doubled as a fax machine prints it.

`pages` raises only `UnreadableFax`, whatever the bytes: memory is bounded by checking
each page's size from its header before it is decoded, and every error of the decoders
is turned into a message that says what was wrong. PDF pages are drawn by pdfium, which
is not thread-safe: one lock serialises them within a process.
"""

from __future__ import annotations

import io
import math
import re
import struct
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, TiffImagePlugin

MAX_PAGES = 50
MAX_PIXELS = 40_000_000  # of one page as stored (before the stretch), all bands counted
PDF_DPI = 200.0  # PDF pages are drawn at about a fax's resolution
FINE_DPI = (204.0, 196.0)  # T.4 fine; assumed when a TIFF does not say

_TIFF_MAGIC = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # TIFF 6.0 §2; BigTIFF
_TIFF_TYPES = frozenset({"image/tiff", "image/tif", "image/x-tiff", "image/tiff-fx"})
_PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
_SUFFIXES = (".tif", ".tiff", ".pdf")

# What Pillow and pdfium raise for bad input; Pillow's parsers let through more than
# OSError and SyntaxError (the property tests in test_fax.py find them).
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    EOFError,
    ArithmeticError,
    MemoryError,
    RecursionError,
    struct.error,
    Image.DecompressionBombError,
    pdfium.PdfiumError,
)

_PDFIUM = threading.Lock()


class UnreadableFax(ValueError):
    """The document is not a fax page image we can read; the message says why."""


@dataclass(frozen=True)
class Page:
    """One page, as a PNG (1-bit, or 8-bit grey for pages drawn from PDF or in grey)."""

    number: int  # 1-based
    png: bytes
    width: int  # of the PNG, in pixels
    height: int
    xdpi: float  # of the PNG: a stretched page has twice the dpi it was sent with
    ydpi: float
    stretched: bool  # sent at standard resolution and doubled vertically


def is_fax_document(content_type: str, filename: str | None, head: bytes) -> bool:
    """Whether an attachment is a fax document (TIFF or PDF) by its type, name or first
    bytes; `pages` then reads it, or says why it cannot."""
    if _kind(head):
        return True
    if content_type.split(";", 1)[0].strip().lower() in _TIFF_TYPES | _PDF_TYPES:
        return True
    return filename is not None and filename.strip().lower().endswith(_SUFFIXES)


def pages(
    data: bytes,
    content_type: str,
    filename: str | None = None,
    *,
    max_pages: int = MAX_PAGES,
    max_pixels: int = MAX_PIXELS,
) -> list[Page]:
    """The pages of a fax document as PNG images. The bytes decide whether it is TIFF or
    PDF, not the label; the label and name only explain a refusal."""
    kind = _kind(data)
    if kind == "tiff":
        return _tiff_pages(data, max_pages, max_pixels)
    if kind == "pdf":
        return _pdf_pages(data, max_pages, max_pixels)
    label = content_type.split(";", 1)[0].strip().lower() or "no type"
    named = f" named {filename!r}" if filename else ""
    if not data:
        raise UnreadableFax(f"empty document ({label}{named})")
    raise UnreadableFax(f"not a TIFF or PDF (starts with {data[:8]!r}; {label}{named})")


def _kind(head: bytes) -> str | None:
    if head[:4] in _TIFF_MAGIC:
        return "tiff"
    # ISO 32000-1 §7.5.2 puts the header first; Annex H: readers look in the first 1 kB.
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return None


def _tiff_pages(data: bytes, max_pages: int, max_pixels: int) -> list[Page]:
    try:
        # The plugin class, not Image.open: Image.open refuses large images by its own
        # process-wide limit, before ours can say which page is how large.
        image = TiffImagePlugin.TiffImageFile(io.BytesIO(data))
    except _DECODE_ERRORS as e:
        why = _why(e)
        if why == "not identified by this driver":  # Pillow's word for a 0 size or odd pixels
            why = "no page size or pixel format it can read"
        raise UnreadableFax(f"not a readable TIFF: {why}") from None
    with image:
        count = _count_frames(image, max_pages)
        return [_tiff_page(image, index, max_pixels) for index in range(count)]


def _count_frames(image: TiffImagePlugin.TiffImageFile, max_pages: int) -> int:
    """How many pages, reading only the directories (one per page) up to the limit."""
    for index in range(1, max_pages + 1):
        try:
            image.seek(index)
        except EOFError:
            return index
        except _DECODE_ERRORS as e:
            raise UnreadableFax(f"page {index + 1}: {_why(e)}") from None
    raise UnreadableFax(f"more than {max_pages} pages")


def _tiff_page(image: TiffImagePlugin.TiffImageFile, index: int, max_pixels: int) -> Page:
    number = index + 1
    try:
        image.seek(index)
        width, height = image.size
        _check_size(number, width, height, len(image.getbands()), image.mode, max_pixels)
        xdpi, ydpi = _tiff_dpi(image)
        image.load()
        frame: Image.Image = image if image.mode in ("1", "L") else image.convert("L")
        # T.4: standard resolution is half the lines of fine; a page of 200×100 dpi
        # (T.30's inch-based variant) is the same.
        stretched = ydpi < 120 and xdpi >= 1.5 * ydpi
        if stretched:
            frame = frame.resize((width, height * 2), Image.Resampling.NEAREST)
            ydpi *= 2
        return _page(number, frame, xdpi, ydpi, stretched)
    except UnreadableFax:
        raise
    except _DECODE_ERRORS as e:
        raise UnreadableFax(f"page {number}: {_why(e)}") from None


def _check_size(number: int, width: int, height: int, bands: int, mode: str, limit: int) -> None:
    if width < 1 or height < 1:
        raise UnreadableFax(f"page {number} is {width}×{height} pixels")
    if width * height > limit:
        raise UnreadableFax(f"page {number} is {width}×{height} pixels, over the limit of {limit}")
    if width * height * bands > limit:
        raise UnreadableFax(
            f"page {number} is {width}×{height} {mode} pixels "
            f"({width * height * bands} samples), over the limit of {limit}"
        )


def _tiff_dpi(image: TiffImagePlugin.TiffImageFile) -> tuple[float, float]:
    """The page's dpi from its XResolution, YResolution and ResolutionUnit (which Pillow
    turns into dpi), else that of a fine page. RFC 2306 requires the tags; fax servers
    write 204×98 or 204×196 per inch (spandsp), or 80.31×38.5 per centimetre (older ones)."""
    dpi = image.info.get("dpi")
    if dpi and all(_plausible(v) for v in dpi):
        return float(dpi[0]), float(dpi[1])
    # ResolutionUnit 1 (none): only the ratio is known, which tells standard from fine.
    ratio = image.info.get("resolution")
    if ratio and all(_plausible(v, low=1e-3) for v in ratio):
        if float(ratio[0]) / float(ratio[1]) > 1.5:
            return FINE_DPI[0], FINE_DPI[1] / 2
    return FINE_DPI


def _plausible(value: object, low: float = 20.0) -> bool:
    try:
        number = float(value)  # type: ignore[arg-type]  # IFDRational, int or float
    except (TypeError, ValueError, ZeroDivisionError):
        return False
    return math.isfinite(number) and low <= number <= 4800


def _pdf_pages(data: bytes, max_pages: int, max_pixels: int) -> list[Page]:
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except _DECODE_ERRORS as e:
            raise UnreadableFax(f"not a readable PDF: {_why(e)}") from None
        try:
            count = len(document)
            if count < 1:
                raise UnreadableFax("the PDF has no pages")
            if count > max_pages:
                raise UnreadableFax(f"more than {max_pages} pages ({count})")
            return [_pdf_page(document, index, max_pixels) for index in range(count)]
        except UnreadableFax:
            raise
        except _DECODE_ERRORS as e:
            raise UnreadableFax(f"not a readable PDF: {_why(e)}") from None
        finally:
            document.close()


def _pdf_page(document: pdfium.PdfDocument, index: int, max_pixels: int) -> Page:
    number = index + 1
    try:
        page = document[index]
    except _DECODE_ERRORS as e:
        raise UnreadableFax(f"page {number}: {_why(e)}") from None
    try:
        points_w, points_h = page.get_size()  # 1/72 inch
        if not (math.isfinite(points_w) and math.isfinite(points_h)):
            raise UnreadableFax(f"page {number} has no size ({points_w}×{points_h} pt)")
        # A page too large for the limit at PDF_DPI is drawn smaller, not refused.
        area = max(points_w * points_h, 1e-9)
        scale = min(PDF_DPI / 72, math.sqrt(max_pixels / area) * 0.999)
        width, height = math.ceil(points_w * scale), math.ceil(points_h * scale)
        _check_size(number, width, height, 1, "L", max_pixels)
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
        image = bitmap.to_pil().convert("L")
        dpi = scale * 72
        return _page(number, image, dpi, dpi, stretched=False)
    except UnreadableFax:
        raise
    except _DECODE_ERRORS as e:
        raise UnreadableFax(f"page {number}: {_why(e)}") from None
    finally:
        page.close()


def _page(number: int, image: Image.Image, xdpi: float, ydpi: float, stretched: bool) -> Page:
    out = io.BytesIO()
    # A 1-bit fax page of A4 is some tens of kB; `optimize` costs little at this size.
    image.save(out, format="PNG", optimize=True, dpi=(xdpi, ydpi))
    return Page(number, out.getvalue(), image.width, image.height, xdpi, ydpi, stretched)


def _why(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# Who sent it.


@dataclass(frozen=True)
class FaxOrigin:
    """What the fax server says of the sender; None where it does not say."""

    number: str | None  # the calling number: digits, and + when it had one in front
    csid: str | None  # the remote station's id (the T.30 TSI), as it sent it
    pages: int | None
    resolution: str | None  # "fine", "standard", or the server's own words


_OURS = "x-alarmgw-fax-"  # headers our Asterisk dialplan (asterisk/agi-bin) adds
_NOBODY = frozenset({"", "unknown", "<unknown>", "<unspecified>", "anonymous", "none", "-"})
# HylaFAX faxrcvd: "Facsimile received from TSI" (4.x script), 'Fax received from "TSI"'
# (6.x templates), '[HylaFAX] …' when a filter tags it; our dialplan's mail says the same
# with "(incomplete)" or "reception failed"; other servers write "FAX from …".
_SUBJECTS = (
    re.compile(
        r"^(?:\s*(?:\[[^\]]*\]|re:|fwd?:))*\s*(?:new\s+)?(?:fax|facsimile)\s+"
        r"(?:message\s+)?(?:(?:received|reception\s+failed)\s+)?from\s*:?\s*"
        r"(?P<who>.*?)\s*(?:\((?:incomplete|partial)\))?\s*$",
        re.IGNORECASE,
    ),
    re.compile(r"来自\s*(?P<who>.+?)\s*的传真"),
)
# HylaFAX faxinfo(8) in the body: "     Sender: TSI", "Pages: 2", "CIDNumber: …"
_FAXINFO = re.compile(
    r"^[ \t]*(?P<key>Sender|Pages|Quality|CIDNumber|CallID1)[ \t]*:[ \t]*(?P<value>[^\r\n]*)",
    re.IGNORECASE | re.MULTILINE,
)


def origin(headers: Sequence[tuple[str, str]], subject: str, *, body: str = "") -> FaxOrigin:
    """Who sent a fax, from our dialplan's X-Alarmgw-Fax-* headers (names lowercased,
    values decoded), else from a HylaFAX-style subject ("Facsimile received from …") and
    faxinfo lines in the body. A station id that is a phone number stands in for a
    missing calling number: T.30 means the TSI to be the station's phone number."""
    ours: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        if name.startswith(_OURS):
            ours.setdefault(name[len(_OURS) :], value)
    info = _faxinfo(body)
    number = _number(ours.get("caller")) or _number(info.get("cidnumber") or info.get("callid1"))
    csid = _csid(ours.get("csid")) or _csid(_subject_sender(subject)) or _csid(info.get("sender"))
    pages = _count(ours.get("pages"))
    if pages is None:
        pages = _count(info.get("pages"))
    resolution = _resolution(ours.get("resolution")) or _resolution(info.get("quality"))
    return FaxOrigin(number or _number(csid), csid, pages, resolution)


def _subject_sender(subject: str) -> str | None:
    for pattern in _SUBJECTS:
        match = pattern.search(subject[:1000])
        if match:
            return match.group("who")
    return None


def _faxinfo(body: str) -> dict[str, str]:
    """faxinfo's fields, when the body has its Sender and Pages lines."""
    fields: dict[str, str] = {}
    for match in _FAXINFO.finditer(body[:20_000]):
        fields.setdefault(match.group("key").lower(), match.group("value"))
    return fields if "sender" in fields and "pages" in fields else {}


def _number(value: str | None) -> str | None:
    """A phone number as digits with the leading + kept: "+86 (10) 1234-5678" →
    "+861012345678"; None for anything else ("anonymous", a name)."""
    if not value:
        return None
    text = unicodedata.normalize("NFKC", value)  # full-width digits are digits
    bracketed = re.search(r"<([^<>]*)>", text)  # "Name" <number>, as Asterisk writes it
    text = (bracketed.group(1) if bracketed else text).strip().strip('"').strip()
    plus = text.startswith("+")
    digits = re.sub(r"[\s().\-/]", "", text.lstrip("+"))
    if digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 20:
        return "+" + digits if plus else digits
    return None


def _csid(value: str | None) -> str | None:
    if value is None:
        return None
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1].strip()
    if text.lower() in _NOBODY:
        return None
    return text[:64]  # a TSI is 20 characters; room for a server's own wording


def _count(value: str | None) -> int | None:
    text = (value or "").strip()
    if text.isascii() and text.isdigit() and len(text) <= 5:
        return int(text)
    return None


def _resolution(value: str | None) -> str | None:
    """The resolution as "fine" or "standard" from "204x196", "204x98", spandsp's pixels
    per metre ("8031x7700", "8031x3850") or HylaFAX's "Fine"/"Normal"; else as given."""
    text = " ".join((value or "").split())[:40]
    if not text or not text.isprintable():
        return None
    sizes = re.fullmatch(r"(\d{2,6})\s*[x×*]\s*(\d{2,6})", text)
    if sizes:
        lines = int(sizes.group(2))
        lines_per_inch = lines * 0.0254 if lines >= 1000 else lines  # per metre → per inch
        if lines_per_inch < 120:
            return "standard"
        if lines_per_inch < 300:
            return "fine"
        return text
    word = text.lower()
    if word in ("standard", "normal"):
        return "standard"
    if word == "fine":
        return "fine"
    return text
