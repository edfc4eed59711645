"""sipp peers for the real Asterisk of `tests/peers/asterisk.py`: callers on the trunks,
call-takers' softphones, and the phones the center calls out to (citizen, duty officer).

Each peer is one or two sipp processes running a scenario of `tests/peers/sipp/`, with
their own SIP and media ports, so any number run at once; each writes its messages,
errors and statistics to a directory of its own (`SippRun.log()` shows them). The phones
the center calls out to answer on the carrier trunk's address, `127.0.0.2:carrier_port`
(the carrier AOR's contact): one of them at a time.

    with Sipp.softphone(asterisk, "1001", talk=2):
        Sipp.call(asterisk, name="张三").wait(30)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.peers.asterisk import (
    CARRIER_IP,
    DRILL_IP,
    LOCAL_IP,
    Asterisk,
    free_port,
    free_udp_ports,
)

SCENARIOS = Path(__file__).with_name("sipp")
FOREVER_MS = 24 * 3600 * 1000
TRUNK_IP = {"carrier": CARRIER_IP, "drill": DRILL_IP}
# The scenarios wait in 200 ms steps; sipp logs every step as an error. Not worth showing.
TICK = re.compile(
    r"[0-9-]+\t[0-9:.]+\t[0-9.]+: Call-Id: \S+, receive timeout on message [^,]+, "
    r"jumping to label \d+"
)


def _numbers(caller: str, calls: int) -> list[str]:
    """`calls` numbers from `caller`; a range "prefix[00-19]" is spread over them."""
    m = re.fullmatch(r"(.*)\[(\d+)-(\d+)\](.*)", caller)
    if not m:
        return [caller] * calls
    prefix, lo, hi, suffix = m.groups()
    span = [f"{prefix}{i:0{len(lo)}d}{suffix}" for i in range(int(lo), int(hi) + 1)]
    return [span[i % len(span)] for i in range(calls)]


def _ms(seconds: float | None) -> str:
    return str(FOREVER_MS if seconds is None else int(seconds * 1000))


def _udp_bound(ip: str, port: int) -> bool:
    """Whether something listens on UDP ip:port (/proc/net/udp: little-endian hex IPv4)."""
    want = "".join(f"{int(o):02X}" for o in reversed(ip.split("."))) + f":{port:04X}"
    try:
        with open("/proc/net/udp", encoding="ascii") as f:
            return any(line.split()[1] == want for line in list(f)[1:])
    except OSError:
        return True  # no /proc: do not wait


@dataclass
class SippRun:
    """One sipp process."""

    name: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    ip: str
    port: int
    media_port: int

    def wait(self, timeout: float) -> int:
        """sipp's exit status: 0 all calls succeeded, 1 some failed, 99 no call ran."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired as e:
            raise TimeoutError(f"sipp {self.name} still running after {timeout} s") from e

    @property
    def returncode(self) -> int | None:
        return self.proc.poll()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def stats(self) -> dict[str, str]:
        """The last row of sipp's statistics (-trace_stat), e.g. SuccessfulCall(C)."""
        path = self.workdir / "stats.csv"
        if not path.exists():
            return {}
        rows = [r for r in path.read_text(errors="replace").splitlines() if r.strip()]
        if len(rows) < 2:
            return {}
        return dict(zip(rows[0].split(";"), rows[-1].split(";"), strict=False))

    def count(self, stat: str) -> int:
        """A cumulative counter: "SuccessfulCall", "FailedCall", "TotalCallCreated" ..."""
        stats = self.stats()
        value = stats.get(stat, stats.get(f"{stat}(C)", "0"))
        return int(value) if value.isdigit() else 0

    def _sent(self, first_line: str, method: str) -> set[str]:
        """Call-IDs of the messages this sipp sent that start with `first_line` and carry
        `CSeq: n method` (retransmissions counted once)."""
        path = self.workdir / "messages.log"
        if not path.exists():
            return set()
        ids = set()
        for block in path.read_text(encoding="utf-8", errors="replace").split("UDP message ")[1:]:
            if not block.startswith("sent"):
                continue
            msg = block.split("\n", 2)[-1]
            if msg.startswith(first_line) and re.search(rf"(?m)^CSeq: \d+ {method}\r?$", msg):
                m = re.search(r"(?m)^Call-ID: (\S+)", msg)
                if m:
                    ids.add(m.group(1))
        return ids

    @property
    def placed(self) -> int:
        """Calls this sipp started (INVITEs sent)."""
        return len(self._sent("INVITE ", "INVITE"))

    @property
    def answered(self) -> int:
        """Calls this sipp answered (200 OK to an INVITE sent)."""
        return len(self._sent("SIP/2.0 200 OK", "INVITE"))

    def log(self) -> str:
        parts = []
        for name in ("errors.log", "messages.log", "stdout.log"):
            path = self.workdir / name
            if path.exists() and path.stat().st_size:
                text = path.read_text(encoding="utf-8", errors="replace")
                text = TICK.sub("", text)
                parts.append(f"==> sipp {self.name} {name} <==\n{text[-20000:]}")
        return "\n".join(parts)

    def __enter__(self) -> SippRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Softphone:
    """A registered softphone: the answering sipp plus the registration it made."""

    asterisk: Asterisk
    ext: str
    password: str
    answering: SippRun
    registration: SippRun
    stopped: bool = field(default=False)

    def stop(self) -> None:
        """Hang up, and unregister (Expires: 0) so the queue sees the seat empty again."""
        if self.stopped:
            return
        self.stopped = True
        self.answering.stop()
        if self.asterisk.running:
            unreg = Sipp._register(self.asterisk, self.ext, self.password, self.answering, 0)
            unreg.wait(15)

    def log(self) -> str:
        return self.registration.log() + "\n" + self.answering.log()

    def __enter__(self) -> Softphone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Sipp:
    """Starts sipp peers; `Sipp.stop_all()` ends every one still running."""

    running: list[SippRun] = []  # one registry for the whole session
    softphones: list[Softphone] = []
    base_dir: Path | None = None

    @classmethod
    def _run(
        cls,
        name: str,
        scenario: str,
        ip: str,
        *,
        remote: str | None = None,
        port: int | None = None,
        args: list[str],
        timeout: float | None = None,
    ) -> SippRun:
        if cls.base_dir is None:
            cls.base_dir = Path(tempfile.mkdtemp(prefix="alarmgw-sipp-"))
        workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=cls.base_dir))
        port = port or free_port(ip, socket.SOCK_DGRAM)
        media_port = free_udp_ports(ip, 4)
        cmd = ["sipp"]
        if remote:
            cmd.append(remote)
        cmd += [
            "-sf", str(SCENARIOS / scenario),
            "-i", ip, "-bind_local", "-p", str(port),
            "-mi", ip, "-mp", str(media_port),
            "-nostdin",
            "-trace_err", "-error_file", str(workdir / "errors.log"),
            "-trace_msg", "-message_file", str(workdir / "messages.log"),
            "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
            *args,
        ]  # fmt: skip
        if timeout is not None:
            cmd += ["-timeout", f"{int(timeout)}s", "-timeout_error"]
        (workdir / "command").write_text(" ".join(cmd) + "\n")
        with open(workdir / "stdout.log", "wb") as out:
            proc = subprocess.Popen(
                cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        run = SippRun(name, proc, workdir, ip, port, media_port)
        cls.running.append(run)
        if not remote:  # a phone that answers: Asterisk's INVITE must find it listening
            deadline = time.monotonic() + 5
            while not _udp_bound(ip, port) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        return run

    @classmethod
    def stop_all(cls) -> None:
        """Softphones first (they unregister), then every other sipp."""
        while cls.softphones:
            cls.softphones.pop().stop()
        while cls.running:
            cls.running.pop().stop()

    @classmethod
    def call(
        cls,
        asterisk: Asterisk,
        *,
        caller: str = "13800138000",
        name: str = "张三",
        trunk: str = "carrier",
        drill_header: bool = False,
        hold: float | None = 60.0,
        talk: float | None = None,
        wait_bye: bool = False,
        calls: int = 1,
        rate: float = 10.0,
        callers: list[tuple[str, str]] | None = None,
        exten: str = "110",
        timeout: float = 300.0,
    ) -> SippRun:
        """`calls` calls to 110 from the trunk's address, all up at once (-l), `rate` a second.

        hold: seconds a caller waits unanswered before hanging up (CANCEL); None = forever.
        talk: once answered, seconds before the caller sends BYE; None (or wait_bye) = stay
        until the far end hangs up. callers: (number, display name) per call, else all
        calls come from `caller` / `name`, where a range gives each call a number of its
        own: "139001390[00-19]" is 13900139000 .. 13900139019.
        """
        if wait_bye:
            talk = None
        rows = callers or [(number, name) for number in _numbers(caller, calls)]
        header = "X-Alarmgw-Drill: 1" if drill_header else ""
        if cls.base_dir is None:
            cls.base_dir = Path(tempfile.mkdtemp(prefix="alarmgw-sipp-"))
        fd, inf = tempfile.mkstemp(prefix="callers-", suffix=".csv", dir=cls.base_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("SEQUENTIAL\n")
            f.writelines(f"{num};{disp};{header}\n" for num, disp in rows)
        return cls._run(
            f"call-{trunk}",
            "caller.xml",
            TRUNK_IP[trunk],
            remote=f"{asterisk.sip_host}:{asterisk.sip_port}",
            args=[
                "-s", exten, "-inf", inf,
                "-m", str(len(rows)), "-l", str(len(rows)), "-r", str(rate),
                "-set", "hold_ms", _ms(hold), "-set", "talk_ms", _ms(talk),
            ],
            timeout=timeout,
        )  # fmt: skip

    @classmethod
    def _answering(
        cls,
        name: str,
        ip: str,
        port: int | None,
        user: str,
        *,
        reply: str,
        answer_after: float,
        talk: float | None,
        calls: int | None,
    ) -> SippRun:
        args = [
            "-key", "user", user,
            "-set", "reply", reply,
            "-set", "answer_ms", _ms(answer_after),
            "-set", "talk_ms", _ms(talk),
        ]  # fmt: skip
        if calls is not None:
            args += ["-m", str(calls)]
        return cls._run(name, "answer.xml", ip, port=port, args=args)

    @classmethod
    def _register(
        cls, asterisk: Asterisk, ext: str, password: str, answering: SippRun, expires: int
    ) -> SippRun:
        return cls._run(
            f"register-{ext}",
            "register.xml",
            LOCAL_IP,
            remote=f"{asterisk.sip_host}:{asterisk.sip_port}",
            args=[
                "-key", "user", ext,
                "-key", "contact_port", str(answering.port),
                "-key", "expires", str(expires),
                "-au", ext, "-ap", password, "-m", "1",
            ],
            timeout=15,
        )  # fmt: skip

    @classmethod
    def softphone(
        cls,
        asterisk: Asterisk,
        ext: str = "1001",
        password: str | None = None,
        *,
        answer_after: float = 0.5,
        talk: float | None = None,
        reply: str = "answer",
    ) -> Softphone:
        """A call-taker's softphone: registers `ext` (digest auth), then answers every call
        after `answer_after` s and hangs up after `talk` s (None: when the far end does).
        Also the softphone leg of a callback the gateway originates."""
        password = password or asterisk.softphone_password(ext)
        answering = cls._answering(
            f"softphone-{ext}",
            LOCAL_IP,
            None,
            ext,
            reply=reply,
            answer_after=answer_after,
            talk=talk,
            calls=None,
        )
        registration = cls._register(asterisk, ext, password, answering, 3600)
        status = registration.wait(15)
        if status != 0:
            answering.stop()
            raise RuntimeError(
                f"softphone {ext} did not register ({status}):\n{registration.log()}"
            )
        phone = Softphone(asterisk, ext, password, answering, registration)
        cls.softphones.append(phone)
        return phone

    @classmethod
    def citizen(
        cls,
        asterisk: Asterisk,
        *,
        answer_after: float = 1.0,
        talk: float | None = 3.0,
        reply: str = "answer",
        calls: int = 1,
    ) -> SippRun:
        """The citizen a callback reaches, on the carrier trunk: answers (or busy /
        noanswer) and hangs up after `talk` s (None: waits for the center's BYE)."""
        return cls._answering(
            "citizen",
            CARRIER_IP,
            asterisk.carrier_port,
            "citizen",
            reply=reply,
            answer_after=answer_after,
            talk=talk,
            calls=calls,
        )

    @classmethod
    def duty_phone(
        cls,
        asterisk: Asterisk,
        *,
        number: str = "duty",
        answer_after: float = 0.5,
        press_after: float | None = 3.5,
        hang_up_after: float | None = None,
        calls: int = 1,
    ) -> SippRun:
        """A duty officer's phone on the carrier trunk: answers a notification call,
        presses 1 (RFC 4733) `press_after` s later (None: never) and again every 2 s, three
        times at most (an AGI starting late on a loaded machine misses an early press), and
        stays until the center hangs up (or hangs up itself `hang_up_after` s after
        answering). It answers
        whatever number Asterisk calls through the carrier; `number` is its Contact."""
        return cls._run(
            "duty-phone",
            "duty_phone.xml",
            CARRIER_IP,
            port=asterisk.carrier_port,
            args=[
                "-key", "user", number,
                "-set", "answer_ms", _ms(answer_after),
                "-set", "dtmf_ms", "-1" if press_after is None else _ms(press_after),
                "-set", "talk_ms", _ms(hang_up_after),
                "-m", str(calls),
            ],
        )  # fmt: skip
