"""The real-peer harness itself: Asterisk boots with the project's configuration
(`asterisk/`), the modules it lists load, a 110 call produces the events the gateway reads,
and the gateway's least-privilege AMI user may do what the gateway does."""

from __future__ import annotations

import re
import time

import pytest

from tests.peers.ami import AmiSession
from tests.peers.asterisk import CONFIG_DIR, Asterisk
from tests.peers.sipp_peers import Sipp


def test_ami_user_logs_in(ami: AmiSession) -> None:
    assert ami.messages[0]["Banner"].startswith("Asterisk Call Manager/")
    assert ami.action("Ping")["Ping"] == "Pong"


def test_every_listed_module_runs(asterisk: Asterisk) -> None:
    listed = re.findall(r"(?m)^load => (\S+)\.so", (CONFIG_DIR / "modules.conf").read_text())
    assert {"chan_pjsip", "app_queue", "app_mixmonitor", "res_agi", "cdr_csv"} <= set(listed)
    shown = asterisk.cli("module show")
    not_running = [m for m in listed if not re.search(rf"(?m)^{m}\.so .* Running ", shown)]
    assert not not_running, shown


@pytest.mark.parametrize(
    ("trunk", "drill_header", "expected"),
    [
        ("carrier", False, {"Trunk": "carrier", "Drill": "0"}),
        ("carrier", True, {"Trunk": "carrier", "Drill": "1"}),
        ("drill", False, {"Trunk": "drill", "Drill": "1"}),
    ],
)
def test_110_call_announces_itself(
    ami: AmiSession, asterisk: Asterisk, trunk: str, drill_header: bool, expected: dict[str, str]
) -> None:
    call = Sipp.call(asterisk, name="张三", trunk=trunk, drill_header=drill_header, hold=0.6)
    event = ami.wait_event("UserEvent", UserEvent="AlarmgwCall")
    assert {k: event[k] for k in expected} == expected
    assert event["CallerIDNum"] == "13800138000"
    assert event["CallerIDName"] == "张三"
    assert event["Channel"].startswith(f"PJSIP/{trunk}-")
    assert re.fullmatch(r"/var/spool/asterisk/monitor/110-[0-9.]+\.wav", event["Recording"])
    assert call.wait(15) == 0
    end = ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd", Uniqueid=event["Uniqueid"])
    assert end["Source"] == event["Channel"]  # the caller hung up
    assert not ami.user_events("AlarmgwQueueExit")  # ... which is no queue timeout


def test_least_privilege_user_can_do_what_the_gateway_does(
    ami: AmiSession, asterisk: Asterisk
) -> None:
    call = Sipp.call(asterisk, caller="13800138001", name="李四", hold=4)
    join = ami.wait_event("QueueCallerJoin", Queue="calltakers")
    channel = join["Channel"]

    def ok(res: dict[str, str]) -> dict[str, str]:
        assert res["Response"] == "Success", res
        return res

    ok(ami.action("Ping"))
    ok(ami.action("Setvar", Channel=channel, Variable="ALARMGW_INCIDENT", Value="202611240007"))
    ok(ami.action("Setvar", Channel=channel, Variable="CDR(userfield)", Value="202611240007"))
    assert ok(ami.action("Getvar", Channel=channel, Variable="CDR(userfield)"))["Value"] == (
        "202611240007"
    )
    ok(ami.action("Setvar", Variable="QUEUE_WAIT", Value="15"))  # a global
    assert ok(ami.action("Getvar", Variable="QUEUE_WAIT"))["Value"] == "15"
    res, channels = ami.action_list("CoreShowChannels")
    ok(res)
    assert [c["CallerIDName"] for c in channels if c["Channel"] == channel] == ["李四"]
    res, entries = ami.action_list("QueueStatus", Queue="calltakers")
    ok(res)
    assert [e["Channel"] for e in entries if e["Event"] == "QueueEntry"] == [channel]
    # Nobody is registered at 1001: the Originate is accepted, then fails.
    res = ok(
        ami.action(
            "Originate",
            Channel="PJSIP/1001",
            Context="alarmgw-callback",
            Exten="13800138001",
            Priority="1",
            Variable="ALARMGW_INCIDENT=202611240007",
            Async="true",
        )
    )
    assert ami.wait_event("OriginateResponse", ActionID=res["ActionID"])["Response"] == "Failure"
    # What the gateway must not do.
    assert ami.action("Command", Command="core show version")["Response"] == "Error"

    assert call.wait(15) == 0  # the caller gives up
    ami.wait_event("Hangup", Channel=channel)
    assert ami.wait_event("QueueCallerAbandon", Channel=channel)
    deadline = time.monotonic() + 5
    while "202611240007" not in asterisk.cdr_csv.read_text(encoding="utf-8"):
        assert time.monotonic() < deadline, "no CDR with the incident in its userfield"
        time.sleep(0.1)


def test_answered_call_events_and_recording(ami: AmiSession, asterisk: Asterisk) -> None:
    """Two call-takers registered at once, two callers: each is answered by one of them."""
    with Sipp.softphone(asterisk, "1001", talk=1.5), Sipp.softphone(asterisk, "1002", talk=1.5):
        call = Sipp.call(
            asterisk,
            callers=[("13800138011", "王五"), ("13800138012", "赵六")],
            wait_bye=True,
        )
        assert call.wait(30) == 0, call.log()
        for _ in range(2):
            ami.wait_event("UserEvent", UserEvent="AlarmgwCallEnd")
    connects = ami.events("AgentConnect")
    assert sorted(e["CallerIDName"] for e in connects) == ["王五", "赵六"]
    assert sorted(e["DestChannel"][:10] for e in connects) == ["PJSIP/1001", "PJSIP/1002"]
    assert len(ami.events("AgentComplete")) == 2
    assert len(ami.events("AgentCalled")) >= 2
    for end in ami.user_events("AlarmgwCallEnd"):
        wav = asterisk.recordings_dir / end["Recording"].rsplit("/", 1)[1]
        assert wav.stat().st_size > 8000  # about a second of the caller's speech, at least


@pytest.mark.parametrize(("reply", "status"), [("answer", "ANSWER"), ("busy", "BUSY")])
def test_callback_ends_once(ami: AmiSession, asterisk: Asterisk, reply: str, status: str) -> None:
    with Sipp.softphone(asterisk, "1001", answer_after=0.2):
        citizen = Sipp.citizen(asterisk, reply=reply, answer_after=0.5, talk=1)
        res = ami.action(
            "Originate",
            Channel="PJSIP/1001",
            Context="alarmgw-callback",
            Exten="13800138000",
            Priority="1",
            Variable="ALARMGW_INCIDENT=202611240002",
            Async="true",
        )
        # The call-taker's leg first (it failed to come up twice in loaded CI runs, with no
        # word of why: the answer says), then the dialplan's call to the citizen.
        answered = ami.wait_event("OriginateResponse", ActionID=res["ActionID"], timeout=30)
        assert answered["Response"] == "Success", answered
        end = ami.wait_event("UserEvent", UserEvent="AlarmgwCallbackEnd", timeout=30)
        assert citizen.wait(10) == 0, citizen.log()
        time.sleep(0.5)
    assert (end["Incident"], end["Status"]) == ("202611240002", status)
    assert len(ami.user_events("AlarmgwCallbackEnd")) == 1


def test_duty_phone_acknowledges_with_1(ami: AmiSession, asterisk: Asterisk) -> None:
    phone = Sipp.duty_phone(asterisk, press_after=2)
    res = ami.action(
        "Originate",
        Channel="PJSIP/13900139000@carrier",
        Context="alarmgw-notify",
        Exten="s",
        Priority="1",
        CallerID='"110" <110>',
        Variable=[
            "ALARMGW_DELIVERY=17",
            "ALARMGW_INCIDENT=202611240003",
            "ALARMGW_UNIT=PS-0101",
            "ALARMGW_CATEGORY=theft",
        ],
        Async="true",
    )
    answered = ami.wait_event("OriginateResponse", ActionID=res["ActionID"], timeout=30)
    assert answered["Response"] == "Success"
    ack = ami.wait_event("UserEvent", UserEvent="AlarmgwNotifyAck", timeout=20)
    assert (ack["Delivery"], ack["Incident"], ack["Unit"], ack["Digit"]) == (
        "17",
        "202611240003",
        "PS-0101",
        "1",
    )
    assert phone.wait(15) == 0, phone.log()
    assert not ami.user_events("AlarmgwNotifyResult")
