"""A console user over plain HTTP (no browser): log in through the form with its CSRF
token, keep the session cookie, read the Server-Sent-Events stream."""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kw: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: Any
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class ConsoleClient:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )
        self.csrf = ""

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        data = None
        hdrs = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with self.opener.open(req, timeout=30) as resp:
                return Answer(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            return Answer(e.code, e.headers, e.read())

    def get(self, path: str) -> Answer:
        answer = self.request("GET", path)
        found = re.search(r'<meta name="csrf-token" content="([^"]*)"', answer.text)
        if found and found.group(1):
            self.csrf = found.group(1)
        return answer

    def login(self, user: str, password: str, address: str | None = None) -> Answer:
        page = self.request("GET", "/console/login")
        token = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert token, page.text
        headers = {"X-Forwarded-For": address} if address else None
        answer = self.request(
            "POST",
            "/console/login",
            form={"user": user, "password": password, "csrf": token.group(1)},
            headers=headers,
        )
        if answer.status == 303:
            self.get("/console/")
        return answer

    def act(self, number: str, body: dict[str, Any], csrf: str | None = None) -> Answer:
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        return self.request(
            "POST", f"/api/v1/incidents/{number}/actions", body=body, headers=headers
        )

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)

    def events(
        self,
        until: Callable[[list[dict[str, Any]]], bool],
        *,
        last_event_id: int | None = None,
        since: int | None = None,
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Read the stream until `until(events)` holds (each event: id, event, data)."""
        return read_events(
            self.base, self.cookie, until, last_event_id=last_event_id, since=since, timeout=timeout
        )


def read_events(
    base: str,
    cookie: str,
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    last_event_id: int | None = None,
    since: int | None = None,
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Cookie": cookie, "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = str(last_event_id)
    path = "/console/events" + (f"?since={since}" if since is not None else "")
    conn.request("GET", path, headers=headers)
    resp = conn.getresponse()
    assert resp.status == 200, (resp.status, resp.read())
    assert resp.getheader("Content-Type", "").startswith("text/event-stream")
    # (nginx takes X-Accel-Buffering for itself and does not pass it on)
    assert resp.getheader("X-Accel-Buffering") in ("no", None)
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while not until(out):
            if time.monotonic() > deadline:
                raise TimeoutError(f"stream: condition not met; got {out}")
            line = resp.readline().decode()  # de-chunked
            if line in ("\n", "\r\n", ""):
                if "data" in current:
                    current["data"] = json.loads(current["data"])
                    out.append(current)
                current = {}
                if line == "":
                    raise ConnectionError(f"stream ended; got {out}")
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.rstrip("\r\n").partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                current["id"] = int(value)
            elif name in ("event", "data"):
                current[name] = value
    finally:
        conn.close()
    return out
