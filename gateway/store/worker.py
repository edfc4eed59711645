"""The intake writer in a process of its own.

Storing a report costs about 0.3 ms of Python (correlation, routing, hashing, the
inserts). On the writer thread that time is taken from the same interpreter lock the
HTTP side needs, so the two take turns. In a child process the writer runs beside the
reactor instead of between its turns.

The parent (`IntakeWorker`, a Twisted service) speaks to the child over its stdin and
stdout, one JSON object per line:

    parent → child  {"id": 7, "now": 1764000000.123, "report": {...Report.to_json()...}}
    child → parent  {"id": 7, "receipt": {...}}  or  {"id": 7, "error": KIND, ...}

The child takes every line that has arrived, stores them in one transaction and commits
once (group commit, `GroupCommitter`), and only then writes the answers: an answer is an
acknowledgement after commit. Other writes (workflow actions, deadlines, webhooks) stay
on the parent's writer thread; both writers re-read the audit-chain head and the counters
inside each transaction under the database's write lock, as two gateway nodes on one
PostgreSQL would.

If the child dies, every report waiting on it fails as temporarily unavailable (the
sender retries; idempotency makes that safe) and the child is started again.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from twisted.application import service
from twisted.internet import defer, error, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from gateway.errors import DomainError, NotFound, NothingToJoin
from gateway.report import InvalidReport, Receipt, Report
from gateway.store.engine import StoreUnavailable

log = Logger()
RESTART_DELAY = 1.0


# -- the child -------------------------------------------------------------------------------


URL_VARIABLE = "ALARMGW_INTAKE_WORKER_URL"


def child_main(argv: list[str]) -> int:
    """`python -m gateway.store.worker CONFIG-OR-EMPTY BUSY_TIMEOUT_MS`; the database URL
    comes in the environment, not the command line, where `ps` would show its password."""
    from gateway.config import load_config
    from gateway.intake import Intake
    from gateway.store.db import Database
    from gateway.store.transaction import GroupCommitter

    config_path, busy = argv
    url = os.environ.pop(URL_VARIABLE)
    # Stopped by the parent closing our stdin (after its last report), never by a signal
    # sent to the whole process group (Ctrl-C, systemd's SIGTERM): the parent decides.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    config = load_config(config_path or None)
    db = Database(url, reactor=object(), busy_timeout_ms=int(busy))
    intake = Intake(db, config, clock=None)
    committer = GroupCommitter(db.write_engine)
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    fd = sys.stdin.fileno()
    pending = b""
    while True:
        chunk = os.read(fd, 1 << 20)  # whatever has arrived: that is the batch
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        jobs: list[tuple[int, Any]] = []
        answers: list[dict[str, Any]] = []
        for line in lines:
            if not line.strip():
                continue
            msg = json.loads(line)
            try:
                report = Report.from_json(msg["report"])
            except InvalidReport as e:
                answers.append(
                    {"id": msg["id"], "error": "invalid", "field": e.field, "message": e.problem}
                )
                continue
            now = datetime.fromtimestamp(msg["now"], UTC)
            jobs.append((msg["id"], (report, now)))
        outcomes = committer.run([(intake.store, args) for _, args in jobs]) if jobs else []
        for (job_id, _), (ok, value) in zip(jobs, outcomes, strict=True):
            answers.append({"id": job_id, **(_receipt(value) if ok else _error(value))})
        out.write(b"".join(json.dumps(a, ensure_ascii=False).encode() + b"\n" for a in answers))
        out.flush()
    committer.close()
    db.write_engine.dispose()
    return 0


def _receipt(r: Receipt) -> dict[str, Any]:
    return {"receipt": [r.receipt, r.incident, r.state, r.duplicate, r.attached]}


def _error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, StoreUnavailable):
        return {"error": "unavailable", "message": str(e)}
    if isinstance(e, InvalidReport):
        return {"error": "invalid", "field": e.field, "message": e.problem}
    if isinstance(e, DomainError):
        return {"error": "domain", "kind": e.kind, "message": e.message, "field": e.field}
    import traceback

    traceback.print_exception(e, file=sys.stderr)
    return {"error": "bug", "message": f"{type(e).__name__}: {e}"}


# -- the parent --------------------------------------------------------------------------------

# A refusal crosses the pipe as its kind and comes out as the same class.
DOMAIN_ERRORS: dict[str, type[DomainError]] = {
    c.kind: c for c in (DomainError, NotFound, NothingToJoin)
}


class _ChildProtocol(protocol.ProcessProtocol):
    def __init__(self, owner: IntakeWorker) -> None:
        self.owner = owner
        self.buffer = b""
        self.ready: defer.Deferred[None] = defer.Deferred()
        self.ended: defer.Deferred[None] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if not line:
                continue
            msg = json.loads(line)
            if msg.get("ready"):
                self.ready.callback(None)
            else:
                self.owner._answer(msg)

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(reason)
        self.ended.callback(None)
        self.owner._ended(self, reason)


class IntakeWorker(service.Service):
    """Stores reports through the child process; `submit` fires after its commit."""

    name = "intake-worker"  # type: ignore[assignment]

    def __init__(
        self, config_path: str | None, url: str, busy_timeout_ms: int, reactor: Any
    ) -> None:
        self.args = [config_path or "", str(busy_timeout_ms)]
        self.url = url
        self.reactor = reactor
        self.child: _ChildProtocol | None = None
        self.waiting: dict[int, defer.Deferred[Receipt]] = {}
        self.next_id = 0

    @defer.inlineCallbacks
    def startService(self) -> Any:
        service.Service.startService(self)
        yield self._spawn()

    def _spawn(self) -> defer.Deferred[None]:
        child = _ChildProtocol(self)
        self.reactor.spawnProcess(
            child,
            sys.executable,
            [sys.executable, "-m", "gateway.store.worker", *self.args],
            env={**os.environ, URL_VARIABLE: self.url},
            childFDs={0: "w", 1: "r", 2: 2},
        )
        self.child = child
        return child.ready

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        service.Service.stopService(self)
        child = self.child
        if child is not None and child.transport is not None:
            transport: Any = child.transport
            transport.closeStdin()  # the child finishes its batch, answers, exits
            yield child.ended

    def submit(self, report: Report, now: datetime) -> defer.Deferred[Receipt]:
        child = self.child
        if child is None or child.transport is None or not child.ready.called:
            return defer.fail(StoreUnavailable("the intake worker is restarting"))
        self.next_id += 1
        d: defer.Deferred[Receipt] = defer.Deferred()
        self.waiting[self.next_id] = d
        line = {"id": self.next_id, "now": now.timestamp(), "report": report.to_json()}
        transport: Any = child.transport
        transport.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
        return d

    def _answer(self, msg: dict[str, Any]) -> None:
        d = self.waiting.pop(msg["id"], None)
        if d is None:
            return
        if "receipt" in msg:
            r = msg["receipt"]
            d.callback(Receipt(r[0], r[1], r[2], duplicate=r[3], attached=r[4]))
        elif msg["error"] == "unavailable":
            d.errback(StoreUnavailable(msg["message"]))
        elif msg["error"] == "invalid":
            d.errback(InvalidReport(msg.get("field") or "report", msg["message"]))
        elif msg["error"] == "domain":
            kind = DOMAIN_ERRORS.get(msg.get("kind", ""), DomainError)
            d.errback(kind(msg["message"], msg.get("field")))
        else:
            d.errback(RuntimeError(f"intake worker: {msg['message']}"))

    def _ended(self, child: _ChildProtocol, reason: Failure) -> None:
        if child is not self.child:
            return
        self.child = None
        waiting, self.waiting = self.waiting, {}
        for d in waiting.values():
            # Not answered: maybe committed, maybe not. The sender retries; the
            # (channel, external_id) key makes the retry safe either way.
            d.errback(StoreUnavailable("the intake worker stopped before answering"))
        if self.running:
            if not reason.check(error.ProcessDone):
                log.error("Intake worker died ({reason}); restarting", reason=reason.value)
            self.reactor.callLater(RESTART_DELAY, self._restart)

    def _restart(self) -> None:
        if self.running and self.child is None:
            self._spawn().addErrback(
                lambda f: log.error("Intake worker did not start: {f}", f=f.value)
            )


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
