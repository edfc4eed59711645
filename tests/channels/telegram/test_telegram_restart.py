"""Telegram: the gateway killed with SIGKILL while updates wait. Updates are confirmed to
Telegram (the next getUpdates' offset) only after their reports are committed, so after the
restart every message is exactly one report: none lost (the emulator front keeps what was
not confirmed, as the Bot API does), none twice (what was committed but not yet confirmed
comes again and is a duplicate of its report)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.channels.telegram.test_telegram_gateway import telegram_gateway
from tests.peers.gateway import db, wait_for
from tests.peers.telegram import BotApi, peer_or_skip

N = 300


@pytest.fixture
def api() -> Iterator[BotApi]:
    with peer_or_skip("987654:TEST-restart") as peer:
        yield peer


def stored(gw_db: Path) -> list[str]:
    import sqlite3

    conn = sqlite3.connect(f"file:{gw_db}?mode=ro", uri=True, timeout=10)
    try:
        return [
            r[0] for r in conn.execute("SELECT external_id FROM reports WHERE channel = 'telegram'")
        ]
    finally:
        conn.close()


def test_kill_9_mid_stream_loses_nothing_and_stores_nothing_twice(
    api: BotApi, tmp_path: Path
) -> None:
    gw = telegram_gateway(tmp_path, api)
    gw.start()
    path = gw.data_dir / "alarmgw.db"
    messages = [api.message(40_000 + i, text=f"第{i}条报警") for i in range(N)]
    for m in messages:
        api.send(m)
    wait_for("some reports committed", lambda: len(stored(path)) >= 10, timeout=30)
    gw.kill()
    at_kill = set(stored(path))
    state = api.state()
    assert len(at_kill) < N, "all were stored before the kill: the test proved nothing"
    waiting = len(state["pending"])
    assert waiting >= N - len(at_kill)
    # Committed but not confirmed: the batch is confirmed by the next getUpdates only.
    assert waiting > N - len(at_kill), state

    gw.start()
    want = {f"{m['chat']['id']}:{m['message_id']}" for m in messages}
    wait_for("every message stored", lambda: set(stored(path)) >= want, timeout=60)
    wait_for("every update confirmed", lambda: api.state()["pending"] == [], timeout=20)
    time.sleep(1)
    ids = stored(path)
    assert len(ids) == len(set(ids)) == N
    with db(gw) as conn:
        receipts = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT chat_id) FROM telegram_out WHERE kind = 'receipt'"
        ).fetchone()
    assert tuple(receipts) == (N, N)  # one receipt each, also for those committed twice over
    code = gw.stop()
    assert code == 0, gw.log()
