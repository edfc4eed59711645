"""`gateway.service.Collector`: after a full collection the survivors are frozen (the next
full collections skip them), they are thawed every `thaw_s`, and a stop leaves the collector
as it found it. (bench/targets.py measures what it is for: 0.3 s pauses every 30 s with
20,000 terminals connected.)"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock

from gateway.service import Collector


class Now:
    """A reactor whose callFromThread runs at once (the collector's callback does not run
    in the reactor's thread in a test)."""

    def callFromThread(self, fn: Callable[..., Any], *args: Any) -> None:
        fn(*args)


def test_survivors_of_a_full_collection_are_frozen_then_thawed() -> None:
    clock = Clock()
    c = Collector(Now(), clock, thaw_s=600)
    c.startService()
    try:
        assert gc.get_freeze_count() > 0  # what the start made
        kept = [[i] for i in range(10_000)]  # long-lived: will survive
        before = gc.get_freeze_count()
        gc.collect()
        assert gc.get_freeze_count() >= before + len(kept)
        clock.advance(600)  # thawed: a cycle that died among them can be collected
        assert gc.get_freeze_count() == 0
        gc.collect(1)  # a young collection freezes nothing
        assert gc.get_freeze_count() == 0
    finally:
        c.stopService()
    assert gc.get_freeze_count() == 0 and c._collected not in gc.callbacks
    gc.collect()
    assert gc.get_freeze_count() == 0
    del kept
