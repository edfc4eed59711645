"""Alarm panels and vehicle terminals benchmark (issue 12): 20,000 JT/T 808 terminals on one
gateway, and DC-09 panels as fast as the gateway ACKs them, each beside a same-run baseline.

    /tmp/venv/bin/python bench/targets.py [--terminals 19900] [--seconds 90] [--sos-rate 5]
        [--panels 200] [--dc09-seconds 20] [--skip-jt808] [--skip-dc09]

About 6 minutes with the defaults on the 2-core development machine.

Each part runs a real gateway process (tests/peers/gateway.py) on a fresh SQLite store, the
sample city with one channel enabled and one change: every SLA stretched to 24 h, so that
no deadline escalates hundreds of open priority-1 incidents in the middle of a run.

1. **JT/T 808.** `terminals` terminals (the vehicles CSV of 20,000 rows imported first with
   ``alarmgw vehicles import``) connect at `ramp` per second, each registering (0x0100 →
   0x8100) and authenticating with the code it got (0x0102 → 0x8001). They are split over
   client processes of at most 10,000 connections (asyncio; no coroutine per terminal: one
   timer loop per process sends, every 100 ms, the frames due). Once all are connected, each
   sends a position (0x0200) every 30 s and a heartbeat (0x0002) every 60 s, phases spread
   evenly; after `warmup` seconds, `sos-rate` SOS per second (a position with alarm bit 0)
   for `seconds`, each from a terminal that has not sent one, at its own point of a grid
   over the city whose points are 1 km apart if it has enough points, else 750, 500 or
   400 m (750 m for 450 SOS; correlation joins places within 200 m): each opens a new
   incident. A terminal's
   positions after its SOS are the incident's track (answered after the batch commit).
   Measured for the frames sent in the `seconds` window, from writing the frame to reading
   the 0x8001 that carries its serial: SOS (answered after the incident's commit; target
   p99 ≤ 100 ms), ordinary positions (answered at once), heartbeats, track points; whether
   every frame was answered "ok"; the gateway's ``alarmgw_jt808_pending_positions`` from
   ``GET /metrics`` each second; at the end, how many vehicles have a ``last_fix_at`` of
   the last 60 s; the RSS (VmRSS, VmHWM) of the gateway and of its intake worker each
   second (target ≤ 1 GiB) and their CPU; the answers slower than 50 ms grouped into
   episodes (a stall of the server shows as one). The client processes freeze their
   objects out of the garbage collector's way once logged in (`gc.freeze`), so that its
   full passes do not delay their reading; the servers get no such help. Baseline, in the
   same run before the gateway: the same clients against bench/targets_baseline.py's
   server, which reads every frame with the same `frame.Decoder` and answers at once,
   storing nothing.

   **Why 19,900 and not 20,000.** This machine's hard limit of open files is 20,000 per
   process (``ulimit -Hn``; even root cannot raise it here: setrlimit says "not allowed to
   raise maximum limit"). The gateway holds one descriptor per terminal plus its own
   (about 25: the store, the intake worker's pipes, its listeners, the epoll), so 19,900
   is what one gateway process takes here, with room to spare. Each process of this
   script raises its soft limit to the hard one, and the gateway inherits it. In
   production: systemd ``LimitNOFILE=`` (e.g. 65536) for the gateway's unit, above the
   fleet plus a margin.

2. **DC-09.** `panels` premises (``alarmgw targets import``; half of them with an AES-128
   key) each hold a TCP link and send their next SIA-DCS frame as soon as the previous one
   is answered (closed loop): burglary alarms (BA, zones 1–8 in turn) and every tenth frame
   a NULL supervision message, encrypted for the panels with a key. The gateway ACKs an
   alarm after its report is committed (the first alarm of an account opens an incident;
   correlation attaches the account's next ones to it, each still a stored report) and a
   NULL at once. Over `dc09-seconds` after a 2 s warm-up: events/s and ACK latency. The
   baseline, in the same run: bench/targets_baseline.py's server doing the receiver's wire
   work (envelope, decryption, data, time window) and ACKing without storing anything.

The load generators share the two cores with the server they drive; their CPU is printed,
and the machine's load average at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import math
import multiprocessing
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.targets_baseline import raise_nofile, serve_dc09, serve_jt808  # noqa: E402
from gateway.channels.dc09 import frame as dc09  # noqa: E402
from gateway.channels.jt808 import frame as jt808  # noqa: E402

CITY_LAT = (24.96, 25.12)  # the sample city's rectangle
CITY_LON = (102.62, 102.80)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PER_PROCESS = 10_000  # connections a client process holds at most
TICK = 0.1  # the fleet's timer
POSITION_S, HEARTBEAT_S = 30.0, 60.0
POS, HEARTBEAT, SOS, TRACK = 0, 1, 2, 3
KINDS = ("position", "heartbeat", "SOS", "track point")
ALARM, NULL = 0, 1
TOKEN = re.compile(rb'\n[0-9A-F]{8}"\*?([A-Z-]+)"')
LOCATED = 0x02  # status bit 1: a fix
SLOW = 0.05  # an answer slower than this (not a track point's) is a sign of a stall


# -- the gateway ---------------------------------------------------------------------------


def gateway(tmp: Path, code: str, settings: str) -> Any:
    """A gateway (not started) of the sample city with channel `code` on and every SLA at
    24 h."""
    from tests.peers.gateway import channel_gateway

    gw = channel_gateway(tmp, code, settings)
    assert gw.config is not None
    text = re.sub(
        r"\[sla\.\w+\][^\[]*",
        lambda m: re.sub(r"(?m)^(p[1-4]) = \d+", r"\1 = 86400", m.group(0)),
        gw.config.read_text(encoding="utf-8"),
    )
    assert text.count("= 86400") == 20, "the sample city's [sla.*] sections changed"
    gw.config.write_text(text, encoding="utf-8")
    return gw


def children(pid: int) -> list[int]:
    try:
        return [
            int(c)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for c in (task / "children").read_text().split()
        ]
    except OSError:
        return []


def intake_worker(pid: int) -> int | None:
    for c in children(pid):
        try:
            if b"gateway.store.worker" in Path(f"/proc/{c}/cmdline").read_bytes():
                return c
        except OSError:
            pass
    return None


def cpu_own(pid: int | None) -> float:
    """utime + stime of one process (not its children), from /proc."""
    if pid is None:
        return 0.0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / CLOCK_TICKS


def memory_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    out = []
    for key in ("VmRSS", "VmHWM"):
        found = re.search(rf"{key}:\s*(\d+)", text)
        out.append(int(found.group(1)) / 1024 if found else 0.0)
    return out[0], out[1]


class Watch(threading.Thread):
    """Every second: the RSS of the watched processes, the server's open files and, for a
    gateway, two gauges of its /metrics."""

    GAUGES = ("alarmgw_jt808_pending_positions", "alarmgw_jt808_links")

    def __init__(self, pids: dict[str, int | None], metrics_url: str | None = None) -> None:
        super().__init__(daemon=True)
        self.pids = {k: v for k, v in pids.items() if v is not None}
        self.url = metrics_url
        self.stopped = threading.Event()
        self.rss: dict[str, float] = {}
        self.hwm: dict[str, float] = {}
        self.fds = 0
        self.gauges: dict[str, list[float]] = {g: [] for g in self.GAUGES}
        self.metrics_errors = 0

    def run(self) -> None:
        while not self.stopped.wait(1.0):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            rss, hwm = memory_mib(pid)
            self.rss[name] = max(self.rss.get(name, 0.0), rss)
            self.hwm[name] = max(self.hwm.get(name, 0.0), hwm)
        main = next(iter(self.pids.values()))
        try:
            self.fds = max(self.fds, len(os.listdir(f"/proc/{main}/fd")))
        except OSError:
            pass
        if self.url is None:
            return
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                text = resp.read().decode()
        except OSError:
            self.metrics_errors += 1
            return
        for g in self.GAUGES:
            found = re.search(rf"(?m)^{g} (\S+)", text)
            if found:
                self.gauges[g].append(float(found.group(1)))

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)
        self.sample()


def log_problems(gw: Any) -> list[str]:
    """Lines of the gateway's log that say something went wrong."""
    text = gw.log_path.read_text(errors="replace")
    needles = ("Traceback", "Unhandled", "failed", "not written", "not stored", "Too many")
    return [line for line in text.splitlines() if any(n in line for n in needles)]


# -- places --------------------------------------------------------------------------------


def grid(n: int) -> tuple[list[tuple[float, float]], int]:
    """`n` points of a grid over the city, 200 m inside its edges, with the widest spacing
    of 1 km, 750 m, 500 m that has enough of them; and that spacing."""
    for spacing in (1000, 750, 500, 400):
        dlat = spacing / 111_320.0
        dlon = dlat / math.cos(math.radians(CITY_LAT[1]))  # the narrowest degree: the north
        margin = 200 / 111_320.0
        rows = int((CITY_LAT[1] - CITY_LAT[0] - 2 * margin) / dlat) + 1
        cols = int((CITY_LON[1] - CITY_LON[0] - 2 * margin * 1.11) / dlon) + 1
        if rows * cols >= n:
            return [
                (
                    round(CITY_LAT[0] + margin + r * dlat, 6),
                    round(CITY_LON[0] + margin * 1.11 + c * dlon, 6),
                )
                for r, c in (divmod(i, cols) for i in range(n))
            ], spacing
    raise ValueError(f"{n} points ≥ 400 m apart do not fit the city")


def home(i: int) -> tuple[float, float]:
    """Where terminal `i` drives (anywhere in the city: positions are not correlated)."""
    return (
        round(CITY_LAT[0] + 0.005 + (i * 7919 % 10007) / 10007 * 0.15, 6),
        round(CITY_LON[0] + 0.005 + (i * 104729 % 10009) / 10009 * 0.17, 6),
    )


def phone(i: int) -> str:
    return f"139{i:08d}"


def vehicles_csv(n: int, org: Any) -> str:
    lines = ["terminal,plate,plate_color,kind,company,unit,phones"]
    for i in range(n):
        lat, lon = home(i)
        unit = org.unit_at(lat, lon)
        lines.append(f"{phone(i)},云A{i:05d},2,taxi,示例出租汽车公司,{unit.code if unit else ''},")
    return "\n".join(lines) + "\n"


def premises_csv(accounts: list[str], keys: dict[str, bytes], org: Any) -> str:
    points, _ = grid(len(accounts))
    lines = ["account,receiver,line,name,address,lat,lon,unit,phones,zones,key,supervision_s"]
    for i, (account, (lat, lon)) in enumerate(zip(accounts, points, strict=True)):
        unit = org.unit_at(lat, lon)
        key = keys[account].hex().upper() if account in keys else ""
        lines.append(
            f"{account},,,基准测试商铺{i},示例市基准路{i}号,{lat},{lon},{unit.code},,"
            f'"1:前门, 2:后门",{key},'
        )
    return "\n".join(lines) + "\n"


# -- JT/T 808 terminals: client processes ------------------------------------------------


@dataclass
class Plan:
    port: int
    terminals: int
    procs: int
    ramp: float  # connections per second, all processes together
    sos_rate: float
    sos_points: list[tuple[float, float]]
    drain_s: float = 10.0


class Terminal(asyncio.Protocol):
    __slots__ = (
        "fleet",
        "i",
        "phone_raw",
        "decoder",
        "serial",
        "transport",
        "ready",
        "auth_serial",
        "lat",
        "lon",
        "in_sos",
    )

    def __init__(self, fleet: Fleet, i: int) -> None:
        self.fleet = fleet
        self.i = i
        self.phone_raw = jt808.bcd_phone(phone(i))
        self.decoder = jt808.Decoder()
        self.serial = 0
        self.transport: Any = None
        self.ready: asyncio.Future[None] = fleet.loop.create_future()
        self.auth_serial = -1
        self.lat, self.lon = home(i)
        self.in_sos = False

    def send(self, msg_id: int, body: bytes) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        self.transport.write(jt808.encode(msg_id, self.phone_raw, self.serial, body))
        return self.serial

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.send(
            jt808.REGISTER,
            jt808.register_body(53, 100, "ALMGW", "BENCH", f"{self.i:07d}", 2, f"云A{self.i:05d}"),
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed during login: {exc}"))
        elif self.transport is not None:
            self.fleet.lost += 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        for m in self.decoder.feed(data):
            if isinstance(m, jt808.FrameError):
                self.fleet.bad_frames += 1
                continue
            mid = m.header.msg_id
            if mid == jt808.PLATFORM_RESPONSE:
                serial, result = int.from_bytes(m.body[:2]), m.body[4]
                if serial == self.auth_serial and not self.ready.done():
                    if result == jt808.RESULT_OK:
                        self.ready.set_result(None)
                    else:
                        self.ready.set_exception(ConnectionError(f"auth result {result}"))
                else:
                    self.fleet.answered(self.i, serial, result, now)
            elif mid == jt808.REGISTER_RESPONSE and not self.ready.done():
                if m.body[2] != 0:
                    self.ready.set_exception(ConnectionError(f"register result {m.body[2]}"))
                    continue
                code = m.body[3:].decode("gb18030")
                self.auth_serial = self.send(jt808.AUTH, jt808.auth_body(code))


class Fleet:
    """One client process's share of the terminals (every `procs`-th one)."""

    def __init__(self, plan: Plan, k: int) -> None:
        self.plan = plan
        self.k = k
        self.loop = asyncio.get_running_loop()
        self.terminals = [Terminal(self, i) for i in range(k, plan.terminals, plan.procs)]
        self.connected: list[Terminal] = []
        self.failures: Counter[str] = Counter()
        self.sent: dict[int, tuple[float, int]] = {}  # (i << 16 | serial) → (sent at, kind)
        self.window = (math.inf, math.inf)
        self.counts = [0] * len(KINDS)  # sent in the window
        self.not_ok = [0] * len(KINDS)
        self.latencies: list[list[float]] = [[] for _ in KINDS]
        self.stray = self.lost = self.bad_frames = self.unsendable = 0
        self.late = 0.0
        self.slow: list[tuple[float, float]] = []  # (sent, after the window's start; latency)
        self._when = (0, datetime.now(UTC))
        self.last_fix: dict[int, int] = {}  # terminal → the second of its last position

    # -- login --------------------------------------------------------------------------

    async def connect_all(self) -> float:
        rate = self.plan.ramp / self.plan.procs
        room = asyncio.Semaphore(64)
        t0 = time.monotonic()

        async def one(t: Terminal) -> None:
            try:
                await asyncio.wait_for(
                    self.loop.create_connection(lambda: t, "127.0.0.1", self.plan.port), 30
                )
                await asyncio.wait_for(t.ready, 30)
                self.connected.append(t)
            except Exception as e:  # counted and reported: the highest reached is a figure
                self.failures[f"{type(e).__name__}: {str(e)[:80]}"] += 1
                if t.transport is not None:
                    t.transport.abort()
            finally:
                room.release()

        tasks = []
        for n, t in enumerate(self.terminals):
            wait = t0 + n / rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await room.acquire()
            tasks.append(asyncio.create_task(one(t)))
        await asyncio.gather(*tasks)
        return time.monotonic() - t0

    # -- traffic ------------------------------------------------------------------------

    def when(self) -> datetime:
        second = int(time.time())
        if self._when[0] != second:
            self._when = (second, datetime.fromtimestamp(second, UTC))
        return self._when[1]

    def frame_out(self, t: Terminal, msg_id: int, body: bytes, kind: int) -> None:
        if t.transport is None or t.transport.is_closing():
            self.unsendable += 1
            return
        sent = time.monotonic()
        serial = t.send(msg_id, body)
        self.sent[t.i << 16 | serial] = (sent, kind)
        if self.window[0] <= sent < self.window[1]:
            self.counts[kind] += 1

    def position(self, t: Terminal, alarm: int = 0) -> None:
        when = self.when()
        self.last_fix[t.i] = self._when[0]
        body = jt808.position_body(alarm, LOCATED, t.lat, t.lon, 1900, 36.0, 90, when)
        kind = SOS if alarm else TRACK if t.in_sos else POS
        self.frame_out(t, jt808.POSITION, body, kind)

    def answered(self, i: int, serial: int, result: int, now: float) -> None:
        entry = self.sent.pop(i << 16 | serial, None)
        if entry is None:
            self.stray += 1
            return
        sent, kind = entry
        if self.window[0] <= sent < self.window[1]:
            self.latencies[kind].append(now - sent)
            if now - sent > SLOW and kind != TRACK:  # when the slow answers came: stalls
                self.slow.append((sent - self.window[0], now - sent))
            if result != jt808.RESULT_OK:
                self.not_ok[kind] += 1

    async def drive(self, start: float, m_from: float, m_to: float) -> None:
        """Until `m_to`: every TICK the positions and heartbeats due; SOS number j (of all
        processes) at m_from + (j + ½)/rate, each from a terminal of its own."""
        self.window = (m_from, m_to)
        n, procs = self.plan.terminals, self.plan.procs
        pos_slots, hb_slots = round(POSITION_S / TICK), round(HEARTBEAT_S / TICK)
        positions: list[list[Terminal]] = [[] for _ in range(pos_slots)]
        heartbeats: list[list[Terminal]] = [[] for _ in range(hb_slots)]
        for t in self.connected:
            positions[t.i * pos_slots // n].append(t)
            heartbeats[(t.i * hb_slots // n + hb_slots // 4) % hb_slots].append(t)
        rate = self.plan.sos_rate
        total = int((m_to - m_from) * rate)
        sos = [(m_from + (j + 0.5) / rate, j) for j in range(min(total, len(self.plan.sos_points)))]
        sos = [s for s in sos if s[1] % procs == self.k]
        # Distinct terminals, spread over the fleet: from the end of the list backwards.
        chosen = iter(self.connected[::-1][:: max(1, len(self.connected) // max(1, len(sos)))])
        si = tick = 0
        while True:
            now = time.monotonic()
            if now >= m_to:
                return
            due = int((now - start) / TICK)
            while tick <= due:
                if now >= m_from:
                    self.late = max(self.late, now - (start + tick * TICK))
                for t in positions[tick % pos_slots]:
                    self.position(t)
                for t in heartbeats[tick % hb_slots]:
                    self.frame_out(t, jt808.HEARTBEAT, b"", HEARTBEAT)
                tick += 1
            while si < len(sos) and sos[si][0] <= now:
                t = next(chosen)
                t.lat, t.lon = self.plan.sos_points[sos[si][1]]
                t.in_sos = True
                self.position(t, alarm=1)
                si += 1
            wake = start + tick * TICK
            if si < len(sos):
                wake = min(wake, sos[si][0])
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    async def drain(self) -> None:
        m_from, m_to = self.window
        deadline = time.monotonic() + self.plan.drain_s
        while time.monotonic() < deadline:
            if not any(m_from <= s < m_to for s, _ in self.sent.values()):
                return
            await asyncio.sleep(0.1)

    def results(self) -> dict[str, Any]:
        m_from, m_to = self.window
        missing = [0] * len(KINDS)
        for s, kind in self.sent.values():
            if m_from <= s < m_to:
                missing[kind] += 1
        return {
            "sent": self.counts,
            "missing": missing,
            "not_ok": self.not_ok,
            "latencies": self.latencies,
            "stray": self.stray,
            "lost": self.lost,
            "bad_frames": self.bad_frames,
            "unsendable": self.unsendable,
            "late": self.late,
            "slow": self.slow,
            "last_fix": list(self.last_fix.values()),
        }


def fleet_main(pipe: Connection, plan: Plan, k: int) -> None:
    raise_nofile()

    async def main() -> None:
        fleet = Fleet(plan, k)
        ramp = await fleet.connect_all()
        # The terminals live to the end: out of the collector's way, so that its full
        # passes over them do not delay reading the answers (the servers get no such help).
        gc.collect()
        gc.freeze()
        pipe.send(("ready", len(fleet.connected), ramp, dict(fleet.failures)))
        loop = asyncio.get_running_loop()
        command, *times = await loop.run_in_executor(None, pipe.recv)
        if command == "go":
            await fleet.drive(*times)
            await fleet.drain()
            pipe.send(("done", fleet.results()))
            await loop.run_in_executor(None, pipe.recv)  # "close"
        for t in fleet.connected:
            if t.transport is not None:
                t.transport.abort()

    asyncio.run(main())


def run_fleet(
    args: argparse.Namespace, port: int, server_pids: dict[str, int | None], metrics: str | None
) -> dict[str, Any]:
    """The terminals against `port`: logged in, then the traffic; the figures of the window,
    the server's CPU and memory, and the clients' CPU."""
    procs = max(2, math.ceil(args.terminals / PER_PROCESS))
    points, spacing = grid(int(args.seconds * args.sos_rate))
    plan = Plan(port, args.terminals, procs, args.ramp, args.sos_rate, points)
    pipes, workers = [], []
    for k in range(procs):
        ours, theirs = multiprocessing.Pipe()
        p = multiprocessing.Process(target=fleet_main, args=(theirs, plan, k), daemon=True)
        p.start()
        pipes.append(ours)
        workers.append(p)
    watch = Watch(server_pids, metrics)
    watch.start()
    r: dict[str, Any] = {"procs": procs, "spacing": spacing}
    try:
        connected, ramp, failures = 0, 0.0, Counter[str]()
        for pipe in pipes:
            if not pipe.poll(args.terminals / args.ramp + 120):
                raise RuntimeError("a client process did not log its terminals in")
            _, n, seconds, fails = pipe.recv()
            connected += n
            ramp = max(ramp, seconds)
            failures.update(fails)
        r.update(connected=connected, ramp_s=ramp, failures=failures)
        start = time.monotonic() + 1.0
        m_from = start + args.warmup
        m_to = m_from + args.seconds
        for pipe in pipes:
            pipe.send(("go", start, m_from, m_to))
        time.sleep(max(0.0, m_from - time.monotonic()))
        cpu0 = {name: cpu_own(pid) for name, pid in server_pids.items()}
        clients0 = [cpu_own(p.pid) for p in workers]
        time.sleep(max(0.0, m_to - time.monotonic()))
        r["end_utc"] = datetime.now(UTC)
        r["cpu"] = {
            name: (cpu_own(pid) - cpu0[name]) / args.seconds for name, pid in server_pids.items()
        }
        r["clients_cpu"] = [
            (cpu_own(p.pid) - c) / args.seconds for p, c in zip(workers, clients0, strict=True)
        ]
        parts = []
        for pipe in pipes:
            if not pipe.poll(plan.drain_s + 60):
                raise RuntimeError("a client process gave no figures")
            parts.append(pipe.recv()[1])
        r["clients_rss"] = sum(memory_mib(p.pid)[0] for p in workers if p.pid)
        for pipe in pipes:
            pipe.send(("close",))
    finally:
        for p in workers:
            p.join(60)
            if p.is_alive():
                p.terminate()
        watch.stop()
    r["sent"] = [sum(p["sent"][k] for p in parts) for k in range(len(KINDS))]
    r["missing"] = [sum(p["missing"][k] for p in parts) for k in range(len(KINDS))]
    r["not_ok"] = [sum(p["not_ok"][k] for p in parts) for k in range(len(KINDS))]
    r["latencies"] = [sorted(x for p in parts for x in p["latencies"][k]) for k in range(4)]
    for key in ("stray", "lost", "bad_frames", "unsendable"):
        r[key] = sum(p[key] for p in parts)
    r["late"] = max(p["late"] for p in parts)
    r["slow"] = sorted(x for p in parts for x in p["slow"])
    # The positions of the last minute, by their BCD time (whole seconds, as stored).
    r["cutoff"] = int(r["end_utc"].timestamp()) - 60
    r["expected_fresh"] = sum(1 for p in parts for s in p["last_fix"] if s >= r["cutoff"])
    r["rss"], r["hwm"], r["fds"] = dict(watch.rss), dict(watch.hwm), watch.fds
    r["gauges"] = watch.gauges
    return r


def part_jt808(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from gateway.config import load_config
    from tests.peers.gateway import db

    out: dict[str, Any] = {}
    # The baseline first, while nothing else runs.
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_jt808, args=(theirs,), daemon=True)
    server.start()
    try:
        _, port = ours.recv()
        print(f"  JT/T 808 baseline: {args.terminals:,} terminals …", flush=True)
        out["base"] = run_fleet(args, port, {"server": server.pid}, None)
    finally:
        server.terminate()
        server.join(30)

    gw = gateway(tmp, "jt808", 'auth_secret = "bench-secret"\n')
    assert gw.config is not None
    org = load_config(gw.config).org
    csv = tmp / "vehicles.csv"
    csv.write_text(vehicles_csv(max(20_000, args.terminals), org), encoding="utf-8")
    t0 = time.monotonic()
    imported = gw.cli("vehicles", "import", str(csv))
    out["import_s"] = time.monotonic() - t0
    out["import"] = imported.stdout.strip().rpartition(".csv: ")[2]
    gw.start(timeout=120)
    try:
        assert gw.proc is not None
        pid = gw.proc.pid
        worker = intake_worker(pid)
        out["own_fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        print(f"  JT/T 808 gateway: {args.terminals:,} terminals …", flush=True)
        r = run_fleet(
            args, gw.channel_ports[0], {"gateway": pid, "worker": worker}, f"{gw.base}/metrics"
        )
        time.sleep(2.5)  # the last batch (flush_s = 1)
        cutoff = datetime.fromtimestamp(r["cutoff"], UTC).replace(tzinfo=None)
        with db(gw) as conn:
            r["fresh"] = conn.execute(
                "SELECT COUNT(*) FROM vehicles WHERE last_fix_at >= ?",
                (cutoff.isoformat(" "),),
            ).fetchone()[0]
            r["reports"], r["incidents"] = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT incident_id) FROM reports WHERE channel = 'jt808'"
            ).fetchone()
            r["track_rows"] = conn.execute("SELECT COUNT(*) FROM vehicle_track").fetchone()[0]
        out["gw"] = r
    finally:
        gw.stop(timeout=120)
    out["log_problems"] = log_problems(gw)
    return out


# -- DC-09 panels ---------------------------------------------------------------------------


@dataclass
class PanelPlan:
    port: int
    accounts: list[str]
    keys: dict[str, bytes] = field(default_factory=dict)


class Panel(asyncio.Protocol):
    def __init__(self, pool: Panels, account: str, key: bytes | None) -> None:
        self.pool = pool
        self.account = account
        self.key = key
        self.n = 0
        self.sent_at = 0.0
        self.kind = ALARM
        self.buffer = b""
        self.transport: Any = None
        self.idle = True

    def itself(self) -> Panel:  # the protocol factory of its own link
        return self

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.pool.lost += 1
        self.transport = None

    def next(self) -> None:
        if self.transport is None or time.monotonic() >= self.pool.window[1]:
            self.idle = True
            return
        self.n += 1
        seq = f"{(self.n - 1) % 9999 + 1:04d}"
        if self.n % 10 == 0:
            self.kind, data = NULL, ""
            token = "NULL"
        else:
            self.kind, data = ALARM, f"#{self.account}|NBA{self.n % 8 + 1:02d}"
            token = "SIA-DCS"
        raw = dc09.build(token, seq, self.account, data, key=self.key, timestamp=datetime.now(UTC))
        self.idle = False
        self.sent_at = time.monotonic()
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        while b"\r" in self.buffer:
            answer, _, self.buffer = self.buffer.partition(b"\r")
            found = TOKEN.match(answer)
            self.pool.answered(self, found[1].decode() if found else "?", now)
            self.next()


class Panels:
    def __init__(self, plan: PanelPlan) -> None:
        self.plan = plan
        self.window = (math.inf, math.inf)
        self.links: list[Panel] = []
        self.latencies: list[list[float]] = [[], []]
        self.tokens: Counter[str] = Counter()
        self.alarms_acked = 0  # over the whole run: each should be a stored report
        self.lost = 0

    def answered(self, panel: Panel, token: str, now: float) -> None:
        if token == "ACK" and panel.kind == ALARM:
            self.alarms_acked += 1
        if self.window[0] <= panel.sent_at < self.window[1]:
            self.tokens[token] += 1
            if token == "ACK":
                self.latencies[panel.kind].append(now - panel.sent_at)

    async def run(self, pipe: Connection) -> None:
        loop = asyncio.get_running_loop()
        for first in range(0, len(self.plan.accounts), 20):  # the listen backlog is 50
            batch = [Panel(self, a, self.plan.keys.get(a)) for a in self.plan.accounts[first:][:20]]
            await asyncio.gather(
                *(loop.create_connection(p.itself, "127.0.0.1", self.plan.port) for p in batch)
            )
            self.links += batch
        pipe.send(("ready", len(self.links)))
        _, start, m_from, m_to = await loop.run_in_executor(None, pipe.recv)
        self.window = (m_from, m_to)
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        for p in self.links:
            p.next()
        await asyncio.sleep(max(0.0, m_to - time.monotonic()))
        deadline = time.monotonic() + 10
        while not all(p.idle for p in self.links) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        busy = sum(1 for p in self.links if not p.idle)
        for p in self.links:
            if p.transport is not None:
                p.transport.abort()
        pipe.send(("done", self.latencies, dict(self.tokens), self.alarms_acked, self.lost, busy))


def panels_main(pipe: Connection, plan: PanelPlan) -> None:
    raise_nofile()
    asyncio.run(Panels(plan).run(pipe))


def run_panels(
    args: argparse.Namespace,
    port: int,
    server_pids: dict[str, int | None],
    accounts: list[str],
    keys: dict[str, bytes],
) -> dict[str, Any]:
    procs = args.dc09_clients
    pipes, workers = [], []
    for k in range(procs):
        ours, theirs = multiprocessing.Pipe()
        plan = PanelPlan(port, accounts[k::procs], keys)
        p = multiprocessing.Process(target=panels_main, args=(theirs, plan), daemon=True)
        p.start()
        pipes.append(ours)
        workers.append(p)
    watch = Watch(server_pids)
    watch.start()
    r: dict[str, Any] = {}
    try:
        r["connected"] = 0
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("a panel process did not connect")
            r["connected"] += pipe.recv()[1]
        start = time.monotonic() + 0.5
        m_from = start + 2.0  # warm-up
        m_to = m_from + args.dc09_seconds
        for pipe in pipes:
            pipe.send(("go", start, m_from, m_to))
        time.sleep(max(0.0, m_from - time.monotonic()))
        cpu0 = {name: cpu_own(pid) for name, pid in server_pids.items()}
        clients0 = [cpu_own(p.pid) for p in workers]
        time.sleep(max(0.0, m_to - time.monotonic()))
        r["cpu"] = {
            name: (cpu_own(pid) - cpu0[name]) / args.dc09_seconds
            for name, pid in server_pids.items()
        }
        r["clients_cpu"] = sum(
            (cpu_own(p.pid) - c) / args.dc09_seconds for p, c in zip(workers, clients0, strict=True)
        )
        parts = []
        for pipe in pipes:
            if not pipe.poll(60):
                raise RuntimeError("a panel process gave no figures")
            parts.append(pipe.recv())
    finally:
        for p in workers:
            p.join(30)
            if p.is_alive():
                p.terminate()
        watch.stop()
    r["latencies"] = [sorted(x for p in parts for x in p[1][k]) for k in (ALARM, NULL)]
    r["tokens"] = sum((Counter(p[2]) for p in parts), Counter())
    r["alarms_acked"] = sum(p[3] for p in parts)
    r["lost"] = sum(p[4] for p in parts)
    r["busy"] = sum(p[5] for p in parts)
    r["rss"], r["hwm"] = dict(watch.rss), dict(watch.hwm)
    return r


def part_dc09(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from gateway.config import load_config
    from tests.peers.gateway import db

    accounts = [f"B{i:03X}" if i < 0x1000 else f"B{i:X}" for i in range(args.panels)]
    keys = {
        a: hashlib.sha256(f"bench-{a}".encode()).digest()[:16]
        for i, a in enumerate(accounts)
        if i % 2
    }
    out: dict[str, Any] = {"encrypted": len(keys)}
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve_dc09, args=(theirs, keys), daemon=True)
    server.start()
    try:
        _, port = ours.recv()
        print(f"  DC-09 baseline: {args.panels} panels …", flush=True)
        out["base"] = run_panels(args, port, {"server": server.pid}, accounts, keys)
    finally:
        server.terminate()
        server.join(30)

    gw = gateway(tmp, "dc09", "")
    assert gw.config is not None
    org = load_config(gw.config).org
    csv = tmp / "premises.csv"
    csv.write_text(premises_csv(accounts, keys, org), encoding="utf-8")
    out["import"] = gw.cli("targets", "import", str(csv)).stdout.strip().rpartition(".csv: ")[2]
    gw.start(timeout=60)
    try:
        assert gw.proc is not None
        pid = gw.proc.pid
        print(f"  DC-09 gateway: {args.panels} panels …", flush=True)
        r = run_panels(
            args,
            gw.channel_ports[0],
            {"gateway": pid, "worker": intake_worker(pid)},
            accounts,
            keys,
        )
        time.sleep(0.5)
        with db(gw) as conn:
            r["reports"], r["incidents"] = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT incident_id) FROM reports WHERE channel = 'dc09'"
            ).fetchone()
        out["gw"] = r
    finally:
        gw.stop()
    out["log_problems"] = log_problems(gw)
    return out


# -- figures ------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(p * len(values)))]


def stalls(slow: list[tuple[float, float]]) -> str:
    """The slow answers grouped into episodes (sent within 0.5 s of each other): when each
    began in the window, and its worst latency."""
    episodes: list[list[float]] = []
    for at, latency in slow:
        if episodes and at - episodes[-1][1] < 0.5:
            episodes[-1][1] = at
            episodes[-1][2] = max(episodes[-1][2], latency)
        else:
            episodes.append([at, at, latency])
    return f"{len(episodes)} episodes" + (
        ": "
        + ", ".join(f"{a:.1f} s ({ms(w)} ms)" for a, _, w in episodes[:12])
        + (" …" if len(episodes) > 12 else "")
        if episodes
        else ""
    )


def ms(x: float) -> str:
    return "–" if math.isnan(x) else f"{x * 1000:,.1f}"


def machine() -> str:
    import platform

    cpu, mem = "?", "?"
    try:
        info = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.*)", info)
        cpu = found.group(1).strip() if found else "?"
        kb = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
        mem = f"{int(kb.group(1)) / 1024 / 1024:.0f} GiB" if kb else "?"
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def jt808_lines(args: argparse.Namespace, out: dict[str, Any]) -> tuple[list[str], bool]:
    g, b = out["gw"], out["base"]
    sos_n = g["sent"][SOS]
    lines = [
        "",
        f"1. JT/T 808: {args.terminals:,} terminals ({g['procs']} client processes), "
        f"a position every {POSITION_S:g} s ({args.terminals / POSITION_S:,.0f}/s) and a "
        f"heartbeat every {HEARTBEAT_S:g} s ({args.terminals / HEARTBEAT_S:,.0f}/s); "
        f"SOS {args.sos_rate:g}/s, each a new terminal at its own point of a "
        f"{g['spacing']} m grid; {args.seconds:g} s measured after {args.warmup:g} s",
        f"   not 20,000: the hard limit here is {args.nofile:,} open files per process "
        "(ulimit -Hn; root cannot raise it), the gateway needs one per terminal plus "
        f"{out['own_fds']} of its own; production: LimitNOFILE= above the fleet",
        f"   vehicles imported: {out['import']} ({out['import_s']:.1f} s)",
        "   (ratio: gateway / baseline, of the p99 for latencies)",
        f"   {'':34} {'gateway':>22} {'baseline':>22} {'ratio':>7}",
    ]

    def row(label: str, gv: str, bv: str, ratio: str = "") -> None:
        lines.append(f"   {label:34} {gv:>22} {bv:>22} {ratio:>7}")

    def conn(r: dict[str, Any]) -> str:
        return f"{r['connected']:,} in {r['ramp_s']:.0f} s"

    row("connected (login: 0x0100, 0x0102)", conn(g), conn(b))
    ok = g["connected"] == args.terminals
    for kind, ps in (
        (SOS, (0.5, 0.95, 0.99, 1.0)),
        (POS, (0.5, 0.99, 1.0)),
        (HEARTBEAT, (0.5, 0.99)),
        (TRACK, (0.5, 0.99, 1.0)),
    ):
        gl, bl = g["latencies"][kind], b["latencies"][kind]
        names = "/".join("max" if p == 1.0 else f"p{p * 100:g}" for p in ps)
        row(
            f"{KINDS[kind]} → 0x8001 ms {names}",
            " / ".join(ms(pct(gl, p)) for p in ps),
            " / ".join(ms(pct(bl, p)) for p in ps),
            f"{pct(gl, 0.99) / pct(bl, 0.99):.1f}×" if bl and gl else "",
        )
    for kind in (POS, HEARTBEAT, SOS, TRACK):
        row(
            f"{KINDS[kind]} frames sent/unanswered/not ok",
            f"{g['sent'][kind]:,} / {g['missing'][kind]} / {g['not_ok'][kind]}",
            f"{b['sent'][kind]:,} / {b['missing'][kind]} / {b['not_ok'][kind]}",
        )
        ok &= g["missing"][kind] == 0 and g["not_ok"][kind] == 0
    gcpu = g["cpu"]["gateway"] + g["cpu"].get("worker", 0.0)
    row(
        "server CPU, share of a core",
        f"{gcpu:.0%} ({g['cpu']['gateway']:.0%} + {g['cpu'].get('worker', 0):.0%} worker)",
        f"{b['cpu']['server']:.0%}",
        f"{gcpu / b['cpu']['server']:.1f}×" if b["cpu"]["server"] else "",
    )
    row(
        "client CPU, share of a core",
        " + ".join(f"{c:.0%}" for c in g["clients_cpu"]),
        " + ".join(f"{c:.0%}" for c in b["clients_cpu"]),
    )
    rss = g["hwm"].get("gateway", 0) + g["hwm"].get("worker", 0)
    row(
        "peak RSS MiB (VmHWM)",
        f"{g['hwm'].get('gateway', 0):,.0f} + {g['hwm'].get('worker', 0):,.0f} worker",
        f"{b['hwm'].get('server', 0):,.0f}",
    )
    row("open files of the server (max)", f"{g['fds']:,}", f"{b['fds']:,}")
    row("client processes' RSS MiB", f"{g['clients_rss']:,.0f}", f"{b['clients_rss']:,.0f}")
    pending = g["gauges"]["alarmgw_jt808_pending_positions"]
    lines += [
        f"   pending positions (gauge, each s)  max {max(pending, default=0):,.0f}, "
        f"median {statistics.median(pending) if pending else 0:,.0f}, last "
        f"{pending[-1] if pending else 0:,.0f} ({len(pending)} samples)",
        f"   vehicles whose last_fix_at is of the last 60 s at the end: {g['fresh']:,}; "
        f"terminals that sent one in that minute: {g['expected_fresh']:,}",
        f"   SOS sent {sos_n}: jt808 reports {g['reports']}, incidents {g['incidents']}; "
        f"track rows {g['track_rows']:,}",
        f"   links lost {g['lost']}, stray answers {g['stray']}, bad frames {g['bad_frames']}, "
        f"login failures {sum(g['failures'].values())}"
        f"{' ' + str(dict(g['failures'])) if g['failures'] else ''}; "
        f"timer at most {ms(g['late'])} ms late",
        f"   answers > {SLOW * 1000:.0f} ms (not track points): {len(g['slow']):,} in "
        f"{stalls(g['slow'])}",
        f"   baseline: {len(b['slow']):,} in {stalls(b['slow'])}",
        f"   problems in the gateway's log: {len(out['log_problems'])}"
        + "".join(f"\n     {line[:160]}" for line in out["log_problems"][:5]),
    ]
    met_sos = bool(g["latencies"][SOS]) and pct(g["latencies"][SOS], 0.99) <= 0.1
    met_mem = rss <= 1024
    # Bounded: never more than three batches' worth (flush_s = 1 s) waiting.
    per_s = args.terminals / POSITION_S + args.terminals / HEARTBEAT_S
    kept = g["fresh"] == g["expected_fresh"] and max(pending, default=0) <= 3 * per_s
    lines += [
        f"   target SOS p99 ≤ 100 ms     {'met' if met_sos else 'MISSED'}",
        f"   target RSS ≤ 1 GiB          {'met' if met_mem else 'MISSED'} "
        f"({rss:,.0f} MiB gateway + worker)",
        f"   positions kept up with      {'yes' if kept else 'NO'} (every one answered, "
        f"pending ≤ {3 * per_s:,.0f}: 3 s of traffic, each last fix stored)",
    ]
    ok &= met_sos and met_mem and kept and g["reports"] == sos_n == g["incidents"]
    return lines, ok


def dc09_lines(args: argparse.Namespace, out: dict[str, Any]) -> tuple[list[str], bool]:
    g, b = out["gw"], out["base"]
    s = args.dc09_seconds
    lines = [
        "",
        f"2. DC-09: {args.panels} panels over TCP, closed loop ({args.dc09_clients} client "
        f"processes), {out['encrypted']} of them AES-128; burglary alarms (BA) and every tenth "
        f"frame NULL; {s:g} s measured after 2 s",
        f"   premises imported: {out['import']}",
        f"   {'':34} {'gateway':>22} {'baseline':>22} {'ratio':>7}",
    ]

    def row(label: str, gv: str, bv: str, ratio: str = "") -> None:
        lines.append(f"   {label:34} {gv:>22} {bv:>22} {ratio:>7}")

    ga, ba = g["latencies"][ALARM], b["latencies"][ALARM]
    gn, bn = g["latencies"][NULL], b["latencies"][NULL]
    row(
        "alarms ACKed per s",
        f"{len(ga) / s:,.0f}",
        f"{len(ba) / s:,.0f}",
        f"{len(ga) / len(ba):.0%}" if ba else "",
    )
    row(
        "frames ACKed per s (with NULL)",
        f"{(len(ga) + len(gn)) / s:,.0f}",
        f"{(len(ba) + len(bn)) / s:,.0f}",
    )
    for label, gl, bl in (("alarm → ACK ms", ga, ba), ("NULL → ACK ms", gn, bn)):
        row(
            f"{label} p50/p99/max",
            " / ".join(ms(pct(gl, p)) for p in (0.5, 0.99, 1.0)),
            " / ".join(ms(pct(bl, p)) for p in (0.5, 0.99, 1.0)),
        )
    row("answers", str(dict(g["tokens"])), str(dict(b["tokens"])))
    gcpu = g["cpu"]["gateway"] + g["cpu"].get("worker", 0.0)
    row(
        "server CPU, share of a core",
        f"{gcpu:.0%} ({g['cpu']['gateway']:.0%} + {g['cpu'].get('worker', 0):.0%} worker)",
        f"{b['cpu']['server']:.0%}",
    )
    row(
        "server CPU µs per alarm",
        f"{1e6 * gcpu * s / max(1, len(ga)):,.0f}",
        f"{1e6 * b['cpu']['server'] * s / max(1, len(ba) + len(bn)):,.0f} (per frame)",
    )
    row("client CPU, share of a core", f"{g['clients_cpu']:.0%}", f"{b['clients_cpu']:.0%}")
    row(
        "peak RSS MiB (VmHWM)",
        f"{g['hwm'].get('gateway', 0):,.0f} + {g['hwm'].get('worker', 0):,.0f} worker",
        f"{b['hwm'].get('server', 0):,.0f}",
    )
    stored = g["reports"] == g["alarms_acked"]
    lines += [
        f"   alarms ACKed in the whole run {g['alarms_acked']:,}: dc09 reports stored "
        f"{g['reports']:,} ({'each once' if stored else 'MISMATCH'}), in {g['incidents']} "
        f"incidents (an account's later alarms join its first one's incident)",
        f"   links lost {g['lost']}, panels still waiting at the end {g['busy']}; "
        f"problems in the gateway's log: {len(out['log_problems'])}"
        + "".join(f"\n     {line[:160]}" for line in out["log_problems"][:5]),
    ]
    ok = stored and set(g["tokens"]) == {"ACK"} and not out["log_problems"]
    return lines, ok


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--terminals", type=int, default=19_900)
    ap.add_argument("--seconds", type=float, default=90.0, help="JT/T 808, measured")
    ap.add_argument("--warmup", type=float, default=10.0, help="JT/T 808, before measuring")
    ap.add_argument("--sos-rate", type=float, default=5.0, help="SOS per second")
    ap.add_argument("--ramp", type=float, default=500.0, help="terminals logging in per s")
    ap.add_argument("--panels", type=int, default=200)
    ap.add_argument("--dc09-seconds", type=float, default=20.0)
    ap.add_argument("--dc09-clients", type=int, default=2, help="client processes")
    ap.add_argument("--skip-jt808", action="store_true")
    ap.add_argument("--skip-dc09", action="store_true")
    args = ap.parse_args()
    args.nofile = raise_nofile()
    if args.terminals > args.nofile - 60:
        print(
            f"warning: {args.terminals:,} terminals need more open files than the "
            f"{args.nofile:,} one gateway process may have here",
            flush=True,
        )

    started = datetime.now(UTC)
    t_start = time.monotonic()
    load_start = load()
    print(f"bench/targets.py {started:%Y-%m-%d %H:%M} UTC, load average {load_start}", flush=True)
    results: dict[str, dict[str, Any]] = {}
    for name, skip, fn in (
        ("jt808", args.skip_jt808, part_jt808),
        ("dc09", args.skip_dc09, part_dc09),
    ):
        if skip:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"alarmgw-bench-targets-{name}-"))
        try:
            results[name] = fn(args, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = load()
    lines = [
        "",
        "alarmgw alarm panels and vehicle terminals benchmark (bench/targets.py)",
        f"date      {started:%Y-%m-%d %H:%M} UTC, {time.monotonic() - t_start:.0f} s",
        f"machine   {machine()}",
        f"load avg  1/5/15 min {load_start} at the start, {load_end} at the end",
        "gateway   sample city, SLAs stretched to 24 h, intake worker on, SQLite (WAL, FULL), "
        "the channel's default settings",
    ]
    ok = True
    if "jt808" in results:
        more, good = jt808_lines(args, results["jt808"])
        lines += more
        ok &= good
    if "dc09" in results:
        more, good = dc09_lines(args, results["dc09"])
        lines += more
        ok &= good
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
