"""`alarmgw run` as a real process: what it does when it cannot start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from gateway.config import sample_text

ROOT = Path(__file__).resolve().parents[1]


def test_a_port_in_use_stops_the_gateway_before_anything_starts(tmp_path: Path) -> None:
    """One line, exit status 1, at once: no store (migrations), no intake worker, no
    deadline timer running on a database without HTTP."""
    config = tmp_path / "city.toml"
    config.write_text(sample_text().replace("sample = true", "sample = false"), encoding="utf-8")
    data = tmp_path / "data"
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)]
            + ["--data-dir", str(data), "--http-port", str(port)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # still running: the defect
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert err == f"alarmgw: cannot listen on 127.0.0.1:{port}: address in use\n", (out, err)
    assert time.monotonic() - started < 20
    assert not (data / "alarmgw.db").exists()  # the store never started: no migrations
    assert "Store:" not in out and "Traceback" not in out


def test_a_channel_that_cannot_start_stops_the_gateway(tmp_path: Path) -> None:
    """A channel's start fails after the store is up (its own port in use): twistd drops
    the failure of the top service's start, and the gateway used to run on without that
    channel, silently. Now: one line naming it, every service stopped, exit status 1."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        text = sample_text().replace("sample = true", "sample = false")
        text = text.replace(
            "[channels.dc09]\nenabled = false\n",
            f'[channels.dc09]\nenabled = true\nhost = "127.0.0.1"\nport = {busy}\n',
        )
        config = tmp_path / "city.toml"
        config.write_text(text, encoding="utf-8")
        with socket.socket() as probe:  # a free HTTP port
            probe.bind(("127.0.0.1", 0))
            http = probe.getsockname()[1]
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(config)]
            + ["--data-dir", str(tmp_path / "data"), "--http-port", str(http)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # still running without its channel: the defect
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 1, (out, err)
    assert f"alarmgw: [channels.dc09] cannot listen on 127.0.0.1:{busy}" in out + err, (out, err)
    assert "Server Shut Down" in out
