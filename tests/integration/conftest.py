"""A real gateway process per test module, on a copy of the sample city whose
acknowledgement SLA is 2 seconds (so escalation can be seen in real time)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config import sample_text
from tests.peers.gateway import GatewayProcess


def city_config(tmp: Path, *, ack_seconds: int = 2, busy_timeout_ms: int | None = None) -> Path:
    text = sample_text()
    text = re.sub(
        r"\[sla\.acknowledge\][^\[]*",
        f"[sla.acknowledge]\np1 = {ack_seconds}\np2 = {ack_seconds}\n"
        f"p3 = {ack_seconds}\np4 = {ack_seconds}\n\n",
        text,
    )
    if busy_timeout_ms is not None:
        text = text.replace("[storage]\n", f"[storage]\nbusy_timeout_ms = {busy_timeout_ms}\n")
    path = tmp / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("gw")
    gw = GatewayProcess(tmp / "data", city_config(tmp, busy_timeout_ms=300))
    gw.start()
    yield gw
    code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"
