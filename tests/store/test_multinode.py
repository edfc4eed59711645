"""Several gateway nodes on one PostgreSQL: a deadline fires once, and the audit chain
stays one unbroken chain, however the nodes' transactions interleave."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from gateway.report import Location
from gateway.store import audit
from tests.conftest import T0, fresh_pg_schema
from tests.harness import Harness, actor

NODES = 4
INCIDENTS = 12


@pytest.fixture
def nodes(pg_url: str, config) -> Iterator[list[Harness]]:
    url, drop = fresh_pg_schema(pg_url)
    harnesses = [Harness(url, config, T0) for _ in range(NODES)]
    yield harnesses
    for h in harnesses:
        h.close()
    drop()


def test_deadlines_fire_once_across_nodes(nodes: list[Harness]) -> None:
    first = nodes[0]
    numbers = []
    for i in range(INCIDENTS):
        r = first.submit(first.report(location=Location(lat=24.98, lon=102.65 + i * 0.001)))
        first.act(r.incident, "accept", actor("calltaker"), category="criminal", priority=1)
        first.act(r.incident, "dispatch", actor("dispatcher"))
        numbers.append(r.incident)
    later = T0 + timedelta(seconds=first.config.sla.seconds("acknowledge", 1) + 1)
    fired: list[list[str]] = [[] for _ in nodes]
    errors: list[BaseException] = []
    start = threading.Barrier(len(nodes))

    def node(i: int) -> None:
        h = nodes[i]
        h.now = later
        start.wait()
        try:
            for _ in range(3):
                fired[i].extend(h.fire())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=node, args=(i,)) for i in range(len(nodes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    all_fired = sorted(n for f in fired for n in f)
    assert all_fired == sorted(numbers)  # each incident's deadline fired exactly once
    count, problems = first.read(audit.verify)
    assert problems == []
    assert count == INCIDENTS * 3 + INCIDENTS * 2  # create, accept, dispatch; missed, escalate
