"""Exchange benchmark (issue 13): the two new HTTP intake routes, CAP 1.2 alerts and the
signed alarms of other information systems, beside the same intake without XML or
signatures, in one run.

    /tmp/venv/bin/python bench/exchange.py [--clients 16] [--seconds 10]

About a minute with the defaults on the 2-core development machine.

Each route in turn, on a real gateway process of its own (tests/peers/gateway.py) with a
fresh SQLite store in a temporary directory, all three of the same configuration: the
sample city with ``[channels.cap]`` and ``[channels.systems]`` on (the 119 system of
tests/channels/systems/city.py, with its two secrets) and three changes: every SLA
stretched to 24 h (bench/console.py's city), so that no deadline fires during a run;
``[channels.cap] default_category = "criminal"``; and ``[correlation] place_radius_m = 10``
instead of 200, so that bench/intake.py's places (a grid 15 m apart) stay separate places:
at 200 m the city holds only about 7,000 of them, fewer than one run posts. A gateway per
route, not one for all three: each route starts from an empty store (correlation's place
query read every open incident until the place index of core migration 0012, which this
benchmark found; a route after others would have paid for their incidents).

`clients` keep-alive HTTP/1.1 clients in a process of their own (asyncio, as
bench/intake.py's) post one request after another, 2 s of warm-up and then `seconds`:

1. ``POST /api/v1/reports``: the report as JSON, an integration token, an Idempotency-Key
   per request (the baseline: the same intake without XML or signatures);
2. ``POST /api/v1/cap``: a CAP 1.2 Alert (``application/cap+xml``, the same token), one
   ``info`` whose ``area`` has a ``circle`` (30 m), its own ``identifier``;
3. ``POST /api/v1/systems/fire119/alarms``: the 119 system's JSON (its own alarm id),
   signed with HMAC-SHA256 (``X-Alarmgw-Timestamp``, ``X-Alarmgw-Signature``).

Request n of every route is the same report: caller 139<n> (the phone of 1, the reporter
of 3; CAP has no caller, its sender is the sending system), bench/intake.py's place n, the
same text and address, category criminal, priority 2. No two reports of a run share a
caller, an alarm key or a place, so each opens a new incident: the expensive path (the
incidents/reports column checks it). Printed per route: answers 201 per second, p50 and
p99 latency (write to last byte read), the non-2xx and non-201 answers (a sample of each
status below the table), the gateway's CPU per answer (its HTTP process and intake
worker, from /proc); then the ratio of 2 and 3 to 1.

Then, in this process, the micro-baselines, µs per message (the best of 5 rounds of 2,000
distinct messages): lxml parse + ``XMLSchema.validate`` against the bundled CAP-v1.2.xsd
(one hardened parser, the channel's options); the channel's own
``gateway.channels.cap.message.parse`` (the same, plus its checks and the walk that builds
the ``Alert``) and, after it, ``mapping.reports`` (the ``Alert`` to its report); the HMAC
check alone (``hmac.new(...).hexdigest()`` + ``compare_digest``) and the channel's
``signature.verify`` (which tries every secret of the system: two).

Issue 13 names no target: the figures are recorded, not judged. The load generator shares
the machine's cores with the gateway (and builds, and for 3 signs, every request there);
the summary gives the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.console import city  # noqa: E402
from bench.intake import body, cpu_seconds, read_body  # noqa: E402
from gateway.notify.webhook import sign  # noqa: E402
from tests.channels.systems.city import FIRE, FIRE_SECRETS, SETTINGS, fire_alarm  # noqa: E402

CATEGORY = "criminal"  # no also_notify in the sample city: no webhook outbox in the way
ADDRESS = "南坝路1号"
CAP_SENDER = "bench-bureau@example.gov.cn"
ROUTES = {
    "reports": "/api/v1/reports",
    "cap": "/api/v1/cap",
    "systems": f"/api/v1/systems/{FIRE}/alarms",
}
TEXT = str(json.loads(body(0))["text"])  # bench/intake.py's
# The warm-up's reports are n = 600,000 on, the run's 0 on: below 997 × 991 all places differ.
WARM_UP_N = 600_000


# -- the requests --------------------------------------------------------------------------


def who(n: int) -> tuple[str, float, float]:
    """bench/intake.py's caller and place of report n."""
    doc = json.loads(body(n))
    loc = doc["location"]
    return doc["sender"]["id"], round(loc["lat"], 6), round(loc["lon"], 6)


def cap_alert(n: int, sent: str) -> bytes:
    _, lat, lon = who(n)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>bench-{n}</identifier>
  <sender>{CAP_SENDER}</sender>
  <sent>{sent}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Security</category>
    <event>入室盗窃</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <senderName>基准测试联动单位</senderName>
    <headline>{TEXT}</headline>
    <area>
      <areaDesc>{ADDRESS}</areaDesc>
      <circle>{lat},{lon} 0.03</circle>
    </area>
  </info>
</alert>
""".encode()


def alarm(n: int, at: str) -> bytes:
    caller, lat, lon = who(n)
    doc = fire_alarm(
        f"B{n}",
        content=TEXT,
        position={"lat": lat, "lng": lon},
        address=ADDRESS,
        type=CATEGORY,  # not one of its codes: taken as the city's own
        level="2",
        time=at,
    )
    doc["caller"]["phone"] = caller
    return json.dumps(doc, ensure_ascii=False).encode()


def request(route: str, n: int, credential: str) -> bytes:
    """The octets of request n of `route`; `credential` is the integration token (1 and 2)
    or the system's secret (3)."""
    now = datetime.now(UTC).astimezone().replace(microsecond=0).isoformat()
    if route == "reports":
        caller, lat, lon = who(n)
        doc = {
            "sender": {"kind": "phone", "id": caller},
            "text": TEXT,
            "location": {"lat": lat, "lon": lon, "accuracy_m": 30, "address": ADDRESS},
            "category": CATEGORY,
        }
        payload = json.dumps(doc, ensure_ascii=False).encode()
        extra = (
            f"Authorization: Bearer {credential}\r\nIdempotency-Key: bench-{uuid.uuid4().hex}\r\n"
        )
        ctype = "application/json"
    elif route == "cap":
        payload = cap_alert(n, now)
        extra = f"Authorization: Bearer {credential}\r\n"
        ctype = "application/cap+xml"
    else:
        payload = alarm(n, now)
        ts = int(time.time())
        extra = (
            f"X-Alarmgw-Timestamp: {ts}\r\nX-Alarmgw-Signature: {sign(credential, ts, payload)}\r\n"
        )
        ctype = "application/json"
    head = (
        f"POST {ROUTES[route]} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n"
        f"{extra}Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


# -- the load (bench/intake.py's, for any of the three routes) -----------------------------


async def client(
    port: int, route: str, credential: str, stop_at: float, n: int, step: int, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < stop_at:
        data = request(route, n, credential)
        t0 = time.perf_counter()
        writer.write(data)
        status_line = await reader.readline()
        answer = await read_body(reader)
        out["latencies"].append(time.perf_counter() - t0)
        status = int(status_line.split()[1])
        out["statuses"][status] += 1
        if status != 201:
            out["samples"].setdefault(status, answer[:300].decode("utf-8", "replace"))
        n += step
    writer.close()


def load(
    port: int, route: str, credential: str, clients: int, seconds: float, offset: int, q: Any
) -> None:
    out: dict[str, Any] = {"latencies": [], "statuses": Counter(), "samples": {}}

    async def main() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(
            *(
                client(port, route, credential, stop_at, offset + i, clients, out)
                for i in range(clients)
            )
        )

    t0 = time.perf_counter()
    asyncio.run(main())
    q.put((out, time.perf_counter() - t0))


def run_load(
    port: int, route: str, credential: str, clients: int, seconds: float, offset: int
) -> dict[str, Any]:
    q: multiprocessing.Queue = multiprocessing.Queue()
    p = multiprocessing.Process(
        target=load, args=(port, route, credential, clients, seconds, offset, q)
    )
    p.start()
    out, elapsed = q.get()
    p.join()
    latencies = sorted(out["latencies"])
    statuses: Counter[int] = out["statuses"]
    created = statuses[201]
    return {
        "created": created,
        "rate": created / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        "non_2xx": sum(c for s, c in statuses.items() if not 200 <= s < 300),
        "non_201": len(latencies) - created,
        "statuses": statuses,
        "samples": out["samples"],
    }


# -- the gateway ---------------------------------------------------------------------------


def config(tmp: Path) -> Path:
    path = city(tmp)  # the sample city, every SLA at 24 h
    text = path.read_text(encoding="utf-8")
    for old, new in (
        (
            "[channels.cap]\nenabled = false\n",
            f'[channels.cap]\nenabled = true\ndefault_category = "{CATEGORY}"\n',
        ),
        (
            "[channels.systems]\nenabled = false\n",
            f"[channels.systems]\nenabled = true\n{SETTINGS}",
        ),
        ("place_radius_m = 200", "place_radius_m = 10"),
    ):
        assert text.count(old) == 1, f"the sample city changed: {old!r}"
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return path


def bench_route(route: str, clients: int, seconds: float) -> dict[str, Any]:
    """One route's figures, on a gateway of its own (a fresh store), stopped and removed
    after; with what its store and log say."""
    from tests.peers.gateway import GatewayProcess, db

    tmp = Path(tempfile.mkdtemp(prefix="alarmgw-bench-exchange-"))
    gw = GatewayProcess(tmp / "data", config(tmp))
    gw.start(timeout=60)
    try:
        token = gw.token("bench-integration", "integration")
        credential = FIRE_SECRETS[0] if route == "systems" else token
        run_load(gw.port, route, credential, clients, 2.0, WARM_UP_N)
        assert gw.proc is not None
        cpu = cpu_seconds(gw.proc.pid)
        r = run_load(gw.port, route, credential, clients, seconds, 0)
        r["cpu_us"] = 1e6 * (cpu_seconds(gw.proc.pid) - cpu) / max(r["created"], 1)
    finally:
        code = gw.stop()
    with db(gw) as conn:
        r["reports"], r["incidents"] = conn.execute(
            "SELECT (SELECT COUNT(*) FROM reports), (SELECT COUNT(*) FROM incidents)"
        ).fetchone()
    log = gw.log_path.read_text(errors="replace")
    r["problems"] = sum(1 for x in log.splitlines() if "Traceback" in x or "Unhandled" in x)
    r["exit"] = code
    shutil.rmtree(tmp)
    return r


# -- the micro-baselines -------------------------------------------------------------------


def per_message_us(fn: Callable[[Any], Any], messages: list[Any], rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for m in messages:
            fn(m)
        best = min(best, (time.perf_counter() - t0) / len(messages))
    return 1e6 * best


def micro(count: int = 2000) -> dict[str, float]:
    from lxml import etree

    from gateway.channels.cap import mapping, message
    from gateway.channels.cap.settings import CapSettings
    from gateway.channels.systems import signature

    sent = datetime.now(UTC).astimezone().replace(microsecond=0).isoformat()
    alerts = [cap_alert(n, sent) for n in range(count)]
    xsd = message.schema()
    parsed = [message.parse(a) for a in alerts]
    settings = CapSettings.from_config({"enabled": True, "default_category": CATEGORY})
    now = datetime.now(UTC)
    # The channel's hardened options (message._parser), made once here.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_pis=True
    )

    def parse_validate(data: bytes) -> None:
        assert xsd.validate(etree.ElementTree(etree.fromstring(data, parser)))

    ts = int(time.time())
    signed = []
    for n in range(count):
        payload = alarm(n, sent)
        signed.append((payload, sign(FIRE_SECRETS[0], ts, payload)))
    key = FIRE_SECRETS[0].encode()

    def hmac_check(item: tuple[bytes, str]) -> None:
        payload, given = item
        mac = hmac.new(key, f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
        assert hmac.compare_digest("sha256=" + mac, given)

    def verify(item: tuple[bytes, str]) -> None:
        signature.verify(FIRE_SECRETS, str(ts), item[1], item[0], ts, 300)

    return {
        "lxml parse + XSD validate": per_message_us(parse_validate, alerts),
        "cap.message.parse (all of it)": per_message_us(message.parse, alerts),
        "cap.mapping.reports (Alert → Report)": per_message_us(
            lambda a: mapping.reports(a, settings, now), parsed
        ),
        "HMAC-SHA256 + compare_digest": per_message_us(hmac_check, signed),
        "systems signature.verify (2 secrets)": per_message_us(verify, signed),
        "alert_bytes": statistics.mean(len(a) for a in alerts),
        "alarm_bytes": statistics.mean(len(p) for p, _ in signed),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    print(
        f"alarmgw exchange benchmark (issue 13), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{args.clients} clients × {args.seconds:g} s per route, "
        f"{multiprocessing.cpu_count()} cores, SQLite"
    )
    results = {route: bench_route(route, args.clients, args.seconds) for route in ROUTES}
    print(
        f"{'route':<35} {'201/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} "
        f"{'non-201':>7} {'CPU µs/201':>10} {'incidents/reports':>17} {'ratio':>5}"
    )
    base = results["reports"]["rate"]
    for route, r in results.items():
        stored = f"{r['incidents']:,}/{r['reports']:,}"
        print(
            f"{'POST ' + ROUTES[route]:<35} {r['rate']:>6,.0f} {r['p50_ms']:>7.1f} "
            f"{r['p99_ms']:>7.1f} {r['non_2xx']:>7} {r['non_201']:>7} {r['cpu_us']:>10,.0f} "
            f"{stored:>17} {r['rate'] / base:>5.0%}"
        )
    for route, r in results.items():
        for status, sample in sorted(r["samples"].items()):
            print(f"  {route}: {r['statuses'][status]} × {status}: {sample}")
    m = micro()
    print(
        f"in-process, µs per message (best of 5 × 2,000; CAP alert {m.pop('alert_bytes'):.0f} "
        f"bytes, 119 alarm {m.pop('alarm_bytes'):.0f} bytes):"
    )
    for name, us in m.items():
        print(f"  {name:<38} {us:>7.1f}")
    problems = sum(r["problems"] for r in results.values())
    exits = sorted({r["exit"] for r in results.values()})
    print(
        f"problems in the gateways' logs: {problems}; their exit codes: {exits}; load "
        f"average {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    )


if __name__ == "__main__":
    main()
