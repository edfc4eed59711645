"""A Telegram Bot API emulator for the Telegram tests: `tests/peers/telegram/botapi.js`, the npm
`telegram-test-api` server (4.2.1) behind a thin front that fixes where it differs from the
real Bot API (see the top of botapi.js: getMe's `is_bot`, dates in milliseconds, getUpdates
that forgets an update once returned, webhook pushes without the secret and without retries,
no getFile). `scripts/install-peers` installs its node_modules.

    with peer_or_skip() as api:
        ... the gateway's [channels.telegram] base_url = api.base, token = api.token ...
        api.send_text(chat=1001, text="有人打架")
        api.wait_bot_message(1001, lambda m: "回执" in m["text"])
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PEER_DIR = Path(__file__).resolve().parent / "telegram"
SCRIPT = PEER_DIR / "botapi.js"
TOKEN = "123456:TEST-alarmgw-bot-token"


def available() -> str | None:
    """None when the Telegram peer can run here, else the plain reason why not."""
    if shutil.which("node") is None:
        return "node is not installed (Debian package nodejs): run scripts/install-peers"
    if not (PEER_DIR / "node_modules" / "telegram-test-api" / "package.json").exists():
        return (
            f"the npm telegram-test-api package is not installed in {PEER_DIR}: "
            "run scripts/install-peers"
        )
    return None


class BotApiError(RuntimeError):
    pass


class BotApi:
    """One botapi.js process; a user's side of the chats of bot `token`."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.port = 0
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []
        self._message_ids = itertools.count(100_000)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        reason = available()
        if reason:
            raise BotApiError(reason)
        self._proc = subprocess.Popen(
            ["node", str(SCRIPT), "--port", "0"],
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,  # botapi.js exits when its stdin ends (our end dies)
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise BotApiError(f"botapi.js did not start: {self._proc.stderr.read()}")  # type: ignore[union-attr]
        self.port = int(json.loads(line)["port"])
        threading.Thread(target=self._read_stderr, daemon=True).start()
        return self.port

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)

    # -- HTTP -------------------------------------------------------------------------------

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise BotApiError(f"{path}: {e.code} {e.read()!r}") from None

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return json.loads(resp.read())["result"]

    # -- the user's side --------------------------------------------------------------------

    def message(
        self, chat: int, user: int | None = None, name: str = "张三", **content: Any
    ) -> dict[str, Any]:
        """A Telegram Message from user `user` (default: the chat's id, a private chat)."""
        user = chat if user is None else user
        return {
            "message_id": next(self._message_ids),
            "from": {"id": user, "is_bot": False, "first_name": name, "language_code": "zh-hans"},
            "chat": {"id": chat, "type": "private" if chat == user else "group"},
            "date": int(time.time()),
            **content,
        }

    def send(self, message: dict[str, Any]) -> int:
        """Put a message as the user sent it (its own message_id kept): its update_id."""
        return self.send_update({"message": message})

    def send_update(self, update: dict[str, Any]) -> int:
        """An update as given (any shape: Telegram's, a malformed one, an edited message)."""
        out = self.post("/_alarmgw/update", {"token": self.token, "update": update})
        return int(out["update_id"])

    def send_text(self, chat: int, text: str, **kw: Any) -> dict[str, Any]:
        m = self.message(chat, text=text, **kw)
        self.send(m)
        return m

    def put_file(self, file_id: str, data: bytes, path: str) -> None:
        """A file the bot can getFile and download (the package has no files)."""
        self.post(
            "/_alarmgw/file",
            {"file_id": file_id, "data_base64": base64.b64encode(data).decode(), "path": path},
        )

    def photo_sizes(self, data: bytes, big: bytes) -> list[dict[str, Any]]:
        """A photo as Telegram sends it: sizes, the largest last; `big` is the largest's."""
        small_id, big_id = f"ph-s-{_sha(data)[:8]}", f"ph-b-{_sha(big)[:8]}"
        self.put_file(small_id, data, f"photos/{small_id}.jpg")
        self.put_file(big_id, big, f"photos/{big_id}.jpg")
        return [
            {"file_id": small_id, "file_unique_id": small_id, "width": 90, "height": 60,
             "file_size": len(data)},
            {"file_id": big_id, "file_unique_id": big_id, "width": 1280, "height": 853,
             "file_size": len(big)},
        ]  # fmt: skip

    def callback(self, chat: int, data: str, message_id: int = 1, user: int | None = None) -> None:
        """The user in `chat` presses an inline button with callback data `data`."""
        user = chat if user is None else user
        self.post(
            "/sendCallback",
            {
                "botToken": self.token,
                "from": {"id": user, "is_bot": False, "first_name": "值班民警"},
                "message": {
                    "message_id": message_id,
                    "chat": {"id": chat, "type": "private"},
                    "date": int(time.time()),
                    "text": "警情通知",
                },
                "data": data,
            },
        )

    # -- what the bot did -------------------------------------------------------------------

    def bot_messages(self, chat: int | None = None) -> list[dict[str, Any]]:
        """Every message the bot sent (to `chat`), oldest first: their sendMessage params."""
        return [
            c["params"]
            for c in self.calls()
            if c["method"] == "sendMessage"
            and c["status"] == 200
            and (chat is None or str(c["params"].get("chat_id")) == str(chat))
        ]

    def wait_bot_message(
        self,
        chat: int,
        match: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.bot_messages(chat):
                if match(m):
                    return m
            time.sleep(0.1)
        raise AssertionError(f"no matching bot message to {chat}: {self.bot_messages(chat)}")

    def calls(self) -> list[dict[str, Any]]:
        """Every Bot API call the bot made (and each webhook push): method, params, the
        HTTP status it was answered (0 while in flight)."""
        result: list[dict[str, Any]] = self.get("/_alarmgw/calls")
        return result

    def answers(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/_alarmgw/answers")
        return result

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/_alarmgw/state?token={self.token}")
        return result

    def fail(
        self, method: str, count: int = 1, retry_after: int = 1, chat: int | None = None
    ) -> None:
        """The next `count` calls of `method` (to `chat`) answer 429 Too Many Requests with
        `retry_after` (Telegram's flood control; the package never answers so)."""
        self.post(
            "/_alarmgw/fail",
            {"method": method, "count": count, "retry_after": retry_after, "chat_id": chat},
        )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def require_env() -> bool:
    """True where the Telegram peer must be there (CI sets ALARMGW_REQUIRE_TELEGRAM=1)."""
    return bool(os.environ.get("ALARMGW_REQUIRE_TELEGRAM"))


@contextmanager
def peer_or_skip(token: str = TOKEN) -> Iterator[BotApi]:
    """A started emulator for a fixture; skips the test where it cannot run (fails instead
    where ALARMGW_REQUIRE_TELEGRAM is set, as in CI)."""
    import pytest

    reason = available()
    if reason:
        if require_env():
            pytest.fail(f"ALARMGW_REQUIRE_TELEGRAM is set but {reason}")
        pytest.skip(reason)
    api = BotApi(token)
    api.start()
    try:
        yield api
    finally:
        api.stop()
