"""Times printed for a person are the city's, with its offset; the JSON stays in UTC.
(`alarmgw incidents list|show`, run as real processes.)"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.test_cli import alarmgw

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def local(iso: str) -> str:
    """2026-11-24T01:00:00.000Z → 2026-11-24 09:00:00 +08:00"""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(SHANGHAI)
    return t.strftime("%Y-%m-%d %H:%M:%S +08:00")


def test_list_and_show_print_local_times_with_the_offset(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = alarmgw(
        "report", "--text", "楼下有人打架", "--phone", "13812345678",
        "--lat", "24.98", "--lon", "102.65", "--address", "南坝路8号", "--category", "criminal",
        data=data,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    number = json.loads(out.stdout)["incident"]["number"]

    as_json = alarmgw("incidents", "show", number, "--json", data=data)
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)  # the API's document, times in UTC
    assert doc["number"] == number and doc["created_at"].endswith("Z")
    created = local(doc["created_at"])

    listing = alarmgw("incidents", "list", data=data)
    [line] = [li for li in listing.stdout.splitlines() if li.startswith(number)]
    assert created in line, listing.stdout

    shown = alarmgw("incidents", "show", number, data=data)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert not UTC_ISO.search(text), text  # no UTC times left for a person to convert
    for expected in (number, "警情编号", "状态", "接警", "南坝派出所", "刑事", "南坝路8号"):
        assert expected in text, (expected, text)
    assert created in text
    assert local(doc["reports"][0]["received_at"]) in text
    assert local(doc["events"][0]["at"]) in text
    assert local(doc["deadlines"][0]["due"]) in text
    assert "楼下有人打架" in text and "13812345678" in text
    assert "Asia/Shanghai" in text
