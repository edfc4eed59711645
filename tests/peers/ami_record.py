"""Record what Asterisk sends the gateway's AMI user during a scenario, byte for byte, as
the fixtures of the adapter's unit tests (`tests/fixtures/ami/<scenario>.ami`).

    .venv/bin/python -m tests.peers.ami_record            # every scenario
    .venv/bin/python -m tests.peers.ami_record answered drill

Each scenario runs against a fresh Asterisk with the project's configuration (see
`tests/peers/asterisk.py`), logged in as `alarmgw` with `Events: on`; the transcript is
everything Asterisk wrote on that connection, from the banner to the end of the scenario.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.peers.ami import AmiSession
from tests.peers.asterisk import ROOT, Asterisk, available
from tests.peers.sipp_peers import Sipp

FIXTURES = ROOT / "tests/fixtures/ami"
INCIDENT = "202611240001"
CITIZEN = "13800138000"
DUTY = "13900139000"


def settle(ami: AmiSession, seconds: float = 1.0) -> None:
    """Let the last events of a scenario (hangups, queue member status) arrive."""
    time.sleep(seconds)


def answered(ast: Asterisk, ami: AmiSession) -> None:
    """张三 calls 110, softphone 1001 answers, they talk 2 s, the call-taker hangs up."""
    with Sipp.softphone(ast, "1001", answer_after=0.5, talk=2):
        call = Sipp.call(ast, caller=CITIZEN, name="张三", wait_bye=True)
        call.wait(30)
        ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd", timeout=10)
        settle(ami)


def caller_hangup(ast: Asterisk, ami: AmiSession) -> None:
    """Nobody logged in; the caller gives up after 2 s in the queue."""
    Sipp.call(ast, caller=CITIZEN, name="张三", hold=2).wait(30)
    ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd", timeout=10)
    settle(ami)


def queue_timeout(ast: Asterisk, ami: AmiSession) -> None:
    """QUEUE_WAIT and OVERFLOW_WAIT set to 2 s (AMI Setvar, no Channel: globals), nobody
    logged in: both queues time out, the caller goes round again and hangs up after 7 s."""
    for name in ("QUEUE_WAIT", "OVERFLOW_WAIT"):
        ami.action("Setvar", Variable=name, Value="2")
    try:
        Sipp.call(ast, caller=CITIZEN, name="张三", hold=7).wait(30)
        ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd", timeout=10)
        settle(ami)
    finally:
        for name in ("QUEUE_WAIT", "OVERFLOW_WAIT"):
            ami.action("Setvar", Variable=name, Value="15")


def drill(ast: Asterisk, ami: AmiSession) -> None:
    """A call on the drill trunk, answered by 1001, which hangs up after 1 s."""
    with Sipp.softphone(ast, "1001", answer_after=0.5, talk=1):
        Sipp.call(ast, caller="13700137000", name="演练", trunk="drill", wait_bye=True).wait(30)
        ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd", timeout=10)
        settle(ami)


def callback(ast: Asterisk, ami: AmiSession) -> None:
    """The gateway calls the citizen back from 1001: 1001 answers, the citizen answers
    and hangs up after 2 s."""
    with Sipp.softphone(ast, "1001", answer_after=0.5):
        citizen = Sipp.citizen(ast, answer_after=1, talk=2)
        res = ami.action(
            "Originate",
            Channel="PJSIP/1001",
            Context="alarmgw-callback",
            Exten=CITIZEN,
            Priority="1",
            CallerID=f'"回拨 {CITIZEN}" <{CITIZEN}>',
            Variable=f"ALARMGW_INCIDENT={INCIDENT}",
            Timeout="30000",
            Async="true",
        )
        assert res["Response"] == "Success", res
        ami.wait_event("UserEvent", UserEvent="AlarmgwCallbackEnd", timeout=30)
        citizen.wait(10)
        settle(ami)


def notify_ack(ast: Asterisk, ami: AmiSession) -> None:
    """The gateway phones a duty officer about an incident; the officer presses 1."""
    phone = Sipp.duty_phone(ast, answer_after=0.5, press_after=3.5)
    res = ami.action(
        "Originate",
        Channel=f"PJSIP/{DUTY}@carrier",
        Context="alarmgw-notify",
        Exten="s",
        Priority="1",
        CallerID='"110" <110>',  # else the duty phone sees an anonymous call
        Variable=[
            f"ALARMGW_INCIDENT={INCIDENT}",
            "ALARMGW_UNIT=PS-0101",
            "ALARMGW_CATEGORY=theft",
        ],
        Timeout="30000",
        Async="true",
    )
    assert res["Response"] == "Success", res
    ami.wait_event("UserEvent", UserEvent="AlarmgwNotifyAck", timeout=30)
    ami.wait_event("Hangup", timeout=15)
    phone.wait(10)
    settle(ami)


SCENARIOS: dict[str, Callable[[Asterisk, AmiSession], None]] = {
    "answered": answered,
    "caller_hangup": caller_hangup,
    "queue_timeout": queue_timeout,
    "drill": drill,
    "callback": callback,
    "notify_ack": notify_ack,
}


def record(name: str, out_dir: Path = FIXTURES) -> Path:
    """Run one scenario against a fresh Asterisk; write and return its transcript."""
    ast = Asterisk()
    ast.start()
    try:
        ami = AmiSession(ast.ami_host, ast.ami_port, ast.ami_user, ast.ami_secret).connect()
        try:
            SCENARIOS[name](ast, ami)
        finally:
            ami.close()
            Sipp.stop_all()
    except Exception:
        print(ast.log_tail(), file=sys.stderr)
        raise
    finally:
        ast.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.ami"
    path.write_bytes(bytes(ami.raw))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    reason = available()
    if reason:
        print(reason, file=sys.stderr)
        return 2
    for name in args.scenarios or SCENARIOS:
        path = record(name, args.out)
        print(f"{name}: {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
