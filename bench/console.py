"""Console benchmark (issue 11): live updates to open consoles while web reports arrive,
the intake rate with and without them, and the queue page over 5,000 open incidents.

    /tmp/venv/bin/python bench/console.py [--consoles 200] [--rate 50] [--seconds 30]
        [--clients 16] [--rate-seconds 15] [--open 5000] [--gets 30]
        [--skip-live] [--skip-queue]

About 100 s with the defaults on the 2-core development machine.

Two real gateway processes (tests/peers/gateway.py), each on a fresh SQLite store in a
temporary directory, with the sample city, its intake worker on, and one change: every SLA
is stretched to 24 h, so that no deadline fires (and escalates thousands of incidents) in
the middle of a measurement. A dispatcher of the root unit (who sees every incident) logs
in through the form; all consoles share that session (one user with many tabs).

1. **Live updates.** `consoles` SSE clients of ``GET /console/events?since=<head>`` (one
   asyncio process of their own, de-chunking and parsing every message) while web reports
   arrive open loop at `rate`/s for `seconds` (``POST /api/v1/reports``, keep-alive
   connections from another process; each report from its own phone number at its own
   point of a 300 m grid, so each opens a new incident). For every (report × console) pair:
   the delay from the report's ``201`` (sent only after the commit) to the arrival of its
   incident's ``create`` event on that console, and from the event's own ``at`` time (the
   gateway's clock when it wrote the event, before the commit: an upper bound). Every
   console must get every incident once. Target: p99 ≤ 1 s.
   Then the **intake rate**: `clients` keep-alive clients posting as fast as they can for
   `rate-seconds` (bench/intake.py's load generator, after its 2 s warm-up), first with no
   console connected, then with `consoles` connected (a process that reads and counts the
   streams without parsing the JSON). Reports/s of each and their ratio: the cost of the
   fan-out, which here includes the consoles' own reading on the same two cores; the
   gateway's CPU per report (HTTP process and intake worker, from /proc) separates it.
2. **Queue page.** `open` open incidents posted as fast as possible (16 clients; distinct
   callers, points of a 150 m grid), then ``GET /console/`` `gets` times after one warm-up
   (client-side, one keep-alive connection on localhost: the server's time plus ~0.3 ms),
   and ``GET /console/rows/<number>``. Same-run baselines on the gateway's database file:
   `gateway.console.queue.queue()` called directly (what the page reads: count, the first
   300 rows priority 1 first then oldest, their channels and deadlines) and the bare
   SQLAlchemy Core count + 300-row select. The ratio to them is what HTTP, the session
   and rendering add.

The load generators share the machine's cores with the gateway; the summary says how
busy the machine was (load average) at the start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import multiprocessing
import os
import platform
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake import cpu_seconds, read_body, run_load  # noqa: E402

TEXT = "控制台基准：有人报警称家中被盗"
CITY_LAT = (24.965, 25.115)  # inside the sample city's rectangle, 24.96–25.12 …
CITY_LON = (102.625, 102.795)  # … and 102.62–102.80
# The start of an incident event as the gateway writes it (gateway/console/stream.py).
FAST = re.compile(
    rb'id: \d+\nevent: (\w+)\ndata: \{"seq":\d+,"incident":"([^"]*)","action":"(\w+)",'
    rb'"at":"([^"]+)"'
)
OPEN_STATES = ("received", "accepted", "dispatched", "acknowledged", "on_scene")


# -- the gateway ---------------------------------------------------------------------------


def city(tmp: Path) -> Path:
    """The sample city with every SLA at 24 h."""
    from gateway.config import sample_text

    text = re.sub(
        r"\[sla\.\w+\][^\[]*",
        lambda m: re.sub(r"(?m)^(p[1-4]) = \d+", r"\1 = 86400", m.group(0)),
        sample_text(),
    )
    assert text.count("= 86400") == 20, "the sample city's [sla.*] sections changed"
    path = tmp / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_gateway(tmp: Path) -> tuple[Any, str, str]:
    """A started gateway, the root unit and the session cookie of its dispatcher."""
    from gateway.config import load_config
    from tests.peers.console import ConsoleClient
    from tests.peers.gateway import GatewayProcess

    config = city(tmp)
    root = load_config(config).org.root.code
    gw = GatewayProcess(tmp / "data", config)
    password = gw.user("bench-dispatcher", "dispatcher", unit=root)
    gw.start(timeout=60)
    client = ConsoleClient(gw.base)
    answer = client.login("bench-dispatcher", password)
    assert answer.status == 303, (answer.status, answer.text[:500])
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar if c.name == "alarmgw_session")
    assert cookie, "no session cookie after login"
    return gw, root, cookie


def chain_head(gw: Any) -> int:
    with sqlite3.connect(f"file:{gw.data_dir / 'alarmgw.db'}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT seq FROM chain_head").fetchone()[0])


def peak_rss_mib(pid: int) -> float:
    found = re.search(r"VmHWM:\s*(\d+)", Path(f"/proc/{pid}/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


def log_problems(gw: Any) -> int:
    """Lines of the gateway's log that say something went wrong."""
    text = gw.log_path.read_text(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if "Traceback" in line or "Unhandled" in line or "Console stream:" in line
    )


def open_incidents(gw: Any) -> int:
    marks = ",".join("?" * len(OPEN_STATES))
    with sqlite3.connect(f"file:{gw.data_dir / 'alarmgw.db'}?mode=ro", uri=True) as conn:
        return int(
            conn.execute(
                f"SELECT COUNT(*) FROM incidents WHERE state IN ({marks})", OPEN_STATES
            ).fetchone()[0]
        )


# -- reports -------------------------------------------------------------------------------


def place(i: int, spacing_m: float) -> tuple[float, float]:
    """Point `i` of a grid over the city whose neighbours are `spacing_m` apart or more."""
    dlat = spacing_m / 111_320.0
    dlon = dlat / math.cos(math.radians(CITY_LAT[1]))  # the narrowest degree: the north
    cols = int((CITY_LON[1] - CITY_LON[0]) / dlon) + 1
    rows = int((CITY_LAT[1] - CITY_LAT[0]) / dlat) + 1
    if i >= rows * cols:
        raise ValueError(f"a {spacing_m:g} m grid has only {rows * cols} points")
    r, c = divmod(i, cols)
    return round(CITY_LAT[0] + r * dlat, 6), round(CITY_LON[0] + c * dlon, 6)


def report(phone: str, point: tuple[float, float]) -> bytes:
    return json.dumps(
        {
            "sender": {"kind": "phone", "id": phone},
            "text": TEXT,
            "location": {"lat": point[0], "lon": point[1], "accuracy_m": 30},
        },
        ensure_ascii=False,
    ).encode()


async def post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes
) -> tuple[int, bytes]:
    writer.write(
        b"POST /api/v1/reports HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload
    )
    status = await reader.readline()
    return int(status.split()[1]), await read_body(reader)


def incident_of(status: int, body: bytes) -> str | None:
    return str(json.loads(body)["incident"]["number"]) if status == 201 else None


async def open_loop(port: int, payloads: list[bytes], rate: float) -> list[tuple[Any, ...]]:
    """Report i is sent at start + i/rate whatever happened to the others, over an idle
    keep-alive connection or a new one. Per report: (due, sent, 201 at, status, number)."""
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    opened: list[asyncio.StreamWriter] = []
    out: list[tuple[Any, ...]] = [()] * len(payloads)

    async def one(i: int, due: float) -> None:
        if idle:
            conn = idle.pop()
        else:
            conn = await asyncio.open_connection("127.0.0.1", port)
            opened.append(conn[1])
        sent = time.monotonic()
        status, body = await post(*conn, payloads[i])
        done = time.monotonic()
        idle.append(conn)
        out[i] = (due, sent, done, status, incident_of(status, body))

    start = time.monotonic() + 0.2
    tasks = []
    for i in range(len(payloads)):
        due = start + i / rate
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    for w in opened:
        w.close()
    return out


async def closed_loop(port: int, payloads: list[bytes], clients: int) -> list[tuple[int, Any]]:
    """`clients` connections posting one after another: (status, number) per report."""
    out: list[tuple[int, Any]] = [(0, None)] * len(payloads)
    todo = iter(range(len(payloads)))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in todo:
            status, body = await post(reader, writer, payloads[i])
            out[i] = (status, incident_of(status, body))
        writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


# -- consoles: SSE clients in a process of their own ---------------------------------------


class Console(asyncio.Protocol):
    """One tab's ``GET /console/events``: de-chunks the response; with `parse`, records
    when each incident's create event arrived, else only counts create events."""

    def __init__(self, request: bytes, parse: bool, at: dict[str, str]) -> None:
        self.request = request
        self.parse = parse
        self.at = at  # number → the event's `at`, shared by the consoles
        self.buf = bytearray()
        self.head = True
        self.need = -1  # bytes of the current chunk, -1: its size line is next
        self.sse = b""
        self.status = 0
        self.ready = asyncio.get_running_loop().create_future()
        self.got: dict[str, float] = {}  # number → arrival (time.monotonic)
        self.dups = 0
        self.kinds: Counter[str] = Counter()
        self.creates = 0
        self.last_create = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"stream closed ({self.status})"))

    def data_received(self, data: bytes) -> None:
        t = time.monotonic()
        buf = self.buf
        buf += data
        pos = 0
        if self.head:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).decode("latin-1")
            self.status = int(head.split()[1])
            if self.status != 200 or "chunked" not in head.lower():
                self.ready.set_exception(ConnectionError(head))
                return
            self.head = False
            pos = end + 4
        while True:
            if self.need < 0:
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    break
                self.need = int(bytes(buf[pos:nl]).split(b";")[0], 16)
                pos = nl + 2
            if self.need == 0 or len(buf) - pos < self.need + 2:
                break
            self.chunk(bytes(buf[pos : pos + self.need]), t)
            pos += self.need + 2
            self.need = -1
        del buf[:pos]

    def chunk(self, data: bytes, t: float) -> None:
        if not self.ready.done():
            self.ready.set_result(None)  # `retry:` and a comment: subscribed
        if not self.parse:
            n = data.count(b'"action":"create"')
            if n:
                self.creates += n
                self.last_create = t
            return
        self.sse += data
        *messages, self.sse = self.sse.split(b"\n\n")
        for message in messages:
            fast = FAST.match(message)  # the gateway's key order; else parse it all
            if fast is not None:
                kind, number, action, at = (x.decode() for x in fast.groups())
            else:
                kind, payload = "", ""
                for line in message.decode().split("\n"):
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        payload = line[5:].strip()
                if not kind:
                    continue  # retry, comments
                ev = json.loads(payload)
                number, action, at = ev.get("incident"), ev.get("action", ""), ev.get("at")
            self.kinds[f"{kind}:{action}"] += 1
            if kind == "incident" and action == "create":
                if number in self.got:
                    self.dups += 1
                else:
                    self.got[number] = t
                    self.at[number] = at


async def consoles(port: int, cookie: str, since: int, n: int, parse: bool, ctl: Any) -> None:
    loop = asyncio.get_running_loop()
    at: dict[str, str] = {}
    request = (
        f"GET /console/events?since={since} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    tabs: list[Console] = []
    for start in range(0, n, 20):  # 20 at a time: the listen backlog is 50
        batch = [Console(request, parse, at) for _ in range(start, min(n, start + 20))]
        await asyncio.gather(
            *(loop.create_connection(lambda c=c: c, "127.0.0.1", port) for c in batch)
        )
        await asyncio.wait_for(asyncio.gather(*(c.ready for c in batch)), 30)
        tabs += batch
    ctl.send(("ready", len(tabs)))
    while True:
        command, arg, timeout = await loop.run_in_executor(None, ctl.recv)
        if command == "close":
            break
        # "expect": wait until every console has them (numbers) or as many creates (count).
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if parse:
                done = all(all(x in c.got for x in arg) for c in tabs)
            else:
                done = all(c.creates >= arg for c in tabs)
            if done:
                break
            await asyncio.sleep(0.2)
        offset = time.time() - time.monotonic()
        if parse:
            ctl.send(
                (
                    [c.got for c in tabs],
                    at,
                    offset,
                    sum(c.dups for c in tabs),
                    sum((c.kinds for c in tabs), Counter()),
                )
            )
        else:
            ctl.send(([c.creates for c in tabs], max(c.last_create for c in tabs)))
    for c in tabs:
        if c.transport is not None:
            c.transport.close()


def consoles_process(
    port: int, cookie: str, since: int, n: int, parse: bool, ctl: Connection
) -> None:
    asyncio.run(consoles(port, cookie, since, n, parse, ctl))


class Consoles:
    """The consoles' process, driven over a pipe."""

    def __init__(self, gw: Any, cookie: str, n: int, parse: bool) -> None:
        self.ctl, child = multiprocessing.Pipe()
        self.proc = multiprocessing.Process(
            target=consoles_process,
            args=(gw.port, cookie, chain_head(gw), n, parse, child),
            daemon=True,
        )
        self.proc.start()
        ready, connected = self.answer(120.0)
        assert ready == "ready" and connected == n, (ready, connected)

    def answer(self, timeout: float) -> Any:
        if not self.ctl.poll(timeout):
            raise TimeoutError("the consoles' process did not answer")
        return self.ctl.recv()  # EOFError if it died (its traceback is on stderr)

    def expect(self, what: Any, timeout: float) -> Any:
        self.ctl.send(("expect", what, timeout))
        return self.answer(timeout + 60.0)

    def close(self) -> None:
        self.ctl.send(("close", None, 0))
        self.proc.join(30)


# -- figures -------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def ms(x: float) -> str:
    return f"{x * 1000:,.1f} ms"


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def part_live(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    gw, _root, cookie = start_gateway(tmp)
    r: dict[str, Any] = {}
    try:
        assert gw.proc is not None
        pid = gw.proc.pid
        n = int(args.rate * args.seconds)
        payloads = [report(f"137{i:08d}", place(i, 300)) for i in range(n)]
        tabs = Consoles(gw, cookie, args.consoles, parse=True)
        time.sleep(1.0)
        assert tabs.proc.pid
        cpu, tabs_cpu = cpu_seconds(pid), cpu_seconds(tabs.proc.pid)
        t0 = time.monotonic()
        posted = asyncio.run(open_loop(gw.port, payloads, args.rate))
        r["live_elapsed"] = time.monotonic() - t0
        r["live_cpu"] = cpu_seconds(pid) - cpu
        r["live_tabs_cpu"] = cpu_seconds(tabs.proc.pid) - tabs_cpu
        numbers = [p[4] for p in posted if p[3] == 201]
        r["live_refused"] = Counter(p[3] for p in posted if p[3] != 201)
        r["live_distinct"] = len(set(numbers))
        got, at, offset, dups, kinds = tabs.expect(numbers, 15.0)
        tabs.close()
        delays, from_at = [], []
        missed = [0] * len(got)
        for _due, _sent, done, status, number in posted:
            if status != 201:
                continue
            for k, arrived in enumerate(got):
                t = arrived.get(number)
                if t is None:
                    missed[k] += 1
                    continue
                delays.append(t - done)
                from_at.append(t + offset - epoch(at[number]))
        r.update(
            live_n=n,
            live_reports=len(numbers),
            live_delays=delays,
            live_from_at=from_at,
            live_missed=missed,
            live_dups=dups,
            live_kinds=kinds,
            live_ack=[p[2] - p[1] for p in posted if p[3] == 201],
            live_late=max(p[1] - p[0] for p in posted),
        )

        # The intake rate, closed loop, with no console and with them all.
        run_load(gw.port, args.clients, 2.0, 900_000_000)  # warm-up, as bench/intake.py
        for key, n_tabs, offset_n in (("bare", 0, 0), ("fanout", args.consoles, 10_000_000)):
            tabs = Consoles(gw, cookie, n_tabs, parse=False) if n_tabs else None
            time.sleep(1.0)
            cpu = cpu_seconds(pid)
            tabs_cpu = cpu_seconds(tabs.proc.pid) if tabs and tabs.proc.pid else 0.0
            res = run_load(gw.port, args.clients, args.rate_seconds, offset_n)
            stopped = time.monotonic()
            res["cpu_us"] = 1e6 * (cpu_seconds(pid) - cpu) / max(res["reports"], 1)
            if tabs is not None:
                assert tabs.proc.pid
                tabs_cpu = cpu_seconds(tabs.proc.pid) - tabs_cpu
                counts, last = tabs.expect(int(res["reports"]), 60.0)
                tabs.close()
                res["tabs_cpu_share"] = tabs_cpu / args.rate_seconds
                res["tabs_short"] = sum(max(0, int(res["reports"]) - c) for c in counts)
                res["tabs_behind"] = max(0.0, last - stopped)
            r[key] = res
        r["rss"] = peak_rss_mib(pid)
    finally:
        gw.stop()
    r["log_problems"] = log_problems(gw)
    return r


def part_queue(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from sqlalchemy import case, func, select

    from gateway.config import load_config
    from gateway.console import queue
    from gateway.store.engine import make_engine
    from gateway.store.tables import incidents
    from gateway.workflow.machine import Actor
    from gateway.workflow.table import Role

    gw, root, cookie = start_gateway(tmp)
    r: dict[str, Any] = {}
    try:
        payloads = [report(f"136{i:08d}", place(i, 150)) for i in range(args.open)]
        t0 = time.monotonic()
        posted = asyncio.run(closed_loop(gw.port, payloads, 16))
        r["seed_rate"] = len(payloads) / (time.monotonic() - t0)
        r["seed_refused"] = sum(1 for s, _ in posted if s != 201)
        r["open"] = open_incidents(gw)
        number = posted[0][1]

        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=60)

        def get(path: str) -> tuple[float, int, bytes]:
            t = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            resp = conn.getresponse()
            body = resp.read()
            return time.perf_counter() - t, resp.status, body

        first, status, body = get("/console/")
        assert status == 200, (status, body[:500])
        text = body.decode()
        shown = re.search(r"共 (\d+) 起", text)
        r.update(
            page_first=first,
            page_bytes=len(body),
            page_rows=text.count('id="row-'),
            page_count=int(shown.group(1)) if shown else None,
        )
        times = []
        for _ in range(args.gets):
            t, status, _ = get("/console/")
            assert status == 200
            times.append(t)
        r["page"] = times
        get(f"/console/rows/{number}")
        rows = []
        for _ in range(args.gets):
            t, status, body = get(f"/console/rows/{number}")
            assert status == 200, (status, body[:300])
            rows.append(t)
        r["row"] = rows
        conn.close()

        # Baselines, on the same database file while the gateway runs (idle).
        org = load_config(gw.config).org
        actor = Actor("bench-dispatcher", Role.DISPATCHER, root)
        engine = make_engine(f"sqlite:///{gw.data_dir / 'alarmgw.db'}", writer=False)
        where = [
            incidents.c.state.in_(OPEN_STATES),
            incidents.c.unit.in_(queue.scope_units(org, root)) | incidents.c.unit.is_(None),
            incidents.c.drill.is_(False),
        ]

        def raw(c: Any) -> Any:
            count = c.execute(select(func.count()).select_from(incidents).where(*where)).scalar()
            found = (
                c.execute(
                    select(incidents)
                    .where(*where)
                    .order_by(case((incidents.c.priority == 1, 0), else_=1), incidents.c.created_at)
                    .limit(queue.QUEUE_LIMIT)
                )
                .mappings()
                .all()
            )
            return found, count

        for key, fn in (
            ("raw", raw),
            ("queue_fn", lambda c: queue.queue(c, org, actor, queue.Filters())),
            ("row_fn", lambda c: queue.row(c, number)),
        ):
            times = []
            for k in range(args.gets + 1):
                t = time.perf_counter()
                with engine.connect() as c:
                    found, count = fn(c) if key != "row_fn" else (fn(c), 1)
                if k:  # the first warms the connection up
                    times.append(time.perf_counter() - t)
            r[key] = times
            if key == "raw":
                assert len(found) == min(queue.QUEUE_LIMIT, count) and count == r["open"]
        engine.dispose()
    finally:
        gw.stop()
    r["log_problems"] = log_problems(gw)
    return r


# -- the machine ---------------------------------------------------------------------------


def machine() -> str:
    cpu = "?"
    mem = "?"
    try:
        info = Path("/proc/cpuinfo").read_text()
        cpu = re.search(r"model name\s*:\s*(.*)", info).group(1).strip()  # type: ignore[union-attr]
        kb = int(re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--consoles", type=int, default=200)
    ap.add_argument("--rate", type=float, default=50.0, help="reports/s, open loop")
    ap.add_argument("--seconds", type=float, default=30.0, help="of the open loop")
    ap.add_argument("--clients", type=int, default=16, help="closed loop")
    ap.add_argument("--rate-seconds", type=float, default=15.0, help="of each closed loop")
    ap.add_argument("--open", type=int, default=5000, help="open incidents for the queue")
    ap.add_argument("--gets", type=int, default=30)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-queue", action="store_true")
    args = ap.parse_args()

    started = datetime.now(UTC)
    t_start = time.monotonic()
    load_start = load()
    print(f"bench/console.py {started:%Y-%m-%d %H:%M} UTC, load average {load_start}", flush=True)
    live: dict[str, Any] = {}
    page: dict[str, Any] = {}
    for name, skip, fn, out in (
        ("live", args.skip_live, part_live, live),
        ("queue", args.skip_queue, part_queue, page),
    ):
        if skip:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"alarmgw-bench-console-{name}-"))
        try:
            print(f"  {name} …", flush=True)
            out.update(fn(args, tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    load_end = load()

    lines = [
        "alarmgw console benchmark (bench/console.py)",
        f"date      {started:%Y-%m-%d %H:%M} UTC, {time.monotonic() - t_start:.0f} s",
        f"machine   {machine()}",
        f"load avg  1/5/15 min {load_start} at the start, {load_end} at the end",
        "gateway   sample city, SLAs stretched to 24 h, intake worker on, SQLite (WAL, FULL)",
    ]
    ok = True
    if live:
        d, a = live["live_delays"], live["live_from_at"]
        missed = live["live_missed"]
        others = {k: v for k, v in live["live_kinds"].items() if k != "incident:create"}
        met = bool(d) and pct(d, 0.99) <= 1.0 and not any(missed)
        ok &= met and not live["live_refused"]
        bare, fan = live["bare"], live["fanout"]
        lines += [
            "",
            f"1. Live updates: {args.consoles} consoles (one session), "
            f"{live['live_n']} web reports open loop at {args.rate:g}/s "
            f"({live['live_elapsed']:.1f} s), each a new incident",
            f"   201 → console event      p50 {ms(statistics.median(d))}   "
            f"p99 {ms(pct(d, 0.99))}   max {ms(max(d))}   ({len(d):,} report × console pairs)",
            f"   event `at` → console     p50 {ms(statistics.median(a))}   "
            f"p99 {ms(pct(a, 0.99))}   max {ms(max(a))}   (includes the commit)",
            f"   send → 201               p50 {ms(statistics.median(live['live_ack']))}   "
            f"p99 {ms(pct(live['live_ack'], 0.99))}   max {ms(max(live['live_ack']))}",
            f"   missed create events     {sum(missed)} in all, at most {max(missed)} on one "
            f"console; duplicates {live['live_dups']}; refused reports "
            f"{sum(live['live_refused'].values())}; distinct incidents "
            f"{live['live_distinct']} of {live['live_reports']}",
            f"   other events streamed    {dict(others) or 'none'}",
            f"   gateway CPU              {live['live_cpu'] / live['live_elapsed']:.0%} of a core;"
            f" the consoles' process {live['live_tabs_cpu'] / live['live_elapsed']:.0%};"
            f" generator at most {ms(live['live_late'])} late",
            f"   target p99 ≤ 1 s         {'met' if met else 'MISSED'}",
            "",
            f"   Intake rate, {args.clients} keep-alive clients × {args.rate_seconds:g} s "
            "closed loop (bench/intake.py's generator):",
            f"   {'consoles':>10} {'reports/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
            f"{'gateway CPU µs/report':>22}",
        ]
        for n_tabs, res in ((0, bare), (args.consoles, fan)):
            lines.append(
                f"   {n_tabs:>10} {res['rate']:>10,.0f} {res['p50_ms']:>8.1f} "
                f"{res['p99_ms']:>8.1f} {res['errors']:>7.0f} {res['cpu_us']:>22,.0f}"
            )
        lines += [
            f"   ratio {fan['rate'] / bare['rate']:.0%} of the rate without consoles; "
            f"the consoles' reader process used {fan['tabs_cpu_share']:.0%} of a core; "
            f"all consoles had every create event {fan['tabs_behind']:.1f} s after the load "
            f"stopped ({fan['tabs_short']} short)",
            f"   gateway HTTP process peak RSS {live['rss']:,.0f} MiB; "
            f"problems in its log {live['log_problems']}",
        ]
        ok &= bare["errors"] == 0 and fan["errors"] == 0 and fan["tabs_short"] == 0
        ok &= live["log_problems"] == 0
    if page:
        p, row = page["page"], page["row"]
        median_p = statistics.median(p)
        met = median_p <= 0.3
        ok &= met and page["page_count"] == args.open and page["open"] == args.open
        lines += [
            "",
            f"2. Queue page: {page['open']:,} open incidents (seeded at "
            f"{page['seed_rate']:,.0f} reports/s, {page['seed_refused']} refused), "
            f"dispatcher of the root unit",
            f"   GET /console/            min {ms(min(p))}   median {ms(statistics.median(p))}"
            f"   p90 {ms(pct(p, 0.9))}   ({len(p)} after one warm-up of "
            f"{ms(page['page_first'])}; {page['page_bytes'] / 1024:,.0f} KiB, "
            f"{page['page_rows']} rows, count {page['page_count']:,})",
            f"   GET /console/rows/<n>    median {ms(statistics.median(row))}   min {ms(min(row))}",
            f"   baseline queue.queue()   median {ms(statistics.median(page['queue_fn']))}   "
            f"(the page's reads, called directly on the database file)",
            f"   baseline raw SQL         median {ms(statistics.median(page['raw']))}   "
            f"(count + the first 300 rows, SQLAlchemy Core)",
            f"   baseline queue.row()     median {ms(statistics.median(page['row_fn']))}",
            f"   page / queue()           {median_p / statistics.median(page['queue_fn']):.1f}×"
            f"; page / raw SQL {median_p / statistics.median(page['raw']):.1f}×",
            f"   target ≤ 300 ms          {'met' if met else 'MISSED'} (median)"
            f"; problems in the gateway's log {page['log_problems']}",
        ]
    print("\n".join(lines))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
