"""Chinese fax pages drawn for tests: what a fax machine on the other end would send.

    page = draw_page(["报警：和平路12号银行门口有人持刀抢劫"], resolution="standard")
    data = tiff([page])  # or tiff([p1, p2], compression="group3"), pdf([p1, p2])

A page is a white, 1-bit image 1728 pixels wide (T.4: 1728 pels on the 215 mm scan
line of an A4 page), about half an A4 page long to keep the tests fast, with
`info["dpi"]` set to the resolution it was drawn at. "fine" is 204×196 dpi; "standard" is
204×98 dpi: drawn at fine, then halved vertically as a standard-resolution scanner would
(3.85 lines/mm, T.4), so its text is squashed to half its height until stretched.

The text is set in a Noto CJK (or another Chinese) font found with fontconfig;
`draw_page` raises `LookupError` naming the package to install when there is none.
"""

from __future__ import annotations

import functools
import io
import subprocess
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, TiffImagePlugin

WIDTH = 1728  # T.4, A4
FINE = (204.0, 196.0)  # dpi; T.4: 8 pels/mm × 7.7 lines/mm
STANDARD = (204.0, 98.0)  # 8 pels/mm × 3.85 lines/mm
RESOLUTIONS = {"fine": FINE, "standard": STANDARD}

_FINE_ROWS = 1100  # about half an A4 page (297 mm × 7.7 lines/mm ≈ 2287 rows)
_TEXT_PX = 48  # glyph size at fine resolution: about 6 mm, a large typed fax
_MARGIN = 100


@functools.cache
def _font_file() -> tuple[str, int]:
    """A font with Simplified Chinese glyphs, as (file, face index in a collection)."""
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=zh-cn", "-f", "%{file}|%{index}|%{family[0]}\n"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LookupError(f"no fontconfig to find a Chinese font: {e}") from None
    fonts = []
    for line in listing.splitlines():
        path, _, rest = line.partition("|")
        index, _, family = rest.partition("|")
        if path and index.isdigit():
            # Prefer the Simplified Chinese face of Noto CJK, regular weight.
            rank = ("CJK SC" not in family, "Mono" in family, "Bold" in path, path)
            fonts.append((rank, path, int(index)))
    if not fonts:
        raise LookupError("no Chinese font: install fonts-noto-cjk (or fonts-wqy-zenhei)")
    _, font, face = min(fonts)
    return font, face


def draw_page(lines: list[str], *, resolution: str = "fine") -> Image.Image:
    """A 1-bit white page 1728 px wide with `lines` in black, at "fine" or "standard"."""
    dpi = RESOLUTIONS[resolution]  # KeyError names a wrong resolution
    path, index = _font_file()
    font = ImageFont.truetype(path, _TEXT_PX, index=index)
    # Drawn in grey and thresholded, as a fax scanner turns paper into black and white.
    page = Image.new("L", (WIDTH, _FINE_ROWS), 255)
    draw = ImageDraw.Draw(page)
    y = _MARGIN
    for line in lines:
        draw.text((_MARGIN, y), line, font=font, fill=0)
        y += _TEXT_PX * 8 // 5
    if resolution == "standard":
        page = page.resize((WIDTH, _FINE_ROWS // 2), Image.Resampling.BOX)
    bilevel = page.point(lambda v: 255 if v >= 128 else 0).convert("1", dither=None)
    bilevel.info["dpi"] = dpi
    return bilevel


def tiff(
    pages: Sequence[Image.Image],
    compression: str = "group4",
    resolution: str | None = None,
) -> bytes:
    """A multi-page TIFF of `pages` with their dpi, as fax software writes one (TIFF-F,
    RFC 2306, less its Class F tags).

    `compression` is Pillow's name: "group4" (T.6), "group3" (T.4 1-D), "raw", …;
    `resolution` "fine" or "standard" sets every page's dpi tags, else each page's
    `info["dpi"]` is written (fine when it has none)."""
    out = io.BytesIO()
    with TiffImagePlugin.AppendingTiffWriter(out, new=True) as writer:
        for page in pages:
            dpi = RESOLUTIONS[resolution] if resolution else page.info.get("dpi", FINE)
            page.save(writer, format="TIFF", compression=compression, dpi=dpi)
            writer.newFrame()
    return out.getvalue()


def pdf(pages: Sequence[Image.Image]) -> bytes:
    """A PDF of `pages`, one image per page, as `tiff2pdf` makes of a fax (1-bit pages go
    in as CCITT G4 images); every page is sized by the first page's dpi."""
    out = io.BytesIO()
    first, *rest = pages
    first.save(
        out,
        format="PDF",
        save_all=True,
        append_images=rest,
        dpi=first.info.get("dpi", FINE),
    )
    return out.getvalue()
