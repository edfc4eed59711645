"""The SMS channel's settings and texts (gateway/channels/smpp/settings.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gateway.channels.smpp.settings import SmppSettings, fill

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 1, 5, tzinfo=UTC)  # 09:05 in Beijing


def test_fill_uses_city_time_and_marks_drills() -> None:
    assert fill("{incident} {time}", "530100-20261124-000001", False, NOW, SHANGHAI) == (
        "530100-20261124-000001 09:05"
    )
    assert fill("编号{incident}", "X", True, NOW, SHANGHAI) == "【演练】编号X"
    # A field the caller does not give stays empty instead of failing the send.
    assert fill("{incident}{address}", "X", False, NOW, SHANGHAI) == "X"


def test_binds_of_each_mode() -> None:
    trx = SmppSettings.from_config({"enabled": True, "sessions": 2}).binds()
    assert [(b.name, b.mode) for b in trx] == [("trx0", "transceiver"), ("trx1", "transceiver")]
    pairs = SmppSettings.from_config({"mode": "receiver+transmitter", "sessions": 2}).binds()
    assert [(b.name, b.mode) for b in pairs] == [
        ("re0", "receiver"),
        ("tr0", "transmitter"),
        ("re1", "receiver"),
        ("tr1", "transmitter"),
    ]
    assert [b.receives for b in pairs] == [True, False, True, False]
    assert [b.transmits for b in pairs] == [False, True, False, True]


def test_from_config_keeps_every_key() -> None:
    s = SmppSettings.from_config(
        {"enabled": True, "drill_numbers": ["1211099"], "tps": 50, "reply_updates": {}}
    )
    assert s.drill_numbers == ("1211099",) and s.tps == 50 and s.reply_updates == {}
