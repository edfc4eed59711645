"""The store: one writer thread that batches commits, and a pool of reader threads.

Every write is a small function `fn(ctx, *args)` run inside the writer's transaction.
The writer takes everything queued while the previous commit was on disk, runs it in one
transaction and commits once (group commit); only then does each caller's Deferred fire.
So "acknowledge after commit" costs one fsync per batch, not per report, and the reactor
thread never touches the database.

If anything in a batch raises, the batch is rolled back and each function is run again
alone, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, exc, select, update
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from gateway.channel import Channel
from gateway.store import audit
from gateway.store.engine import TEMPORARY_ERRORS, Checkpointer, StoreUnavailable, make_engine
from gateway.store.prepared import Prepared
from gateway.store.tables import chain_head, counters

T = TypeVar("T")
log = Logger()


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


@dataclass
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    deferred: defer.Deferred[Any]


_STOP = object()


class Database:
    """Owns the engines, the writer thread and the reader pool. `start()` applies the
    migrations first, so nothing runs against an old schema."""

    def __init__(
        self,
        url: str,
        reactor: Any = None,
        *,
        batch_max: int = 512,
        busy_timeout_ms: int = 5000,
        readers: int = 4,
        on_commit: Callable[[int, float], None] | None = None,
        channels: Sequence[Channel] = (),
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.url = url
        self.channels = tuple(channels)  # whose migration branches `upgrade` applies
        self.reactor: IReactorFromThreads = reactor
        self.batch_max = batch_max
        self.busy_timeout_ms = busy_timeout_ms
        self.on_commit = on_commit  # metrics hook: (batch size, seconds spent committing)
        self.write_engine = make_engine(url, writer=True, busy_timeout_ms=busy_timeout_ms)
        self.read_engine = (
            make_engine(url, writer=False, busy_timeout_ms=busy_timeout_ms)
            if url.startswith("sqlite")
            else self.write_engine
        )
        self._queue: queue.Queue[Any] = queue.Queue()
        self._committer = GroupCommitter(self.write_engine)
        self._thread: threading.Thread | None = None
        self._readers = ThreadPool(minthreads=1, maxthreads=readers, name="alarmgw-db-read")
        self._checkpointer = Checkpointer(url) if url.startswith("sqlite") else None
        self._accepting = False

    # -- life cycle -----------------------------------------------------------

    def upgrade(self) -> None:
        """Apply the migrations (blocking; call from a thread or the CLI)."""
        from gateway.store.migrate import upgrade

        upgrade(self.write_engine, self.channels)

    @defer.inlineCallbacks
    def start(self, migrate: bool = True) -> Any:
        if migrate:
            yield threads.deferToThread(self.upgrade)
        self._readers.start()
        self._thread = threading.Thread(target=self._run, name="alarmgw-db-writer", daemon=True)
        self._thread.start()
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._accepting = True

    def stop(self) -> defer.Deferred[None]:
        """Refuse new writes, finish the queued ones (their commits complete), then close."""
        self._accepting = False
        self._queue.put(_STOP)
        thread = self._thread

        def _join() -> None:
            if thread is not None:
                thread.join()
            if self._checkpointer is not None:
                self._checkpointer.stop()
            self.write_engine.dispose()
            self.read_engine.dispose()

        d = threads.deferToThread(_join)

        def _stop_readers(result: Any) -> Any:
            self._readers.stop()
            return result

        return d.addBoth(_stop_readers)

    # -- work -------------------------------------------------------------------

    def write(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run `fn(ctx, *args)` in the writer's next transaction; fires after the commit."""
        d: defer.Deferred[T] = defer.Deferred()
        if not self._accepting:
            d.errback(StoreUnavailable("the store is not running"))
            return d
        self._queue.put(_Job(fn, args, d))
        return d

    def read(self, fn: Callable[..., T], *args: Any) -> defer.Deferred[T]:
        """Run `fn(conn, *args)` on a reader thread, in a read-only transaction."""

        def _in_thread() -> T:
            try:
                with self.read_engine.connect() as conn:
                    return fn(conn, *args)
            except TEMPORARY_ERRORS as e:
                raise StoreUnavailable(str(e)) from e

        return threads.deferToThreadPool(self.reactor, self._readers, _in_thread)  # type: ignore[arg-type]

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For the CLI: one write function in its own transaction, on this thread."""
        with self.write_engine.connect() as conn:
            (result,) = run_in_transaction(conn, [(fn, args)])
            return result

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch: list[_Job] = [first]
            while len(batch) < self.batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True  # finish this batch, then stop
                    break
                batch.append(nxt)
            self._commit(batch)
        self._committer.close()

    def _commit(self, batch: list[_Job]) -> None:
        started = time.perf_counter()
        outcomes = self._committer.run([(job.fn, job.args) for job in batch])
        if self.on_commit is not None and all(ok for ok, _ in outcomes):
            self.on_commit(len(batch), time.perf_counter() - started)
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                self.reactor.callFromThread(job.deferred.callback, value)
            else:
                if isinstance(value, StoreUnavailable):
                    log.warn("Store unavailable: {error}", error=str(value))
                elif _is_bug(value):
                    log.failure("Write failed", Failure(value))
                self.reactor.callFromThread(job.deferred.errback, Failure(value))


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


def _is_bug(error: BaseException) -> bool:
    from gateway.errors import DomainError

    return not isinstance(error, DomainError | exc.IntegrityError)
