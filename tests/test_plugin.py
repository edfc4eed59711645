"""twistd finds the `alarmgw` plugin from a real (non-editable) install: the wheel puts
twisted_plugins/ at twisted/plugins/ and the schemas and sample city into the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_twistd_finds_plugin_from_installed_wheel(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("alarmgw-*.whl")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (target / "twisted" / "plugins" / "alarmgw_plugin.py").is_file()
    assert (target / "gateway" / "_schemas" / "report.schema.json").is_file()
    assert (target / "gateway" / "sample_city.toml").is_file()
    assert (target / "gateway" / "store" / "migrations" / "env.py").is_file()
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "alarmgw",
            "--help",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--config" in out.stdout and "--http-port" in out.stdout
    # The installed package, not the source tree, answered.
    which = subprocess.run(
        [sys.executable, "-c", "import gateway.config as c; print(c.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert which.stdout.startswith(str(target))
    sample = subprocess.run(
        [
            sys.executable,
            "-c",
            "from gateway.config import load_config; print(load_config(None).city.name)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sample.returncode == 0 and "示例市" in sample.stdout, sample.stderr
