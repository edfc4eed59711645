"""The text of a fax page, read by the `tesseract` command (Debian tesseract-ocr with
tesseract-ocr-chi-sim). A plain function of bytes to text with picklable arguments, for
a process pool: OCR of a page takes half a second of CPU or more, never on the reactor.

The page goes in on stdin and the text comes back on stdout (`subprocess.run` with
`input=` writes and reads both at once, so a large page cannot deadlock the pipes). The
PNGs from `gateway.channels.smtp.fax` carry their dpi, which tesseract reads; a page at
standard resolution must have been stretched first (see fax.py), or it reads as garbage.

Only `chi_sim` by default: adding `eng` made tesseract 5.3 read "报警" as "RS" on our test
pages, and chi_sim reads Latin letters and digits well enough.
"""

from __future__ import annotations

import os
import re
import subprocess

# Page segmentation mode 3: find the blocks of the page itself, as a fax page has a
# header line, a letterhead, a body; not one uniform block.
_PSM = "3"
_LIST_TIMEOUT = 30.0

# Characters written without spaces between them: CJK ideographs and radicals, kana,
# bopomofo, CJK symbols and punctuation, full-width forms.
_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u31a0-\u31ff\u3200-\u9fff"
    "\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003134f"
)
_CJK_GAP = re.compile(f"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")
_BLANK_LINES = re.compile(r"\n{3,}")


class OcrFailed(RuntimeError):
    """tesseract could not read the page; the message says why."""


def read_page(
    png: bytes, *, lang: str = "chi_sim", timeout: float = 60.0, tesseract: str = "tesseract"
) -> str:
    """The text on one page image (PNG or any format tesseract reads), stripped."""
    command = [tesseract, "stdin", "stdout", "-l", lang, "--psm", _PSM]
    try:
        done = subprocess.run(
            command, input=png, capture_output=True, timeout=timeout, env=_env(), check=False
        )
    except FileNotFoundError:
        raise OcrFailed(f"tesseract is not installed ({tesseract!r} not found)") from None
    except subprocess.TimeoutExpired:
        # run() has killed it already.
        raise OcrFailed(f"tesseract took more than {timeout:g} s") from None
    except OSError as e:
        raise OcrFailed(f"cannot run {tesseract!r}: {e.strerror or e}") from None
    if done.returncode != 0:
        status = (
            f"was killed by signal {-done.returncode}"
            if done.returncode < 0
            else f"exited with status {done.returncode}"
        )
        raise OcrFailed(f"tesseract {status}: {_last_line(done.stderr)}")
    return _tidy(done.stdout.decode("utf-8", "replace"))


def _tidy(text: str) -> str:
    """tesseract's output cleaned up: no spaces between Chinese characters ("报 警" →
    "报警"; Chinese is written without them, and tesseract puts them in, depending on its
    version and model), spaces between Latin words and digits kept, no trailing spaces,
    no runs of blank lines, no form feed at the end of the page."""
    lines = (_CJK_GAP.sub("", line).rstrip() for line in text.replace("\f", "\n").splitlines())
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def available(lang: str = "chi_sim", *, tesseract: str = "tesseract") -> str | None:
    """None when tesseract can read `lang` ("chi_sim", "chi_sim+eng"), else why not."""
    try:
        done = subprocess.run(
            [tesseract, "--list-langs"],
            capture_output=True,
            timeout=_LIST_TIMEOUT,
            env=_env(),
            check=False,
        )
    except FileNotFoundError:
        return f"tesseract is not installed ({tesseract!r} not found; Debian: tesseract-ocr)"
    except subprocess.TimeoutExpired:
        return f"tesseract --list-langs took more than {_LIST_TIMEOUT:g} s"
    except OSError as e:
        return f"cannot run {tesseract!r}: {e.strerror or e}"
    if done.returncode != 0:
        return f"tesseract --list-langs exited with status {done.returncode}: " + _last_line(
            done.stderr
        )
    # The list is on stdout since tesseract 4, on stderr before; its first line is a title.
    listing = (done.stdout + done.stderr).decode("utf-8", "replace").splitlines()
    installed = {line.strip() for line in listing if line.strip() and not line.endswith(":")}
    missing = [name for name in lang.split("+") if name not in installed]
    if missing:
        packages = ", ".join("tesseract-ocr-" + name.replace("_", "-").lower() for name in missing)
        return f"tesseract has no {'+'.join(missing)} language data (Debian: {packages})"
    return None


def _env() -> dict[str, str]:
    # One thread per tesseract: the pool runs one per CPU, and OpenMP's own threads on
    # top of that only contend (tesseract's FAQ advises OMP_THREAD_LIMIT=1 for this).
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else "(nothing on stderr)"
