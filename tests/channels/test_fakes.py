"""The fakes of the in-process channel tests keep up with what they stand in for."""

from __future__ import annotations

import inspect

from gateway.channel import ChannelContext
from gateway.channels.ami.client import AmiLink
from gateway.channels.smpp.esme import Bind
from tests.channels.fakes import FakeAmiLink, FakeContext, FakeTransmitter
from tests.inline import Store, result, staff


def members(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


# What the protocol declares: its methods and properties.
PROTOCOL = {name for name in vars(ChannelContext) if not name.startswith("_")}


def test_the_fake_context_has_all_of_the_channel_context() -> None:
    assert PROTOCOL >= {"submit", "act", "acknowledge_notice", "read", "write", "on_action"}
    # set in __init__, as in gateway.app.ChannelRuntime
    instance = {"channel", "settings", "metrics", "tz", "registry"}
    assert PROTOCOL <= members(FakeContext) | instance


def test_the_fake_context_sets_everything_the_protocol_reads(store: Store) -> None:
    ctx = FakeContext(store, "smpp", tps=3)
    for name in PROTOCOL:
        assert getattr(ctx, name) is not None, name
    assert ctx.settings.tps == 3 and ctx.settings.source_addr == "12110"
    assert ctx.now().timestamp() == ctx.clock.seconds()


def test_listeners_hear_committed_actions_until_unsubscribed(store: Store) -> None:
    ctx = FakeContext(store, "smpp")
    heard: list[tuple[str, str, str]] = []
    unsubscribe = ctx.on_action(lambda n, a, doc: heard.append((n, a, doc["state"])))
    number = store.submit().incident
    result(ctx.act(number, "accept", staff("calltaker"), {"category": "criminal"}))
    unsubscribe()
    unsubscribe()  # twice is harmless
    result(ctx.act(number, "dispatch", staff("dispatcher"), {}))
    assert heard == [(number, "accept", "accepted")]


def test_the_fake_peers_have_what_the_channels_use_of_the_real_ones() -> None:
    used = {"up", "settings", "submit", "respond", "start", "stop"}
    assert used <= members(Bind) | {"up", "settings"}
    assert used <= members(FakeTransmitter) | {"up", "settings"}
    assert inspect.signature(FakeTransmitter.submit).parameters.keys() >= {"fields"}
    used = {"up", "action", "drop", "stop"}
    assert used <= members(AmiLink) | {"up"}
    assert used <= members(FakeAmiLink) | {"up"}
