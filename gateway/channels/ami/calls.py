"""Following 110 calls from AMI events: pure, no I/O.

`CallTracker.feed(event)` takes one AMI event (a case-insensitive mapping, as panoramisk
gives it) and returns what changed, as `Arrived` (a new call: file its report now, before
anyone answers) and `Progress` (a milestone of a known call: store it). The service does
the I/O; the tests replay transcripts recorded from a real Asterisk through this class.

The dialplan (`asterisk/extensions.conf`) is the other half of this contract:

- ``UserEvent: AlarmgwCall`` (Trunk, Drill, Recording) when a 110 call enters intake;
- ``UserEvent: AlarmgwQueueExit`` (Queue, Status) after ``Queue()`` *returned*, which it
  does on a timeout but never when the caller hung up. Both raise ``QueueCallerAbandon``:
  an abandon followed by a QueueExit is a timeout, one followed by the Hangup is a caller
  who gave up;
- ``UserEvent: AlarmgwCallEnd`` (Source, Recording) from the hangup handler.

Queue events (QueueCallerJoin, AgentCalled, AgentRingNoAnswer, AgentConnect,
AgentComplete, QueueCallerAbandon) and Hangup come from Asterisk itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Caller numbers that are not numbers (withheld, unknown).
_NO_NUMBER = {"", "<unknown>", "unknown", "anonymous", "restricted", "private"}


@dataclass
class Call:
    linkedid: str
    uniqueid: str
    channel: str
    caller: str  # the number, or "" when withheld
    caller_name: str | None
    trunk: str
    drill: bool
    arrived_at: datetime
    recording: str | None = None
    state: str = "arrived"  # arrived, queued, ringing, answered, ended, abandoned
    queue: str | None = None
    ringing: str | None = None
    calltaker: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hold_s: float | None = None
    talk_s: float | None = None
    hangup_by: str | None = None
    end_reason: str | None = None
    timeouts: list[str] = field(default_factory=list)
    hangup_source: str | None = None
    agent_channels: set[str] = field(default_factory=set)
    # A QueueCallerAbandon not yet explained by a QueueExit (timeout) or a Hangup.
    abandoned_queue: tuple[str, float] | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("ended", "abandoned")

    def row(self) -> dict[str, Any]:
        """The columns of the `calls` table this call sets."""
        return {
            "linkedid": self.linkedid,
            "caller": self.caller or "anonymous",
            "caller_name": self.caller_name,
            "trunk": self.trunk,
            "drill": self.drill,
            "asterisk_channel": self.channel,
            "state": self.state,
            "queue": self.queue,
            "ringing": self.ringing,
            "calltaker": self.calltaker,
            "arrived_at": self.arrived_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "hold_s": self.hold_s,
            "talk_s": self.talk_s,
            "hangup_by": self.hangup_by,
            "end_reason": self.end_reason,
            "timeouts": list(self.timeouts),
            "recording": self.recording,
        }


@dataclass(frozen=True)
class Arrived:
    call: Call
    event_time: datetime  # Asterisk's time of the event that announced it (for lag)


@dataclass(frozen=True)
class Progress:
    """`milestone` is one of queued, ringing, answered, queue_timeout, ended, abandoned;
    `event` names the audit-log event to add, if the milestone deserves one."""

    call: Call
    milestone: str
    event: str | None
    data: Mapping[str, Any]


Change = Arrived | Progress


def event_time(ev: Mapping[str, str], default: datetime) -> datetime:
    """Asterisk's own time of the event (manager.conf ``timestampevents = yes``)."""
    raw = ev.get("Timestamp") or ""
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (ValueError, OverflowError, OSError):
        return default


def calltaker_id(interface: str) -> str:
    """``PJSIP/1001`` (or a member name of that form) → ``1001``."""
    return interface.rsplit("/", 1)[-1].split("@", 1)[0] if interface else ""


def _printable(raw: str | None, limit: int) -> str:
    """What a carrier sends in a caller ID is not ours to trust: control characters go,
    the length is bounded by the store's column."""
    text = "".join(ch for ch in (raw or "") if ch.isprintable())
    return text.strip()[:limit]


def clean_number(raw: str | None) -> str:
    number = _printable(raw, 64)
    return "" if number.lower() in _NO_NUMBER else number


def clean_name(raw: str | None, number: str) -> str | None:
    name = _printable(raw, 200)
    if name.lower() in _NO_NUMBER or name == number:
        return None
    return name


def seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw not in (None, "") else None
    except ValueError:
        return None


# The dialplan contexts 110 calls enter by, and the trunk each stands for.
INTAKE_CONTEXTS: Mapping[str, str] = {"from-carrier": "carrier", "from-drill": "drill"}


class CallTracker:
    """The calls in progress, by Linkedid. Queue events of queues not in `queues` (when
    given) are not ours: another service on the same Asterisk.

    A new channel in an intake context is remembered until its ``AlarmgwCall``: a caller
    who hangs up before the dialplan got that far (a ring-and-hang-up, 响一声就挂) is still
    a call to ring back, filed at its hang-up."""

    def __init__(
        self,
        queues: Iterable[str] | None = None,
        intake_contexts: Mapping[str, str] = INTAKE_CONTEXTS,
    ) -> None:
        self.calls: dict[str, Call] = {}
        self.queues = frozenset(queues) if queues is not None else None
        self.intake_contexts = dict(intake_contexts)
        self.early: dict[str, tuple[dict[str, str], datetime]] = {}

    def feed(self, ev: Mapping[str, str], now: datetime) -> list[Change]:
        name = ev.get("Event", "")
        if name == "UserEvent":
            name = "User:" + ev.get("UserEvent", "")
        handler = _HANDLERS.get(name)
        if handler is None:
            return []
        queue = ev.get("Queue")
        if queue and self.queues is not None and queue not in self.queues:
            return []
        return handler(self, ev, event_time(ev, now))

    def feed_all(self, events: Iterable[Mapping[str, str]], now: datetime) -> list[Change]:
        out: list[Change] = []
        for ev in events:
            out.extend(self.feed(ev, now))
        return out

    def _call(self, ev: Mapping[str, str]) -> Call | None:
        return self.calls.get(ev.get("Linkedid", ""))

    # -- arrival ----------------------------------------------------------------------

    def _new_channel(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        linkedid = ev.get("Linkedid", "")
        if (
            linkedid
            and ev.get("Uniqueid") == linkedid
            and ev.get("Context") in self.intake_contexts
            # Only a 110 call (the dialplan's 110 and _110X.): the carrier's other numbers
            # (the fax line, a misdialled one) never are one, however soon they hang up.
            and ev.get("Exten", "").startswith("110")
            and linkedid not in self.calls
        ):
            self.early[linkedid] = (dict(ev), t)
        return []

    def _hung_up_early(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        """The caller's channel ended before the dialplan announced it."""
        first, arrived = self.early.pop(ev.get("Linkedid", ""))
        trunk = self.intake_contexts[first.get("Context", "")]
        call = new_call(dict(first, Trunk=trunk), arrived)
        return [Arrived(call, arrived), end(call, t, "caller")]

    def _arrived(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        linkedid = ev.get("Linkedid", "")
        self.early.pop(linkedid, None)
        if not linkedid or linkedid in self.calls:
            return []
        call = new_call(ev, t)
        self.calls[linkedid] = call
        return [Arrived(call, t)]

    def adopt(self, call: Call, t: datetime) -> list[Change]:
        """A call found in Asterisk's own state after a reconnect (see `reconcile`)."""
        self.early.pop(call.linkedid, None)
        if call.linkedid in self.calls:
            return []
        self.calls[call.linkedid] = call
        return [Arrived(call, t)]

    # -- the queue --------------------------------------------------------------------

    def _joined(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.finished or ev.get("Uniqueid") != call.uniqueid:
            return []
        call.state, call.queue, call.ringing = "queued", ev.get("Queue") or None, None
        return [Progress(call, "queued", None, {"queue": call.queue})]

    def _agent_called(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.state not in ("queued", "ringing", "arrived"):
            return []
        who = calltaker_id(ev.get("Interface") or ev.get("MemberName") or "")
        if ev.get("DestChannel"):
            call.agent_channels.add(ev["DestChannel"])
        call.state, call.ringing = "ringing", who
        return [Progress(call, "ringing", None, {"calltaker": who})]

    def _agent_no_answer(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.state != "ringing":
            return []
        call.state, call.ringing = "queued", None
        return [Progress(call, "queued", None, {"queue": call.queue})]

    def _connected(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.finished or call.state == "answered":
            return []
        who = calltaker_id(ev.get("Interface") or ev.get("MemberName") or "")
        if ev.get("DestChannel"):
            call.agent_channels.add(ev["DestChannel"])
        call.state, call.ringing, call.calltaker = "answered", None, who
        call.answered_at = t
        call.hold_s = round((t - call.arrived_at).total_seconds(), 3)
        call.queue = ev.get("Queue") or call.queue
        call.abandoned_queue = None
        data = {"calltaker": who, "queue": call.queue, "time_to_answer_s": call.hold_s}
        return [Progress(call, "answered", "call_answered", data)]

    def _complete(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.state != "answered":
            return []
        call.talk_s = seconds(ev.get("TalkTime"))
        reason = (ev.get("Reason") or "").lower()
        call.hangup_by = {"caller": "caller", "agent": "calltaker"}.get(reason, call.hangup_by)
        return []  # the Hangup of the caller's channel ends the call

    def _abandoned(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.finished:
            return []
        hold = seconds(ev.get("HoldTime"))
        call.abandoned_queue = (ev.get("Queue") or call.queue or "", hold or 0.0)
        return []  # a QueueExit (timeout) or the Hangup (caller gave up) says which

    def _queue_exit(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or call.finished:
            return []
        status = (ev.get("Status") or "").upper()
        queue = ev.get("Queue") or (call.abandoned_queue or ("",))[0] or call.queue or ""
        call.abandoned_queue = None
        if status != "TIMEOUT":
            return []
        call.timeouts.append(queue)
        call.state, call.ringing = "queued", None
        data = {"queue": queue, "waited_s": round((t - call.arrived_at).total_seconds(), 3)}
        return [Progress(call, "queue_timeout", "call_queue_timeout", data)]

    # -- the end ----------------------------------------------------------------------

    def _call_end(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None or ev.get("Uniqueid") != call.uniqueid:
            return []
        call.hangup_source = ev.get("Source") or None
        call.recording = ev.get("Recording") or call.recording
        return []

    def _hangup(self, ev: Mapping[str, str], t: datetime) -> list[Change]:
        call = self._call(ev)
        if call is None and ev.get("Linkedid") in self.early:
            if ev.get("Uniqueid") == ev.get("Linkedid"):
                return self._hung_up_early(ev, t)
            return []
        if call is None or call.finished or ev.get("Uniqueid") != call.uniqueid:
            return []
        self.calls.pop(call.linkedid, None)
        return [end(call, t, self._hangup_by(call))]

    def _hangup_by(self, call: Call) -> str:
        source = call.hangup_source or ""
        if source and source == call.channel:
            return "caller"
        if source and (source in call.agent_channels or source.startswith("PJSIP/")):
            return "calltaker" if call.state == "answered" else "system"
        if call.hangup_by:
            return call.hangup_by
        return "caller" if call.state != "answered" else "unknown"

    def lost(self, live: set[str], t: datetime) -> list[Change]:
        """After a reconnect: the calls we followed that Asterisk no longer has ended while
        the link was down. One never answered counts as abandoned (it gets a callback)."""
        out: list[Change] = []
        for linkedid in [k for k in self.early if k not in live]:
            out.extend(self._hung_up_early({"Linkedid": linkedid}, t))
        for linkedid in [k for k in self.calls if k not in live]:
            call = self.calls.pop(linkedid)
            call.end_reason = "link_lost"
            out.append(end(call, t, "unknown", reason="link_lost"))
        return out


def new_call(ev: Mapping[str, str], t: datetime) -> Call:
    number = clean_number(ev.get("CallerIDNum"))
    trunk = (ev.get("Trunk") or "").strip() or "unknown"
    return Call(
        linkedid=ev.get("Linkedid", ""),
        uniqueid=ev.get("Uniqueid", ""),
        channel=ev.get("Channel", ""),
        caller=number,
        caller_name=clean_name(ev.get("CallerIDName"), number),
        trunk=trunk,
        drill=(ev.get("Drill") or "").strip() == "1" or trunk == "drill",
        arrived_at=t,
        recording=ev.get("Recording") or None,
    )


def end(call: Call, t: datetime, hangup_by: str, reason: str | None = None) -> Progress:
    """The call is over: answered and ended, or never answered (abandoned)."""
    call.ended_at = t
    call.hangup_by = hangup_by
    if call.state == "answered":
        assert call.answered_at is not None
        call.talk_s = call.talk_s or round((t - call.answered_at).total_seconds(), 3)
        call.state, call.end_reason = "ended", reason or "completed"
        data: dict[str, Any] = {
            "calltaker": call.calltaker,
            "duration_s": call.talk_s,
            "hangup_by": hangup_by,
            "recording": call.recording,
        }
        return Progress(call, "ended", "call_ended", data)
    if call.abandoned_queue is not None:
        call.queue = call.abandoned_queue[0] or call.queue
    call.hold_s = round((t - call.arrived_at).total_seconds(), 3)
    call.state, call.ringing = "abandoned", None
    call.end_reason = reason or ("timeout_then_hangup" if call.timeouts else "caller_hangup")
    data = {
        "queue": call.queue,
        "hold_s": call.hold_s,
        "reason": call.end_reason,
        "queue_timeouts": list(call.timeouts),
        "caller": call.caller or "anonymous",
    }
    return Progress(call, "abandoned", "call_abandoned", data)


def duration(hms: str) -> timedelta:
    """CoreShowChannel's Duration, ``HH:MM:SS``."""
    try:
        h, m, s = (int(x) for x in hms.split(":"))
    except ValueError:
        return timedelta(0)
    return timedelta(hours=h, minutes=m, seconds=s)


_HANDLERS = {
    "Newchannel": CallTracker._new_channel,
    "User:AlarmgwCall": CallTracker._arrived,
    "QueueCallerJoin": CallTracker._joined,
    "AgentCalled": CallTracker._agent_called,
    "AgentRingNoAnswer": CallTracker._agent_no_answer,
    "AgentConnect": CallTracker._connected,
    "AgentComplete": CallTracker._complete,
    "QueueCallerAbandon": CallTracker._abandoned,
    "User:AlarmgwQueueExit": CallTracker._queue_exit,
    "User:AlarmgwCallEnd": CallTracker._call_end,
    "Hangup": CallTracker._hangup,
}
