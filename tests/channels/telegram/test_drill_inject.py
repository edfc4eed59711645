"""Drill Telegram injects (gateway/channels/telegram/drill.py): the adapter's drill
injection, the Bot API updates of a drill chat's messages handed to the channel's own
update path.

In process: the Telegram channel runs on a real store (`tests.inline`), its bot at the Bot
API emulator (tests/peers/telegram); the run is recorded and its reports tied by the
runner's own functions (`gateway.drills.runs`). An inject becomes the text's report, then
the location's (joining its incident), drills marked as injected; its receipt goes through
the outbox to the drill chat; the same inject again stores nothing; a chat not among
drill_chats sends nothing. End to end: a run started over the API of a real gateway
process plays the inject and ties it to its report, and the receipt reaches the chat.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from sqlalchemy import select
from twisted.internet import reactor, task

from gateway.channel import resolve
from gateway.channels.telegram.drill import VIA, drill_id, drill_updates, inject
from gateway.channels.telegram.service import TelegramChannel
from gateway.channels.telegram.tables import telegram_out
from gateway.config import Config
from gateway.drills import runs
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import scenario_from_text
from gateway.drills.tables import drill_sends
from gateway.store.tables import incidents, reports
from gateway.workflow.machine import Actor
from gateway.workflow.table import Role
from tests.channels.fakes import FakeContext, channel_city
from tests.inline import Store, result, sqlite_copy
from tests.peers.gateway import GatewayProcess, channel_gateway, db, play_drill
from tests.peers.telegram import BotApi, peer_or_skip

GROUP = -1001234567890  # a drill chat (a supergroup)
PRIVATE = 9003  # a drill chat (a user's own)
CITIZEN = 20_001  # not a drill chat
TEXT = "北辰大道地铁站出口有人晕倒了，没有意识。"
COORDINATOR = Actor("drill1", Role.DRILL_COORDINATOR, None)


def scenario(chat: int = GROUP, text: str | None = TEXT, point: bool = True) -> str:
    lines = [f"chat = {chat}"]
    if text is not None:
        lines.append(f'text = "{text}"')
    if point:
        lines.append("location = { lat = 25.095, lon = 102.640, accuracy_m = 20 }")
    body = "\n".join(lines)
    return f"""
name = "Telegram 演练"
units = ["530100000000"]

[[inject]]
id = "tg"
at = "+0:00"
channel = "telegram"
{body}
expect = {{ incident = "collapse", category = "assistance", priority = 2, unit = "530102530000" }}
"""


def city(tmp: Path, api: BotApi) -> Config:
    return channel_city(
        tmp,
        "telegram",
        f'token = "{api.token}"\nbase_url = "{api.base}"\n'
        f"poll_timeout = 1\nretry_seconds = 0.3\ndrill_chats = [{GROUP}, {PRIVATE}]\n",
    )


@pytest.fixture(scope="module")
def api() -> Iterator[BotApi]:
    with peer_or_skip() as peer:
        yield peer


@pytest.fixture(scope="module")
def telegram_city(api: BotApi, tmp_path_factory: pytest.TempPathFactory) -> Config:
    return city(tmp_path_factory.mktemp("city"), api)


@pytest.fixture(scope="module")
def migrated(telegram_city: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "alarmgw.db"
    Store(f"sqlite:///{path}", telegram_city).close()
    return path


@pytest.fixture
def store(telegram_city: Config, migrated: Path, tmp_path: Path) -> Iterator[Store]:
    s = Store(sqlite_copy(migrated, tmp_path), telegram_city, migrate=False)
    yield s
    s.close()


async def until(what: str, fn: Any, timeout: float = 10.0) -> Any:
    for _ in range(int(timeout / 0.05)):
        value = fn()
        if value:
            return value
        await task.deferLater(reactor, 0.05)
    raise AssertionError(f"waited {timeout} s for {what}")


@pytest_twisted.async_yield_fixture
async def channel(store: Store) -> AsyncIterator[TelegramChannel]:
    """The channel running in process: its poller and outbox on the emulator."""
    ch = TelegramChannel(FakeContext(store, "telegram"))
    ch.startService()
    await until("the bot (getMe)", lambda: ch.bot_ready)
    yield ch
    if ch.running:
        await ch.stopService()


class Run:
    """A run of a scenario recorded in the store, as `POST /api/v1/drills` records one."""

    def __init__(self, store: Store, text: str) -> None:
        self.store = store
        played = scenario_from_text(text, store.config)
        self.id = result(store.db.write(runs.start, played, {}, COORDINATOR, store.now()))
        self.injects = result(store.db.write(runs.claim_due, store.now()))

    def settle(self, sent: Sent) -> Any:
        """Record the inject sent and tie it as the runner does: its drill_sends row."""
        send = self.injects[0].send
        result(self.store.db.write(runs.sent, send, sent, self.store.now()))
        result(self.store.db.write(runs.match_reports, self.id))
        q = select(drill_sends).where(drill_sends.c.id == send)
        return self.store.read(lambda c: c.execute(q).mappings().one())


def chat_reports(store: Store, chat: int) -> list[dict[str, Any]]:
    q = (
        select(
            reports.c.id, reports.c.external_id, reports.c.drill, reports.c.doc, incidents.c.number
        )
        .join(incidents, incidents.c.id == reports.c.incident_id)
        .where(reports.c.channel == "telegram")
        .order_by(reports.c.id)
    )
    rows = store.read(lambda c: list(c.execute(q).mappings()))
    out = []
    for r in rows:
        doc = json.loads(r["doc"]) if isinstance(r["doc"], str) else dict(r["doc"])
        if doc["extra"]["telegram"]["chat_id"] == chat:
            out.append({**r, "doc": doc})
    return out


def queued(store: Store, chat: int) -> list[dict[str, Any]]:
    q = select(telegram_out).where(telegram_out.c.chat_id == chat).order_by(telegram_out.c.id)
    return store.read(lambda c: [dict(r) for r in c.execute(q).mappings()])


# -- the updates -------------------------------------------------------------------------------


def test_the_updates_are_a_chats_messages_with_ids_telegram_never_gives(
    telegram_city: Config,
) -> None:
    [one] = scenario_from_text(scenario(), telegram_city).injects
    drill = DrillInject(7, one, {})
    text, where = drill_updates(drill, 1_790_000_000)
    assert text["message"]["text"] == TEXT
    assert text["message"]["chat"] == {"id": GROUP, "type": "supergroup", "title": "演练群"}
    assert text["message"]["sender_chat"] == text["message"]["chat"]
    assert where["message"]["location"] == {
        "latitude": 25.095,
        "longitude": 102.64,
        "horizontal_accuracy": 20.0,
    }
    ids = [u["message"]["message_id"] for u in (text, where)]
    assert ids == [drill_id(7, "tg", 0), drill_id(7, "tg", 1)]
    assert [u["update_id"] for u in (text, where)] == ids
    # Negative (Telegram's are positive), JSON-safe, the same each time, another per run.
    assert all(-(2**53) < i < 0 for i in ids)
    assert drill_updates(drill, 1_790_000_000) == [text, where]
    assert drill_id(8, "tg", 0) not in ids
    [private] = scenario_from_text(scenario(PRIVATE, point=False), telegram_city).injects
    [alone] = drill_updates(DrillInject(7, private, {}), 1_790_000_000)
    assert alone["message"]["from"]["id"] == PRIVATE
    assert alone["message"]["chat"]["type"] == "private"


# -- in process --------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_inject_is_the_drill_chats_text_then_its_location(
    store: Store, channel: TelegramChannel, api: BotApi
) -> None:
    run = Run(store, scenario())
    declared = resolve(store.config.channel("telegram").drill)  # type: ignore[union-attr, arg-type]
    assert declared is inject
    sent = await declared(channel, run.injects[0])
    first = drill_id(run.id, "tg", 0)
    assert sent == Sent("telegram", external_id=f"{GROUP}:{first}", via=VIA)

    text, where = chat_reports(store, GROUP)
    assert text["external_id"] == f"{GROUP}:{first}"
    assert where["external_id"] == f"{GROUP}:{drill_id(run.id, 'tg', 1)}"
    assert text["doc"]["text"] == TEXT and "location" not in text["doc"]
    assert where["doc"]["location"] == {"lat": 25.095, "lon": 102.64, "accuracy_m": 20.0}
    injected = {"by": "drill_runner", "run": run.id, "inject": "tg", "telegram": False, "via": VIA}
    for r in (text, where):
        assert r["drill"] is True and r["doc"]["drill"] is True
        assert r["doc"]["sender"] == {"kind": "account", "id": f"telegram:{GROUP}"}
        assert r["doc"]["extra"]["injected"] == injected
    # The location joins the text's incident, and places it.
    assert where["number"] == text["number"]
    assert store.document(text["number"])["location"]["lat"] == 25.095

    # The runner finds the text's report by what Sent says.
    send = run.settle(sent)
    assert send["report_id"] == text["id"]

    # The receipt (and the follow-up's) queued for the drill chat, and sent by the outbox.
    receipt, followup = queued(store, GROUP)
    assert (receipt["kind"], followup["kind"]) == ("receipt", "followup")
    assert receipt["drill"] is True and receipt["text"].startswith("【演练】您的报警已收到")
    await channel.sender.send_due()
    await until(
        "the receipt in the chat",
        lambda: any(m["text"] == receipt["text"] for m in api.bot_messages(GROUP)),
    )


@pytest_twisted.ensureDeferred
async def test_the_same_inject_again_stores_nothing(store: Store, channel: TelegramChannel) -> None:
    run = Run(store, scenario())
    first = await inject(channel, run.injects[0])
    again = await inject(channel, run.injects[0])
    assert again == first
    assert len(chat_reports(store, GROUP)) == 2 and len(queued(store, GROUP)) == 2


@pytest.mark.parametrize(
    "text, point, kinds",
    [(TEXT, False, ["text"]), (None, True, ["location"])],
    ids=["text only", "location only"],
)
@pytest_twisted.ensureDeferred
async def test_a_text_or_a_location_alone_is_one_report(
    store: Store, channel: TelegramChannel, text: str | None, point: bool, kinds: list[str]
) -> None:
    run = Run(store, scenario(PRIVATE, text, point))
    sent = await inject(channel, run.injects[0])
    [r] = chat_reports(store, PRIVATE)
    assert sent.external_id == r["external_id"] == f"{PRIVATE}:{drill_id(run.id, 'tg', 0)}"
    assert r["doc"]["sender"]["id"] == f"telegram:{PRIVATE}" and r["drill"] is True
    assert ("location" in r["doc"]) == (kinds == ["location"])
    assert run.settle(sent)["report_id"] == r["id"]


@pytest_twisted.ensureDeferred
async def test_a_chat_not_among_drill_chats_sends_nothing(
    store: Store, channel: TelegramChannel, api: BotApi
) -> None:
    run = Run(store, scenario(CITIZEN))
    with pytest.raises(InjectError, match=f"chat {CITIZEN} is not among .*drill_chats"):
        await inject(channel, run.injects[0])
    assert chat_reports(store, CITIZEN) == [] and queued(store, CITIZEN) == []
    await channel.sender.send_due()
    assert api.bot_messages(CITIZEN) == []


@pytest_twisted.ensureDeferred
async def test_a_stopped_channel_sends_nothing(store: Store, channel: TelegramChannel) -> None:
    run = Run(store, scenario())
    await channel.stopService()
    with pytest.raises(InjectError, match="not running"):
        await inject(channel, run.injects[0])
    assert chat_reports(store, GROUP) == []


@pytest_twisted.ensureDeferred
async def test_a_command_is_not_sent(store: Store, channel: TelegramChannel, api: BotApi) -> None:
    run = Run(store, scenario(PRIVATE, "/start", point=False))
    with pytest.raises(InjectError, match="would not file it"):
        await inject(channel, run.injects[0])
    assert chat_reports(store, PRIVATE) == []
    assert api.bot_messages(PRIVATE) == []  # not answered with the welcome either


# -- end to end: a run of a real gateway -------------------------------------------------------


@pytest.fixture(scope="module")
def gw(api: BotApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = channel_gateway(
        tmp_path_factory.mktemp("gw"),
        "telegram",
        f'token = "{api.token}"\nbase_url = "{api.base}"\npoll_timeout = 1\n'
        f"retry_seconds = 0.3\ndrill_chats = [{GROUP}, {PRIVATE}]\n",
        listen=False,
    )
    g.start()
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def test_a_run_of_the_gateway_plays_it_and_finds_its_report(
    gw: GatewayProcess, api: BotApi
) -> None:
    token = gw.token("drill1", "drill_coordinator")
    [one] = play_drill(gw, token, scenario(), file="tg.toml", found=1)["injects"]
    assert one["status"] == "sent" and one["via"] == VIA, one
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT receipt, external_id, drill, doc FROM reports WHERE channel = 'telegram' "
            "ORDER BY id"
        ).fetchall()
    assert [r["receipt"] for r in rows][:1] == [one["report"]]
    assert len(rows) == 2 and all(r["drill"] == 1 for r in rows)
    assert json.loads(rows[0]["doc"])["text"] == TEXT
    answer = api.wait_bot_message(GROUP, lambda m: one["report"] in m["text"])
    assert answer["text"].startswith("【演练】")
