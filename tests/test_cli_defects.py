"""Defects a user found in the `alarmgw` command, each pinned by a test that runs it as a
real process (see tests/test_cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.config import sample_text
from tests.test_cli import alarmgw

NANBA_WEBHOOK = '{ kind = "webhook", address = "http://127.0.0.1:9/units/530102510000" },'


# -- 4. a notify target no enabled channel delivers -----------------------------------------------


def test_config_check_refuses_targets_nothing_delivers(tmp_path: Path) -> None:
    text = sample_text()
    assert NANBA_WEBHOOK in text
    duty = (
        NANBA_WEBHOOK + '\n    { kind = "sms", address = "13900000001", name = "值班手机" },'
        '\n    { kind = "phone", address = "87100001" },'
        '\n    { kind = "telegram", address = "@nanba" },'
        '\n    { kind = "wechat", address = "nanba" },'
    )
    city = tmp_path / "city.toml"
    city.write_text(text.replace(NANBA_WEBHOOK, duty), encoding="utf-8")
    out = alarmgw("config", "check", str(city))
    assert out.returncode == 1, out
    lines = out.stderr.splitlines()
    assert len(lines) == 4 and "Traceback" not in out.stderr, out.stderr
    assert (
        f"{city}: org.units[3].notify[1].kind: "
        '"sms" targets need [channels.smpp] enabled (unit 530102510000, target 13900000001)'
        in out.stderr
    )
    assert (
        'org.units[3].notify[2].kind: "phone" targets need [channels.ami] enabled '
        "(unit 530102510000, target 87100001)" in out.stderr
    )
    assert (
        'org.units[3].notify[3].kind: "telegram" targets need [channels.telegram] enabled '
        "(unit 530102510000, target @nanba)" in out.stderr
    )
    assert 'org.units[3].notify[4].kind: "wechat" targets cannot be delivered' in out.stderr

    # With the channels on, sms and phone targets are deliverable (wechat never is).
    on = text.replace(
        NANBA_WEBHOOK,
        duty.replace('\n    { kind = "telegram", address = "@nanba" },', "").replace(
            '\n    { kind = "wechat", address = "nanba" },', ""
        ),
    )
    on = on.replace(
        "[channels.ami]\nenabled = false\n",
        '[channels.ami]\nenabled = true\nhost = "127.0.0.1"\nusername = "u"\nsecret = "s"\n',
    ).replace(
        "[channels.smpp]\nenabled = false\n",
        '[channels.smpp]\nenabled = true\nhost = "127.0.0.1"\nport = 2775\n'
        'system_id = "a"\npassword = "b"\n',
    )
    city.write_text(on, encoding="utf-8")
    ok = alarmgw("config", "check", str(city))
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr


def test_the_sample_city_passes_its_own_check(tmp_path: Path) -> None:
    city = tmp_path / "sample.toml"
    city.write_text(alarmgw("config", "sample").stdout, encoding="utf-8")
    out = alarmgw("config", "check", str(city))
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr


# -- 6. `alarmgw report --phone` was neither checked nor normalised ------------------------------


def test_report_phone_must_look_like_one_and_is_keyed_normalised(tmp_path: Path) -> None:
    data = tmp_path / "data"
    bad = alarmgw("report", "--text", "救命", "--phone", "abc", data=data)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr
    assert bad.stderr.startswith("alarmgw: --phone: ") and "'abc'" in bad.stderr, bad.stderr

    def report(number: str) -> str:
        out = alarmgw("report", "--text", "救命", "--phone", number, data=data)
        assert out.returncode == 0, out.stderr
        number_: str = json.loads(out.stdout)["incident"]["number"]
        return number_

    first = report("+86 139 3333 4444")
    assert report("13933334444") == first
