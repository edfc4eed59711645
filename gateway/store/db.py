"""The store: one writer thread that batches commits, and a pool of reader threads.

Write functions `fn(ctx, *args)` are queued from the reactor thread. The writer takes
everything queued while the previous commit was on disk and hands it to a `GroupCommitter`
(`gateway.store.transaction`): one transaction, one commit. Only then does each caller's
Deferred fire. Reads run `fn(conn, *args)` on the reader pool. So the reactor thread never
touches the database.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import exc
from twisted.internet import defer, threads
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from gateway.channel import Channel
from gateway.store.engine import TEMPORARY_ERRORS, Checkpointer, StoreUnavailable, make_engine
from gateway.store.transaction import GroupCommitter, run_in_transaction

T = TypeVar("T")
log = Logger()


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


def _is_bug(error: BaseException) -> bool:
    from gateway.errors import DomainError

    return not isinstance(error, DomainError | exc.IntegrityError)
