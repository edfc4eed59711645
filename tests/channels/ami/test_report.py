"""The report a 110 call files at arrival (gateway/channels/ami/service.py: `report_of`)."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from gateway.channels.ami.calls import Call
from gateway.channels.ami.service import report_of
from gateway.report import Report, Sender
from gateway.schemas import load_schema
from tests.conftest import T0

VALID = fastjsonschema.compile(load_schema("report.schema.json"))


def call(**kw: Any) -> Call:
    fields: dict[str, Any] = dict(
        linkedid="1764000000.42",
        uniqueid="1764000000.42",
        channel="PJSIP/carrier-00000007",
        caller="13800000001",
        caller_name="张三",
        trunk="carrier",
        drill=False,
        arrived_at=T0,
        recording="/var/spool/asterisk/monitor/1764000000.42.wav",
    )
    return Call(**(fields | kw))


def report(c: Call) -> Report:
    r = report_of(c)
    VALID(r.to_json())
    assert Report.from_json(r.to_json()) == r
    return r


@pytest.mark.parametrize(
    "caller, name, drill, sender, text",
    [
        (
            "13800000001",
            "张三",
            False,
            Sender("phone", "13800000001", "张三"),
            "110来电 13800000001",
        ),
        ("13800000001", None, True, Sender("phone", "13800000001"), "110来电 13800000001（演练）"),
        # Withheld: an id of its own per call, so no two withheld callers correlate.
        ("", None, False, Sender("phone", "anonymous-1764000000.42"), "110来电 号码未显示"),
        ("", None, True, Sender("phone", "anonymous-1764000000.42"), "110来电 号码未显示（演练）"),
    ],
)
def test_the_report_of_a_call(
    caller: str, name: str | None, drill: bool, sender: Sender, text: str
) -> None:
    r = report(call(caller=caller, caller_name=name, drill=drill))
    assert (r.channel, r.external_id, r.received_at) == ("phone", "1764000000.42", T0)
    assert (r.sender, r.text, r.drill) == (sender, text, drill)
    assert r.extra == {
        "trunk": "carrier",
        "asterisk_channel": "PJSIP/carrier-00000007",
        "recording": "/var/spool/asterisk/monitor/1764000000.42.wav",
    }


def test_two_withheld_calls_are_two_senders() -> None:
    a = report(call(caller="", linkedid="1.1"))
    b = report(call(caller="", linkedid="1.2"))
    assert a.sender.id != b.sender.id
    assert (a.external_id, b.external_id) == ("1.1", "1.2")


def test_no_recording_is_none() -> None:
    assert report(call(recording=None)).extra["recording"] is None
