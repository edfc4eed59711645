"""A real MTA in front of the gateway, as in production: Debian's postfix (a private instance,
tests/peers/postfix.py) relays everything for the alarm domain to the gateway's SMTP port
(`relayhost = [127.0.0.1]:PORT`), with its retry times shortened to seconds.

Here: a mail relayed through postfix is a report (postfix logs our 250 with the incident);
the gateway killed with SIGKILL while postfix delivers 200 messages loses none and doubles
none once it is back (postfix retries what it did not see a 250 for); a store failure is a
451 that postfix retries into one report; our 5xx (an unknown recipient, too big) bounce.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.channels.smtp.test_smtp_gateway import ALARM
from tests.peers.gateway import GatewayProcess, db, smtp_gateway, wait_for
from tests.peers.postfix import Delivery, Postfix, peer_or_skip

MAX_SIZE = 100_000


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    extra = (
        f"max_message_size = {MAX_SIZE}\n"
        "ocr = false\n"
        "[channels.smtp.rate_limit]\nmessages = 100000\nconnections = 100\n"
    )
    g = smtp_gateway(tmp_path_factory.mktemp("postfix-gw"), extra, busy_timeout_ms=300)
    g.start()
    yield g
    assert g.stop() == 0, g.log()


@pytest.fixture(scope="module")
def postfix(gw: GatewayProcess) -> Iterator[Postfix]:
    with peer_or_skip(gw.smtp_port) as pf:
        yield pf


def alarm(i: int, tag: str, text: str = "和平路有人抢劫") -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"市民{i} <citizen{i}.{tag}@example.com>"
    m["To"] = ALARM
    m["Subject"] = f"报警 {tag} {i}"
    m["Message-ID"] = f"<{tag}-{i}@example.com>"
    m.set_content(f"{text}（第{i}封）")
    return m


def stored(gw: GatewayProcess, tag: str) -> list[str]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT external_id FROM reports WHERE external_id LIKE ?", (f"mail:{tag}%",)
        ).fetchall()
    return [r[0] for r in rows]


def test_a_mail_relayed_by_postfix_is_an_alarm(gw: GatewayProcess, postfix: Postfix) -> None:
    out = postfix.swaks(
        "--from", "li.na@example.com", "--to", ALARM,
        "--header", "Subject: =?UTF-8?B?5oql6K2m?=",
        "--header", "Message-Id: <swaks-pf@example.com>",
        "--header", "Content-Type: text/plain; charset=UTF-8",
        "--body", "东风路与人民路口发生车祸，有人受伤",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    wait_for("the report", lambda: stored(gw, "swaks-pf") or None, 20)
    with db(gw) as conn:
        doc = json.loads(
            conn.execute(
                "SELECT doc FROM reports WHERE external_id = 'mail:swaks-pf@example.com'"
            ).fetchone()[0]
        )
    assert doc["text"].startswith("报警")
    assert "有人受伤" in doc["text"]
    assert doc["sender"]["id"] == "li.na@example.com"
    sent = postfix.wait_delivery("sent", to=ALARM, count=1)
    assert any("alarm stored" in (d.reply or "") for d in sent), sent


def test_kill_9_while_postfix_delivers_200_loses_nothing(
    gw: GatewayProcess, postfix: Postfix
) -> None:
    """SIGKILL mid-stream, then a restart: postfix retries every message it got no 250
    for, and the store ends with each of the 200 exactly once (a message committed but
    not answered comes again and is the same report)."""
    n = 200
    killed = threading.Event()

    def kill_once_some_are_stored() -> None:
        # Watched while the messages are still being handed to postfix, without pause: a
        # check after the last was sent once found all 200 delivered on a loaded machine.
        deadline = time.monotonic() + 60
        while len(stored(gw, "kill")) < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        gw.kill()
        killed.set()

    watcher = threading.Thread(target=kill_once_some_are_stored)
    watcher.start()
    try:
        for i in range(n):
            postfix.send(alarm(i, "kill"), f"citizen{i}.kill@example.com", ALARM)
        watcher.join(90)
        assert killed.is_set()
        before = len(stored(gw, "kill"))
        assert 20 <= before < n, f"{before} delivered before the kill: the test proves nothing"
    finally:
        watcher.join(90)
        time.sleep(1)
        gw.start()  # the module's later tests need it, whatever happened here
    postfix.flush()
    postfix.wait_empty(timeout=90)
    ids = stored(gw, "kill")
    assert len(ids) == n and len(set(ids)) == n, (len(ids), len(set(ids)))
    assert set(ids) == {f"mail:kill-{i}@example.com" for i in range(n)}
    # postfix saw the gateway go away (deferred) and then delivered the rest.
    assert any(d.status == "deferred" for d in postfix.deliveries())


def test_a_store_failure_is_451_and_postfix_retries_into_one_report(
    gw: GatewayProcess, postfix: Postfix
) -> None:
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")

    def ours(d: Delivery) -> bool:
        return d.status == "deferred" and d.code == 451

    before = len([d for d in postfix.deliveries() if ours(d)])
    try:
        postfix.send(alarm(0, "locked", "南坝路有人溺水"), "citizen0.locked@example.com", ALARM)
        postfix.wait_delivery(ours, to=ALARM, count=before + 1)
        assert stored(gw, "locked") == []
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    postfix.flush()
    postfix.wait_empty(timeout=30)
    assert stored(gw, "locked") == ["mail:locked-0@example.com"]


def test_our_refusals_bounce(gw: GatewayProcess, postfix: Postfix, tmp_path: Path) -> None:
    postfix.send(alarm(0, "nobody"), "citizen0.nobody@example.com", "nobody@alarm.example.cn")
    big = alarm(0, "big", "大" * MAX_SIZE)
    postfix.send(big, "citizen0.big@example.com", ALARM)
    (nobody,) = postfix.wait_delivery("bounced", to="nobody@alarm.example.cn")
    assert nobody.code == 550 and "not a relay" in nobody.reply, nobody
    # The size: our EHLO says SIZE 100000, so postfix does not even send it (RFC 1870).
    (too_big,) = postfix.wait_delivery("bounced", to=ALARM, timeout=20)
    assert "552" in too_big.reply or "size" in too_big.reply, too_big
    assert stored(gw, "nobody") == [] and stored(gw, "big") == []
