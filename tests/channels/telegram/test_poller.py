"""The poller's confirmation rule in simulated time, with stand-ins for the bot's channel: a
bug meeting one update is a fault neither the emulator nor Telegram can produce, so this
test makes it with a stand-in inbox (the rest is tested against the emulator)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet import defer, task

from gateway.channels.telegram.poller import POISON, Poller
from gateway.store.engine import StoreUnavailable


class Inbox:
    def __init__(self, fails: dict[int, type[Exception]]) -> None:
        self.fails = fails
        self.taken: list[int] = []

    async def handle(self, update: dict[str, Any]) -> str:
        uid = update["update_id"]
        if uid in self.fails:
            raise self.fails[uid]("boom")
        self.taken.append(uid)
        return "stored"


def channel(inbox: Inbox, clock: task.Clock) -> Any:
    counter = SimpleNamespace(labels=lambda _outcome: SimpleNamespace(inc=lambda: None))
    return SimpleNamespace(
        settings=SimpleNamespace(retry_seconds=1.0),
        inbox=inbox,
        inflight=SimpleNamespace(track=lambda d: d),
        metrics=SimpleNamespace(updates=counter),
        clock=clock,
        running=True,
    )


def deal(poller: Poller, clock: task.Clock, batch: list[dict[str, Any]]) -> None:
    d = defer.ensureDeferred(poller._deal(batch))
    while not d.called:
        clock.advance(120)


BATCH = [{"update_id": n} for n in (4, 5, 6)]


def test_a_store_failure_never_confirms_the_update() -> None:
    clock = task.Clock()
    inbox = Inbox({5: StoreUnavailable})
    poller = Poller(channel(inbox, clock))
    for _ in range(POISON * 3):
        deal(poller, clock, BATCH)
    assert poller.offset == 5  # 4 confirmed; 5 fetched again, however often
    assert inbox.taken.count(6) == 0


def test_an_update_a_bug_fails_on_is_passed_over_after_some_tries() -> None:
    clock = task.Clock()
    inbox = Inbox({5: RuntimeError})
    poller = Poller(channel(inbox, clock))
    for _ in range(POISON - 1):
        deal(poller, clock, BATCH)
        assert poller.offset == 5
    deal(poller, clock, BATCH)
    assert poller.offset == 7 and inbox.taken[-1] == 6  # the alarms after it go on
