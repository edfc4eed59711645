"""The bundled example drill (drills/mixed.toml: a call, an SMS, a web report and a mail)
played end to end by a real gateway process: the call through the real Asterisk (espeak-ng
speaking its script, a sipp call-taker answering), the SMS through the SMSC peer's test
account, the web report and the mail through their channels — each a drill from its first
byte, each tied to its report. Then the center works them over the API (the SMS merged into
the call's incident, as the scenario expects; the rest accepted and dispatched), the
scorecard's figures are those of the events, and no drill notice went to a real target.

The example's times are compressed (+0:00 … +0:12 instead of +0:00 … +5:00): the channels
are real, the clock of the test is not worth five minutes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.channels.ami.test_drill_inject import SOUNDS, need_espeak
from tests.peers import smsc as smsc_peer
from tests.peers.asterisk import Asterisk
from tests.peers.gateway import (
    GatewayProcess,
    db,
    free_port,
    play_drill,
    sample_with_ami,
    sample_with_smpp,
    sample_with_smtp,
)
from tests.peers.sipp_peers import Sipp

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "drills" / "mixed.toml"
TIMES = {
    'at = "+1:30"': 'at = "+0:04"',
    'at = "+3:00"': 'at = "+0:08"',
    'at = "+5:00"': 'at = "+0:12"',
}
TEST_ACCOUNT = ("drill110", "drillpw")
SUPERVISOR_UNIT = "530100000000"


@pytest.fixture
def smsc() -> Iterator[smsc_peer.Smsc]:
    with smsc_peer.peer_or_skip("alarmgw", "secret", test_account=TEST_ACCOUNT) as peer:
        yield peer


@pytest.fixture
def gw(asterisk: Asterisk, smsc: smsc_peer.Smsc, tmp_path: Path) -> Iterator[GatewayProcess]:
    need_espeak()
    text = sample_with_ami(
        asterisk.ami_host,
        asterisk.ami_port,
        asterisk.ami_user,
        asterisk.ami_secret,
        f'drill_sounds = "{asterisk.host_path(SOUNDS)}"\n',
    )
    assert smsc.port is not None
    text = sample_with_smpp(
        smsc.port,
        "alarmgw",
        "secret",
        'drill_numbers = ["13800000202"]\n'
        f'test_account = {{ system_id = "{TEST_ACCOUNT[0]}", password = "{TEST_ACCOUNT[1]}" }}\n',
        text=text,
    )
    smtp_port = free_port()
    text = sample_with_smtp(
        smtp_port,
        f'drill_senders = ["drill-citizen@example.cn"]\nspool_dir = "{tmp_path / "spool"}"\n',
        text=text,
    )
    config = tmp_path / "city.toml"
    config.write_text(text, encoding="utf-8")
    g = GatewayProcess(tmp_path / "data", config)
    g.channel_ports.append(smtp_port)
    g.start()
    yield g
    g.stop()


def test_the_example_drill_through_the_real_channels(
    gw: GatewayProcess, smsc: smsc_peer.Smsc, asterisk: Asterisk, sipp: Sipp
) -> None:
    calltaker = Sipp.softphone(asterisk, "1001", answer_after=0.5)
    coordinator = gw.token("drill1", "drill_coordinator")
    supervisor = gw.token("sup1", "supervisor", SUPERVISOR_UNIT)
    scenario = EXAMPLE.read_text(encoding="utf-8")
    for old, new in TIMES.items():
        assert old in scenario, f"drills/mixed.toml changed: {old}"
        scenario = scenario.replace(old, new)
    photo = {"files/photo.png": (EXAMPLE.parent / "files" / "photo.png").read_bytes()}
    try:
        done = play_drill(
            gw, coordinator, scenario, file="mixed.toml", files=photo, found=4, timeout=90
        )
    finally:
        calltaker.stop()
    call, sms, web, mail = done["injects"]
    assert [i["channel"] for i in done["injects"]] == ["phone", "sms", "web", "email"]
    assert all(i["status"] == "sent" for i in done["injects"]), done
    assert sms["via"] == "经短信中心测试账号"

    # Each a drill report from the inject's sender, on its own channel, in a drill incident.
    con = db(gw)
    rows = {
        r["receipt"]: dict(r)
        for r in con.execute(
            "SELECT r.receipt, r.channel, r.drill, r.sender_key, i.drill AS incident_drill "
            "FROM reports r JOIN incidents i ON i.id = r.incident_id"
        )
    }
    expected = [
        (call, "phone", "phone:13800000201"),
        (sms, "sms", "phone:13800000202"),
        (web, "web", "phone:13800000203"),
        (mail, "email", "email:drill-citizen@example.cn"),
    ]
    for inject, channel, sender in expected:
        row = rows[inject["report"]]
        assert (row["channel"], row["drill"], row["sender_key"], row["incident_drill"]) == (
            channel,
            1,
            sender,
            1,
        ), inject
    # The SMS came through the SMSC: its test account's submit_sm, delivered to us.
    assert smsc.wait_event(lambda e: e["event"] == "mo", timeout=5)["source_addr"] == "13800000202"

    # The center works the drill: the witness's SMS merged into the call's incident (one
    # label, one incident), every incident accepted and dispatched as expected.
    def act(number: str, **params: Any) -> dict[str, Any]:
        status, doc = gw.request(
            "POST", f"/api/v1/incidents/{number}/actions", params, token=supervisor
        )
        assert status == 200, doc
        return doc  # type: ignore[no-any-return]

    act(sms["incident"], action="merge", master=call["incident"], reason="同一起抢夺")
    for inject in (call, web, mail):
        e = inject["expect"]
        act(inject["incident"], action="accept", category=e["category"], priority=e["priority"])
        act(inject["incident"], action="dispatch", unit=e["unit"])

    # No drill notice went to a real target (the sample city has no drill target at all).
    notices = con.execute(
        "SELECT d.target FROM deliveries d JOIN incidents i ON i.id = d.incident_id "
        "WHERE i.drill = 1"
    ).fetchall()
    assert notices == []

    # The scorecard: the figures are those of the events.
    status, html = gw.request("GET", f"/api/v1/drills/{done['id']}/scorecard", token=coordinator)
    assert status == 200
    assert isinstance(html, str) and "演练" in html
    for inject in (call, sms, web, mail):
        assert inject["inject"] in html
    assert not re.search(r"漏合并[^<]*</t[dh]>\s*<t[dh][^>]*>\s*[1-9]", html)
