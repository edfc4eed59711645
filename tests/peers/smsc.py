"""A scriptable SMSC for the SMS tests: `tests/peers/smsc/smsc.js`, a thin script on the npm
`smpp` package (0.5.1) acting as the SMPP 3.4 server, so the ESME side is tested against an
SMSC someone else wrote. `scripts/install-peers` installs its node_modules.

    smsc = Smsc()
    port = smsc.start("alarmgw", "secret")
    ... an ESME binds to 127.0.0.1:port ...
    ack = smsc.send({"cmd": "deliver", "data_coding": 8, "short_message_hex": "...", ...})
    smsc.wait_event(lambda e: e["event"] == "deliver_sm_resp" and e["id"] == ack["id"])
    smsc.stop()

The control channel is one JSON object a line both ways (commands on the script's stdin,
events on its stdout); the commands and events are listed at the top of smsc.js.

``start(..., test_account=("drill", "pw"))`` opens an operator's test account (测试账号): a
second ESME whose submit_sm to the service number (12110) the SMSC hands to the gateway's
bound session as an MO deliver_sm (an ``mo`` event each, then its ``deliver_sm_resp``).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PEER_DIR = Path(__file__).resolve().parent / "smsc"
SCRIPT = PEER_DIR / "smsc.js"
HOST = "127.0.0.1"

Event = dict[str, Any]
Match = str | Callable[[Event], bool]


def available() -> str | None:
    """None when the SMSC peer can run here, else the plain reason why not."""
    if shutil.which("node") is None:
        return "node is not installed (Debian package nodejs): run scripts/install-peers"
    if not (PEER_DIR / "node_modules" / "smpp" / "package.json").exists():
        return f"the npm smpp package is not installed in {PEER_DIR}: run scripts/install-peers"
    return None


class SmscError(RuntimeError):
    pass


class Smsc:
    """One smsc.js process. Events are kept in arrival order; `wait_event` takes (consumes)
    the first one not yet taken that matches, `events()` shows all seen so far."""

    def __init__(self, deliver_timeout: float = 5.0) -> None:
        self.deliver_timeout = deliver_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._cond = threading.Condition()
        self._history: list[Event] = []
        self._pending: list[Event] = []
        self._stderr: list[str] = []
        self._eof = False
        self._ids = itertools.count(1)
        self._threads: list[threading.Thread] = []

    # -- life -----------------------------------------------------------------------------

    def start(
        self,
        system_id: str = "alarmgw",
        password: str = "secret",
        port: int = 0,
        test_account: tuple[str, str] | None = None,
        service_number: str = "12110",
    ) -> int:
        """Start the SMSC for the ESME `system_id`/`password` and, with `test_account`
        (system_id, password), the operator's test account; its port."""
        reason = available()
        if reason:
            raise SmscError(reason)
        more = ["--service-number", service_number]
        if test_account is not None:
            more += ["--test-account", ":".join(test_account)]
        self._proc = subprocess.Popen(
            [
                "node", str(SCRIPT), "--port", str(port), "--system-id", system_id,
                "--password", password, "--deliver-timeout", str(self.deliver_timeout),
                *more,
            ],
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )  # fmt: skip
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(
                target=target, args=(self._proc,), daemon=True, name=f"smsc{target.__name__}"
            )
            t.start()
            self._threads.append(t)
        ev = self.wait_event("listening", timeout=10)
        self.port = int(ev["port"])
        return self.port

    def stop(self, timeout: float = 3.0) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # smsc.js closes its sessions and exits on stdin's end
        except OSError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for t in self._threads:
            t.join(timeout=1)

    def __enter__(self) -> Smsc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control --------------------------------------------------------------------------

    def send(self, cmd: dict[str, Any], wait: bool = True, timeout: float = 5.0) -> Event:
        """Send one command. With `wait`, return its ack (raise SmscError on its error);
        a missing "id" is filled in so the answer can be told apart."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise SmscError("the SMSC is not running")
        cmd = dict(cmd)
        cmd.setdefault("id", f"c{next(self._ids)}")
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        if not wait:
            return cmd
        ev = self.wait_event(
            lambda e: e.get("id") == cmd["id"] and e["event"] in ("ack", "error"), timeout
        )
        if ev["event"] == "error":
            raise SmscError(f"{cmd['cmd']}: {ev.get('message')}")
        return ev

    # -- events ---------------------------------------------------------------------------

    def events(self) -> list[Event]:
        """Every event seen so far, taken or not (a copy)."""
        with self._cond:
            return list(self._history)

    def wait_event(self, match: Match, timeout: float = 5.0) -> Event:
        """Take the first untaken event that `match` (an event name or a predicate) accepts,
        waiting up to `timeout` seconds for it."""
        pred = (lambda e: e.get("event") == match) if isinstance(match, str) else match
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, ev in enumerate(self._pending):
                    if pred(ev):
                        del self._pending[i]
                        return ev
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    what = match if isinstance(match, str) else "a matching event"
                    state = "the SMSC exited" if self._eof else f"none within {timeout} s"
                    raise SmscError(
                        f"waiting for {what}: {state}; events: {self._history[-10:]}; "
                        f"stderr: {''.join(self._stderr[-20:])}"
                    )
                self._cond.wait(left)

    def _read_stdout(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "garbage", "line": line}
            with self._cond:
                self._history.append(ev)
                self._pending.append(ev)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _read_stderr(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._cond:
                self._stderr.append(line)


def require_env() -> bool:
    """True where the SMSC peer must be there (CI sets ALARMGW_REQUIRE_SMSC=1)."""
    return bool(os.environ.get("ALARMGW_REQUIRE_SMSC"))


@contextmanager
def peer_or_skip(
    system_id: str,
    password: str,
    deliver_timeout: float = 2.0,
    test_account: tuple[str, str] | None = None,
) -> Iterator[Smsc]:
    """A started SMSC peer for a fixture (with the operator's `test_account`, if given);
    skips the test where the peer cannot run (fails instead where ALARMGW_REQUIRE_SMSC is
    set, as in CI)."""
    import pytest

    reason = available()
    if reason:
        if require_env():
            pytest.fail(f"ALARMGW_REQUIRE_SMSC is set but {reason}")
        pytest.skip(reason)
    peer = Smsc(deliver_timeout=deliver_timeout)
    peer.start(system_id, password, test_account=test_account)
    try:
        yield peer
    finally:
        peer.stop()
