"""E-mail intake benchmark: messages per second from 16 SMTP clients at once, each answered
250 only after its report is committed, and the latency from the end of DATA (the client's
``.``) to that 250.

    .venv/bin/python bench/mail.py [--n 4000] [--clients 16] [--runs 1] [--pg URL]

In one run:

1. **gateway**: a real gateway process (the sample city with [channels.smtp] on, SQLite in
   a temporary directory, or PostgreSQL with --pg) takes `n` distinct Chinese mails (about
   1.5 kB, each from its own address, so each is a new incident) from `clients` connections
   at once, each sending its messages one after another. Afterwards the store is checked:
   one report per message, none lost, none twice. No smarthost is set, so no receipt mail
   is queued: the figure is intake's.
2. **baseline**: the same clients against aiosmtpd on the same kind of loop (the Twisted
   asyncio reactor's) answering 250 without reading or storing anything
   (bench/mail_baseline.py): the SMTP transport's ceiling here.

Prints both and their ratio. Target (issue 10): ≥ 60 % of the baseline, p99 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ALARM = "110@alarm.example.cn"
PLACES = ["和平路", "东风路", "南坝路", "北京路", "人民中路", "青年路", "金碧路", "环城南路"]
WHAT = ["有人持刀抢劫", "发生车祸，两人受伤", "有人打架", "三楼起火", "老人走失", "可疑包裹"]


def message(run: str, i: int) -> tuple[str, bytes]:
    sender = f"citizen{i}.{run}@example.com"
    m = EmailMessage()
    m["From"] = f"市民{i} <{sender}>"
    m["To"] = ALARM
    m["Subject"] = f"报警：{PLACES[i % len(PLACES)]}{i % 200 + 1}号{WHAT[i % len(WHAT)]}"
    m["Message-ID"] = f"<bench-{run}-{i}@example.com>"
    body = (
        f"我在{PLACES[i % len(PLACES)]}{i % 200 + 1}号附近，{WHAT[i % len(WHAT)]}，请尽快派人。"
        f"联系电话138{i:08d}。" + "现场情况：" + "周围人很多，情况紧急。" * 12
    )
    m.set_content(body)
    raw = m.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return sender, raw


async def client(
    port: int, items: list[tuple[str, bytes]], latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def answer() -> bytes:
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionError("closed")
            if line[3:4] != b"-":
                return line

    async def say(command: bytes) -> bytes:
        writer.write(command + b"\r\n")
        return await answer()

    await answer()
    await say(b"EHLO bench.example.com")
    for sender, raw in items:
        for command in (b"MAIL FROM:<%s>" % sender.encode(), b"RCPT TO:<%s>" % ALARM.encode()):
            got = await say(command)
            if not got.startswith(b"250"):
                errors.append(got.decode(errors="replace").strip())
                break
        else:
            if not (await say(b"DATA")).startswith(b"354"):
                errors.append("DATA refused")
                continue
            writer.write(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            t0 = time.perf_counter()
            got = await answer()
            latencies.append(time.perf_counter() - t0)
            if not got.startswith(b"250"):
                errors.append(got.decode(errors="replace").strip())
            continue
        await say(b"RSET")
    await say(b"QUIT")
    writer.close()


def blast(port: int, n: int, clients: int, run: str) -> dict[str, Any]:
    items = [message(run, i) for i in range(n)]
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> float:
        t0 = time.perf_counter()
        await asyncio.gather(
            *(client(port, items[k::clients], latencies, errors) for k in range(clients))
        )
        return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    latencies.sort()
    return {
        "n": n,
        "rate": n / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
        "errors": errors,
    }


def gateway_phase(n: int, clients: int, pg: str | None, run: str) -> dict[str, Any]:
    from tests.peers.gateway import smtp_gateway

    tmp = Path(tempfile.mkdtemp(prefix="alarmgw-bench-mail-"))
    try:
        limit = f"[channels.smtp.rate_limit]\nmessages = {n * 2}\nconnections = {clients * 2}\n"
        pg_store = (
            (lambda t: t.replace("[storage]\n", f'[storage]\nurl = "{pg}"\n')) if pg else None
        )
        gw = smtp_gateway(tmp, limit, edit=pg_store)
        port = gw.smtp_port
        gw.start()
        try:
            result = blast(port, n, clients, run)
        finally:
            gw.stop()
        if not pg:
            with sqlite3.connect(tmp / "data" / "alarmgw.db") as conn:
                stored = conn.execute(
                    "SELECT COUNT(*), COUNT(DISTINCT external_id) FROM reports "
                    "WHERE channel = 'email'"
                ).fetchone()
            result["stored"] = stored
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def baseline_phase(n: int, clients: int, run: str) -> dict[str, Any]:
    from tests.peers.gateway import free_port

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "mail_baseline.py"), str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "listening"
        return blast(port, n, clients, run)
    finally:
        proc.terminate()
        proc.wait(10)


def show(name: str, r: dict[str, Any]) -> None:
    print(
        f"  {name:9} {r['rate']:8.0f} messages/s   p50 {r['p50']:6.1f} ms   p99 {r['p99']:6.1f} ms"
        f"   refused {len(r['errors'])}" + (f"   stored {r['stored']}" if "stored" in r else "")
    )
    if r["errors"]:
        print(f"            first refusal: {r['errors'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pg", help="PostgreSQL URL for the gateway's store")
    args = parser.parse_args()
    print(
        f"bench/mail.py {time.strftime('%Y-%m-%d %H:%M')}  {platform.python_version()}  "
        f"{args.n} messages, {args.clients} clients, store {'PostgreSQL' if args.pg else 'SQLite'}"
    )
    ok = True
    for k in range(args.runs):
        run = f"{int(time.time())}{k}"
        g = gateway_phase(args.n, args.clients, args.pg, run)
        b = baseline_phase(args.n, args.clients, run)
        print(f"run {k + 1}:")
        show("gateway", g)
        show("baseline", b)
        print(
            f"  ratio     {g['rate'] / b['rate']:8.1%} of the baseline (target ≥ 60 %, p99 ≤ 50 ms)"
        )
        if "stored" in g and g["stored"] != (args.n, args.n):
            print(f"  LOST OR DOUBLED: {g['stored']} stored of {args.n}")
            ok = False
        if g["errors"]:
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
