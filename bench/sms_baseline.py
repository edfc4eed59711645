"""SMS intake baseline: the SMSC peer (tests/peers/smsc, the npm `smpp` server) blasts
deliver_sm at an ESME that answers each with ESME_ROK and keeps nothing (smpplib 2.2.4, its
blocking listen() in a thread). What that reaches is the ceiling the peer and the SMPP
transport set, to read the gateway's SMS intake figures against.

    .venv/bin/python bench/sms_baseline.py [--n 20000] [--window 20] [--rate 0]

Prints the blast's figures: deliver_sm answered per second over the whole blast, and the
p50/p90/p99/max of the ms from the SMSC's send to the resp reaching it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import smpplib.client
import smpplib.exceptions
import smpplib.smpp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from tests.peers.smsc import Smsc

SYSTEM_ID = "alarmgw"
PASSWORD = "secret"


def run_baseline(
    host: str, port: int, system_id: str, password: str, status: int = 0
) -> tuple[threading.Thread, Callable[[], None]]:
    """Bind an ESME as transceiver in a background thread that answers every deliver_sm with
    `status` (ESME_ROK by default) and keeps nothing; return once bound, with the thread and
    a callable that unbinds and disconnects. A failed bind raises here."""
    client = smpplib.client.Client(host, port, allow_unknown_opt_params=True)
    client.set_message_received_handler(lambda pdu: status)
    # The thread answers deliver_sm and enquire_link while stop() sends the unbind: one
    # sendall at a time, so no two PDUs can interleave on the socket.
    send_lock = threading.Lock()
    send_pdu = client.send_pdu

    def locked_send_pdu(p: Any) -> bool:
        with send_lock:
            return send_pdu(p)

    client.send_pdu = locked_send_pdu
    bound = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            client.connect()
            client.bind_transceiver(system_id=system_id, password=password)
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            failure.append(e)
            bound.set()
            return
        bound.set()
        try:
            client.listen()
        except smpplib.exceptions.ConnectionError:
            pass  # listen() only ends by raising: here the SMSC closed the connection

    thread = threading.Thread(target=run, daemon=True, name="sms-baseline-esme")
    thread.start()
    bound.wait()
    if failure:
        thread.join()
        client.disconnect()
        raise failure[0]

    def stop() -> None:
        # The unbind_resp is read by the thread's listen(), which logs it as an "Unhandled
        # SMPP command" warning (expected here, so kept quiet); the SMSC then hangs up, which
        # ends the thread.
        client.logger.setLevel(logging.ERROR)
        try:
            client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
        except smpplib.exceptions.ConnectionError:
            pass  # already closed by the SMSC
        thread.join(timeout=5)
        client.disconnect()

    return thread, stop


def blast(
    smsc: Smsc,
    n: int,
    window: int,
    rate: float = 0,
    timeout: float = 120,
    source_prefix: str = "1390000",
) -> dict:
    """Have `smsc` send `n` deliver_sm (the peer's `blast` command, its default UCS2 texts)
    from numbers `source_prefix` + a counter, and return its blast_done event. (Two blasts
    from the same prefix repeat the same messages: a gateway takes the second as the SMSC
    redelivering the first.)"""
    cmd = {"cmd": "blast", "n": n, "window": window, "rate": rate, "source_prefix": source_prefix}
    ack = smsc.send(cmd)
    return smsc.wait_event(
        lambda e: e["event"] == "blast_done" and e["id"] == ack["id"], timeout=timeout
    )


def main() -> int:
    from tests.peers.smsc import HOST, Smsc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0, help="deliver_sm/s, 0: no limit")
    args = parser.parse_args()
    with Smsc() as smsc:
        port = smsc.start(SYSTEM_ID, PASSWORD)
        _thread, stop = run_baseline(HOST, port, SYSTEM_ID, PASSWORD)
        try:
            r = blast(smsc, args.n, args.window, args.rate)
        finally:
            stop()
    print(f"{r['n']} deliver_sm, window {args.window}, rate limit {args.rate or 'none'}")
    print(f"ok {r['ok']}  statuses {r['statuses']}  timeouts {r['timeouts']}")
    print(f"{r['rate']:.0f} msg/s over {r['elapsed_s']:.3f} s")
    print(f"ms send->resp: p50 {r['p50']}  p90 {r['p90']}  p99 {r['p99']}  max {r['max']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
