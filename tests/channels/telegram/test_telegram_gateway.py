"""Telegram end to end in polling mode: the Bot API emulator (npm telegram-test-api behind
tests/peers/telegram/botapi.js) ⇄ python-telegram-bot in a real gateway process → its store,
its HTTP API, and its answers back in the chat.

Here: text, location, venue, photo and voice messages are reports (the files stored with the
report, served to whoever may see the incident); the receipt comes back in the chat; /start
is answered with the notice and files nothing; the same message twice is one report; state
updates and a call-taker's reply reach the chat; Telegram's flood control (429) is waited
out; a store failure (a real SQLite lock) leaves the update unconfirmed and the retry is one
report; a unit's registered chat acknowledges (签收) with the notice's button, a wrong chat
cannot; drill chats file drills. Restart and webhook mode: test_telegram_restart.py and
test_telegram_webhook.py.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.gateway import GatewayProcess, channel_gateway, db, dispatched_incident, wait_for
from tests.peers.telegram import BotApi, peer_or_skip

NANBA = "530102510000"  # 南坝派出所 in the sample city
DUTY_CHAT = 7001  # 南坝派出所's registered duty chat
DRILL_CHAT = -9001


def telegram_gateway(tmp: Path, api: BotApi, extra: str = "") -> GatewayProcess:
    """A gateway (not started) with its Telegram bot at the emulator, and 南坝派出所's duty
    chat registered as its notify target."""
    gw = channel_gateway(
        tmp,
        "telegram",
        f'token = "{api.token}"\nbase_url = "{api.base}"\npoll_timeout = 1\n'
        f"retry_seconds = 0.3\ndrill_chats = [{DRILL_CHAT}]\n{extra}",
        busy_timeout_ms=300,
        listen=False,
    )
    assert gw.config is not None
    text = gw.config.read_text(encoding="utf-8")
    webhook = f'{{ kind = "webhook", address = "http://127.0.0.1:9/units/{NANBA}" }},'
    assert webhook in text
    text = text.replace(
        webhook,
        webhook + f'\n    {{ kind = "telegram", address = "{DUTY_CHAT}", name = "南坝值班群" }},',
    )
    gw.config.write_text(text, encoding="utf-8")
    return gw


@pytest.fixture(scope="module")
def api() -> Iterator[BotApi]:
    with peer_or_skip() as peer:
        yield peer


@pytest.fixture(scope="module")
def gw(api: BotApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    g = telegram_gateway(tmp_path_factory.mktemp("telegram"), api)
    g.start()
    yield g
    code = g.stop()
    assert code == 0, f"gateway exit code {code}:\n{g.log()}"


@pytest.fixture(scope="module")
def supervisor(gw: GatewayProcess) -> str:
    return gw.token("zhang.zhihui", "supervisor")


_chats = iter(range(20_001, 30_000))


def new_chat() -> int:
    """A citizen of their own per test: correlation joins one sender's messages."""
    return next(_chats)


def reports(gw: GatewayProcess, chat: int) -> list[dict[str, Any]]:
    with db(gw) as conn:
        rows = conn.execute(
            "SELECT r.external_id, r.receipt, r.drill, r.doc, i.number FROM reports r "
            "JOIN incidents i ON i.id = r.incident_id WHERE r.channel = 'telegram' ORDER BY r.id"
        ).fetchall()
    out = []
    for r in rows:
        doc = json.loads(r["doc"])
        if doc["extra"]["telegram"]["chat_id"] == chat:
            out.append({**dict(r), "doc": doc})
    return out


def one_report(gw: GatewayProcess, chat: int, n: int = 1) -> list[dict[str, Any]]:
    return wait_for(
        f"{n} report(s) of chat {chat}", lambda: (r := reports(gw, chat)) and len(r) >= n and r
    )


def receipt_in_chat(api: BotApi, chat: int, report: dict[str, Any]) -> dict[str, Any]:
    return api.wait_bot_message(chat, lambda m: report["receipt"] in m["text"])


def settle(seconds: float = 1.5) -> None:
    """Time for a redelivery or a second report to show up, if there were one."""
    time.sleep(seconds)


def test_text_is_a_report_and_the_receipt_comes_back(api: BotApi, gw: GatewayProcess) -> None:
    chat = new_chat()
    m = api.send_text(chat, "南坝路有人打架，快来")
    [r] = one_report(gw, chat)
    assert r["external_id"] == f"{chat}:{m['message_id']}"
    assert r["doc"]["text"] == "南坝路有人打架，快来"
    assert r["doc"]["sender"] == {"kind": "account", "id": f"telegram:{chat}", "name": "张三"}
    answer = receipt_in_chat(api, chat, r)
    assert answer["text"].startswith("您的报警已收到，警情编号 " + r["number"])
    assert "紧急情况请直接拨打110" in answer["text"]
    wait_for("the update confirmed", lambda: api.state()["pending"] == [])


def test_location_and_venue(api: BotApi, gw: GatewayProcess) -> None:
    chat = new_chat()
    api.send(
        api.message(
            chat, location={"latitude": 24.98, "longitude": 102.65, "horizontal_accuracy": 15}
        )
    )
    [r] = one_report(gw, chat)
    assert r["doc"]["location"] == {"lat": 24.98, "lon": 102.65, "accuracy_m": 15.0}
    chat = new_chat()
    api.send(
        api.message(
            chat,
            venue={
                "location": {"latitude": 24.99, "longitude": 102.66},
                "title": "南坝菜市场",
                "address": "南坝路88号",
            },
        )
    )
    [r] = one_report(gw, chat)
    assert r["doc"]["location"] == {
        "lat": 24.99,
        "lon": 102.66,
        "address": "南坝菜市场，南坝路88号",
    }
    with db(gw) as conn:
        unit = conn.execute(
            "SELECT unit FROM incidents WHERE number = ?", (r["number"],)
        ).fetchone()[0]
    assert unit == NANBA  # routed by the point


def test_photo_and_voice_are_stored_with_the_report(
    api: BotApi, gw: GatewayProcess, supervisor: str
) -> None:
    chat = new_chat()
    small, big = b"\xff\xd8small-jpeg", b"\xff\xd8" + bytes(range(256)) * 300  # the largest: 76 kB
    api.send(api.message(chat, photo=api.photo_sizes(small, big), caption="他们在砸车"))
    [r] = one_report(gw, chat)
    sha = hashlib.sha256(big).hexdigest()
    assert r["doc"]["text"] == "他们在砸车"
    assert r["doc"]["attachments"] == [
        {
            "name": f"photo-{r['doc']['extra']['telegram']['message_id']}.jpg",
            "content_type": "image/jpeg",
            "size": len(big),
            "sha256": sha,
            "ref": f"/api/v1/telegram/files/{sha}",
        }
    ]
    assert "inline" not in r["doc"]["extra"]["telegram"]  # the bytes are not in the report
    status, body = gw.request("GET", f"/api/v1/telegram/files/{sha}", token=supervisor)
    assert status == 200
    with db(gw) as conn:
        stored = conn.execute(
            "SELECT data FROM telegram_files WHERE sha256 = ?", (sha,)
        ).fetchone()[0]
    assert bytes(stored) == big
    # An officer of another district may not see it; no token, no file.
    other = gw.token("wang.beimen", "unit_officer", "530103000000")
    assert gw.request("GET", f"/api/v1/telegram/files/{sha}", token=other)[0] == 403
    assert gw.request("GET", f"/api/v1/telegram/files/{sha}")[0] == 401

    chat = new_chat()
    voice = b"OggS" + bytes(5000)
    api.put_file("voice-1", voice, "voice/file_1.oga")
    api.send(
        api.message(chat, voice={"file_id": "voice-1", "duration": 4, "mime_type": "audio/ogg"})
    )
    [r] = one_report(gw, chat)
    assert r["doc"]["text"] == "[语音 4秒]"
    [a] = r["doc"]["attachments"]
    assert (a["content_type"], a["size"], a["sha256"]) == (
        "audio/ogg",
        len(voice),
        hashlib.sha256(voice).hexdigest(),
    )
    receipt_in_chat(api, chat, r)


def test_start_answers_the_notice_and_files_nothing(api: BotApi, gw: GatewayProcess) -> None:
    chat = new_chat()
    api.send_text(chat, "/start")
    answer = api.wait_bot_message(chat)
    assert "紧急情况请直接拨打110" in answer["text"]
    settle()
    assert reports(gw, chat) == []


def test_the_same_message_twice_is_one_report(api: BotApi, gw: GatewayProcess) -> None:
    chat = new_chat()
    m = api.message(chat, text="有人晕倒了")
    first, second = api.send(m), api.send(m)  # two updates, one message
    assert second > first
    [r] = one_report(gw, chat)
    wait_for("both updates confirmed", lambda: api.state()["confirmed"] > second)
    settle()
    assert len(reports(gw, chat)) == 1
    assert len([x for x in api.bot_messages(chat) if r["receipt"] in x["text"]]) == 1


def test_state_updates_and_the_reply_reach_the_chat(
    api: BotApi, gw: GatewayProcess, supervisor: str
) -> None:
    chat = new_chat()
    api.send_text(
        chat,
        "南坝路口两车相撞",
    )
    [r] = one_report(gw, chat)
    number = r["number"]
    for body in (
        {"action": "accept", "category": "public_order", "priority": 2},
        {"action": "dispatch", "unit": NANBA},
    ):
        status, doc = gw.request(
            "POST", f"/api/v1/incidents/{number}/actions", body, token=supervisor
        )
        assert status == 200, doc
    api.wait_bot_message(chat, lambda m: m["text"] == f"您的报警（编号{number}）已受理。")
    api.wait_bot_message(chat, lambda m: "已派警处置" in m["text"])
    status, out = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply_telegram", "telegram_text": "请问有人受伤吗？"},
        token=supervisor,
    )
    assert status == 202, out
    assert out["telegram"] == {"chat": chat, "text": "请问有人受伤吗？", "status": "pending"}
    api.wait_bot_message(chat, lambda m: m["text"] == "请问有人受伤吗？")
    thread = wait_for(
        "the thread all sent",
        lambda: (
            (doc := gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)[1])
            and all(m["status"] == "sent" for m in doc["telegram"])
            and any(m["kind"] == "notice" for m in doc["telegram"])  # the outbox's, later
            and doc["telegram"]
        ),
    )
    to_citizen = [m for m in thread if m["chat"] == chat]
    assert [m["kind"] for m in to_citizen] == ["receipt", "update", "update", "reply"]
    assert to_citizen[-1]["by"] == "zhang.zhihui"
    # The dispatch also notified 南坝派出所's duty chat (with the 签收 button).
    assert [(m["kind"], m["chat"]) for m in thread if m["chat"] != chat] == [("notice", DUTY_CHAT)]
    # A chat that never wrote to the incident is refused, naming the parameter.
    status, err = gw.request(
        "POST",
        f"/api/v1/incidents/{number}/actions",
        {"action": "reply_telegram", "telegram_text": "x", "telegram_chat": 1},
        token=supervisor,
    )
    assert (status, err["field"]) == (422, "telegram_chat")


def test_flood_control_is_waited_out(api: BotApi, gw: GatewayProcess) -> None:
    chat = new_chat()
    api.fail("sendMessage", count=1, retry_after=2, chat=chat)
    started = time.monotonic()
    api.send_text(chat, "楼下有人吵架")
    [r] = one_report(gw, chat)
    receipt_in_chat(api, chat, r)
    assert time.monotonic() - started >= 1.5  # not before retry_after
    assert len([m for m in api.bot_messages(chat) if r["receipt"] in m["text"]]) == 1
    refused = [
        c
        for c in api.calls()
        if c["status"] == 429 and str(c["params"].get("chat_id")) == str(chat)
    ]
    assert len(refused) == 1


def test_store_failure_leaves_the_update_unconfirmed_and_the_retry_is_one_report(
    api: BotApi, gw: GatewayProcess
) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout. The update stays unconfirmed (offset not moved past it); once the
    lock is gone the bot files it, once."""
    chat = new_chat()
    lock = sqlite3.connect(gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        uid = api.send(api.message(chat, text="有人在撬车门"))
        time.sleep(2.5)  # several failed attempts
        state = api.state()
        assert uid in state["pending"] and state["confirmed"] <= uid
        assert "not taken" in gw.log()
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    one_report(gw, chat)
    wait_for("confirmed", lambda: api.state()["confirmed"] > uid)
    settle()
    assert len(reports(gw, chat)) == 1


def test_the_registered_chat_signs_with_the_button_and_a_wrong_chat_cannot(
    api: BotApi, gw: GatewayProcess, supervisor: str
) -> None:
    number = dispatched_incident(gw, supervisor, NANBA, "13900000077")
    notice = api.wait_bot_message(DUTY_CHAT, lambda m: number in m["text"])
    markup = notice["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    [[button]] = markup["inline_keyboard"]
    assert button["text"] == "签收"
    data = button["callback_data"]
    assert data.startswith("ack:")

    answered = len(api.answers())
    api.callback(7999, data)  # a chat not registered for 南坝派出所
    wait_for("the wrong chat answered", lambda: len(api.answers()) > answered)
    assert "无权签收" in api.answers()[-1]["text"]
    assert (
        gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)[1]["state"]
        == "dispatched"
    )
    assert "not a registered chat of unit" in gw.log()

    api.callback(DUTY_CHAT, data, user=4242)
    wait_for(
        "acknowledged",
        lambda: (
            gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)[1]["state"]
            == "acknowledged"
        ),
    )
    wait_for("the right chat answered", lambda: api.answers()[-1]["text"] == "已签收")
    doc = gw.request("GET", f"/api/v1/incidents/{number}", token=supervisor)[1]
    assert [m["kind"] for m in doc["telegram"]] == ["notice"]


def test_a_drill_chat_files_drills(api: BotApi, gw: GatewayProcess) -> None:
    api.send_text(DRILL_CHAT, "演练：南坝路有人持刀", user=31337)
    [r] = one_report(gw, DRILL_CHAT)
    assert r["drill"] == 1
    answer = receipt_in_chat(api, DRILL_CHAT, r)
    assert answer["text"].startswith("【演练】")


def test_unreadable_and_unsupported_updates_do_not_stop_the_bot(
    api: BotApi, gw: GatewayProcess
) -> None:
    chat = new_chat()
    bad = api.send_update({"message": {"message_id": 1, "text": "no chat"}})
    api.send(api.message(chat, sticker={"file_id": "st1"}))
    api.send_text(chat, "贴纸之后的文字")
    [r] = one_report(gw, chat)
    assert r["doc"]["text"] == "贴纸之后的文字"
    assert "暂不支持" in api.wait_bot_message(chat)["text"]
    wait_for("all confirmed", lambda: api.state()["confirmed"] > bad)


def test_the_token_is_never_logged(api: BotApi, gw: GatewayProcess) -> None:
    secret = api.token.split(":", 1)[1]
    assert secret not in gw.log()


def test_the_webhook_route_is_closed_in_polling_mode(gw: GatewayProcess) -> None:
    status, body = gw.request(
        "POST",
        "/api/v1/telegram/webhook",
        {"update_id": 1},
        headers={"X-Telegram-Bot-Api-Secret-Token": ""},
    )
    assert (status, body["error"]) == (404, "not_found")


def test_the_console_offers_the_telegram_reply_only_where_a_chat_wrote(
    api: BotApi, gw: GatewayProcess
) -> None:
    """The 处置操作 of an incident that came by Telegram include Telegram 回复 (its chat thread
    shown); one that came by the web form does not offer an answer nobody can receive."""
    from tests.peers.console import ConsoleClient

    chat = new_chat()
    api.send_text(chat, "东风路有人晕倒")
    by_telegram = one_report(gw, chat)[0]["number"]
    token = gw.token("web-citizen-desk", "integration")
    req = urllib.request.Request(
        gw.base + "/api/v1/reports",
        data=json.dumps({"sender": {"kind": "web", "id": "s-1"}, "text": "有人打架"}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 "Idempotency-Key": f"console-{chat}"},
    )  # fmt: skip
    with urllib.request.urlopen(req) as resp:
        by_web = json.loads(resp.read())["incident"]["number"]
    password = gw.user(f"calltaker{chat}", "calltaker")
    console = ConsoleClient(gw.base)
    assert console.login(f"calltaker{chat}", password).status == 303
    receipt_in_chat(api, chat, reports(gw, chat)[0])
    page = console.get(f"/console/incidents/{by_telegram}").text
    assert "Telegram 回复" in page and "Telegram 往来" in page and "报警回执" in page
    assert "Telegram 回复" not in console.get(f"/console/incidents/{by_web}").text
