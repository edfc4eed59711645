"""The call tracker on AMI transcripts recorded from the real Asterisk 22 running the
project's own asterisk/ configuration (tests/fixtures/ami/README.md says how)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.ami.calls import Arrived, CallTracker, Change, Progress
from gateway.channels.ami.client import AmiLink, _Manager, _Protocol
from gateway.channels.ami.service import report_of
from gateway.report import Report

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"
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


def test_hang_up_before_the_dialplan_announced_the_call() -> None:
    """Seen in the benchmark at 50 calls/s: a CANCEL 0.2 s after the INVITE, before the
    dialplan reached AlarmgwCall. The recorded caller_hangup transcript cut to what such a
    call shows (its Newchannel and its Hangup) still gives a call to ring back."""
    events = [
        e for e in events_of("caller_hangup.ami") if e.get("Event") in ("Newchannel", "Hangup")
    ]
    tracker = CallTracker()
    changes = tracker.feed_all(events, NOW)
    assert milestones(changes) == ["arrived", "abandoned"]
    call = changes[0].call
    assert (call.caller, call.caller_name, call.trunk, call.drill) == (
        "13800138000",
        "张三",
        "carrier",
        False,
    )
    assert changes[1].event == "call_abandoned" and call.hangup_by == "caller"
    assert tracker.calls == {} and tracker.early == {}


@pytest.mark.parametrize("exten", ["88110110", "087188110110", "12345", ""])
def test_other_numbers_of_the_carrier_are_not_110_calls(exten: str) -> None:
    """The fax line (88110110, test_fax_asterisk.py) and misdialled numbers come in through
    the same carrier context: hanging up early, they are no abandoned 110 call."""
    events = [
        dict(e, Exten=exten) if e.get("Event") == "Newchannel" else e
        for e in events_of("caller_hangup.ami")
        if e.get("Event") in ("Newchannel", "Hangup")
    ]
    tracker = CallTracker()
    assert tracker.feed_all(events, NOW) == []
    assert tracker.early == {} and tracker.lost(set(), NOW) == []


def test_early_channels_lost_with_the_link_are_still_calls() -> None:
    events = [e for e in events_of("caller_hangup.ami") if e.get("Event") == "Newchannel"]
    tracker = CallTracker()
    assert tracker.feed_all(events, NOW) == []
    changes = tracker.lost(set(), NOW)
    assert milestones(changes) == ["arrived", "abandoned"]


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


FIELDS = st.sampled_from(
    [
        "Event", "UserEvent", "Linkedid", "Uniqueid", "Channel", "CallerIDNum",
        "CallerIDName", "Queue", "Interface", "MemberName", "HoldTime", "TalkTime",
        "Reason", "Status", "Source", "Recording", "Timestamp", "Trunk", "Drill",
    ]
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [
            "AlarmgwCall",
            "UserEvent",
            "Hangup",
            "AgentConnect",
            "QueueCallerAbandon",
            "AlarmgwQueueExit",
            "TIMEOUT",
            "1",
            "calltakers",
            "PJSIP/1001",
            "x",
            "",
        ]
    ),  # fmt: skip
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(FIELDS, VALUES, max_size=8), max_size=40))
def test_any_event_sequence_is_handled(events: list[dict[str, str]]) -> None:
    """Whatever arrives (missing fields, nonsense values, control characters, events out
    of order), the tracker neither raises nor files an invalid report."""
    tracker = CallTracker(["calltakers", "calltakers-overflow"])
    for change in tracker.feed_all(events, NOW):
        if isinstance(change, Arrived):
            report = report_of(change.call)
            Report.from_json(report.to_json())  # the checks the HTTP path applies
            assert len(change.call.caller) <= 64
            assert change.call.caller_name is None or len(change.call.caller_name) <= 200


def test_queues_of_other_services_are_ignored() -> None:
    events = events_of("answered.ami")
    tracker = CallTracker(["some-other-queue"])
    changes = tracker.feed_all(events, NOW)
    assert "answered" not in milestones(changes)  # its queue events were not ours
