"""Fax documents to page images (gateway.channels.smtp.fax): TIFF as fax servers write it
and PDF, standard resolution stretched, refusals that say why, no other exception for any
bytes; which attachments are fax documents; who sent a fax, from the server's headers."""

from __future__ import annotations

import functools
import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from gateway.channels.smtp.fax import (
    MAX_PIXELS,
    FaxOrigin,
    Page,
    UnreadableFax,
    is_fax_document,
    origin,
    pages,
)
from tests.channels.smtp import faxpages

ALARM = ["报警：和平路12号银行门口有人持刀抢劫", "联系电话 13800138000"]


@functools.cache
def drawn(resolution: str = "fine") -> Image.Image:
    """The alarm page (shared: do not change it)."""
    return faxpages.draw_page(ALARM, resolution=resolution)


def bare_tiff(
    sizes: Sequence[tuple[int, int]],
    *,
    big_endian: bool = False,
    resolution: tuple[tuple[int, int], tuple[int, int], int] | None = ((204, 1), (196, 1), 2),
) -> bytes:
    """A TIFF written byte by byte: uncompressed white 1-bit pages of `sizes`, a page too
    large to hold given a 16-byte strip; `resolution` is (XResolution, YResolution,
    ResolutionUnit) with the resolutions as fractions, None for no tags."""
    e = ">" if big_endian else "<"
    out = bytearray(b"MM\0*" if big_endian else b"II*\0") + bytes(4)
    link = 4  # where the next directory's offset goes
    for width, height in sizes:
        strip = bytes((width + 7) // 8 * height) if width * height <= 10**7 else bytes(16)
        strip_at = len(out)
        out += strip
        # (tag, type: 3 SHORT, 4 LONG, 5 RATIONAL, value or offset), TIFF 6.0 §2
        entries = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 1),  # BitsPerSample
            (259, 3, 1),  # Compression: none
            (262, 3, 0),  # PhotometricInterpretation: WhiteIsZero
            (273, 4, strip_at),
            (278, 4, height),  # RowsPerStrip
            (279, 4, len(strip)),
        ]
        if resolution:
            for tag, (numerator, denominator) in zip((282, 283), resolution[:2], strict=True):
                entries.append((tag, 5, len(out)))
                out += struct.pack(e + "II", numerator, denominator)
            entries.append((296, 3, resolution[2]))
        out += bytes(len(out) % 2)  # directories start on a word boundary
        struct.pack_into(e + "I", out, link, len(out))
        out += struct.pack(e + "H", len(entries))
        for tag, kind, value in sorted(entries):
            packed = struct.pack(e + "HH", value, 0) if kind == 3 else struct.pack(e + "I", value)
            out += struct.pack(e + "HHI", tag, kind, 1) + packed
        link = len(out)
        out += bytes(4)
    return bytes(out)


def spandsp_tiff(page: Image.Image) -> bytes:
    """As Asterisk's ReceiveFAX (spandsp t4_rx.c) writes a page: G3 2-D with fill bits
    (T4Options 5), least significant bit first (FillOrder 2)."""
    out = io.BytesIO()
    tags = {266: 2, 292: 5}
    page.save(out, format="TIFF", compression="group3", tiffinfo=tags, dpi=page.info["dpi"])
    return out.getvalue()


def stretched(page: Image.Image) -> Image.Image:
    return page.resize((page.width, page.height * 2), Image.Resampling.NEAREST)


# Readable documents.


@dataclass(frozen=True)
class Readable:
    id: str
    data: Callable[[], bytes]
    content_type: str = "image/tiff"
    filename: str | None = None
    # What each page must be: its image (1-bit, compared pixel by pixel), else its size.
    expect: Callable[[], list[Image.Image]] | None = None
    sizes: tuple[tuple[int, int], ...] = ()
    stretched: tuple[bool, ...] = (False,)
    dpi: tuple[float, float] = faxpages.FINE


READABLE = [
    Readable(
        "G4 fine",
        lambda: faxpages.tiff([drawn()]),
        expect=lambda: [drawn()],
    ),
    Readable(
        "G4 standard is stretched",
        lambda: faxpages.tiff([drawn("standard")]),
        expect=lambda: [stretched(drawn("standard"))],
        stretched=(True,),
    ),
    Readable(
        "G3 1-D fine",
        lambda: faxpages.tiff([drawn()], compression="group3"),
        expect=lambda: [drawn()],
    ),
    Readable(
        "G3 1-D standard",
        lambda: faxpages.tiff([drawn("standard")], compression="group3"),
        expect=lambda: [stretched(drawn("standard"))],
        stretched=(True,),
    ),
    Readable(
        "spandsp: G3 2-D, LSB first, standard",
        lambda: spandsp_tiff(drawn("standard")),
        expect=lambda: [stretched(drawn("standard"))],
        stretched=(True,),
    ),
    Readable(
        "three pages, the second standard",
        lambda: faxpages.tiff([drawn(), drawn("standard"), drawn()]),
        expect=lambda: [drawn(), stretched(drawn("standard")), drawn()],
        stretched=(False, True, False),
    ),
    Readable(
        "RFC 3965 faxbw",
        lambda: faxpages.tiff([drawn()]),
        content_type="image/tiff; application=faxbw",
        filename="fax.tif",
        expect=lambda: [drawn()],
    ),
    Readable(
        "octet-stream, by magic",
        lambda: faxpages.tiff([drawn()]),
        content_type="application/octet-stream",
        filename="attachment.bin",
        expect=lambda: [drawn()],
    ),
    Readable(
        "big-endian, uncompressed",
        lambda: bare_tiff([(1728, 200)], big_endian=True),
        expect=lambda: [Image.new("1", (1728, 200), 1)],
    ),
    Readable(
        "no resolution tags: taken as fine",
        lambda: bare_tiff([(1728, 200)], resolution=None),
        sizes=((1728, 200),),
    ),
    Readable(
        "centimetres (older spandsp): 80.31×38.50 per cm",
        lambda: bare_tiff([(1728, 200)], resolution=((8031, 100), (3850, 100), 3)),
        sizes=((1728, 400),),
        stretched=(True,),
        dpi=(204.0, 195.6),
    ),
    Readable(
        "no unit, 2:1 aspect: standard",
        lambda: bare_tiff([(1728, 200)], resolution=((2, 1), (1, 1), 1)),
        sizes=((1728, 400),),
        stretched=(True,),
    ),
    Readable(
        "PDF, two pages at 200 dpi",
        lambda: faxpages.pdf([drawn(), drawn()]),
        content_type="application/pdf",
        # 1728 px at 204 dpi and 1100 px at 196 dpi, drawn at 200 dpi.
        sizes=((1695, 1123), (1695, 1123)),
        stretched=(False, False),
        dpi=(200.0, 200.0),
    ),
    Readable(
        "PDF as octet-stream, by magic",
        lambda: faxpages.pdf([drawn()]),
        content_type="application/octet-stream",
        sizes=((1695, 1123),),
        dpi=(200.0, 200.0),
    ),
]


@pytest.mark.parametrize("case", READABLE, ids=lambda c: c.id)
def test_readable(case: Readable) -> None:
    result = pages(case.data(), case.content_type, case.filename)
    assert [p.number for p in result] == list(range(1, len(case.stretched) + 1))
    assert [p.stretched for p in result] == list(case.stretched)
    expected = case.expect() if case.expect else None
    for index, page in enumerate(result):
        assert isinstance(page, Page)
        image = Image.open(io.BytesIO(page.png))
        assert image.format == "PNG"
        assert image.mode in ("1", "L")
        assert image.size == (page.width, page.height)
        assert (page.xdpi, page.ydpi) == pytest.approx(case.dpi, abs=0.5)
        assert image.info["dpi"] == pytest.approx(case.dpi, abs=0.5)
        if expected:
            assert image.mode == "1"
            assert image.tobytes() == expected[index].tobytes(), f"page {index + 1} differs"
        else:
            assert image.size == case.sizes[index]


def test_pdf_page_has_the_text() -> None:
    """The page drawn from PDF is the page: as much ink (per square inch) as the TIFF's."""
    [page] = pages(faxpages.pdf([drawn()]), "application/pdf")
    grey = Image.open(io.BytesIO(page.png)).convert("L")
    ink = sum(grey.histogram()[:128]) / (200 * 200)
    tiff_ink = drawn().histogram()[0] / (204 * 196)
    assert 0.8 < ink / tiff_ink < 1.25


def test_large_pdf_page_is_drawn_smaller() -> None:
    [page] = pages(faxpages.pdf([drawn()]), "application/pdf", max_pixels=500_000)
    assert page.width * page.height <= 500_000
    assert page.xdpi == page.ydpi < 200


# Refused documents.


@dataclass(frozen=True)
class Refused:
    id: str
    data: Callable[[], bytes]
    because: str  # in the message
    content_type: str = "image/tiff"
    max_pages: int = 50
    max_pixels: int = MAX_PIXELS


REFUSED = [
    Refused(
        "GIF",
        lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
        "not a TIFF or PDF (starts with b'GIF89a",
    ),
    Refused("empty", lambda: b"", "empty document (image/tiff"),
    Refused("TIFF header only", lambda: faxpages.tiff([drawn()])[:8], "not a readable TIFF"),
    Refused("truncated TIFF", lambda: faxpages.tiff([drawn()])[:300], "not a readable TIFF"),
    Refused("TIFF cut in its directory", lambda: faxpages.tiff([drawn()])[:-60], "page 1: "),
    Refused(
        "100000×100000",
        lambda: bare_tiff([(100_000, 100_000)]),
        "page 1 is 100000×100000 pixels, over the limit of 40000000",
    ),
    Refused(
        "second page too large",
        lambda: bare_tiff([(1728, 100), (1728, 60_000)]),
        "page 2 is 1728×60000 pixels, over the limit of 40000000",
    ),
    Refused(
        "over a lower limit",
        lambda: faxpages.tiff([drawn()]),
        "page 1 is 1728×1100 pixels, over the limit of 1000000",
        max_pixels=1_000_000,
    ),
    Refused("zero width", lambda: bare_tiff([(0, 100)]), "not a readable TIFF: no page size"),
    Refused(
        "more TIFF pages than allowed",
        lambda: faxpages.tiff([drawn()] * 3),
        "more than 2 pages",
        max_pages=2,
    ),
    Refused(
        "more PDF pages than allowed",
        lambda: faxpages.pdf([drawn()] * 3),
        "more than 2 pages (3)",
        content_type="application/pdf",
        max_pages=2,
    ),
    Refused("not a PDF inside", lambda: b"%PDF-1.4\nnonsense", "not a readable PDF"),
    Refused("PDF cut short", lambda: faxpages.pdf([drawn()])[:400], "not a readable PDF"),
]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data", "ignore:Truncated File Read")
@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused(case: Refused) -> None:
    with pytest.raises(UnreadableFax) as refusal:
        pages(case.data(), case.content_type, max_pages=case.max_pages, max_pixels=case.max_pixels)
    assert case.because in str(refusal.value)


# Whatever the bytes: pages or UnreadableFax.


@functools.cache
def seeds() -> tuple[bytes, ...]:
    """Small valid documents to mutate: a strip of the page keeps each example fast."""
    strip = drawn().crop((0, 80, 1728, 240))
    strip.info["dpi"] = faxpages.STANDARD
    return (
        faxpages.tiff([strip, strip]),
        faxpages.tiff([strip], compression="group3"),
        spandsp_tiff(strip),
        bare_tiff([(64, 8)], big_endian=True),
        faxpages.pdf([strip]),
    )


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(seeds()[draw(st.integers(0, len(seeds()) - 1))])
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        change = draw(st.sampled_from(["flip", "byte", "truncate", "insert", "delete"]))
        if change == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif change == "byte" and data:
            data[at] = draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif change == "truncate":
            del data[at:]
        elif change == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:
            del data[at : at + draw(st.integers(1, 16))]
    return bytes(data)


def pages_or_refused(data: bytes) -> None:
    try:
        result = pages(data, "application/octet-stream", max_pages=5, max_pixels=4_000_000)
    except UnreadableFax as refusal:
        assert str(refusal)
        return
    assert 1 <= len(result) <= 5
    for number, page in enumerate(result, 1):
        assert page.number == number
        assert page.png.startswith(b"\x89PNG\r\n\x1a\n")
        assert page.width * page.height <= 2 * 4_000_000


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.filterwarnings("ignore")  # Pillow warns of the corrupt tags it skips
@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes(data: bytes) -> None:
    pages_or_refused(data)


@pytest.mark.filterwarnings("ignore")
@FUZZ
@given(st.sampled_from([b"II*\0", b"MM\0*", b"II+\0", b"%PDF-1.4\n"]), st.binary(max_size=1024))
def test_any_bytes_after_a_magic_number(magic: bytes, rest: bytes) -> None:
    pages_or_refused(magic + rest)


@pytest.mark.filterwarnings("ignore")
@settings(FUZZ, max_examples=500)
@given(mutated())
def test_mutated_documents(data: bytes) -> None:
    pages_or_refused(data)


# Which attachments are fax documents.


@pytest.mark.parametrize(
    ("content_type", "filename", "head", "expected"),
    [
        ("image/tiff", None, b"", True),
        ("image/tiff; application=faxbw", "fax.tif", b"II*\0", True),  # RFC 3965
        ("IMAGE/TIF", None, b"", True),
        ("image/tiff-fx", None, b"", True),
        ("application/pdf", None, b"", True),
        ("application/octet-stream", "FAX00012.TIF", b"", True),
        ("application/octet-stream", "scan.tiff", b"", True),
        ("application/octet-stream", "传真.pdf", b"", True),
        ("application/octet-stream", None, b"II*\x00\x08\x00\x00\x00", True),
        ("application/octet-stream", None, b"MM\x00*\x00\x00\x00\x08", True),
        ("application/octet-stream", None, b"%PDF-1.7", True),
        ("image/jpeg", "photo.jpg", b"\xff\xd8\xff\xe0", False),
        ("text/plain", None, b"hello", False),
        ("application/octet-stream", "data.bin", b"GIF89a", False),
        ("", None, b"", False),
    ],
)
def test_is_fax_document(
    content_type: str, filename: str | None, head: bytes, expected: bool
) -> None:
    assert is_fax_document(content_type, filename, head) is expected


# Who sent it.

NOBODY = FaxOrigin(None, None, None, None)
HYLAFAX_BODY = """recvq/fax000000012.tif (ftp://fax.example.cn:4559/recvq/fax000000012.tif):
          Sender: ACME BANK
           Pages: 3
         Quality: Normal
            Size: ISO A4
        Received: 2024:03:01 10:20:30
 Time To Receive: 0:41
     Signal Rate: 9600 bit/s
     Data Format: 2-D MR
   Error Correct: No
         CallID1: 13800138000
         CallID2: ZHANG
     Received On: ttyIAX0
"""
FAXINFO_4 = "    Sender: ACME\n     Pages: 1\n   Quality: Fine\n CIDNumber: 02088886666\n"


def ours(**fields: str) -> list[tuple[str, str]]:
    """Our dialplan's headers, as `mime` gives them: names lowercased."""
    return [(f"x-alarmgw-fax-{name}", value) for name, value in fields.items()]


# (id, headers, subject, body, expected)
ORIGINS: list[tuple[str, list[tuple[str, str]], str, str, FaxOrigin]] = [
    (
        "our headers",
        ours(caller="13800138000", csid="+86 755 8888 1234", pages="2", resolution="204x98")
        + ours(status="SUCCESS"),
        "Facsimile received from 13800138000",
        "",
        FaxOrigin("13800138000", "+86 755 8888 1234", 2, "standard"),
    ),
    (
        "spandsp's pixels per metre",
        ours(caller="075588881234", resolution="8031x7700"),
        "",
        "",
        FaxOrigin("075588881234", None, None, "fine"),
    ),
    (
        "superfine as sent",
        ours(resolution="8031x15400"),
        "",
        "",
        FaxOrigin(None, None, None, "8031x15400"),
    ),
    (
        "no caller id: the station id is the number",
        ours(caller="", csid=" +86 10 1234 5678 ", pages="1"),
        "",
        "",
        FaxOrigin("+861012345678", "+86 10 1234 5678", 1, None),
    ),
    (
        "anonymous caller, named station",
        ours(caller="anonymous", csid="ZHONGXIN BANK\x00"),
        "",
        "",
        FaxOrigin(None, "ZHONGXIN BANK", None, None),
    ),
    (
        "caller id with a name",
        ours(caller='"Zhang San" <010-1234 5678>'),
        "",
        "",
        FaxOrigin("01012345678", None, None, None),
    ),
    (
        "full-width digits",
        ours(caller="１３８００１３８０００"),
        "",
        "",
        FaxOrigin("13800138000", None, None, None),
    ),
    (
        "our headers win over the subject",
        ours(caller="110", csid="POLICE"),
        "Facsimile received from 999999",
        "",
        FaxOrigin("110", "POLICE", None, None),
    ),
    ("junk pages and resolution", ours(pages="two", resolution="\x07"), "", "", NOBODY),
    (
        "HylaFAX 4 subject",
        [],
        "Facsimile received from 0755 8888 1234",
        "",
        FaxOrigin("075588881234", "0755 8888 1234", None, None),
    ),
    (
        "HylaFAX 6 subject, quoted",
        [],
        'Fax received from "+86 10 12345678"',
        "",
        FaxOrigin("+861012345678", "+86 10 12345678", None, None),
    ),
    ("FAX from", [], "FAX from +86 10 123", "", FaxOrigin("+8610123", "+86 10 123", None, None)),
    (
        "filter's tag",
        [],
        "[HylaFAX] facsimile received from ACME",
        "",
        FaxOrigin(None, "ACME", None, None),
    ),
    ("no station id", [], 'Fax received from "<UNSPECIFIED>"', "", NOBODY),
    (
        "our mail for a fax cut short",
        [],
        "Facsimile received from 13800138000 (incomplete)",
        "",
        FaxOrigin("13800138000", "13800138000", None, None),
    ),
    (
        "our mail for a failed fax",
        [],
        "Facsimile reception failed from 13800138000",
        "",
        FaxOrigin("13800138000", "13800138000", None, None),
    ),
    ("forwarded", [], "Fwd: Fax received from ACME", "", FaxOrigin(None, "ACME", None, None)),
    (
        "Chinese subject",
        [],
        "来自 0755-88881234 的传真",
        "",
        FaxOrigin("075588881234", "0755-88881234", None, None),
    ),
    (
        "HylaFAX 6 faxinfo in the body",
        [],
        'Fax received from "ACME BANK"',
        HYLAFAX_BODY,
        FaxOrigin("13800138000", "ACME BANK", 3, "standard"),
    ),
    (
        "HylaFAX 4 faxinfo",
        [],
        "facsimile received from ",
        FAXINFO_4,
        FaxOrigin("02088886666", "ACME", 1, "fine"),
    ),
    ("a Pages line alone", [], "Re: 会议通知", "Pages: 3\n", NOBODY),
    ("not a fax mail", [("subject", "Re: 会议通知")], "Re: 会议通知", "", NOBODY),
]


@pytest.mark.parametrize(
    ("headers", "subject", "body", "expected"),
    [case[1:] for case in ORIGINS],
    ids=[case[0] for case in ORIGINS],
)
def test_origin(
    headers: list[tuple[str, str]], subject: str, body: str, expected: FaxOrigin
) -> None:
    assert origin(headers, subject, body=body) == expected
