"""The code style the project promises (STYLE.md): ruff clean and formatted, mypy clean on
gateway/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff() -> None:
    out = run("ruff", "check", "gateway", "tests", "bench", "twisted_plugins")
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format() -> None:
    out = run("ruff", "format", "--check", "gateway", "tests", "bench", "twisted_plugins")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy() -> None:
    out = run("mypy", "gateway")
    assert out.returncode == 0, out.stdout + out.stderr
