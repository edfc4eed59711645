"""A real MTA in front of the gateway's SMTP port: Debian's postfix, run as a private instance
(its own config, queue and data directories in a temp dir), relaying everything to
`[127.0.0.1]:relay_port` as a production MTA with `relayhost` would.

    pf = Postfix(relay_port=gateway_smtp_port)
    pf.start()
    qid = pf.send(msg, "alarm@example.org", "110@gw.example")   # smtplib to pf.port
    pf.wait_delivery("sent", to="110@gw.example")                # maillog: status=sent (250 ...)
    pf.wait_empty()
    pf.cleanup()                                                 # stop, remove the temp dir

The package's own postfix (/etc/postfix) stays unconfigured and stopped; an instance here
never reads /etc/postfix/main.cf. It listens on loopback only, does no DNS, delivers nothing
locally (`mydestination` is empty: bounces go to the sender's domain, i.e. to the relay too)
and retries deferred mail within 1-2 s, so a test of a receiver that answers 451 or is down
finishes in seconds. Its log is `maillog` in the instance's directory (postlogd, no syslog).

Needs root: postfix's master runs as root and drops to the `postfix` user per daemon.
`scripts/install-peers` installs postfix and swaks.
"""

from __future__ import annotations

import atexit
import email.message
import email.policy
import json
import os
import re
import shutil
import signal
import smtplib
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.peers.gateway import free_port

HOST = "127.0.0.1"
COMMANDS = Path("/usr/sbin")
POSTFIX = COMMANDS / "postfix"
POSTCONF = COMMANDS / "postconf"
POSTQUEUE = COMMANDS / "postqueue"
POSTSUPER = COMMANDS / "postsuper"
META_FILES = Path("/etc/postfix")  # postfix-files and dynamicmaps.cf, shipped by the package
MAIL_OWNER = "postfix"
SETGID_GROUP = "postdrop"
PREFIX = "alarmgw-postfix-"
OWNER_FILE = "owner.pid"  # the pid of the test process that started the instance
MiB = 1024 * 1024


def available() -> str | None:
    """None when a private postfix can run here, else the plain reason why not."""
    for tool in (POSTFIX, POSTCONF, POSTQUEUE):
        if not tool.exists():
            return f"postfix is not installed ({tool} is missing): run scripts/install-peers"
    if not (META_FILES / "postfix-files").exists():
        return f"postfix is not installed ({META_FILES}/postfix-files is missing)"
    try:
        import grp
        import pwd

        pwd.getpwnam(MAIL_OWNER)
        grp.getgrnam(SETGID_GROUP)
    except KeyError as e:
        return f"postfix is not installed properly: no user or group {e}"
    if os.geteuid() != 0:
        return "a private postfix must be started as root (its master runs as root)"
    return None


def require_env() -> bool:
    """True where the mail peers must be there (CI sets ALARMGW_REQUIRE_MAIL=1)."""
    return os.environ.get("ALARMGW_REQUIRE_MAIL") == "1"


def require_or_skip() -> None:
    """Skip the test with the reason postfix cannot run here; fail instead where
    ALARMGW_REQUIRE_MAIL=1."""
    import pytest

    reason = available()
    if reason:
        if require_env():
            pytest.fail(f"ALARMGW_REQUIRE_MAIL=1 but {reason}")
        pytest.skip(reason)


class PostfixError(RuntimeError):
    pass


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt as the maillog tells it:
    `QID: to=<rcpt>, relay=..., dsn=4.3.0, status=deferred (host ... said: 451 ...)`."""

    queue_id: str
    to: str
    relay: str
    dsn: str
    status: str  # sent | deferred | bounced | expired
    reply: str  # the text in parentheses: the relay's reply, or why there was none
    line: str

    @property
    def code(self) -> int | None:
        """The relay's SMTP reply code; None when it never answered (connection refused)."""
        m = re.match(r"(?:host \S+ said: )?(\d{3})[ -]", self.reply)
        return int(m.group(1)) if m else None


_DELIVERY = re.compile(
    r"postfix/[\w/-]+\[\d+\]: (?P<qid>[0-9A-Za-z]+): to=<(?P<to>[^>]*)>,"
    r"(?: orig_to=<[^>]*>,)? relay=(?P<relay>[^,]+), .*?dsn=(?P<dsn>[\d.]+), "
    r"status=(?P<status>\w+) \((?P<reply>.*)\)$"
)


def parse_deliveries(lines: Sequence[str]) -> list[Delivery]:
    out = []
    for line in lines:
        m = _DELIVERY.search(line)
        if m:
            out.append(
                Delivery(m["qid"], m["to"], m["relay"], m["dsn"], m["status"], m["reply"], line)
            )
    return out


# -- processes ------------------------------------------------------------------------------


def _instance_procs() -> dict[int, Path]:
    """Live postfix processes started with `postfix -c DIR`, and each one's DIR: postfix
    exports MAIL_CONFIG=DIR to master, which hands it down to every daemon. Zombies are
    left out (in some containers nothing reaps daemons orphaned to pid 1; a zombie holds no
    port and no lock)."""
    found: dict[int, Path] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError):
            continue
        for var in env:
            if var.startswith(b"MAIL_CONFIG="):
                found[int(entry.name)] = Path(os.fsdecode(var[len(b"MAIL_CONFIG=") :]))
                break
    return found


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _owner(workdir: Path) -> int | None:
    try:
        return int((workdir / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None


def reap_orphans() -> list[int]:
    """Clear up after runs killed before their `stop()`: kill the processes of instances
    whose test process is gone and remove their temp dirs. Another live session's
    instances, kept dirs (ALARMGW_KEEP_PEERS=1) and any postfix not started here are left
    alone. Returns the pids killed."""
    orphans = []
    for pid, config_dir in _instance_procs().items():
        owner = _owner(config_dir.parent)
        if owner is None:
            # The temp dir is gone: ours only if it had our name.
            owner = 0 if config_dir.parent.name.startswith(PREFIX) else -1
        if owner == 0 or (owner > 0 and not _pid_alive(owner)):
            orphans.append(pid)
    _kill(orphans)
    for workdir in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = _owner(workdir)
        if owner is not None and not _pid_alive(owner):
            shutil.rmtree(workdir, ignore_errors=True)
    return orphans


def leftover_pids() -> list[int]:
    """Processes of instances this test process started and did not stop (should be none)."""
    me = os.getpid()
    return sorted(p for p, c in _instance_procs().items() if _owner(c.parent) == me)


_running: set[Postfix] = set()


@atexit.register
def _stop_all() -> None:
    # A session that ends without stop() (an interrupted fixture) still stops its instances.
    for pf in list(_running):
        pf.cleanup()


# -- the instance ---------------------------------------------------------------------------


class Postfix:
    """One private postfix. `start()` after `stop()` keeps the queue (a restart);
    `overrides` are main.cf settings laid over `main_cf()`."""

    def __init__(self, relay_port: int, workdir: Path | None = None, **overrides: object) -> None:
        self._own_workdir = workdir is None
        if workdir is None:
            workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Marks the dir as this process's at once: reap_orphans() of a concurrent session
        # takes only dirs whose owner is dead.
        (self.workdir / OWNER_FILE).write_text(str(os.getpid()))
        self.config_dir = workdir / "etc"
        self.queue_dir = workdir / "queue"
        self.data_dir = workdir / "data"
        self.maillog = workdir / "maillog"
        self.relay_port = relay_port
        self.port = free_port(HOST)
        self.overrides = {k: str(v) for k, v in overrides.items()}
        self._started = False
        self._ever_started = False

    # -- configuration --------------------------------------------------------------------

    def main_cf(self) -> dict[str, str]:
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            # postfix-files (what `postfix start` checks and creates) and dynamicmaps.cf
            # are copied beside main.cf: nothing is read from /etc/postfix at run time.
            "meta_directory": str(self.config_dir),
            "mail_owner": MAIL_OWNER,
            "setgid_group": SETGID_GROUP,
            # A fixed name: gethostname() may be unqualified and must not lead to DNS.
            "myhostname": "mta.alarmgw.test",
            "mydomain": "alarmgw.test",
            "myorigin": "$myhostname",
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "smtpd_banner": "$myhostname ESMTP",
            # Nothing is local: every address, a bounce's too, goes to the relay.
            "mydestination": "",
            "local_recipient_maps": "",
            "local_transport": "error:5.1.1 no local delivery on the test MTA",
            "alias_maps": "",
            "alias_database": "",
            "relayhost": f"[{HOST}]:{self.relay_port}",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            # No DNS anywhere: the relay is an address literal, clients are not looked up.
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "smtp_address_preference": "ipv4",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            # Above the gateway's own limit, so the gateway's 552 is what a test sees.
            "message_size_limit": str(40 * MiB),
            "mailbox_size_limit": "0",
            # Retry within seconds (defaults: 300 s queue runs, 300-4000 s backoff).
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "transport_retry_time": "1s",
            "in_flow_delay": "0s",  # else smtpd stalls 1 s a message while the relay is down
            "smtp_connect_timeout": "5s",
            "smtp_helo_timeout": "10s",
            "smtp_mail_timeout": "10s",
            "smtp_rcpt_timeout": "10s",
            "smtp_data_init_timeout": "10s",
            "smtp_data_xfer_timeout": "30s",
            "smtp_data_done_timeout": "30s",  # the gateway's commit before its 250
            "delay_warning_time": "0",
            # No postmaster copies to the relay: a test counts what the relay gets.
            "notify_classes": "",
            "soft_bounce": "no",
            "biff": "no",
            # postlogd writes the log (postfix 3.4+), no syslog needed; the path must lie
            # under one of maillog_file_prefixes.
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.workdir),
        }
        settings.update(self.overrides)
        return settings

    def master_cf(self) -> str:
        # chroot column `n` everywhere: a chroot would need /etc/services, resolv.conf,
        # the log socket ... copied into the queue directory. The smtpd service is named by
        # its address, so it listens on that port only.
        services = [
            f"{HOST}:{self.port} inet n - n - - smtpd",
            "pickup    unix  n - n 60 1 pickup",
            "cleanup   unix  n - n -  0 cleanup",
            "qmgr      unix  n - n 300 1 qmgr",
            "rewrite   unix  - - n -  - trivial-rewrite",
            "bounce    unix  - - n -  0 bounce",
            "defer     unix  - - n -  0 bounce",
            "trace     unix  - - n -  0 bounce",
            "verify    unix  - - n -  1 verify",
            "flush     unix  n - n 1000? 0 flush",
            "proxymap  unix  - - n -  - proxymap",
            "smtp      unix  - - n -  - smtp",
            "relay     unix  - - n -  - smtp",
            "showq     unix  n - n -  - showq",
            "error     unix  - - n -  - error",
            "retry     unix  - - n -  - error",
            "discard   unix  - - n -  - discard",
            "anvil     unix  - - n -  1 anvil",
            "scache    unix  - - n -  1 scache",
            # maillog_file needs postlogd; `postfix start` refuses to start without it.
            "postlog   unix-dgram n - n - 1 postlogd",
        ]
        return "\n".join(services) + "\n"

    def _write_config(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        for name in ("postfix-files", "dynamicmaps.cf"):
            shutil.copy2(META_FILES / name, self.config_dir / name)
        for name in ("postfix-files.d", "dynamicmaps.cf.d"):
            if (META_FILES / name).is_dir():
                shutil.copytree(META_FILES / name, self.config_dir / name, dirs_exist_ok=True)
        main = "".join(f"{k} = {v}\n" for k, v in self.main_cf().items())
        (self.config_dir / "main.cf").write_text(main, encoding="utf-8")
        (self.config_dir / "master.cf").write_text(self.master_cf(), encoding="utf-8")
        # Postfix rereads a main.cf changed within the last 2 s, in 300 ms sleeps, until it
        # is older (a guard against reading a half-written file): date ours back a minute,
        # or every start takes 2 s more.
        past = time.time() - 60
        for name in ("main.cf", "master.cf"):
            os.utime(self.config_dir / name, (past, past))

    def _check_reachable(self) -> None:
        # The daemons open data_directory and the log by absolute path as the postfix user:
        # every directory above must let others through (pytest's tmp_path is 0700).
        for d in [self.workdir, *self.workdir.parents]:
            if not d.stat().st_mode & stat.S_IXOTH:
                raise PostfixError(
                    f"{d} is mode {stat.S_IMODE(d.stat().st_mode):o}: the postfix user cannot "
                    f"reach {self.workdir}; use the default workdir (a fresh temp dir)"
                )

    # -- life -----------------------------------------------------------------------------

    def _run(
        self, *argv: str | Path, check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LANG": "C"},
        )
        if check and res.returncode != 0:
            raise PostfixError(
                f"{' '.join(map(str, argv))} exited {res.returncode}: {res.stderr.strip()}\n"
                f"{self.log_tail()}"
            )
        return res

    def start(self) -> int:
        """Write the configuration and start the instance; return its smtpd port."""
        reason = available()
        if reason:
            raise PostfixError(reason)
        reap_orphans()
        # Whatever is still running from this workdir (a caller-supplied one reused after a
        # crash) goes first: a running master would make `postfix start` refuse.
        _kill([p for p, c in _instance_procs().items() if c == self.config_dir])
        self.workdir.chmod(0o755)
        self._check_reachable()
        # postfix chdirs here before `post-install create-missing` makes the rest
        # (the queue's subdirectories, data_directory owned by postfix).
        self.queue_dir.mkdir(mode=0o755, exist_ok=True)
        for attempt in range(3):
            self._write_config()
            _running.add(self)
            self._started = True
            try:
                self._run(POSTFIX, "-c", self.config_dir, "start")
                self._wait_listening(10.0)
            except PostfixError as e:
                self.stop()
                # free_port() saw the port free a moment ago; someone may have taken it
                # since. A first start moves to another; a restart keeps its port.
                if self._ever_started or attempt == 2 or "Address already in use" not in str(e):
                    raise
                self.port = free_port(HOST)
                continue
            except BaseException:
                self.stop()
                raise
            self._ever_started = True
            break
        return self.port

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with smtplib.SMTP(HOST, self.port, timeout=2):
                    return
            except OSError as e:
                if time.monotonic() > deadline:
                    raise PostfixError(f"smtpd not answering on {self.port}: {e}") from e
                time.sleep(0.05)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the instance and check nothing of it still runs (SIGKILL for what is left
        after `timeout`). Keeps the queue and the log: `start()` again is a restart. Safe
        to call twice."""
        if not self._started:
            return
        self._started = False
        _running.discard(self)
        if self.running:
            # `postfix abort` sends master the same SIGTERM as `postfix stop` (master ends
            # its daemons and exits) but does not poll in 1 s sleeps; we poll here.
            self._run(POSTFIX, "-c", self.config_dir, "abort", check=False)
        deadline = time.monotonic() + timeout
        while left := self.pids():
            if time.monotonic() > deadline:
                _kill(left)
            time.sleep(0.02)

    def cleanup(self) -> None:
        """Stop, and remove the instance's directory if it made it (a temp dir); kept
        where ALARMGW_KEEP_PEERS=1, to read the log afterwards."""
        self.stop()
        if not self._own_workdir:
            return
        if os.environ.get("ALARMGW_KEEP_PEERS") == "1":
            (self.workdir / OWNER_FILE).unlink(missing_ok=True)  # not an orphan to reap
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return any(c == self.config_dir for c in _instance_procs().values())

    def pids(self) -> list[int]:
        """The live processes of this instance: master and its daemons."""
        return sorted(p for p, c in _instance_procs().items() if c == self.config_dir)

    def __enter__(self) -> Postfix:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- queue ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Attempt delivery of all deferred mail now (`postqueue -f`)."""
        self._run(POSTQUEUE, "-c", self.config_dir, "-f")

    def queue_entries(self) -> list[dict[str, Any]]:
        """`postqueue -j`: one dict per queued message (queue_id, queue_name, sender,
        recipients with their delay_reason ...)."""
        res = self._run(POSTQUEUE, "-c", self.config_dir, "-j")
        # showq reads the queue directories one after another: a message moving from
        # active to deferred during the scan is listed twice. Keep its last sighting.
        entries: dict[str, dict[str, Any]] = {}
        for line in res.stdout.splitlines():
            if line.strip():
                e = json.loads(line)
                entries.pop(e["queue_id"], None)
                entries[e["queue_id"]] = e
        return list(entries.values())

    def queue(self) -> list[str]:
        """The queue ids of the messages still queued."""
        return [e["queue_id"] for e in self.queue_entries()]

    def wait_empty(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while entries := self.queue_entries():
            if time.monotonic() > deadline:
                raise PostfixError(
                    f"{len(entries)} messages still queued after {timeout} s: "
                    f"{json.dumps(entries[:5], ensure_ascii=False)}\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def purge(self) -> None:
        """Delete every queued message (`postsuper -d ALL`)."""
        self._run(POSTSUPER, "-c", self.config_dir, "-d", "ALL")

    # -- log ------------------------------------------------------------------------------

    def log_lines(self) -> list[str]:
        try:
            text = self.maillog.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_lines()[-n:]
        return f"==> {self.maillog} <==\n" + "\n".join(lines)

    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt logged so far, in log order."""
        return parse_deliveries(self.log_lines())

    def wait_delivery(
        self,
        status: str | Callable[[Delivery], bool],
        to: str | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[Delivery]:
        """Wait until `count` attempts with `status` (or that the predicate accepts), for
        `to` if given, are logged; return all those logged."""
        pred = status if callable(status) else (lambda d: d.status == status)
        deadline = time.monotonic() + timeout
        while True:
            got = [d for d in self.deliveries() if pred(d) and (to is None or d.to == to)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise PostfixError(
                    f"{len(got)} of {count} deliveries ({status}, to={to}) after {timeout} s\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.1)

    # -- submission -----------------------------------------------------------------------

    def send(
        self,
        msg: bytes | email.message.EmailMessage,
        mail_from: str,
        rcpt_to: str | Sequence[str],
        *,
        smtputf8: bool | None = None,
        timeout: float = 10.0,
    ) -> str:
        """Submit one message to this instance's smtpd; return postfix's queue id.

        Bytes go as they are (smtplib adds only the dot-stuffing); an EmailMessage is
        flattened with CRLF, its headers raw UTF-8 when `smtputf8`. BODY=8BITMIME is
        declared when the data has 8-bit bytes; SMTPUTF8 when `smtputf8` is true, or (None)
        when an address or a header is not ASCII."""
        rcpts = [rcpt_to] if isinstance(rcpt_to, str) else list(rcpt_to)
        envelope_utf8 = not all(a.isascii() for a in [mail_from, *rcpts])
        if isinstance(msg, email.message.EmailMessage):
            utf8 = bool(smtputf8) or (smtputf8 is None and envelope_utf8)
            policy = msg.policy
            if not isinstance(policy, email.policy.EmailPolicy):
                policy = email.policy.default
            data = msg.as_bytes(policy=policy.clone(linesep="\r\n", utf8=utf8))
        else:
            data = msg
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        if smtputf8 is None:
            smtputf8 = envelope_utf8 or not head.isascii()
        options = []
        if not data.isascii():
            options.append("BODY=8BITMIME")
        if smtputf8:
            options.append("SMTPUTF8")
        with smtplib.SMTP(HOST, self.port, timeout=timeout) as s:
            s.ehlo("client.alarmgw.test")
            code, resp = s.mail(mail_from, options)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, resp, mail_from)
            for rcpt in rcpts:
                code, resp = s.rcpt(rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
            code, resp = s.data(data)
            if code != 250:
                raise smtplib.SMTPDataError(code, resp)
        m = re.search(rb"queued as (\S+)", resp)
        if not m:
            raise PostfixError(f"no queue id in postfix's reply: {resp!r}")
        return m.group(1).decode()

    def swaks(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run swaks against this instance's smtpd (`--server`/`--port` given)."""
        swaks = shutil.which("swaks")
        if swaks is None:
            raise PostfixError("swaks is not installed: run scripts/install-peers")
        return subprocess.run(
            [swaks, "--server", HOST, "--port", str(self.port), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@contextmanager
def peer_or_skip(relay_port: int, **overrides: object) -> Iterator[Postfix]:
    """A started private postfix relaying to `relay_port`, for a fixture; skips where it
    cannot run (fails instead where ALARMGW_REQUIRE_MAIL=1)."""
    require_or_skip()
    pf = Postfix(relay_port, None, **overrides)
    pf.start()
    try:
        yield pf
    finally:
        pf.cleanup()


def main() -> int:
    """`python -m tests.peers.postfix RELAY_PORT`: a private postfix relaying to
    127.0.0.1:RELAY_PORT for a manual session; Ctrl-C stops it."""
    import sys

    reason = available()
    if reason:
        print(reason)
        return 2
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: python -m tests.peers.postfix RELAY_PORT")
        return 2
    pf = Postfix(int(sys.argv[1]))
    pf.start()
    print(
        f"postfix up: smtpd {HOST}:{pf.port}, relaying to [{HOST}]:{pf.relay_port}\n"
        f"config {pf.config_dir}, log {pf.maillog}\n"
        f"queue: postqueue -c {pf.config_dir} -p; Ctrl-C stops it."
    )
    try:
        while pf.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        pf.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
