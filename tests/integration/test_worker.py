"""The intake worker process: if it dies (kill -9), reports waiting on it get a temporary
error, the gateway starts a new one, and the sender's retry is stored exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import city_config
from tests.peers.gateway import GatewayProcess


def worker_pids(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_killed_worker_is_restarted_and_retries_store_once(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "data", city_config(tmp_path))
    gw.start()
    try:
        assert gw.proc is not None
        (child,) = worker_pids(gw.proc.pid)
        body = {"sender": {"kind": "phone", "id": "13500000001"}, "text": "工作进程测试"}
        assert (
            gw.request("POST", "/api/v1/reports", body, headers={"Idempotency-Key": "w-0"})[0]
            == 201
        )
        os.kill(child, signal.SIGKILL)
        # Until the new worker is up, reports are refused as temporarily unavailable.
        statuses = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, answer = gw.request(
                "POST", "/api/v1/reports", body, headers={"Idempotency-Key": "w-1"}
            )
            statuses.append(status)
            if status == 201:
                break
            assert status == 503 and answer["error"] == "unavailable", answer
            time.sleep(0.05)
        assert statuses[-1] == 201, statuses
        again = gw.request("POST", "/api/v1/reports", body, headers={"Idempotency-Key": "w-1"})
        assert again[0] == 201 and again[1]["receipt"] == answer["receipt"]
        (new_child,) = worker_pids(gw.proc.pid)
        assert new_child != child
        assert gw.cli("audit", "verify").returncode == 0
        assert "Intake worker died" in gw.log()
    finally:
        assert gw.stop() == 0
