"""The writers leave the WAL to the Checkpointer (gateway/store/engine.py): it copies committed
pages into the database file in the background."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from gateway.store.engine import Checkpointer, make_engine, sqlite_url


def test_writers_do_not_checkpoint_and_the_checkpointer_does(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    db_file = tmp_path / "alarmgw.db"
    engine = make_engine(url, writer=True)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
        with engine.begin() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 10_000
            for _ in range(2000):  # > 1,000 pages (SQLite's default threshold), < 10,000
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000})
        time.sleep(0.2)
        before = db_file.stat().st_size
        assert (tmp_path / "alarmgw.db-wal").stat().st_size > 1000 * 4096
        checkpointer = Checkpointer(url, interval=0.05)
        checkpointer.start()
        try:
            deadline = time.monotonic() + 5
            while db_file.stat().st_size <= before + 1000 * 4096 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            checkpointer.stop()
        assert db_file.stat().st_size > before + 1000 * 4096
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2000
    finally:
        engine.dispose()
