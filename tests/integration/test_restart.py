"""Deadlines live in the database: one that passes while the gateway is down fires when
it starts again."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import city_config
from tests.peers.gateway import GatewayProcess

STATION, DISTRICT = "530102510000", "530102000000"


def test_deadline_missed_while_down_fires_at_start(tmp_path: Path) -> None:
    gw = GatewayProcess(tmp_path / "data", city_config(tmp_path, ack_seconds=2))
    gw.start()
    try:
        dispatcher = gw.token("dp", "dispatcher")
        status, body = gw.request(
            "POST",
            "/api/v1/reports",
            {
                "sender": {"kind": "phone", "id": "13700000007"},
                "text": "车辆被砸",
                "location": {"lat": 24.98, "lon": 102.65},
            },
        )
        assert status == 201
        number = body["incident"]["number"]
        for action, params in (("accept", {"category": "public_order"}), ("dispatch", {})):
            status, doc = gw.request(
                "POST",
                f"/api/v1/incidents/{number}/actions",
                {"action": action, **params},
                token=dispatcher,
            )
            assert status == 200, doc
        assert gw.stop() == 0  # stopped before the 2 s acknowledgement deadline
        time.sleep(3)
        gw.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            doc = gw.request("GET", f"/api/v1/incidents/{number}", token=dispatcher)[1]
            if doc["unit"] == DISTRICT:
                break
            time.sleep(0.1)
        assert doc["unit"] == DISTRICT, doc
        assert "deadline_missed" in [e["action"] for e in doc["events"]]
    finally:
        if gw.proc is not None:
            gw.stop()
