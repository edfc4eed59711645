"""The webhook notifier against a real HTTP receiver (twisted.web on 127.0.0.1) and a real
store (SQLite and PostgreSQL). HTTP runs on the reactor; the notifier's own clock (what
"now" is, when retries are due, the attempt timeout) is a `task.Clock` we advance."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import defer, reactor, task
from twisted.web import resource, server

from gateway.config import Config, WebhookSettings, load_config, sample_text
from gateway.notify.outbox import Outbox, claim
from gateway.notify.webhook import WebhookNotifier, sign, verdict
from gateway.report import Location
from gateway.store.db import Database
from gateway.store.tables import deliveries
from gateway.workflow.documents import Documents
from tests.conftest import T0
from tests.harness import STATION, Harness, actor

NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15)  # inside 南坝派出所 (530102510000)
STATION_SECRET = "station-secret-测试"


class Receiver(resource.Resource):
    """Records each POST; answers with the next scripted code (200 once the script is
    used up), or never, for None."""

    isLeaf = True

    def __init__(self, codes: list[int | None] | None = None) -> None:
        super().__init__()
        self.codes = list(codes or [])
        self.requests: list[dict[str, Any]] = []
        self.hanging: list[server.Request] = []
        self.arrived: defer.Deferred[None] = defer.Deferred()

    def render_POST(self, request: server.Request) -> bytes | int:
        self.requests.append(
            {
                "path": request.path.decode(),
                "headers": {
                    k.decode().lower(): v[0].decode()
                    for k, v in request.requestHeaders.getAllRawHeaders()
                },
                "body": request.content.read(),
            }
        )
        code = self.codes.pop(0) if self.codes else 200
        if code is None:
            self.hanging.append(request)
        if not self.arrived.called:
            self.arrived.callback(None)
        if code is None:
            return server.NOT_DONE_YET
        request.setResponseCode(code)
        return b"ok"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, int]]:
    r = Receiver()
    port = reactor.listenTCP(0, server.Site(r), interface="127.0.0.1")
    yield r, port.getHost().port
    pytest_twisted.blockon(port.stopListening())


def city(tmp_path: Path, port: int, station_secret: str | None = STATION_SECRET) -> Config:
    """The sample city with its webhooks pointing at our receiver."""
    text = sample_text().replace("http://127.0.0.1:9/", f"http://127.0.0.1:{port}/")
    if station_secret:
        plain = f'address = "http://127.0.0.1:{port}/units/{STATION}" }}'
        assert plain in text
        text = text.replace(plain, plain[:-2] + f', secret = "{station_secret}" }}')
    path = tmp_path / "city.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


class World:
    """Harness (synchronous workflow) + a running Database + the notifier under test."""

    def __init__(self, url: str, config: Config) -> None:
        self.h = Harness(url, config, T0)
        self.db = Database(url)
        self.clock = task.Clock()
        self.clock.advance(T0.timestamp())
        documents = Documents(config.enabled_channels)
        self.webhooks = WebhookNotifier(self.db, config, documents, clock=self.clock)
        self.notifier = Outbox(self.db, self.webhooks, self.clock, jitter=lambda: 1.0)

    def dispatched(self, **accept: Any) -> str:
        """An incident accepted and dispatched to 南坝派出所: one webhook delivery queued."""
        n = self.h.submit(self.h.report(location=NANBA)).incident
        self.h.act(n, "accept", actor("calltaker"), **({"category": "criminal"} | accept))
        self.h.act(n, "dispatch", actor("dispatcher"))
        return n

    def rows(self) -> list[Any]:
        return self.h.read(
            lambda c: c.execute(select(deliveries).order_by(deliveries.c.id)).mappings().all()
        )

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.h.advance(seconds)

    async def poll(self) -> int:
        return await self.notifier.poll()


@pytest.fixture
def world(store_url: str, receiver: tuple[Receiver, int], tmp_path: Path) -> Iterator[World]:
    w = World(store_url, city(tmp_path, receiver[1]))
    pytest_twisted.blockon(w.db.start(migrate=False))  # the Harness migrated it
    yield w
    pytest_twisted.blockon(w.db.stop())
    w.h.close()


@pytest_twisted.ensureDeferred
async def test_dispatch_is_posted_signed_and_recorded(world: World, receiver: Any) -> None:
    r, _ = receiver
    number = world.dispatched()
    assert await world.poll() == 1
    (req,) = r.requests
    (row,) = world.rows()
    assert req["path"] == f"/units/{STATION}"
    headers, body = req["headers"], req["body"]
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-alarmgw-delivery"] == str(row["id"])
    ts = headers["x-alarmgw-timestamp"]
    assert ts == str(int(T0.timestamp()))
    mac = hmac.new(STATION_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256)
    assert hmac.compare_digest(headers["x-alarmgw-signature"], "sha256=" + mac.hexdigest())
    assert "有人在抢劫".encode() in body  # UTF-8 as is, not \\u escapes
    payload = json.loads(body)
    doc = world.h.read(lambda c: world.webhooks.documents.of(c, number))
    assert payload == {"delivery": row["id"], "reason": "dispatch", "drill": False, "incident": doc}
    assert doc["state"] == "dispatched" and doc["unit"] == STATION
    assert (row["status"], row["attempts"], row["http_status"], row["error"]) == (
        "delivered",
        1,
        200,
        None,
    )
    assert await world.poll() == 0 and len(r.requests) == 1  # delivered means done


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
@pytest_twisted.ensureDeferred
async def test_a_target_without_secret_is_unsigned(
    store_url: str, receiver: Any, tmp_path: Path
) -> None:
    r, port = receiver
    w = World(store_url, city(tmp_path, port, station_secret=None))
    await w.db.start(migrate=False)
    try:
        w.dispatched()
        assert await w.poll() == 1
        assert "x-alarmgw-signature" not in r.requests[0]["headers"]
    finally:
        await w.db.stop()
        w.h.close()


@pytest_twisted.ensureDeferred
async def test_category_target_gets_its_own_secret(world: World, receiver: Any) -> None:
    """Fire, priority 1: 119 (a category's also_notify) and the city center are told at
    accept, the station at dispatch; each signed with its own target's secret, if any."""
    r, _ = receiver
    world.dispatched(category="fire", priority=1)
    assert await world.poll() == len(world.rows()) >= 3
    secrets = {
        "/119": None,
        "/units/530100000000": "sample-secret-530100000000",
        f"/units/{STATION}": STATION_SECRET,
    }
    for req in r.requests:
        secret = secrets[req["path"]]
        got = req["headers"].get("x-alarmgw-signature")
        ts = int(req["headers"]["x-alarmgw-timestamp"])
        assert got == (sign(secret, ts, req["body"]) if secret else None), req["path"]
    assert {row["status"] for row in world.rows()} == {"delivered"}


@pytest_twisted.ensureDeferred
async def test_server_errors_are_retried_with_growing_backoff(world: World, receiver: Any) -> None:
    r, _ = receiver
    r.codes = [500, 503]
    world.dispatched()
    assert await world.poll() == 1
    (row,) = world.rows()
    assert (row["status"], row["attempts"], row["http_status"], row["error"]) == (
        "failed",
        1,
        500,
        "HTTP 500",
    )
    assert row["next_at"] == T0 + timedelta(seconds=1)  # backoff_initial × 2⁰
    assert await world.poll() == 0  # not due yet
    world.advance(1)
    assert await world.poll() == 1
    (row,) = world.rows()
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 2, "HTTP 503")
    assert row["next_at"] == T0 + timedelta(seconds=1 + 2)  # × 2¹
    world.advance(1.5)
    assert await world.poll() == 0
    world.advance(0.5)
    assert await world.poll() == 1
    (row,) = world.rows()
    assert (row["status"], row["attempts"], row["http_status"], row["error"]) == (
        "delivered",
        3,
        200,
        None,
    )
    assert len({req["headers"]["x-alarmgw-delivery"] for req in r.requests}) == 1
    assert len(r.requests) == 3


@pytest_twisted.ensureDeferred
async def test_receiver_down_retries_then_gives_up(
    store_url: str, receiver: Any, tmp_path: Path
) -> None:
    closed = reactor.listenTCP(0, server.Site(Receiver()), interface="127.0.0.1")
    port = closed.getHost().port
    await closed.stopListening()  # nothing listens there now: connection refused
    config = city(tmp_path, port)
    config = dataclasses.replace(
        config, webhook=WebhookSettings(timeout=5, max_attempts=4, backoff_initial=2, backoff_max=5)
    )
    w = World(store_url, config)
    await w.db.start(migrate=False)
    try:
        w.dispatched()
        delays = []
        for attempt in (1, 2, 3):
            assert await w.poll() == 1
            (row,) = w.rows()
            assert (row["status"], row["attempts"], row["http_status"], row["error"]) == (
                "failed",
                attempt,
                None,
                "connection refused",
            )
            delays.append((row["next_at"] - w.h.now).total_seconds())
            w.advance(delays[-1])
        assert delays == [2, 4, 5]  # doubled, capped at backoff_max
        assert await w.poll() == 1
        (row,) = w.rows()
        assert (row["status"], row["attempts"], row["error"]) == (
            "gave_up",
            4,
            "connection refused",
        )
        w.advance(3600)
        assert await w.poll() == 0
    finally:
        await w.db.stop()
        w.h.close()


@pytest.mark.parametrize(
    "code, status",
    [(400, "gave_up"), (410, "gave_up"), (408, "failed"), (429, "failed"), (302, "failed")],
)
@pytest_twisted.ensureDeferred
async def test_client_errors_give_up_at_once(
    world: World, receiver: Any, code: int, status: str
) -> None:
    r, _ = receiver
    r.codes = [code]
    world.dispatched()
    assert await world.poll() == 1
    (row,) = world.rows()
    assert (row["status"], row["attempts"], row["http_status"], row["error"]) == (
        status,
        1,
        code,
        f"HTTP {code}",
    )


def test_verdict_table() -> None:
    cases = {
        200: "delivered",
        204: "delivered",
        301: "retry",
        400: "gave_up",
        401: "gave_up",
        404: "gave_up",
        408: "retry",
        425: "retry",
        429: "retry",
        500: "retry",
        None: "retry",
    }
    assert {code: verdict(code) for code in cases} == cases


@pytest_twisted.ensureDeferred
async def test_a_receiver_that_never_answers_times_out(world: World, receiver: Any) -> None:
    r, _ = receiver
    r.codes = [None]
    world.dispatched()
    polling = defer.ensureDeferred(world.poll())
    await r.arrived
    assert not polling.called
    world.clock.advance(world.webhooks.config.webhook.timeout)
    assert await polling == 1
    (row,) = world.rows()
    assert (row["status"], row["attempts"], row["error"]) == ("failed", 1, "timeout")


@pytest_twisted.ensureDeferred
async def test_claim_is_a_lease(world: World) -> None:
    """A claimed row is not handed out again (another node, another poll) until the lease
    runs out; then it is, so a node that crashed mid-send loses nothing."""
    world.dispatched()
    first = await world.db.write(claim, T0, "webhook", 10, 35.0)
    assert [c.target.rsplit("/", 1)[1] for c in first] == [STATION]
    assert await world.db.write(claim, T0 + timedelta(seconds=34), "webhook", 10, 35.0) == []
    again = await world.db.write(claim, T0 + timedelta(seconds=35), "webhook", 10, 35.0)
    assert [c.id for c in again] == [first[0].id]


@pytest_twisted.ensureDeferred
async def test_service_polls_and_stop_waits_for_deliveries_in_flight(
    world: World, receiver: Any
) -> None:
    r, _ = receiver
    r.codes = [None]
    world.dispatched()
    world.notifier.startService()  # polls at once
    await r.arrived
    stopping = world.notifier.stopService()
    assert not stopping.called  # the POST is still in flight
    (hanging,) = r.hanging
    hanging.setResponseCode(202)
    hanging.write(b"accepted")
    hanging.finish()
    await stopping
    (row,) = world.rows()
    assert (row["status"], row["http_status"]) == ("delivered", 202)
    world.advance(10)
    assert world.clock.getDelayedCalls() == []  # the loop is really stopped


@pytest_twisted.ensureDeferred
async def test_logs_name_the_delivery_not_the_caller(world: World, receiver: Any) -> None:
    from twisted.logger import formatEvent, globalLogPublisher

    r, _ = receiver
    r.codes = [500]
    number = world.dispatched()
    lines: list[str] = []
    observer = lambda event: lines.append(formatEvent(event))  # noqa: E731
    globalLogPublisher.addObserver(observer)
    try:
        await world.poll()
    finally:
        globalLogPublisher.removeObserver(observer)
    text = "\n".join(lines)
    assert number in text and "HTTP 500" in text
    assert "13800000" not in text and STATION_SECRET not in text
