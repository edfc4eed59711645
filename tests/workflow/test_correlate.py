"""Correlation's look-ups use the indexes meant for them (SQLite's planner, with no
statistics, otherwise takes the first equality it can: for the place, every open incident)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import create_engine

from gateway.store.tables import incidents, metadata
from gateway.workflow import correlate


def test_the_place_look_up_reads_the_box_not_every_open_incident(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    metadata.create_all(engine, tables=[incidents])
    sql = str(correlate._BY_PLACE.statement.compile(engine, compile_kwargs={}))
    sql = sql.replace("__[POSTCOMPILE_param_1]", "'received', 'accepted'")
    sql = re.sub(r"\?|__\[POSTCOMPILE_\w+\]", "0", sql)
    with engine.connect() as conn:
        plan = " ".join(str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    assert "ix_incidents_place" in plan, plan
