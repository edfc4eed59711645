"""OCR of fax pages (gateway.channels.smtp.ocr) with the real tesseract and chi_sim: a
Chinese fax page read at fine resolution, and at standard resolution once `fax.pages`
has stretched it, not before; and with stand-ins for tesseract, what it is given, how its
output is cleaned up and how it fails.

Without tesseract or its chi_sim data the OCR tests are skipped, saying so; with
ALARMGW_REQUIRE_MAIL=1 (a machine that must run the mail channel) they fail instead."""

from __future__ import annotations

import functools
import io
import os
import pickle
import stat
import time
from pathlib import Path

import pytest
from PIL import Image

from gateway.channels.smtp import fax, ocr
from tests.channels.smtp import faxpages

LINES = ["报警：和平路12号银行门口有人持刀抢劫", "联系电话 13800138000"]
KEYWORDS = ("抢劫", "和平路")


@pytest.fixture(scope="module")
def tesseract() -> None:
    reason = ocr.available()
    if reason is None:
        return
    if os.environ.get("ALARMGW_REQUIRE_MAIL") == "1":
        pytest.fail(f"ALARMGW_REQUIRE_MAIL=1, but {reason}")
    pytest.skip(reason)


@functools.cache
def drawn(resolution: str) -> Image.Image:
    return faxpages.draw_page(LINES, resolution=resolution)


def read_only_page(data: bytes, content_type: str) -> tuple[fax.Page, str]:
    [page] = fax.pages(data, content_type)
    return page, ocr.read_page(page.png)


@pytest.mark.parametrize("compression", ["group4", "group3"])
def test_fine_page(tesseract: None, compression: str) -> None:
    page, text = read_only_page(faxpages.tiff([drawn("fine")], compression), "image/tiff")
    assert not page.stretched
    for word in (*KEYWORDS, "13800138000"):
        assert word in text, text


def test_standard_page_once_stretched(tesseract: None) -> None:
    page, text = read_only_page(faxpages.tiff([drawn("standard")]), "image/tiff")
    assert page.stretched
    for word in KEYWORDS:
        assert word in text, text


def test_standard_page_without_the_stretch_is_garbage(tesseract: None) -> None:
    """Why `fax.pages` stretches: the same page as sent, 204×98 dpi, its text squashed to
    half its height, does not read. (tesseract 5.3 read "和玫D客工2号银行门户有人寺思抢动".)"""
    out = io.BytesIO()
    drawn("standard").save(out, format="PNG", dpi=faxpages.STANDARD)
    text = ocr.read_page(out.getvalue())
    for word in KEYWORDS:
        assert word not in text, text


def test_pdf_page(tesseract: None) -> None:
    _, text = read_only_page(faxpages.pdf([drawn("fine")]), "application/pdf")
    for word in KEYWORDS:
        assert word in text, text


def test_available(tesseract: None) -> None:
    assert ocr.available("chi_sim") is None
    reason = ocr.available("chi_sim+xx_none")
    assert reason is not None
    assert "xx_none" in reason and "tesseract-ocr-xx-none" in reason


# With stand-ins for tesseract: no tesseract needed.


def stand_in(tmp_path: Path, script: str) -> str:
    """An executable shell script in place of tesseract."""
    path = tmp_path / "tesseract"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_page_in_on_stdin_text_out_on_stdout(tmp_path: Path) -> None:
    """A large page and a large answer at once do not deadlock the pipes."""
    program = stand_in(
        tmp_path,
        f'echo "$@" > {tmp_path}/args\ncat > {tmp_path}/input\n'
        "yes 'Line of text' | head -c 2000000\n",
    )
    png = os.urandom(4_000_000)
    text = ocr.read_page(png, tesseract=program, timeout=30)
    assert (tmp_path / "input").read_bytes() == png
    args = (tmp_path / "args").read_text().split()
    assert args[:4] == ["stdin", "stdout", "-l", "chi_sim"]
    assert "--psm" in args
    assert text.startswith("Line of text\nLine of text")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("报 警 ： 和 平 路 12 号\n", "报警：和平路 12 号"),
        ("联系电话 13800138000\n", "联系电话 13800138000"),
        ("Call 110 now  \n\n\n\n银 行\n\f", "Call 110 now\n\n银行"),
        ("  \n\f", ""),
    ],
)
def test_spaces_between_chinese_characters_removed(
    tmp_path: Path, output: str, expected: str
) -> None:
    (tmp_path / "out").write_text(output)
    program = stand_in(tmp_path, f"cat > /dev/null\ncat {tmp_path}/out\n")
    assert ocr.read_page(b"png", tesseract=program) == expected


def test_exit_status_and_last_line_of_stderr(tmp_path: Path) -> None:
    program = stand_in(
        tmp_path,
        "cat > /dev/null\necho 'Error in pixReadMem: Unknown format' >&2\n"
        "echo 'Error during processing.' >&2\nexit 1\n",
    )
    with pytest.raises(ocr.OcrFailed, match=r"exited with status 1: Error during processing\."):
        ocr.read_page(b"not an image", tesseract=program)


def test_timeout(tmp_path: Path) -> None:
    program = stand_in(tmp_path, "exec sleep 30\n")
    started = time.monotonic()
    with pytest.raises(ocr.OcrFailed, match=r"took more than 0\.5 s"):
        ocr.read_page(b"png", tesseract=program, timeout=0.5)
    assert time.monotonic() - started < 10


def test_no_tesseract(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "tesseract")
    with pytest.raises(ocr.OcrFailed, match="tesseract is not installed"):
        ocr.read_page(b"png", tesseract=missing)
    reason = ocr.available(tesseract=missing)
    assert reason is not None and "not installed" in reason


def test_errors_cross_process_boundaries() -> None:
    """The pool sends a worker's exception back pickled."""
    for error in (ocr.OcrFailed("tesseract took more than 60 s"), fax.UnreadableFax("page 3")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
