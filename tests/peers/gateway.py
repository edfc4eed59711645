"""Start the real gateway process (`python -m gateway.cli run`) on a free port, for tests
that speak HTTP to it. Logs go to a file in the data directory, shown when a test fails."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port(ip: str = "127.0.0.1", kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    def __init__(
        self, data_dir: Path, config: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.smtp_port = 0  # the SMTP channel's, for a gateway made by `smtp_gateway`
        self.channel_ports: list[int] = []  # more TCP ports start() waits for
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "gateway.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `alarmgw ARGS` against this gateway's store (options go last: argparse takes
        them anywhere after the sub-command)."""
        cmd = [sys.executable, "-m", "gateway.cli", *args, "--data-dir", str(self.data_dir)]
        if self.config:
            cmd += ["--config", str(self.config)]
        return subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
            env=self.env,
            input=stdin,
        )

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--data-dir",
            str(self.data_dir),
            "--http-port",
            str(self.port),
        ]
        if self.config:
            cmd += ["--config", str(self.config)]
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.request("GET", "/healthz", timeout=1)
                # The channels start after the HTTP listener: the SMTP one must listen too.
                ports = [self.smtp_port] if self.smtp_port else []
                if status == 200 and all(_listening(p) for p in ports + self.channel_ports):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.proc.kill()  # not left behind for the rest of the session
        self.proc.wait(10)
        self.proc = None
        raise RuntimeError(f"gateway did not answer within {timeout} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except OSError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        timeout: float = 30,
    ) -> tuple[int, Any]:
        data = raw
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, _decode(resp.read(), resp.headers.get("Content-Type", ""))
        except urllib.error.HTTPError as e:
            return e.code, _decode(e.read(), e.headers.get("Content-Type", ""))

    def token(self, user: str, role: str, unit: str | None = None) -> str:
        args = ["token", "create", "--user", user, "--role", role]
        if unit:
            args += ["--unit", unit]
        return self.cli(*args).stdout.strip()

    def user(
        self,
        name: str,
        role: str,
        unit: str | None = None,
        extension: str | None = None,
        password: str = "correct-horse-1",
    ) -> str:
        """A console user (`alarmgw user create`, the password on stdin); its password."""
        args = ["user", "create", "--user", name, "--role", role]
        if unit:
            args += ["--unit", unit]
        if extension:
            args += ["--extension", extension]
        self.cli(*args, stdin=password + "\n")
        return password


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _decode(data: bytes, ctype: str) -> Any:
    if "json" in ctype:
        return json.loads(data)
    return data.decode("utf-8", "replace")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def sample_with_ami(
    host: str, port: int, user: str, secret: str, extra: str = "", text: str | None = None
) -> str:
    """The sample city with its AMI channel on, for a test Asterisk. The city center's
    duty phone stays commented out: its notifications (of every incident left unaccepted
    past its SLA) would ring whatever test peer answers on the carrier trunk at the time."""
    from gateway.config import sample_text

    text = text or sample_text()
    old = "[channels.ami]\nenabled = false\n"
    assert old in text, "the sample city's [channels.ami] section changed"
    text = text.replace(
        old,
        f'[channels.ami]\nenabled = true\nhost = "{host}"\nport = {port}\n'
        f'username = "{user}"\nsecret = "{secret}"\n{extra}',
    )
    return text


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 20.0) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def play_drill(
    gw: GatewayProcess,
    token: str,
    scenario: str,
    *,
    found: int,
    file: str = "drill.toml",
    files: dict[str, bytes] | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Start `scenario` (its TOML text; `files` the files it names, by path) over the drill
    API as the coordinator `token` and wait for the run to end with `found` of its injects
    tied to their reports: the run's last progress document."""
    sent = {k: base64.b64encode(v).decode() for k, v in (files or {}).items()}
    body = {"file": file, "scenario": scenario, "files": sent}
    status, run = gw.request("POST", "/api/v1/drills", body, token=token)
    assert status == 201, run

    def ended() -> dict[str, Any] | None:
        status, doc = gw.request("GET", f"/api/v1/drills/{run['id']}", token=token)
        assert status == 200, doc
        return doc if doc["state"] == "done" and doc["counts"]["found"] == found else None

    return wait_for(f"drill run {run['id']} to end with {found} reports found", ended, timeout)


class LogMark:
    """The gateway's log from now on (GatewayProcess.log() is only the last 20 kB)."""

    def __init__(self, gw: GatewayProcess) -> None:
        self.path = gw.log_path
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def text(self) -> str:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def count(self, needle: str) -> int:
        return self.text().count(needle)


def db(gw: GatewayProcess) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{gw.data_dir / 'alarmgw.db'}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def sample_with_smpp(
    port: int, system_id: str, password: str, extra: str = "", text: str | None = None
) -> str:
    """The sample city with its SMPP channel bound to a test SMSC on 127.0.0.1:`port`."""
    from gateway.config import sample_text

    text = text or sample_text()
    old = "[channels.smpp]\nenabled = false\n"
    assert old in text, "the sample city's [channels.smpp] section changed"
    text = text.replace(
        old,
        f'[channels.smpp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        f'system_id = "{system_id}"\npassword = "{password}"\n{extra}',
    )
    return text


def sample_with_smtp(port: int, extra: str = "", text: str | None = None) -> str:
    """The sample city with its SMTP channel on 127.0.0.1:`port`, for 110@alarm.example.cn
    and the fax server's fax110@alarm.example.cn."""
    from gateway.config import sample_text

    text = text or sample_text()
    old = "[channels.smtp]\nenabled = false\n"
    assert old in text, "the sample city's [channels.smtp] section changed"
    return text.replace(
        old,
        f'[channels.smtp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        'hostname = "alarm.example.cn"\nrecipients = ["110@alarm.example.cn"]\n'
        f'fax_recipients = ["fax110@alarm.example.cn"]\n{extra}',
    )


def smtp_gateway(
    tmp: Path,
    extra: str = "",
    *,
    busy_timeout_ms: int | None = None,
    edit: Callable[[str], str] | None = None,
) -> GatewayProcess:
    """A gateway (not started) of the sample city with its SMTP channel on a free port
    (`smtp_port`), its spool in `tmp`, `extra` added to [channels.smtp] (tables of it such
    as [channels.smtp.rate_limit] last); `edit` changes the config's text further."""
    port = free_port()
    text = sample_with_smtp(port, f'spool_dir = "{tmp / "spool"}"\n{extra}')
    if busy_timeout_ms is not None:
        text = text.replace("[storage]\n", f"[storage]\nbusy_timeout_ms = {busy_timeout_ms}\n")
    if edit is not None:
        text = edit(text)
    config = tmp / "city.toml"
    config.write_text(text, encoding="utf-8")
    gw = GatewayProcess(tmp / "data", config)
    gw.smtp_port = port
    return gw


def channel_gateway(
    tmp: Path,
    code: str,
    settings: str = "",
    *,
    busy_timeout_ms: int | None = None,
    port: int | None = None,
    listen: bool = True,
) -> GatewayProcess:
    """A gateway (not started) of the sample city with channel `code` enabled on a free
    port (`channel_ports[0]`, TCP and for dc09 the same UDP port) and `settings` added to
    its section (tables of it such as [channels.dc09.codes.BA] last). A channel that has
    no port of its own (it is served on the gateway's HTTP site): ``listen=False``."""
    from gateway.config import sample_text

    port = port or free_port()
    text = sample_text()
    old = f"[channels.{code}]\nenabled = false\n"
    assert old in text, f"the sample city's [channels.{code}] section changed"
    address = f'host = "127.0.0.1"\nport = {port}\n' if listen else ""
    text = text.replace(old, f"[channels.{code}]\nenabled = true\n{address}{settings}")
    if busy_timeout_ms is not None:
        text = text.replace("[storage]\n", f"[storage]\nbusy_timeout_ms = {busy_timeout_ms}\n")
    config = tmp / "city.toml"
    config.write_text(text, encoding="utf-8")
    gw = GatewayProcess(tmp / "data", config)
    if listen:
        gw.channel_ports.append(port)
    return gw


def dispatched_incident(gw: GatewayProcess, token: str, unit: str, sender: str) -> str:
    """An incident filed over HTTP (a fight on 南坝路, in `unit`'s area of the sample city),
    accepted and dispatched to `unit` by the supervisor `token`: its number."""
    status, receipt = gw.request(
        "POST",
        "/api/v1/reports",
        {
            "sender": {"kind": "phone", "id": sender},
            "text": "南坝路有人打架",
            "location": {"lat": 24.98, "lon": 102.65},
        },
    )
    assert status == 201, receipt
    number: str = receipt["incident"]["number"]
    for body in (
        {"action": "accept", "category": "public_order", "priority": 2},
        {"action": "dispatch", "unit": unit},
    ):
        status, doc = gw.request("POST", f"/api/v1/incidents/{number}/actions", body, token=token)
        assert status == 200, doc
    return number
