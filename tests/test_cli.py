"""The `alarmgw` command, run as a real process against a fresh data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from gateway.config import sample_text

ROOT = Path(__file__).resolve().parents[1]


def alarmgw(*args: str, data: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--data-dir", str(data)] if data else []
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_config_sample_and_check(tmp_path: Path) -> None:
    out = alarmgw("config", "sample")
    assert out.returncode == 0 and out.stdout == sample_text()
    good = tmp_path / "city.toml"
    good.write_text(out.stdout, encoding="utf-8")
    ok = alarmgw("config", "check", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(out.stdout.replace("p1 = 60\n", "p1 = -5\n", 1), encoding="utf-8")
    err = alarmgw("config", "check", str(bad))
    assert err.returncode == 1
    assert "bad.toml" in err.stderr and "sla." in err.stderr and "-5" in err.stderr
    assert "Traceback" not in err.stderr
    mars = tmp_path / "mars.toml"
    mars.write_text(out.stdout.replace('"Asia/Shanghai"', '"Mars/Olympus"'), encoding="utf-8")
    err = alarmgw("config", "check", str(mars))
    assert err.returncode == 1 and "city.timezone" in err.stderr and "Mars/Olympus" in err.stderr


def test_report_list_show_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert alarmgw("db", "upgrade", data=data).returncode == 0
    out = alarmgw(
        "report",
        "--text",
        "楼下有人打架",
        "--phone",
        "13812345678",
        "--lat",
        "24.98",
        "--lon",
        "102.65",
        "--external-id",
        "cli-1",
        data=data,
    )
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    again = json.loads(
        alarmgw("report", "--text", "楼下有人打架", "--external-id", "cli-1", data=data).stdout
    )
    assert again["receipt"] == first["receipt"] and again["duplicate"] is True
    number = first["incident"]["number"]
    listing = alarmgw("incidents", "list", data=data)
    assert number in listing.stdout and "接警" in listing.stdout and "南坝派出所" in listing.stdout
    shown = json.loads(alarmgw("incidents", "show", number, "--json", data=data).stdout)
    assert shown["unit"] == "530102510000" and shown["reports"][0]["text"] == "楼下有人打架"
    verify = alarmgw("audit", "verify", data=data)
    assert verify.returncode == 0 and "OK: 1 events" in verify.stdout
    bad = alarmgw("incidents", "list", "--unit", "123", data=data)
    assert bad.returncode == 1 and "unknown unit" in bad.stderr
    bad = alarmgw("incidents", "list", "--state", "bogus", data=data)
    assert bad.returncode == 1 and "unknown state" in bad.stderr
    missing = alarmgw("incidents", "show", "530100-20991231-000001", data=data)
    assert missing.returncode == 1 and "no incident" in missing.stderr


def test_token_create_checks_role_and_unit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tok = alarmgw("token", "create", "--user", "ct", "--role", "calltaker", data=data)
    assert tok.returncode == 0 and tok.stdout.startswith("agw_")
    bad = alarmgw("token", "create", "--user", "x", "--role", "king", data=data)
    assert bad.returncode == 1 and "unknown role" in bad.stderr
    bad = alarmgw("token", "create", "--user", "x", "--role", "calltaker", "--unit", "1", data=data)
    assert bad.returncode == 1 and "unknown unit" in bad.stderr


def test_bad_report_from_shell_is_refused(tmp_path: Path) -> None:
    out = alarmgw("report", "--text", "x", "--lat", "95", "--lon", "0", data=tmp_path / "d")
    assert out.returncode == 1 and "location.lat" in out.stderr


def test_run_with_a_bad_config_exits_non_zero_naming_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(sample_text().replace("port = 8110", "port = 99999"), encoding="utf-8")
    out = alarmgw("run", "--config", str(bad), data=tmp_path / "d")
    assert out.returncode == 1
    assert "bad.toml" in out.stderr and "http.port" in out.stderr and "99999" in out.stderr


def test_unknown_category_is_refused(tmp_path: Path) -> None:
    out = alarmgw("report", "--text", "x", "--category", "alien", data=tmp_path / "d")
    assert out.returncode == 1 and "category" in out.stderr and "alien" in out.stderr
