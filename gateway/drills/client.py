"""``alarmgw drill …``: the drill coordinator's commands, over the running gateway's API
(`gateway.drills.http`) with a `drill_coordinator` token (``--token`` or ``ALARMGW_TOKEN``).

``alarmgw drill run FILE`` sends the scenario and the files it names, then follows the run
with a progress bar until it ends. On a terminal: ``p`` pauses and resumes, ``a`` aborts
(after a ``y``), ``q`` leaves the run going; Ctrl-C pauses it and asks what to do. Elsewhere
(a pipe, CI) it prints a line at each change and Ctrl-C leaves the run going.

The run is the gateway's, not this command's: it goes on if the command ends, and
``alarmgw drill status|pause|resume|abort RUN`` reach it from anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import select
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from gateway.drills.rules import format_offset
from gateway.drills.runs import SEND_STATES_ZH, STATES_ZH

FILE_KEYS = ("attachments", "page", "file")  # the keys of an inject that name files
ENDED = ("aborted", "done")


class DrillClientError(Exception):
    """One line for the coordinator."""


class Api:
    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise DrillClientError(_refusal(e)) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DrillClientError(f"cannot reach the gateway at {self.url}: {reason}") from None


def _refusal(e: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(e.read())
        message = doc.get("message") or doc.get("error") or ""
    except (ValueError, AttributeError):
        message = e.reason
    if e.code == 401:
        return f"the gateway refused the token (401): {message}"
    if e.code == 403:
        return f"not allowed (403): {message} — a drill_coordinator token is needed"
    if e.code == 422:
        return "the scenario cannot be played:\n" + message
    return f"the gateway answered {e.code}: {message}"


# -- the scenario and its files ----------------------------------------------------------------


def request_body(path: Path) -> dict[str, Any]:
    """The start request of the scenario at `path`: its text and the files its injects name
    (relative to it; the gateway checks the rest)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DrillClientError(f"{path}: cannot read: {e}") from None
    files: dict[str, str] = {}
    for rel in _named_files(text):
        try:
            data = (path.parent / rel).read_bytes()
        except OSError:
            continue  # the gateway names it, with its line
        files[rel] = base64.b64encode(data).decode("ascii")
    return {"file": path.name, "scenario": text, "files": files}


def _named_files(text: str) -> list[str]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []  # the gateway says where
    injects = doc.get("inject")
    out: list[str] = []
    for inject in injects if isinstance(injects, list) else []:
        if not isinstance(inject, dict):
            continue
        for key in FILE_KEYS:
            value = inject.get(key)
            for rel in value if isinstance(value, list) else [value]:
                if isinstance(rel, str) and rel and not Path(rel).is_absolute():
                    out.append(rel)
    return out


# -- following a run ---------------------------------------------------------------------------


def line(doc: dict[str, Any], tz: ZoneInfo, width: int = 24) -> str:
    """The run in one line: ``演练 3 [████████░░░░] 3/4 已发送 …``."""
    c = doc["counts"]
    settled = c["sent"] + c["failed"] + c["cancelled"]
    filled = round(width * settled / c["total"]) if c["total"] else width
    bar = "█" * filled + "░" * (width - filled)
    parts = [f"{c['sent']}/{c['total']} 已发送", f"{c['accepted']} 已受理"]
    if c["failed"]:
        parts.append(f"{c['failed']} 失败")
    if c["cancelled"]:
        parts.append(f"{c['cancelled']} 取消")
    elapsed = _elapsed(doc)
    clock = f"{_clock(elapsed)} / {_clock(doc['duration_s'])}"
    state = STATES_ZH.get(doc["state"], doc["state"])
    return f"演练 {doc['id']} {state} [{bar}] " + " · ".join(parts) + f" · {clock}"


def _clock(seconds: float) -> str:
    return format_offset(seconds).removeprefix("+")


def _elapsed(doc: dict[str, Any]) -> float:
    start = _time(doc["started_at"])
    end = _time(doc["ended_at"]) or _time(doc["paused_at"]) or time.time()
    return max(0.0, end - start - float(doc["paused_s"]))


def _time(iso: str | None) -> float:
    if not iso:
        return 0.0
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def events(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What changed between two looks at a run, a line each (for a pipe, and under the bar)."""
    out = []
    before = {i["seq"]: i for i in (old or {}).get("injects", [])}
    for i in new["injects"]:
        was = before.get(i["seq"], {})
        if i["status"] != was.get("status") and i["status"] in ("sent", "failed", "cancelled"):
            what = SEND_STATES_ZH[i["status"]]
            extra = f" · {i['via']}" if i["status"] == "sent" and i["via"] else ""
            extra = f"：{i['error']}" if i["status"] == "failed" else extra
            out.append(f"  {format_offset(i['at'])} {i['inject']} [{i['channel']}] {what}{extra}")
        if i["incident"] and i["incident"] != was.get("incident"):
            out.append(f"  {i['inject']} → 警情 {i['incident']}（回执 {i['report']}）")
    if old is not None and new["state"] != old["state"]:
        out.append(f"  演练{STATES_ZH.get(new['state'], new['state'])}")
    return out


def follow(
    api: Api,
    run: int,
    out: TextIO,
    tz: ZoneInfo,
    keys: Callable[[float], str | None] | None = None,
    poll: float = 1.0,
) -> dict[str, Any]:
    """Show the run until it ends (or the coordinator leaves it: `q`); its last document.
    `keys(timeout)` gives a key pressed within `timeout` seconds (None: no terminal)."""
    old: dict[str, Any] | None = None
    ended: float | None = None
    tty = keys is not None
    while True:
        doc = api.call("GET", f"/api/v1/drills/{run}")
        changes = events(old, doc)
        if tty:
            out.write("\r\x1b[K")
            for text in changes:
                out.write(text + "\n")
            out.write(line(doc, tz) + "  (p 暂停/继续 · a 中止 · q 离开)")
        else:
            for text in changes:
                out.write(text + "\n")
            if old is None or doc["counts"] != old["counts"] or doc["state"] != old["state"]:
                out.write(line(doc, tz) + "\n")
        out.flush()
        old = doc
        if doc["state"] in ENDED:
            # The last reports may be filed a moment after the run ends: wait for them a while.
            ended = ended or time.monotonic()
            if doc["counts"]["found"] >= doc["counts"]["sent"] or time.monotonic() - ended > 30:
                break
        key = None
        if keys is not None:
            key = keys(poll)
        else:
            time.sleep(poll)
        if key == "p":
            api.call(
                "POST", f"/api/v1/drills/{run}/{'resume' if doc['state'] == 'paused' else 'pause'}"
            )
        elif key == "a" and _confirm(out, keys, "中止演练？未发送的模拟警情将不再发送 (y/N) "):
            api.call("POST", f"/api/v1/drills/{run}/abort")
        elif key == "q":
            break
    if tty:
        out.write("\n")
    return doc


def _confirm(out: TextIO, keys: Callable[[float], str | None] | None, question: str) -> bool:
    if keys is None:
        return False
    out.write("\r\x1b[K" + question)
    out.flush()
    answer = keys(30.0)
    out.write("\n")
    return answer == "y"


@contextmanager
def terminal_keys() -> Iterator[Callable[[float], str | None] | None]:
    """Single key presses from the terminal (cbreak mode, restored after), or None when
    stdin is not a terminal."""
    if not sys.stdin.isatty():
        yield None
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)

    def key(timeout: float) -> str | None:
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 1).decode("utf-8", "replace").lower() if ready else None

    try:
        tty.setcbreak(fd)
        yield key
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
