"""A real Asterisk 22 running the project's configuration (`asterisk/`), for the telephony
tests and for recording AMI transcripts.

Asterisk lives in the Debian sid chroot `scripts/install-peers` builds (Debian stable has no
asterisk package). `Asterisk.start()` lays the stock configuration of the package
(`etc/asterisk.dist`) and then the project's files over `etc/asterisk` in the chroot,
changing only what a test machine needs changed: ports, the trunks' addresses, the AMI
secret. Everything else is the file an operator deploys.

Addresses on loopback (Linux routes all of 127/8 to `lo`):

    127.0.0.1  Asterisk (SIP on `sip_port`, AMI on `ami_port`) and the softphones
    127.0.0.2  the carrier trunk: sipp callers send from here; the carrier AOR points at
               127.0.0.2:`carrier_port`, where one UAS at a time (citizen or duty phone)
               answers what Asterisk sends out through the carrier
    127.0.0.3  the drill trunk

The sipp peers are in `tests/peers/sipp_peers.py` (`Sipp` is importable from here too).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.peers.gateway import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "asterisk"
CHROOT = Path(os.environ.get("ALARMGW_ASTERISK_CHROOT", "/var/cache/alarmgw/asterisk-sid"))
READY_MARK = ".alarmgw-ready"

LOCAL_IP = "127.0.0.1"
CARRIER_IP = "127.0.0.2"
DRILL_IP = "127.0.0.3"

# What the shipped files say, and what a test machine puts instead (see _site_values).
SHIPPED_SIP_BIND = "bind=0.0.0.0:5060"
SHIPPED_CARRIER = "192.0.2.10"
SHIPPED_DRILL = "192.0.2.20"
SHIPPED_AMI_PORT = "port=5038"
SHIPPED_AMI_SECRET = "secret=CHANGE-ME"


def available() -> str | None:
    """None when Asterisk and sipp can run here, else the plain reason why not."""
    if os.geteuid() != 0:
        return "Asterisk runs in a chroot: the telephony tests must run as root"
    if not (CHROOT / READY_MARK).exists():
        return f"no Asterisk chroot at {CHROOT}: run scripts/install-peers"
    if shutil.which("sipp") is None:
        return "sipp is not installed (Debian package sip-tester): run scripts/install-peers"
    return None


def free_udp_ports(ip: str, count: int) -> int:
    """The first of `count` consecutive free UDP ports (RTP wants an even one and RTCP +1)."""
    for _ in range(200):
        base = secrets.randbelow(20000) * 2 + 20000
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((ip, p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {count} consecutive free UDP ports on {ip}")


def _replace_once(text: str, old: str, new: str, where: str) -> str:
    n = text.count(old)
    if n != 1:
        raise RuntimeError(f"{where}: expected `{old}` once, found it {n} times")
    return text.replace(old, new)


def _chroot_pids() -> list[int]:
    """Asterisk processes rooted in CHROOT (left from an earlier run that died)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != str(CHROOT):
                continue
            if Path(os.readlink(entry / "exe")).name != "asterisk":
                continue
        except OSError:
            continue
        pids.append(int(entry.name))
    return pids


def _is_mounted(path: Path) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == str(path) for line in f)


class Asterisk:
    """One Asterisk in CHROOT. Only one runs per chroot: start() ends a stale one first."""

    def __init__(self, workdir: Path | None = None) -> None:
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="alarmgw-asterisk-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ami_host = LOCAL_IP
        self.ami_port = free_port()
        self.ami_user = "alarmgw"
        self.ami_secret = secrets.token_hex(16)
        self.sip_host = LOCAL_IP
        self.sip_port = free_port(LOCAL_IP, socket.SOCK_DGRAM)
        self.carrier_port = free_port(CARRIER_IP, socket.SOCK_DGRAM)
        self.rtp_start = free_udp_ports("0.0.0.0", 2)  # a hint: Asterisk skips busy ports
        self.rtp_end = self.rtp_start + 400
        self.etc = CHROOT / "etc/asterisk"
        self.recordings_dir = CHROOT / "var/spool/asterisk/monitor"
        self.cdr_csv = CHROOT / "var/log/asterisk/cdr-csv/Master.csv"
        self.full_log = CHROOT / "var/log/asterisk/full.log"
        self.stdout_log = self.workdir / "asterisk.stdout"
        self.proc: subprocess.Popen[bytes] | None = None
        # Test-only configuration appended to a file of etc/asterisk at start (e.g. the
        # fax loop's sections for pjsip.conf); the shipped files stay as they are.
        self.extra_config: dict[str, str] = {}

    # -- configuration ------------------------------------------------------------------

    def _site_values(self, name: str, text: str) -> str:
        """The shipped file with this machine's ports, addresses and secret."""
        if name == "pjsip.conf":
            text = _replace_once(
                text, SHIPPED_SIP_BIND, f"bind={self.sip_host}:{self.sip_port}", name
            )
            text = _replace_once(
                text,
                f"contact=sip:{SHIPPED_CARRIER}:5060",
                f"contact=sip:{CARRIER_IP}:{self.carrier_port}",
                name,
            )
            text = _replace_once(text, f"match={SHIPPED_CARRIER}", f"match={CARRIER_IP}", name)
            text = _replace_once(text, f"match={SHIPPED_DRILL}", f"match={DRILL_IP}", name)
        elif name == "manager.conf":
            text = _replace_once(text, SHIPPED_AMI_PORT, f"port={self.ami_port}", name)
            text = _replace_once(text, SHIPPED_AMI_SECRET, f"secret={self.ami_secret}", name)
        elif name == "rtp.conf":
            text = re.sub(r"(?m)^rtpstart=\d+", f"rtpstart={self.rtp_start}", text)
            text = re.sub(r"(?m)^rtpend=\d+", f"rtpend={self.rtp_end}", text)
        return text

    def agi_dir(self) -> Path:
        conf = (CHROOT / "etc/asterisk.dist/asterisk.conf").read_text(encoding="utf-8")
        m = re.search(r"(?m)^astagidir\s*=>\s*(\S+)", conf)
        return CHROOT / (m.group(1) if m else "/var/lib/asterisk/agi-bin").lstrip("/")

    def install_config(self) -> None:
        shutil.rmtree(self.etc, ignore_errors=True)
        shutil.copytree(CHROOT / "etc/asterisk.dist", self.etc, symlinks=True)
        for src in sorted(CONFIG_DIR.glob("*.conf")):
            text = self._site_values(src.name, src.read_text(encoding="utf-8"))
            if src.name in self.extra_config:
                text += "\n; -- test only (tests/peers) --\n" + self.extra_config[src.name]
            (self.etc / src.name).write_text(text, encoding="utf-8")
        agi = self.agi_dir()
        agi.mkdir(parents=True, exist_ok=True)
        for src in sorted((CONFIG_DIR / "agi-bin").iterdir()):
            shutil.copy2(src, agi / src.name)
            (agi / src.name).chmod(0o755)
        self.recordings_dir.mkdir(parents=True, exist_ok=True)

    def softphone_password(self, ext: str) -> str:
        text = (self.etc / "pjsip.conf").read_text(encoding="utf-8")
        m = re.search(rf"(?m)^\[{ext}\]\(calltaker-auth\)\n(?:.*\n)*?password=(\S+)", text)
        if not m:
            raise KeyError(f"no auth section for softphone {ext} in pjsip.conf")
        return m.group(1)

    # -- process ------------------------------------------------------------------------

    def _clean_state(self, fresh: bool) -> None:
        for pid in _chroot_pids():
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _chroot_pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        run = CHROOT / "var/run/asterisk"
        run.mkdir(parents=True, exist_ok=True)
        for stale in ("asterisk.ctl", "asterisk.pid"):
            (run / stale).unlink(missing_ok=True)
        if not fresh:
            return
        # A fresh start keeps nothing of the last run: no registrations, logs, CDRs, recordings.
        (CHROOT / "var/lib/asterisk/astdb.sqlite3").unlink(missing_ok=True)
        for log in ("full.log", "messages.log", "cdr-csv/Master.csv"):
            (CHROOT / "var/log/asterisk" / log).unlink(missing_ok=True)
        for rec in self.recordings_dir.glob("*.wav"):
            rec.unlink()

    def start(self, timeout: float = 60.0, *, fresh: bool = True) -> None:
        """Install the configuration and start Asterisk; return once it is fully booted and
        the AMI user can log in. `fresh=False` keeps the astdb (registrations), the logs,
        CDRs and recordings of the previous run, as a real restart does."""
        reason = available()
        if reason:
            raise RuntimeError(reason)
        self._clean_state(fresh)
        self.install_config()
        proc_dir = CHROOT / "proc"
        if not _is_mounted(proc_dir):
            subprocess.run(["mount", "-t", "proc", "proc", str(proc_dir)], check=True)
        out = open(self.stdout_log, "ab")  # noqa: SIM115 - the process keeps it
        self.proc = subprocess.Popen(
            ["chroot", str(CHROOT), "/usr/sbin/asterisk", "-f", "-n", "-vvv"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"Asterisk exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            res = self._rx("core waitfullybooted", timeout=5, check=False)
            if res.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"Asterisk did not boot in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)
        self._wait_ami(deadline)

    def _wait_ami(self, deadline: float) -> None:
        login = (
            f"Action: Login\r\nUsername: {self.ami_user}\r\nSecret: {self.ami_secret}\r\n"
            "Events: off\r\n\r\n"
        ).encode()
        last = ""
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.ami_host, self.ami_port), timeout=5) as s:
                    data = b""
                    s.sendall(login)
                    while b"Response:" not in data or not data.endswith(b"\r\n\r\n"):
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    last = data.decode("utf-8", "replace")
                    if "Response: Success" in last:
                        s.sendall(b"Action: Logoff\r\n\r\n")
                        return
            except OSError as e:
                last = str(e)
            time.sleep(0.2)
        raise RuntimeError(f"AMI login as {self.ami_user} failed: {last}\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._rx("core stop now", timeout=timeout, check=False)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        self._unmount_proc()

    def kill(self) -> None:
        """SIGKILL, as a crash: no hangups are sent, no CDRs written."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        """Stop and start again with the same ports and secret, keeping what a real restart
        keeps (registrations, logs, CDRs, recordings)."""
        self.stop()
        self.start(fresh=False)

    def _unmount_proc(self) -> None:
        proc_dir = CHROOT / "proc"
        if _is_mounted(proc_dir) and not _chroot_pids():
            subprocess.run(["umount", str(proc_dir)], check=False)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- inspection ---------------------------------------------------------------------

    def _rx(self, command: str, timeout: float, check: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(CHROOT), "/usr/sbin/asterisk", "-rx", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def cli(self, command: str, timeout: float = 10.0) -> str:
        """Run an Asterisk CLI command (asterisk -rx) and return what it printed."""
        return self._rx(command, timeout=timeout, check=True).stdout

    def set_global(self, name: str, value: str) -> None:
        """Set a dialplan global (QUEUE_WAIT, DISTRICT_DUTY ...) as the CLI does."""
        self.cli(f'dialplan set global {name} "{value}"')

    def host_path(self, path: str | Path) -> Path:
        """Where a path inside Asterisk (a recording, a CDR file) is on this host."""
        return CHROOT / str(path).lstrip("/")

    def put_file(self, src: Path, path: str) -> str:
        """Copy a file of this host to `path` inside Asterisk's root; returns `path`."""
        dest = self.host_path(path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        return path

    def log_tail(self, n: int = 200) -> str:
        parts = []
        for path in (self.full_log, self.stdout_log):
            if path.exists():
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                parts.append(f"==> {path} <==\n" + "\n".join(lines[-n:]))
        return "\n".join(parts)

    def __enter__(self) -> Asterisk:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    """`python -m tests.peers.asterisk`: start Asterisk with the project's configuration for
    a manual session; print how to reach it; stop on Ctrl-C."""
    reason = available()
    if reason:
        print(reason)
        return 2
    ast = Asterisk()
    ast.start()
    print(
        f"Asterisk up. SIP udp {ast.sip_host}:{ast.sip_port}; "
        f"AMI {ast.ami_host}:{ast.ami_port} user {ast.ami_user} secret {ast.ami_secret}\n"
        f"carrier {CARRIER_IP} (contact port {ast.carrier_port}), drill {DRILL_IP}\n"
        f"CLI: chroot {CHROOT} asterisk -r; log: {ast.full_log}\nCtrl-C stops it."
    )
    try:
        while ast.running:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        ast.stop()
    return 0


def __getattr__(name: str) -> object:
    # `from tests.peers.asterisk import Sipp`: the sipp peers live in a module of their own,
    # which imports this one.
    if name in ("Sipp", "SippRun", "Softphone"):
        from tests.peers import sipp_peers

        return getattr(sipp_peers, name)
    raise AttributeError(name)


if __name__ == "__main__":
    raise SystemExit(main())
