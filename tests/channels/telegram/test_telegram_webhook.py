"""Telegram in webhook mode: the gateway calls setWebhook (its URL and secret) at start, and
the emulator front pushes each update to POST /api/v1/telegram/webhook with the
X-Telegram-Bot-Api-Secret-Token header, retrying until it gets a 2xx, as Telegram does (the
npm package alone pushes once, without the header: see tests/peers/telegram/botapi.js).

Here: a message pushed is a report and its receipt comes back; 200 only after the commit, a
503 on a store failure (a real SQLite lock) and Telegram's retry is one report; the same
update posted twice (Telegram retrying after a lost answer) is one report; a wrong or
missing secret is 403 and stores nothing. The last two are posted by the test itself, as
Telegram would post them.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.channels.telegram.test_telegram_gateway import one_report, reports, telegram_gateway
from tests.peers.gateway import GatewayProcess, wait_for
from tests.peers.telegram import BotApi, peer_or_skip

SECRET = "webhook-secret-0123456789"
PATH = "/api/v1/telegram/webhook"


@pytest.fixture(scope="module")
def api() -> Iterator[BotApi]:
    with peer_or_skip("555000:TEST-webhook") as peer:
        yield peer


@pytest.fixture(scope="module")
def gw(api: BotApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("telegram-webhook")
    g = telegram_gateway(tmp, api)
    assert g.config is not None
    url = f"http://127.0.0.1:{g.port}{PATH}"
    text = g.config.read_text(encoding="utf-8")
    text = text.replace(
        "[channels.telegram]\nenabled = true\n",
        f'[channels.telegram]\nenabled = true\nmode = "webhook"\nwebhook_url = "{url}"\n'
        f'webhook_secret = "{SECRET}"\n',
    )
    g.config.write_text(text, encoding="utf-8")
    g.start()
    wait_for("setWebhook", lambda: api.state()["webhook"])
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


def pushes(api: BotApi, update_id: int) -> list[int]:
    return [
        c["status"]
        for c in api.calls()
        if c["method"] == "webhook" and c["params"]["update_id"] == update_id
    ]


def test_set_webhook_names_the_url_and_the_secret(api: BotApi, gw: GatewayProcess) -> None:
    hook = api.state()["webhook"]
    assert hook == {"url": f"http://127.0.0.1:{gw.port}{PATH}", "secret": SECRET}


def test_a_pushed_message_is_a_report_answered_200(api: BotApi, gw: GatewayProcess) -> None:
    chat = 50_001
    uid = api.send(api.message(chat, text="网吧门口有人打架"))
    [r] = one_report(gw, chat)
    api.wait_bot_message(chat, lambda m: r["receipt"] in m["text"])
    wait_for("the push answered", lambda: pushes(api, uid) == [200])


def test_store_failure_answers_503_and_telegrams_retry_is_one_report(
    api: BotApi, gw: GatewayProcess
) -> None:
    chat = 50_002
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        uid = api.send(api.message(chat, text="有人被困电梯"))
        wait_for("two refused pushes", lambda: pushes(api, uid).count(503) >= 2)
        assert uid in api.state()["pending"]
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    one_report(gw, chat)
    wait_for("the retry answered 200", lambda: pushes(api, uid)[-1:] == [200])
    time.sleep(1)
    assert len(reports(gw, chat)) == 1
    assert set(pushes(api, uid)) == {503, 200}


def test_the_same_update_posted_twice_is_one_report(api: BotApi, gw: GatewayProcess) -> None:
    chat = 50_003
    update = {"update_id": 900_001, "message": api.message(chat, text="重复推送的报警")}
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    first = gw.request("POST", PATH, update, headers=headers)
    second = gw.request("POST", PATH, update, headers=headers)
    assert (first[0], first[1]["outcome"]) == (200, "stored")
    assert (second[0], second[1]["outcome"]) == (200, "duplicate")
    assert len(reports(gw, chat)) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-0123456789", SECRET + "x"])
def test_a_wrong_secret_is_403_and_stores_nothing(
    api: BotApi, gw: GatewayProcess, secret: str | None
) -> None:
    chat = 50_004
    update = {"update_id": 900_002, "message": api.message(chat, text="伪造的推送")}
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    status, body = gw.request("POST", PATH, update, headers=headers)
    assert (status, body["error"]) == (403, "forbidden")
    assert reports(gw, chat) == []
