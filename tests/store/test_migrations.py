"""The Alembic migrations build exactly the schema that `gateway.store.tables` declares,
on SQLite and on PostgreSQL, and upgrading twice is harmless."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from gateway.store.db import make_engine
from gateway.store.migrate import current, upgrade
from gateway.store.tables import chain_head, metadata


def test_migrations_match_declared_tables(store_url: str) -> None:
    engine = make_engine(store_url, writer=True)
    try:
        upgrade(engine)
        upgrade(engine)  # idempotent
        assert current(engine) is not None
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
            assert diff == [], diff
            head = conn.execute(select(chain_head.c.seq, chain_head.c.hash)).one()
            assert head.seq == 0 and head.hash == "0" * 64
    finally:
        engine.dispose()
