"""The AMI link's own fixes to panoramisk, at the byte level.

These feed bytes recorded from the real Asterisk (tests/fixtures/ami/) into the protocol
object directly, cut at every possible place, because a real TCP stack only rarely
splits a read inside a character; the behaviour against the live Asterisk is in
test_calls.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import defer

from gateway.channels.ami.client import AmiLink, AmiUnavailable, _Manager, _Protocol

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ami"


class _Transport:
    def __init__(self) -> None:
        self.closed = False
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


def _protocol(events: list[dict[str, Any]]) -> _Protocol:
    link = AmiLink("127.0.0.1", 1, "u", "s", on_event=lambda ev: events.append(dict(ev)))
    proto = _Protocol()
    proto.connection_made(_Transport())
    proto.factory = _Manager(link, loop=asyncio.new_event_loop())
    return proto


def _transcript(name: str) -> bytes:
    path = FIXTURES / name
    if not path.exists():
        pytest.fail(f"missing fixture {path} (recorded from the real Asterisk)")
    return path.read_bytes()


def _names(events: list[dict[str, Any]]) -> list[str]:
    return [ev.get("CallerIDName", "") for ev in events if ev.get("Event") == "Newchannel"]


def test_transcript_parses_whole() -> None:
    events: list[dict[str, Any]] = []
    _protocol(events).data_received(_transcript("answered.ami"))
    assert "张三" in _names(events)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=200))
def test_utf8_survives_any_split(cuts: list[int]) -> None:
    """panoramisk 1.4 decodes each read with 'ignore': a name cut inside a character
    lost it. Cut the transcript anywhere, as often as you like: the name stays whole."""
    data = _transcript("answered.ami")
    whole: list[dict[str, Any]] = []
    _protocol(whole).data_received(data)
    events: list[dict[str, Any]] = []
    proto = _protocol(events)
    at = 0
    for n in cuts:
        proto.data_received(data[at : at + n])
        at += n
    proto.data_received(data[at:])
    assert events == whole


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_any_bytes_never_break_the_protocol(chunks: list[bytes]) -> None:
    """Garbage on the wire (invalid UTF-8, stray CRLFs, half messages) is parsed or
    skipped; it never raises out of data_received, which would drop the link."""
    events: list[dict[str, Any]] = []
    proto = _protocol(events)
    for chunk in chunks:
        proto.data_received(chunk)
    proto.data_received(b"\r\n\r\nEvent: Hangup\r\nLinkedid: 1.1\r\n\r\n")
    assert events and events[-1]["Event"] == "Hangup"


def test_cut_inside_the_name() -> None:
    data = _transcript("answered.ami")
    i = data.index("张".encode()) + 1  # in the middle of 张's three bytes
    events: list[dict[str, Any]] = []
    proto = _protocol(events)
    proto.data_received(data[:i])
    proto.data_received(data[i:])
    assert "张三" in _names(events)


def test_a_handler_error_does_not_drop_the_link() -> None:
    calls: list[str] = []

    def handler(ev: Any) -> None:
        calls.append(ev.get("Event"))
        raise RuntimeError("bug in a handler")

    link = AmiLink("127.0.0.1", 1, "u", "s", on_event=handler)
    proto = _Protocol()
    transport = _Transport()
    proto.connection_made(transport)
    proto.factory = _Manager(link, loop=asyncio.new_event_loop())
    proto.data_received(_transcript("answered.ami"))
    assert len(calls) > 5  # every event reached the handler, despite each one raising
    assert not transport.closed


@pytest_twisted.ensureDeferred
async def test_actions_in_flight_fail_when_the_link_drops() -> None:
    """panoramisk would keep the action and send it again after the reconnect (an
    Originate would ring twice); ours fails at once with AmiUnavailable."""
    loop = asyncio.get_event_loop()
    link = AmiLink("127.0.0.1", 1, "u", "s", on_event=lambda ev: None, loop=loop)

    async def scenario() -> None:
        proto = _Protocol()
        transport = _Transport()
        proto.connection_made(transport)
        manager = _Manager(link, loop=loop)
        proto.factory = manager
        manager.protocol = proto
        link._manager = manager
        link.up = True
        pending = asyncio.ensure_future(link.action("Ping", timeout=30))
        await asyncio.sleep(0)
        assert transport.written and b"Action: Ping" in transport.written[0]
        proto.connection_lost(None)
        with pytest.raises(AmiUnavailable):
            await pending
        assert manager.awaiting_actions == type(manager.awaiting_actions)()  # nothing kept

    link._running = False  # no reconnect in this test
    await defer.Deferred.fromFuture(asyncio.ensure_future(scenario()))
