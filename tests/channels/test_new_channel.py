"""A new channel is a new package: the toy channel (tests/fixtures/toychan: declaration,
config fragment, service, table with its migration branch, one action and a view) is
copied into a temporary folder with an entry point of the ``alarmgw.channels`` group, put
on PYTHONPATH, and run in a real gateway process. No file of the gateway names it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import sample_text
from tests.peers.gateway import ROOT, GatewayProcess, free_port

FIXTURE = ROOT / "tests" / "fixtures" / "toychan"


def install(folder: Path) -> dict[str, str]:
    """The toy channel as an installed distribution (its package and a dist-info with the
    entry point) in `folder`; the environment that puts it on the path."""
    shutil.copytree(FIXTURE, folder / "toychan", ignore=shutil.ignore_patterns("__pycache__"))
    info = folder / "toychan-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toychan\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[alarmgw.channels]\ntoy = toychan\n")
    return {"PYTHONPATH": str(folder)}


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[tuple[GatewayProcess, int]]:
    env = install(tmp_path / "site")
    port = free_port()
    config = tmp_path / "city.toml"
    config.write_text(
        sample_text().replace(
            "[channels.web]", f"[channels.toy]\nenabled = true\nport = {port}\n\n[channels.web]"
        ),
        encoding="utf-8",
    )
    gw = GatewayProcess(tmp_path / "data", config, env=env)
    gw.start()
    try:
        yield gw, port
    finally:
        assert gw.stop() == 0, gw.log()


def say(port: int, line: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(line.encode() + b"\n")
        return s.makefile("rb").readline().decode().strip()


def test_toy_channel_runs_in_a_real_gateway(toy: tuple[GatewayProcess, int]) -> None:
    gw, port = toy
    # In: a line becomes a report, answered after the commit; again, the same receipt.
    ok, receipt, number = say(port, "ALARM 13900001111 南坝路有人打架").split()
    assert ok == "OK"
    assert say(port, "ALARM 13900001111 南坝路有人打架") == f"OK {receipt} {number}"
    assert say(port, "HELLO").startswith("ERR")

    supervisor = gw.token("toy-sup", "supervisor")
    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)
    assert status == 200, doc
    assert [r["channel"] for r in doc["reports"]] == ["toy"]
    assert doc["pokes"] == []  # its view, under its key

    # Its action, with its parameter checked by the core and its role list.
    body = {"action": "poke", "note": "已电话联系报警人"}
    status, answer = gw.request(
        "POST", f"/api/v1/incidents/{number}/actions", body, token=supervisor
    )
    assert status == 200, answer
    status, err = gw.request(
        "POST", f"/api/v1/incidents/{number}/actions", {"action": "poke"}, token=supervisor
    )
    assert (status, err["field"]) == (422, "note")
    officer = gw.token("toy-officer", "unit_officer", "530102510000")
    status, err = gw.request("POST", f"/api/v1/incidents/{number}/actions", body, token=officer)
    assert status == 403, err

    status, doc = gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)
    assert [(p["note"], p["by"]) for p in doc["pokes"]] == [("已电话联系报警人", "toy-sup")]
    assert doc["events"][-1]["action"] == "toy_poked"

    # The OpenAPI document offers its action and its view.
    status, api = gw.request("GET", "/api/v1/openapi.json")
    schemas = api["components"]["schemas"]
    assert "poke" in schemas["IncidentAction"]["properties"]["action"]["enum"]
    assert "pokes" in schemas["Incident"]["properties"]

    # Its migration branch was applied (t001 needs the core's 0001; the core is at 0013).
    assert gw.cli("db", "upgrade").stdout.strip() == "database at revision 0013, t001"


def test_toy_channel_config_is_checked_by_its_own_schema(tmp_path: Path) -> None:
    env = install(tmp_path / "site")
    config = tmp_path / "city.toml"
    config.write_text(
        sample_text().replace(
            "[channels.web]", "[channels.toy]\nenabled = true\nprot = 1\n\n[channels.web]"
        ),
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "config", "check", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert out.returncode == 1
    assert "channels.toy.prot: unknown key (allowed here: enabled, host, port)" in out.stderr
    assert "channels.toy: 'port' is a required property" in out.stderr


def test_the_core_does_not_name_the_toy_channel() -> None:
    found = subprocess.run(
        ["git", "grep", "-il", "toy", "--", "gateway", "schemas", "setup.cfg", "setup.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""
