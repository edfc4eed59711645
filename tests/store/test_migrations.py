"""The Alembic migrations build exactly the schema that the core's and the channels' table
declarations say, on SQLite and on PostgreSQL; upgrading twice is harmless; each channel's
branch applies only when the channel is enabled; and a database from before channels had
branches (one chain 0001 → 0002 → 0003) upgrades without touching its tables."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

import gateway.drills.tables  # noqa: F401 - the drill runs, on the same metadata
import gateway.targets.tables  # noqa: F401 - the core's registry tables, on the same metadata
from gateway.channel import resolve
from gateway.discovery import declaration, installed
from gateway.store.engine import make_engine
from gateway.store.migrate import current, upgrade
from gateway.store.tables import chain_head, metadata

CHANNELS = [declaration(code) for code in installed()]
for _channel in CHANNELS:
    if _channel.tables:
        resolve(_channel.tables)  # declares its tables on the shared metadata


def test_migrations_match_declared_tables(store_url: str) -> None:
    engine = make_engine(store_url, writer=True)
    try:
        upgrade(engine, CHANNELS)
        upgrade(engine, CHANNELS)  # idempotent
        assert {"0002", "0003"} <= set(current(engine))
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diff == [], diff
            head = conn.execute(select(chain_head.c.seq, chain_head.c.hash)).one()
            assert head.seq == 0 and head.hash == "0" * 64
    finally:
        engine.dispose()


def test_a_channel_branch_applies_only_when_enabled(store_url: str) -> None:
    engine = make_engine(store_url, writer=True)
    smpp = declaration("smpp")
    try:
        upgrade(engine)  # the core alone
        tables = set(inspect(engine).get_table_names())
        assert "incidents" in tables and not tables & {"calls", "sms_out"}
        upgrade(engine, [smpp])  # enabled later: its branch applies then
        tables = set(inspect(engine).get_table_names())
        assert "sms_out" in tables and "calls" not in tables
        upgrade(engine)  # off again: its revision still resolves, nothing changes
        assert "0003" in current(engine)
    finally:
        engine.dispose()


def test_a_database_of_the_single_chain_upgrades(store_url: str) -> None:
    """Stamped 0003 by the one chain of before: every table of then there, the stamp alone;
    the channels that came since (smtp, 0004) get their branch."""
    engine = make_engine(store_url, writer=True)
    try:
        upgrade(engine, [c for c in CHANNELS if c.code in ("ami", "smpp", "web")])
        with engine.begin() as conn:
            # The core's tables that came after 0003 (0005: console users, 0006: the
            # registry of targets, 0012: the place index, 0013: drill runs) were not there.
            conn.execute(text("DROP TABLE console_sessions"))
            conn.execute(text("DROP TABLE users"))
            conn.execute(text("DROP TABLE premises"))
            conn.execute(text("DROP TABLE vehicles"))
            conn.execute(text("DROP INDEX ix_incidents_place"))  # 0012
            conn.execute(text("DROP TABLE drill_sends"))  # 0013
            conn.execute(text("DROP TABLE drill_runs"))
            conn.execute(text("DELETE FROM alembic_version"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0003')"))
        upgrade(engine, CHANNELS)
        # The heads: the core (0013; its 0006 is below dc09's 0007 and jt808's 0008).
        assert set(current(engine)) >= {"0002", "0003", "0004", "0007", "0008", "0013"}
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()
