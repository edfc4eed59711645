"""Statements of the intake hot path, compiled once per dialect and run on the DBAPI cursor.

A cached SQLAlchemy Core `execute` still costs tens of microseconds of Python per call
(execution context, result proxy); the intake path runs several per report, on the
writer thread that holds the GIL the HTTP side also needs. A `Prepared` statement keeps
what SQLAlchemy compiled — the SQL text for the dialect, the parameter order and the
type processors (UTC datetimes, JSON, booleans) — and runs it directly, inside the
transaction the writer's Connection has begun. Only statements whose results are plain
values (ids, strings) are prepared; everything else stays on SQLAlchemy.

All of it is read through SQLAlchemy's public API, and tests/store/test_prepared.py checks
that a prepared statement sends the driver the very values SQLAlchemy's own execution sends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement


@dataclass(frozen=True)
class _Compiled:
    sql: str
    # qmark/format styles: (name, value bound at build time, type processor) per position
    positional: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...] | None
    defaults: dict[str, Any]  # values SQLAlchemy bound at build time (LIMIT, OFFSET)
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]


class Prepared:
    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        """`keys`: for an INSERT, the columns that will be given (the rest take defaults)."""
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        key = f"{dialect.name}:{dialect.paramstyle}"
        c = self._by_dialect.get(key)
        if c is None:
            compiled: Any = self.statement.compile(dialect=dialect, column_keys=self.keys)
            if "POSTCOMPILE" in compiled.string:
                raise ValueError("a prepared statement cannot have an expanding IN parameter")
            if compiled.escaped_bind_names:  # the SQL would name them otherwise than we do
                raise ValueError("a prepared statement's parameter names must need no escaping")
            # `params`: the values bound at build time; ours have none yet (None).
            defaults = {k: v for k, v in compiled.params.items() if v is not None}
            procs = _bind_processors(compiled, dialect)
            positional = (
                tuple((n, defaults.get(n), procs.get(n)) for n in compiled.positiontup or ())
                if compiled.positional
                else None
            )
            c = _Compiled(compiled.string, positional, defaults, tuple(procs.items()))
            self._by_dialect[key] = c
        return c

    def _args(self, c: _Compiled, params: dict[str, Any]) -> Any:
        if c.positional is not None:
            out = []
            for name, default, process in c.positional:
                value = params.get(name, default)
                out.append(process(value) if process is not None and value is not None else value)
            return out
        p = dict(c.defaults)
        p.update(params)
        for name, process in c.processors:
            value = p.get(name)
            if value is not None:
                p[name] = process(value)
        return p

    def execute(self, conn: Connection, params: dict[str, Any]) -> Any:
        """Run once; returns the DBAPI cursor (fetchone / fetchall / lastrowid)."""
        c = self._compiled(conn.dialect)
        cursor = _cursor(conn)
        cursor.execute(c.sql, self._args(c, params))
        return cursor

    def executemany(self, conn: Connection, rows: Iterable[dict[str, Any]]) -> None:
        c = self._compiled(conn.dialect)
        cursor = _cursor(conn)
        cursor.executemany(c.sql, [self._args(c, r) for r in rows])


def _bind_processors(compiled: Any, dialect: Dialect) -> dict[str, Callable[[Any], Any]]:
    """Each bound parameter's type processor, by its name in the SQL: what SQLAlchemy's
    execution applies (it keeps them in the private `SQLCompiler._bind_processors`), found
    through public API, `SQLCompiler.bind_names` and `TypeEngine.dialect_impl`. Once per
    statement and dialect, so the hot path never pays for it."""
    procs = {}
    for param, name in compiled.bind_names.items():
        process = param.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            procs[name] = process
    return procs


def _cursor(conn: Connection) -> Any:
    # The DBAPI connection of this Connection: same session, same open transaction.
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    return dbapi.cursor()
