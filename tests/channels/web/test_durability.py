"""kill -9 under load: every report that got a 201 survives exactly once, retries of
every attempted report create no duplicates, and the audit chain verifies.

Runs on SQLite (the default store) and on PostgreSQL (skipped with a reason where none
is reachable; CI has one)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import city_config, fresh_pg_schema
from tests.peers.gateway import GatewayProcess

CLIENTS = 8
LOAD_SECONDS = 2.0


@pytest.fixture(params=["sqlite", "sqlite-writer-thread", "postgresql"])
def process(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayProcess]:
    config = city_config(tmp_path)
    drop = None
    if request.param == "sqlite-writer-thread":  # reports stored by the writer thread
        text = config.read_text(encoding="utf-8")
        config.write_text(
            text.replace("[storage]\n", "[storage]\nintake_worker = false\n"), encoding="utf-8"
        )
    if request.param == "postgresql":
        url, drop = fresh_pg_schema(request.getfixturevalue("pg_url"))
        text = config.read_text(encoding="utf-8").replace(
            "[storage]\n", f'[storage]\nurl = "{url}"\n'
        )
        config.write_text(text, encoding="utf-8")
    gw = GatewayProcess(tmp_path / "data", config)
    yield gw
    if gw.proc is not None:
        gw.kill()
    if drop is not None:
        drop()


def load_then_signal(gw: GatewayProcess, sig: int) -> tuple[dict[str, str], list[str], int]:
    """CLIENTS threads post reports for LOAD_SECONDS, then the gateway gets `sig` while
    requests are in flight. Returns (acknowledged key → receipt, attempted keys, exit code)."""
    acked: dict[str, str] = {}  # Idempotency-Key → receipt
    attempted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"c{n}-{i}"
            i += 1
            with lock:
                attempted.append(key)
            body = {
                "sender": {"kind": "phone", "id": f"1380000{n:02d}{i % 100:02d}"},
                "text": f"压力测试 {key}",
                "location": {"lat": 25.0, "lon": 102.7},
            }
            try:
                status, answer = gw.request(
                    "POST", "/api/v1/reports", body, headers={"Idempotency-Key": key}, timeout=5
                )
            except OSError:
                return  # the gateway went away under us: this one was never acknowledged
            if status == 201:
                with lock:
                    acked[key] = answer["receipt"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS)
    assert gw.proc is not None
    gw.proc.send_signal(sig)  # mid-flight, with requests in the writer's queue
    code = gw.proc.wait(30)
    gw.proc = None
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 50, f"only {len(acked)} reports acknowledged before the signal"
    return acked, attempted, code


def test_sigkill_under_load_loses_nothing_acknowledged(process: GatewayProcess) -> None:
    gw = process
    gw.start()
    acked, attempted, _ = load_then_signal(gw, signal.SIGKILL)
    check_after_restart(gw, acked, attempted)


def test_sigterm_under_load_stops_cleanly(tmp_path: Path) -> None:
    """SIGTERM: the gateway stops listening, lets the writes in flight commit, exits 0."""
    gw = GatewayProcess(tmp_path / "data", city_config(tmp_path))
    gw.start()
    acked, attempted, code = load_then_signal(gw, signal.SIGTERM)
    assert code == 0, gw.log()
    assert "Traceback" not in gw.log()
    check_after_restart(gw, acked, attempted)


def check_after_restart(gw: GatewayProcess, acked: dict[str, str], attempted: list[str]) -> None:
    gw.start()
    # Every acknowledged receipt is there.
    for key, receipt in acked.items():
        status, body = gw.request("GET", f"/api/v1/receipts/{receipt}")
        assert status == 200, (key, receipt, body)
    # Retrying every attempted report: acknowledged ones give the same receipt, the rest
    # are stored now; nothing twice.
    before = gw.request("GET", "/healthz")[1]["incidents"]
    for key in attempted:
        status, body = gw.request(
            "POST",
            "/api/v1/reports",
            {"sender": {"kind": "phone", "id": "13800000000"}, "text": f"重试 {key}"},
            headers={"Idempotency-Key": key},
        )
        assert status == 201
        if key in acked:
            assert body["receipt"] == acked[key]
    verify = gw.cli("audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    listing = gw.cli("incidents", "list", "--json", "--limit", "100000")
    import json

    docs = json.loads(listing.stdout)
    total_reports = sum(d["report_count"] for d in docs)
    assert total_reports == len(set(attempted)), (total_reports, len(set(attempted)))
    assert gw.request("GET", "/healthz")[1]["incidents"] >= before
    assert gw.stop() == 0
