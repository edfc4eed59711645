"""Drill runs through a real gateway process (gateway.drills.service, .http, .runs): a
scenario started over the API plays its web and mail injects through those channels as
drills, each tied to its report; pause moves the rest on by the pause, abort cancels it; a
scenario the gateway cannot play is refused with every problem; only a coordinator starts.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess, db, play_drill, smtp_gateway, wait_for

ROOT = Path(__file__).resolve().parents[2]
PHOTO = ROOT / "drills" / "files" / "photo.png"
DRILL_SENDER = "drill-citizen@example.cn"

SCENARIO = """
name = "网页与邮件演练"
units = ["530102000000"]

[[inject]]
id = "web"
at = "+0:00"
channel = "web"
from = "13800000203"
text = "明湖路66号楼上每天夜里敲打，请民警协调。"
location = { address = "示例市明湖区明湖路66号", lat = 25.030, lon = 102.660, accuracy_m = 30 }
expect = { incident = "noise", category = "dispute", unit = "530102520000" }

[[inject]]
id = "mail"
at = "+0:02"
channel = "email"
from = "drill-citizen@example.cn"
subject = "举报北门街有人聚众赌博"
text = "北门街圆通巷口那家棋牌室每天晚上聚众赌博，附上照片。"
attachments = ["files/photo.png"]
location = { address = "示例市明湖区北门街圆通巷口" }
expect = { incident = "gambling", category = "tip", priority = 4, unit = "530102530000" }
"""


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("drills")
    g = smtp_gateway(tmp, f'drill_senders = ["{DRILL_SENDER}"]\n')
    g.start()
    yield g
    g.stop()


@pytest.fixture(scope="module")
def coordinator(gw: GatewayProcess) -> str:
    return gw.token("drill1", "drill_coordinator")


def start(gw: GatewayProcess, token: str, text: str = SCENARIO, **files: bytes) -> tuple[int, Any]:
    body = {
        "file": "test.toml",
        "scenario": text,
        "files": {k: base64.b64encode(v).decode() for k, v in files.items()}
        or {"files/photo.png": base64.b64encode(PHOTO.read_bytes()).decode()},
    }
    return gw.request("POST", "/api/v1/drills", body, token=token)


def run_doc(gw: GatewayProcess, token: str, run: int) -> dict[str, Any]:
    status, doc = gw.request("GET", f"/api/v1/drills/{run}", token=token)
    assert status == 200, doc
    return doc  # type: ignore[no-any-return]


def test_a_run_plays_each_inject_through_its_channel_as_a_drill(
    gw: GatewayProcess, coordinator: str
) -> None:
    status, doc = start(gw, coordinator)
    assert status == 201, doc
    run = doc["id"]
    assert doc["state"] == "running" and doc["counts"]["total"] == 2

    def finished() -> dict[str, Any] | None:
        d = run_doc(gw, coordinator, run)
        return d if d["state"] == "done" and d["counts"]["found"] == 2 else None

    done = wait_for("the run to end with both reports found", finished, timeout=30)
    web, mail = done["injects"]
    assert [i["status"] for i in done["injects"]] == ["sent", "sent"], done
    assert web["via"] and mail["via"]
    assert web["incident"] != mail["incident"]
    # Web's inject at +0, the mail's at +2 s: sent no earlier.
    assert mail["sent_at"] > web["sent_at"]

    con = db(gw)
    rows = con.execute(
        "SELECT r.channel, r.drill, r.sender_key, i.drill FROM reports r "
        "JOIN incidents i ON i.id = r.incident_id WHERE r.receipt IN (?, ?) ORDER BY r.id",
        (web["report"], mail["report"]),
    ).fetchall()
    ended = con.execute(
        "SELECT actor FROM events WHERE action = 'drill_ended' AND json_extract(data, '$.run') = ?",
        (run,),
    ).fetchall()
    assert [json.loads(r[0])["user"] for r in ended] == ["alarmgw"]
    assert [tuple(r) for r in rows] == [
        ("web", 1, "phone:13800000203", 1),
        ("email", 1, f"email:{DRILL_SENDER}", 1),
    ]
    attachments = con.execute(
        "SELECT doc FROM reports WHERE receipt = ?", (mail["report"],)
    ).fetchone()[0]
    assert "photo.png" in attachments


def test_pause_moves_the_rest_on_and_abort_cancels_it(gw: GatewayProcess, coordinator: str) -> None:
    later = SCENARIO.replace('at = "+0:02"', 'at = "+0:30"')
    status, doc = start(gw, coordinator, later)
    assert status == 201, doc
    run = doc["id"]
    wait_for("the first inject", lambda: run_doc(gw, coordinator, run)["counts"]["sent"] == 1)
    status, paused = gw.request("POST", f"/api/v1/drills/{run}/pause", token=coordinator)
    assert status == 200 and paused["state"] == "paused", paused
    due_before = paused["injects"][1]["due_at"]
    time.sleep(1.5)
    status, again = gw.request("POST", f"/api/v1/drills/{run}/pause", token=coordinator)
    assert status == 409 and "paused" in again["message"], again
    status, resumed = gw.request("POST", f"/api/v1/drills/{run}/resume", token=coordinator)
    assert status == 200 and resumed["state"] == "running"
    assert resumed["paused_s"] >= 1.5
    assert resumed["injects"][1]["due_at"] > due_before
    status, aborted = gw.request("POST", f"/api/v1/drills/{run}/abort", token=coordinator)
    assert status == 200 and aborted["state"] == "aborted"
    assert [i["status"] for i in aborted["injects"]] == ["sent", "cancelled"]
    status, again = gw.request("POST", f"/api/v1/drills/{run}/resume", token=coordinator)
    assert status == 409
    # Each step is in the audit log, with who did it.
    logged = [
        (r["action"], json.loads(r["actor"])["user"], r["drill"])
        for r in db(gw).execute(
            "SELECT action, actor, drill FROM events WHERE action LIKE 'drill_%' "
            "AND json_extract(data, '$.run') = ? ORDER BY seq",
            (run,),
        )
    ]
    assert logged == [
        ("drill_started", "drill1", 1),
        ("drill_paused", "drill1", 1),
        ("drill_resumed", "drill1", 1),
        ("drill_aborted", "drill1", 1),
    ]


def test_a_scenario_it_cannot_play_is_refused_whole(gw: GatewayProcess, coordinator: str) -> None:
    sms = (
        SCENARIO
        + """
[[inject]]
at = "+0:05"
channel = "sms"
from = "13800000202"
text = "测试"
expect = { incident = "noise" }
"""
    )
    broken = sms.replace('unit = "530102530000"', 'unit = "530102599999"')
    status, doc = start(gw, coordinator, broken)
    assert status == 422, doc
    lines = doc["message"].splitlines()
    assert any("inject[1].expect.unit" in line and "530102599999" in line for line in lines), lines
    assert any("inject[2].channel" in line and "smpp" in line for line in lines), lines
    status, doc = start(gw, coordinator, SCENARIO, **{"files/other.png": b"x"})
    assert status == 422 and "files/photo.png" in doc["message"], doc
    status, listed = gw.request("GET", "/api/v1/drills", token=coordinator)
    assert all(r["file"] == "test.toml" for r in listed["runs"])


def test_only_a_coordinator_starts_a_drill(gw: GatewayProcess) -> None:
    calltaker = gw.token("ct9", "calltaker")
    status, doc = start(gw, calltaker)
    assert status == 403, doc
    status, doc = gw.request(
        "POST",
        "/api/v1/drills",
        {"scenario": "x", "files": {"../x": "eA=="}},
        token=gw.token("d2", "drill_coordinator"),
    )
    assert status == 400 and "relative" in doc["message"], doc


def drill_cli(gw: GatewayProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "gateway.cli", "drill", *args, "--url", gw.base]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ALARMGW_TOKEN": token},
        cwd=ROOT,
    )


def test_the_command_runs_a_scenario_file_and_follows_it(
    gw: GatewayProcess, coordinator: str, tmp_path: Path
) -> None:
    (tmp_path / "files").mkdir()
    shutil.copy(PHOTO, tmp_path / "files" / "photo.png")
    scenario = tmp_path / "网页与邮件.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    done = drill_cli(gw, coordinator, "run", str(scenario))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    run = int(out.split("演练 ", 1)[1].split(" ", 1)[0])
    assert f"演练 {run} 已开始：网页与邮件演练，2 条模拟警情" in out
    assert "web [web] 已发送 · " in out and "mail [email] 已发送 · " in out
    assert "→ 警情" in out
    assert f"演练 {run} 已结束 [{'█' * 24}] 2/2 已发送" in out
    assert out.rstrip().endswith(f"成绩单：alarmgw drill report {run}")

    listed = drill_cli(gw, coordinator, "list")
    assert listed.returncode == 0 and f"演练 {run} 已结束" in listed.stdout
    again = drill_cli(gw, coordinator, "abort", str(run))
    assert again.returncode == 1
    assert f"drill run {run} is done: cannot abort" in again.stderr


def test_the_command_says_what_is_wrong(
    gw: GatewayProcess, coordinator: str, tmp_path: Path
) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(SCENARIO.replace('"+0:02"', '"soon"'), encoding="utf-8")
    bad = drill_cli(gw, coordinator, "run", str(scenario))
    assert bad.returncode == 1
    assert "the scenario cannot be played:" in bad.stderr
    assert "bad.toml:" in bad.stderr and "inject[1].at" in bad.stderr
    calltaker = drill_cli(gw, gw.token("ct8", "calltaker"), "run", str(scenario))
    assert calltaker.returncode == 1 and "drill_coordinator" in calltaker.stderr
    nobody = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "drill", "list", "--url", gw.base],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "ALARMGW_TOKEN"},
        cwd=ROOT,
    )
    assert nobody.returncode == 1 and "no token" in nobody.stderr


FAX = """
name = "传真演练"
units = ["530100000000"]

[[inject]]
id = "fax"
at = "+0:00"
channel = "fax"
from = "0871-60000777"
text = "南坝路示例小学门口放学时段交通秩序混乱，请派员疏导。"
expect = { incident = "school-traffic", category = "traffic", priority = 3, unit = "530100170000" }
"""


def test_a_fax_inject_is_a_page_the_fax_server_mails(gw: GatewayProcess, coordinator: str) -> None:
    run = play_drill(gw, coordinator, FAX, file="fax.toml", found=1)
    (fax,) = run["injects"]
    assert fax["status"] == "sent", fax
    row = (
        db(gw)
        .execute(
            "SELECT channel, drill, sender_key, doc FROM reports WHERE receipt = ?",
            (fax["report"],),
        )
        .fetchone()
    )
    assert (row["channel"], row["drill"], row["sender_key"]) == ("fax", 1, "phone:087160000777")
    doc = json.loads(row["doc"])
    assert doc["text"].startswith("传真报警：来自 087160000777，共1页。")
    (page,) = doc["attachments"]
    assert page["content_type"] == "image/tiff", page
