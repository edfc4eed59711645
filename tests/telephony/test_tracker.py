"""The call tracker on AMI transcripts recorded from the real Asterisk 22 running the
project's own asterisk/ configuration (tests/fixtures/ami/README.md says how)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.channels.ami.calls import Arrived, CallTracker, Change, Progress
from gateway.channels.ami.client import AmiLink, _Manager, _Protocol
from gateway.channels.ami.service import report_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "ami"
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


def events_of(name: str) -> list[dict[str, Any]]:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"missing fixture {path} (recorded from the real Asterisk)")
    out: list[Any] = []
    link = AmiLink("127.0.0.1", 1, "u", "s", on_event=out.append)
    proto = _Protocol()

    class _T:
        def write(self, _d: bytes) -> None: ...
        def close(self) -> None: ...

    proto.connection_made(_T())
    proto.factory = _Manager(link, loop=asyncio.new_event_loop())
    proto.data_received(path.read_bytes())
    return out


def replay(name: str) -> tuple[CallTracker, list[Change]]:
    tracker = CallTracker()
    return tracker, tracker.feed_all(events_of(name), NOW)


def milestones(changes: list[Change]) -> list[str]:
    return ["arrived" if isinstance(c, Arrived) else c.milestone for c in changes]


def final(changes: list[Change]) -> Progress:
    last = changes[-1]
    assert isinstance(last, Progress)
    return last


def test_answered_call() -> None:
    tracker, changes = replay("answered.ami")
    arrived = changes[0]
    assert isinstance(arrived, Arrived)
    call = arrived.call
    assert (call.caller, call.caller_name, call.trunk, call.drill) == (
        "13800138000",
        "张三",
        "carrier",
        False,
    )
    assert call.recording and call.linkedid in call.recording
    ms = milestones(changes)
    assert ms[0] == "arrived" and ms[-1] == "ended"
    assert "answered" in ms and "queued" in ms and ms.index("queued") < ms.index("answered")
    end = final(changes)
    assert end.event == "call_ended"
    assert end.call.calltaker == "1001"
    assert end.call.answered_at is not None and end.call.ended_at is not None
    assert end.call.talk_s is not None and end.call.talk_s >= 1.0
    assert end.call.hangup_by == "calltaker"  # the softphone sent the BYE
    assert end.call.end_reason == "completed"
    assert tracker.calls == {}  # nothing left over


def test_caller_hangs_up_in_the_queue() -> None:
    _, changes = replay("caller_hangup.ami")
    assert milestones(changes)[0] == "arrived"
    end = final(changes)
    assert end.event == "call_abandoned"
    assert end.call.end_reason == "caller_hangup"
    assert end.call.timeouts == []
    assert end.call.hangup_by == "caller"
    assert end.call.hold_s is not None and end.call.hold_s >= 1.0
    assert end.data["caller"] == "13800138000"


def test_queue_timeout_is_not_a_hang_up() -> None:
    _, changes = replay("queue_timeout.ami")
    ms = milestones(changes)
    assert "queue_timeout" in ms
    timeouts = [c for c in changes if isinstance(c, Progress) and c.milestone == "queue_timeout"]
    assert timeouts[0].data["queue"] == "calltakers"
    end = final(changes)
    assert end.call.timeouts[0] == "calltakers"
    assert end.call.end_reason == "timeout_then_hangup"


def test_drill_trunk() -> None:
    _, changes = replay("drill.ami")
    arrived = changes[0]
    assert isinstance(arrived, Arrived)
    assert arrived.call.drill and arrived.call.trunk == "drill"
    report = report_of(arrived.call)
    assert report.drill and report.channel == "phone"
    assert report.external_id == arrived.call.linkedid


def test_replaying_twice_files_once() -> None:
    """The same transcript fed again (as after a reconnect that replays nothing new) adds
    no second arrival for a call still followed."""
    tracker = CallTracker()
    events = events_of("answered.ami")
    head = [e for e in events if e.get("UserEvent") == "AlarmgwCall"]
    first = tracker.feed_all(head, NOW)
    again = tracker.feed_all(head, NOW)
    assert len(first) == 1 and again == []


def test_report_of_a_withheld_number_does_not_correlate() -> None:
    _, changes = replay("answered.ami")
    call = changes[0].call
    call.caller = ""
    report = report_of(call)
    assert report.sender.id == f"anonymous-{call.linkedid}"
    assert "号码未显示" in report.text
