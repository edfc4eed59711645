"""A `Prepared` statement (gateway/store/prepared.py) runs on the DBAPI cursor with the SQL
text, parameter order, build-time values and type processors it took from SQLAlchemy's
compiled form. For every prepared statement of the gateway, on each store, what it hands
the driver must be what SQLAlchemy's own execution of the same statement and values hands
it: a SQLAlchemy upgrade that changed how a type is bound (UTC datetimes, JSON, booleans)
or how a compiled statement names and orders its parameters fails here, not in the data."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    event,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

import gateway
from gateway.store.engine import make_engine
from gateway.store.prepared import Prepared

# Every module that builds a Prepared statement (test_every_prepared_statement_is_checked).
MODULES = (
    "gateway.intake",
    "gateway.store.audit",
    "gateway.workflow.correlate",
    "gateway.workflow.records",
    "gateway.workflow.service",
    "gateway.channels.smpp.store",
    "gateway.channels.smtp.store",
    "gateway.channels.telegram.store",
    "gateway.targets.registry",
)

# One value per column type of the tables; each goes through its type's processor.
SAMPLES: list[tuple[type[TypeEngine[Any]], Any]] = [
    (Boolean, True),
    (Integer, 7),
    (Float, 24.97),
    (LargeBinary, b"\x00\xffPNG"),
    (String, "有人报警 x"),
    (JSON, {"kind": "phone", "ids": [1, "é", None]}),
    (DateTime, datetime(2026, 11, 24, 9, 0, 5, 123456, tzinfo=ZoneInfo("Asia/Shanghai"))),
]


def statements() -> list[tuple[str, Prepared]]:
    found = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        found += [
            (f"{module_name}.{name}", value)
            for name, value in vars(module).items()
            if isinstance(value, Prepared)
        ]
    return found


STATEMENTS = statements()


def test_every_prepared_statement_is_checked() -> None:
    root = Path(gateway.__file__).parent
    builders = {
        ".".join(path.relative_to(root.parent).with_suffix("").parts)
        for path in root.rglob("*.py")
        if re.search(r"\bPrepared\(", path.read_text(encoding="utf-8"))
    }
    assert builders == set(MODULES)
    assert len(STATEMENTS) >= 13


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    # No table is needed: the statements are stopped before they reach the database.
    engine = make_engine(store_url, writer=False)
    yield engine
    engine.dispose()


class _Sent(Exception):
    pass


def sent_by_sqlalchemy(conn: Connection, p: Prepared, params: dict[str, Any]) -> tuple[str, Any]:
    """The SQL and parameters SQLAlchemy hands the cursor for `p.statement` and `params`."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        seen.append((sql, parameters))
        raise _Sent

    trans = conn.begin()
    event.listen(conn, "before_cursor_execute", capture)
    try:
        with pytest.raises(_Sent):
            conn.execute(p.statement, params)
    finally:
        event.remove(conn, "before_cursor_execute", capture)
        trans.rollback()
    return seen[0]


def comparable(args: Any) -> Any:
    """Positional arguments as a list; psycopg's Json wrappers (no __eq__) as their value."""
    if isinstance(args, dict):
        return {k: comparable(v) for k, v in args.items()}
    if isinstance(args, list | tuple):
        return [comparable(v) for v in args]
    if type(args).__module__.startswith("psycopg"):
        return (type(args).__name__, args.obj)
    return args


def caller_params(p: Prepared, conn: Connection, value: Any) -> dict[str, Any]:
    """What a caller gives: a value for each parameter not bound at build time (LIMIT)."""
    compiled: Any = p.statement.compile(dialect=conn.dialect, column_keys=p.keys)
    return {
        name: value(param.type)
        for param, name in compiled.bind_names.items()
        if param.required or compiled.params[name] is None
    }


def sample(type_: Any) -> Any:
    underneath = type_
    while isinstance(underneath, TypeDecorator):  # UTCDateTime: a DateTime underneath
        underneath = underneath.impl_instance
    for kind, value in SAMPLES:
        if isinstance(underneath, kind):
            return value
    raise AssertionError(f"add a sample value for {type_!r} to SAMPLES")


@pytest.mark.parametrize(("name", "p"), STATEMENTS, ids=[name for name, _ in STATEMENTS])
def test_prepared_sends_what_sqlalchemy_sends(engine: Engine, name: str, p: Prepared) -> None:
    with engine.connect() as conn:
        params = caller_params(p, conn, sample)
        sql, sent = sent_by_sqlalchemy(conn, p, params)
        compiled = p._compiled(conn.dialect)
        assert sql == compiled.sql
        assert comparable(p._args(compiled, params)) == comparable(sent)


@pytest.mark.parametrize(("name", "p"), STATEMENTS, ids=[name for name, _ in STATEMENTS])
def test_prepared_sends_none_as_null(engine: Engine, name: str, p: Prepared) -> None:
    """Prepared skips the processors for None, so they must turn None into None. (Not JSON's:
    SQLAlchemy binds None as JSON 'null'; no prepared statement writes None to a JSON column.)"""
    with engine.connect() as conn:
        params = caller_params(p, conn, lambda t: sample(t) if isinstance(t, JSON) else None)
        _, sent = sent_by_sqlalchemy(conn, p, params)
        compiled = p._compiled(conn.dialect)
        assert comparable(p._args(compiled, params)) == comparable(sent)
