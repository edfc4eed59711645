"""SMS intake benchmark: sustained MO messages per second through one bind, acknowledged
after commit, and the latency from deliver_sm to deliver_sm_resp.

    .venv/bin/python bench/sms.py [--n 20000] [--window 20] [--runs 1] [--pg URL]

In one run, against the same SMSC peer (tests/peers/smsc: the npm `smpp` server):

1. **gateway**: a real gateway process (the sample city, SQLite in a temporary directory,
   one transceiver bind) takes `n` distinct UCS2 messages from `n` different numbers, each
   a new incident with its receipt reply queued, at most `window` unanswered at a time;
   the SMSC measures each deliver_sm's round trip. Afterwards the store is checked: one
   report per message, none lost, none twice.
2. **baseline**: the same blast against an ESME that answers ESME_ROK without storing
   anything (bench/sms_baseline.py, smpplib's listen loop): the SMPP transport's ceiling.

Prints both and their ratio. Target (issue 4): ≥ 1,000 messages/s per bind and p99 ≤ 20 ms.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEM_ID = "alarmgw"
PASSWORD = "secret"
# The receipt template of the sample city's default; replies are queued at tps = 10 and go
# out slowly, as they would: the benchmark measures intake.
SETTINGS = "window = 200\n"


def gateway_phase(smsc: Any, n: int, window: int, rate: int, pg: str | None) -> dict[str, Any]:
    """One blast at a fresh gateway (a new SQLite store): no deadline of an earlier blast's
    incidents fires in the middle of this one."""
    from bench.sms_baseline import blast
    from tests.peers.gateway import GatewayProcess, sample_with_smpp, wait_for

    tmp = Path(tempfile.mkdtemp(prefix="alarmgw-bench-sms-"))
    try:
        text = sample_with_smpp(smsc.port, SYSTEM_ID, PASSWORD, SETTINGS)
        if pg:
            text = text.replace("[storage]\n", f'[storage]\nurl = "{pg}"\n')
        config = tmp / "city.toml"
        config.write_text(text, encoding="utf-8")
        gw = GatewayProcess(tmp / "data", config)
        gw.start()
        try:
            wait_for(
                "the bind",
                lambda: any(s["bound"] for s in smsc.send({"cmd": "sessions"})["sessions"]),
                20,
            )
            # Distinct numbers per blast: the same message again would be a redelivery.
            result = blast(
                smsc, n, window, rate, timeout=max(120, n / 100), source_prefix=f"13{rate}"
            )
            result["stored"] = None if pg else _stored(gw.data_dir / "alarmgw.db")
        finally:
            code = gw.stop()
            assert code == 0, gw.log()
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _stored(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        reports, senders = conn.execute(
            "SELECT count(*), count(DISTINCT sender_key) FROM reports WHERE channel = 'sms'"
        ).fetchone()
        queued = conn.execute("SELECT count(*) FROM sms_out").fetchone()[0]
    return {"reports": reports, "senders": senders, "receipts_queued": queued}


def baseline_phase(smsc: Any, n: int, window: int, rates: list[int]) -> list[dict[str, Any]]:
    from bench.sms_baseline import blast, run_baseline

    _thread, stop = run_baseline("127.0.0.1", smsc.port, SYSTEM_ID, PASSWORD)
    try:
        return [blast(smsc, n, window, rate) for rate in rates]
    finally:
        stop()


def main() -> int:
    from tests.peers.smsc import Smsc

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="messages per blast")
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument(
        "--rates",
        default="1000,0",
        help="offered deliver_sm per second, one blast each; 0 = as fast as answered",
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--pg", help="a PostgreSQL URL instead of SQLite")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    print(f"# {time.strftime('%Y-%m-%d')} {platform.node()} {platform.python_version()}")
    print(f"# n={args.n} window={args.window} store={'PostgreSQL' if args.pg else 'SQLite'}")
    print("phase     offered  msg/s   p50 ms  p90 ms  p99 ms  max ms  ok/n         timeouts errors")
    for _ in range(args.runs):
        smsc = Smsc(deliver_timeout=30.0)
        smsc.start(SYSTEM_ID, PASSWORD)
        try:
            g = [gateway_phase(smsc, args.n, args.window, rate, args.pg) for rate in rates]
            b = baseline_phase(smsc, args.n, args.window, rates)
        finally:
            smsc.stop()
        for name, results in (("gateway", g), ("baseline", b)):
            for rate, r in zip(rates, results, strict=True):
                errors = {k: v for k, v in r["statuses"].items() if k != "0"}
                print(
                    f"{name:9} {rate or 'max':>7} {r['rate']:7.0f} {r['p50']:8.2f} {r['p90']:7.2f} "
                    f"{r['p99']:7.2f} {r['max']:7.2f}  {r['ok']:>6}/{r['n']:<6} {r['timeouts']:8} "
                    f"{errors or '-'}"
                )
        print(f"ratio at max, gateway/baseline: {g[-1]['rate'] / b[-1]['rate']:.3f}")
        for r in g:
            if r["stored"] is not None:
                assert r["stored"]["reports"] == r["ok"] == args.n, f"lost or doubled: {r}"
        print("store: one report per message in every blast" if not args.pg else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
