"""The test city's systems: a 119 fire system mapped field by field (two secrets: one
being rotated out), and a drill system that sends only text. And how a system signs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from gateway.config import Config, load_config, sample_text
from gateway.notify.webhook import sign

FIRE = "fire119"
FIRE_SECRETS = ("fire119-new-secret-2026", "fire119-old-secret-2025")
DRILL = "drillsys"
DRILL_SECRET = "drill-system-secret-0001"

SETTINGS = f"""window_s = 300

[channels.systems.sources.{FIRE}]
name = "119消防接处警系统"
secret = {json.dumps(list(FIRE_SECRETS))}
category = "fire"
priority = 2
required = ["text", "external_id"]

[channels.systems.sources.{FIRE}.map]
external_id = "/alarm/id"
text = "/alarm/content"
location.lat = "/alarm/position/lat"
location.lon = "/alarm/position/lng"
location.address = "/alarm/address"
sender.id = "/caller/phone"
sender.name = "/caller/name"
category = "/alarm/type"
priority = "/alarm/level"
received_at = "/alarm/time"
drill = "/alarm/exercise"

[channels.systems.sources.{FIRE}.category_codes]
"01" = "fire"
"02" = "disaster"
"03" = "assistance"

[channels.systems.sources.{FIRE}.priority_codes]
"紧急" = 1
"一般" = 3

[channels.systems.sources.{DRILL}]
name = "演练导调系统"
secret = "{DRILL_SECRET}"
drill = true

[channels.systems.sources.{DRILL}.map]
"text" = "/msg"
"""


def city_text(settings: str = SETTINGS) -> str:
    text = sample_text()
    old = "[channels.systems]\nenabled = false\n"
    assert old in text, "the sample city's [channels.systems] section changed"
    return text.replace(old, f"[channels.systems]\nenabled = true\n{settings}")


def city(tmp: Path, settings: str = SETTINGS) -> Config:
    path = tmp / "city.toml"
    path.write_text(city_text(settings), encoding="utf-8")
    return load_config(path)


def fire_alarm(alarm_id: str = "F-0001", **changes: Any) -> dict[str, Any]:
    """An alarm as the 119 system sends it."""
    alarm: dict[str, Any] = {
        "id": alarm_id,
        "content": "南坝路1号仓库起火，有人被困",
        "position": {"lat": 24.98, "lng": 102.65},
        "address": "南坝路1号",
        "type": "01",
        "level": "紧急",
        "time": "2026-11-26T17:30:00+08:00",
    }
    alarm.update(changes)
    return {"alarm": alarm, "caller": {"phone": "13800000009", "name": "王先生"}}


def signed(
    body: bytes, secret: str = FIRE_SECRETS[0], timestamp: int | None = None
) -> dict[str, str]:
    """The headers a system sends with `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "X-Alarmgw-Timestamp": str(ts),
        "X-Alarmgw-Signature": sign(secret, ts, body),
    }


def encode(doc: Any) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
