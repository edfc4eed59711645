"""Where a received message and its attachments wait for their commit: files named by their
SHA-256 in one directory of this node. The listener writes them before it submits the
report; the intake hook (in the writer, perhaps another process of this node) reads those
it does not have yet into the database, in the report's transaction; the listener removes
them once the commit is answered either way. The database is what is durable: after a crash
the files are only litter, cleared at the next start (the sender did not get our 250, so it
sends again)."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections import Counter
from pathlib import Path

_SHA = re.compile(r"^[0-9a-f]{64}$")


class SpoolMissing(Exception):
    pass


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._holders: Counter[str] = Counter()  # one blob may serve two mails at once
        self._lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise ValueError(f"not a SHA-256: {sha256!r}")
        return self.directory / sha256

    def clear(self) -> int:
        """At start: what a crashed run left (nothing of it was acknowledged)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        n = 0
        for entry in self.directory.iterdir():
            if entry.is_file():
                entry.unlink(missing_ok=True)
                n += 1
        return n

    def hold(self, sha256: str, data: bytes) -> None:
        """Put `data` in the spool (once however many hold it)."""
        path = self.path(sha256)
        with self._lock:  # the second holder finds the file whole
            if self._holders[sha256] == 0:
                tmp = path.with_name(f".{sha256}.{os.getpid()}")
                tmp.write_bytes(data)
                tmp.replace(path)  # whole or not at all, for a reader in another process
            self._holders[sha256] += 1

    def release(self, sha256: str) -> None:
        with self._lock:
            self._holders[sha256] -= 1
            if self._holders[sha256] > 0:
                return
            del self._holders[sha256]
            self.path(sha256).unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes:
        """The blob's bytes, checked against its name."""
        try:
            data = self.path(sha256).read_bytes()
        except OSError as e:
            raise SpoolMissing(f"mail spool: no {sha256[:12]}… ({e.strerror})") from e
        if hashlib.sha256(data).hexdigest() != sha256:
            raise SpoolMissing(f"mail spool: {sha256[:12]}… does not match its hash")
        return data
