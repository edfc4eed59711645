"""Write transactions and group commit.

Every write is a small function `fn(ctx, *args)` run inside a transaction, with a
`WriteContext` that keeps what the whole transaction shares (the audit-chain head, the
counters, inserts held back to be sent together). A `GroupCommitter` runs a batch of such
functions in one transaction and commits once, so "acknowledge after commit" costs one
fsync per batch, not per report.

If anything in a batch raises, the batch is rolled back and each function is run again
alone, so one bad request cannot fail its neighbours.

Synchronous, with no thread of its own: the store's writer thread (`gateway.store.db`) and
the intake worker process (`gateway.store.worker`) each drive one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exc, select, update

from gateway.store import audit
from gateway.store.engine import TEMPORARY_ERRORS, StoreUnavailable
from gateway.store.prepared import Prepared
from gateway.store.tables import chain_head, counters

# Statements of the hot path are built once, so SQLAlchemy reuses their compiled form.
_LOCK_HEAD = (
    select(chain_head.c.seq, chain_head.c.hash).where(chain_head.c.id == 1).with_for_update()
)
_UPDATE_HEAD = update(chain_head).where(chain_head.c.id == 1)
_COUNTER = select(counters.c.value).where(counters.c.name == bindparam("name")).with_for_update()
_INSERT_COUNTER = counters.insert()
_UPDATE_COUNTER = update(counters).where(counters.c.name == bindparam("n"))


@dataclass
class WriteContext:
    """What a write function gets: the connection, and three things kept for the whole
    transaction so that a batch of reports costs as few statements as it can:

    - the hash-chain head, read (and on PostgreSQL locked) once, written back at the end;
    - named counters (incident numbers per day), read once and written back at the end;
    - inserts nobody reads back within the batch (events, deadlines), sent as one
      executemany per table before the commit, or before any job that may read them.
    """

    conn: Connection
    _head: tuple[int, str] | None = None
    _counters: dict[str, tuple[int, bool]] = field(default_factory=dict)
    _pending: dict[Prepared, list[dict[str, Any]]] = field(default_factory=dict)

    def insert_later(self, statement: Prepared, row: dict[str, Any]) -> None:
        self._pending.setdefault(statement, []).append(row)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for statement, rows in pending.items():
            statement.executemany(self.conn, rows)

    def next_value(self, name: str) -> int:
        """The next value of a counter; the row is locked (PostgreSQL) on first use."""
        if name not in self._counters:
            value = self.conn.execute(_COUNTER, {"name": name}).scalar()
            self._counters[name] = (value or 0, value is not None)
        value, exists = self._counters[name]
        self._counters[name] = (value + 1, exists)
        return value + 1

    def lock(self) -> None:
        """Take the chain head (and with it, on PostgreSQL, the right to write events and
        numbers) for the rest of this transaction. SQLite's writer holds its lock already."""
        if self._head is None:
            row = self.conn.execute(_LOCK_HEAD).one()
            self._head = (row.seq, row.hash)

    def append_event(self, **fields: Any) -> int:
        self.lock()
        assert self._head is not None
        seq, prev = self._head
        row = audit.chained_row(seq + 1, prev, fields)
        self.insert_later(audit.INSERT_EVENT, row)
        self._head = (row["seq"], row["hash"])
        return seq + 1

    def finish(self) -> None:
        self.flush()
        for name, (value, exists) in self._counters.items():
            if exists:
                self.conn.execute(_UPDATE_COUNTER, {"n": name, "value": value})
            else:
                self.conn.execute(_INSERT_COUNTER, {"name": name, "value": value})
        self._counters.clear()
        if self._head is not None:
            seq, digest = self._head
            self.conn.execute(_UPDATE_HEAD, {"seq": seq, "hash": digest})


class GroupCommitter:
    """Runs a batch of write functions in one transaction and commits once. If anything
    raises, the batch is rolled back and each function runs again alone, so one bad job
    fails alone (and a unique-key conflict with another node succeeds on its second run).
    Synchronous: the writer thread and the intake worker process both drive one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Connection | None = None

    def run(
        self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]
    ) -> list[tuple[bool, Any]]:
        """One (ok, result-or-exception) per call; temporary failures are StoreUnavailable."""
        try:
            return [(True, r) for r in self._transaction(calls)]
        except Exception as e:  # noqa: BLE001 - sorted out call by call below
            self._reset(e)
            if len(calls) == 1 and not isinstance(e, exc.IntegrityError):
                return [(False, _temporary(e))]
        outcomes: list[tuple[bool, Any]] = []
        for call in calls:
            try:
                (result,) = self._transaction([call])
            except Exception as e1:  # noqa: BLE001
                self._reset(e1)
                outcomes.append((False, _temporary(e1)))
            else:
                outcomes.append((True, result))
        return outcomes

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _transaction(self, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        if self.conn is None:
            try:
                self.conn = self.engine.connect()
            except Exception as e:  # noqa: BLE001 - any failure to connect is temporary
                raise StoreUnavailable(f"cannot connect: {str(e).splitlines()[0]}") from e
        return run_in_transaction(self.conn, calls)

    def _reset(self, error: BaseException) -> None:
        """After a failed transaction: keep a healthy connection, drop a broken one."""
        if isinstance(error, TEMPORARY_ERRORS) and self.conn is not None:
            try:
                self.conn.invalidate()
                self.conn.close()
            except Exception:  # noqa: BLE001,S110 - it is being thrown away
                pass
            self.conn = None


def run_in_transaction(
    conn: Connection, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]
) -> list[Any]:
    """Run write functions `fn(ctx, *args)` in one transaction and commit once."""
    with conn.begin():
        ctx = WriteContext(conn)
        results = []
        for fn, args in calls:
            if not getattr(fn, "reads_no_pending", False):
                ctx.flush()  # this one may read what the batch holds back
            results.append(fn(ctx, *args))
        ctx.finish()
    return results


def _temporary(error: BaseException) -> BaseException:
    if isinstance(error, TEMPORARY_ERRORS):
        return StoreUnavailable(str(error).splitlines()[0])
    return error
