"""The update → report mapper (`gateway.channels.telegram.update`): a table of Bot API updates
and what each becomes, and arbitrary JSON never crashes it (a report, or a clear refusal)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.telegram import update as wire
from gateway.report import Location

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
DATE = 1795680000  # 2026-11-26T06:40:00Z


def msg(**content: Any) -> dict[str, Any]:
    return {
        "update_id": 7,
        "message": {
            "message_id": 42,
            "from": {"id": 555, "is_bot": False, "first_name": "三", "last_name": "张"},
            "chat": {"id": 555, "type": "private"},
            "date": DATE,
            **content,
        },
    }


PHOTO = [
    {"file_id": "small", "file_unique_id": "a", "width": 90, "height": 60, "file_size": 900},
    {"file_id": "big", "file_unique_id": "c", "width": 1280, "height": 853, "file_size": 90000},
    {"file_id": "mid", "file_unique_id": "b", "width": 320, "height": 213, "file_size": 9000},
]

# (name, update, what it becomes: a dict of the report's fields, or a type and its fields)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "text",
        msg(text="南坝路有人打架"),
        {"text": "南坝路有人打架", "external_id": "555:42", "location": None, "media": None},
    ),
    (
        "location from the app (WGS84, horizontal_accuracy → accuracy_m)",
        msg(location={"latitude": 24.98, "longitude": 102.65, "horizontal_accuracy": 12.5}),
        {"text": "[位置]", "location": Location(24.98, 102.65, 12.5)},
    ),
    (
        "venue: location and address (title, address)",
        msg(
            venue={
                "location": {"latitude": 24.98, "longitude": 102.65},
                "title": "南坝派出所",
                "address": "南坝路1号",
            }
        ),
        {
            "text": "[位置] 南坝派出所，南坝路1号",
            "location": Location(24.98, 102.65, None, "南坝派出所，南坝路1号"),
        },
    ),
    (
        "photo: the largest size, the caption is the text",
        msg(photo=PHOTO, caption="他们在砸车"),
        {
            "text": "他们在砸车",
            "media": wire.Media("photo", "big", 90000, "image/jpeg", "photo-42.jpg"),
        },
    ),
    (
        "voice",
        msg(voice={"file_id": "v1", "duration": 7, "mime_type": "audio/ogg", "file_size": 5000}),
        {
            "text": "[语音 7秒]",
            "media": wire.Media("voice", "v1", 5000, "audio/ogg", "voice-42.ogg"),
        },
    ),
    (
        "a drill chat files a drill",
        {**msg(text="演练"), "message": {**msg(text="演练")["message"], "chat": {"id": -900}}},
        {"drill": True, "external_id": "-900:42"},
    ),
    (
        "an edited text is a report of its own",
        {
            "update_id": 8,
            "edited_message": {**msg(text="改：在北坝路")["message"], "edit_date": DATE + 60},
        },
        {"text": "（修改）改：在北坝路", "external_id": "555:42:edit:1795680060"},
    ),
    (
        "the sender: an account named after the user",
        msg(text="x"),
        {"sender": ("account", "telegram:555", "三 张")},
    ),
    (
        "control characters and lone surrogates become U+FFFD",
        msg(text="a\x00b\ud800c\nd"),
        {"text": "a\ufffdb\ufffdc\nd"},
    ),
    (
        "a message's date is its received_at",
        msg(text="x"),
        {"received_at": datetime.fromtimestamp(DATE, UTC)},
    ),
    (
        "a date in milliseconds is not believed",
        msg(text="x", date=DATE * 1000),
        {"received_at": NOW},
    ),
]


@pytest.mark.parametrize(("name", "update", "want"), CASES, ids=[c[0] for c in CASES])
def test_update_becomes_a_report(name: str, update: dict[str, Any], want: dict[str, Any]) -> None:
    item = wire.read(update, NOW, drill_chats=(-900,))
    assert isinstance(item, wire.Alarm), item
    r = item.report
    assert r.channel == "telegram"
    for key, value in want.items():
        if key == "media":
            assert item.media == value
        elif key == "sender":
            assert (r.sender.kind, r.sender.id, r.sender.name) == value
        else:
            assert getattr(r, key) == value, key
    assert r.extra["telegram"]["chat_id"] == item.chat


OTHER: list[tuple[str, Any, type, dict[str, Any]]] = [
    ("/start", msg(text="/start"), wire.Command, {"name": "start", "chat": 555}),
    ("/help@bot", msg(text="/help@TestNameBot"), wire.Command, {"name": "help"}),
    ("/start with a payload", msg(text="/start abc"), wire.Command, {"name": "start"}),
    ("/startle is text", msg(text="/startle"), wire.Alarm, {}),
    ("a sticker", msg(sticker={"file_id": "s"}), wire.Unsupported, {"what": "sticker"}),
    (
        "a button",
        {
            "update_id": 9,
            "callback_query": {
                "id": "77",
                "from": {"id": 9001},
                "message": {"message_id": 3, "chat": {"id": 9001}},
                "data": "ack:12",
            },
        },
        wire.ButtonPress,
        {"callback_id": "77", "chat": 9001, "user": 9001, "data": "ack:12"},
    ),
    (
        "an inline button has no chat",
        {"callback_query": {"id": "1", "data": "x"}},
        wire.ButtonPress,
        {"chat": None},
    ),
    (
        "a live location moving",
        {
            "update_id": 3,
            "edited_message": msg(location={"latitude": 1, "longitude": 2})["message"],
        },
        wire.Ignored,
        {},
    ),
    ("a member update", {"update_id": 4, "my_chat_member": {}}, wire.Ignored, {}),
]


@pytest.mark.parametrize(("name", "update", "kind", "want"), OTHER, ids=[c[0] for c in OTHER])
def test_what_is_not_a_report(name: str, update: Any, kind: type, want: dict[str, Any]) -> None:
    item = wire.read(update, NOW)
    assert isinstance(item, kind), item
    for key, value in want.items():
        assert getattr(item, key) == value


REFUSED: list[tuple[str, Any, str]] = [
    ("not an object", [1, 2], "update"),
    ("no chat", {"update_id": 1, "message": {"message_id": 1, "text": "x"}}, "message.chat"),
    ("no message id", {"message": {"chat": {"id": 1}, "text": "x"}}, "message.message_id"),
    (
        "latitude out of range",
        msg(location={"latitude": 91, "longitude": 0}),
        "message.location.latitude",
    ),
    (
        "longitude not a number",
        msg(location={"latitude": 1, "longitude": "x"}),
        "message.location.longitude",
    ),
    ("photo without sizes", msg(photo=[]), "message.photo"),
    ("voice without a file", msg(voice={"duration": 3}), "message.voice.file_id"),
    ("text not a string", msg(text=5), "message.text"),
]


@pytest.mark.parametrize(("name", "update", "field"), REFUSED, ids=[c[0] for c in REFUSED])
def test_unreadable_updates_are_refused_naming_the_field(
    name: str, update: Any, field: str
) -> None:
    with pytest.raises(wire.BadUpdate) as e:
        wire.read(update, NOW)
    assert e.value.field == field


def test_update_id() -> None:
    assert wire.update_id({"update_id": 5}) == 5
    assert wire.update_id({"update_id": True}) is None
    assert wire.update_id({"update_id": -1}) is None
    assert wire.update_id("x") is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    ["message", "edited_message", "callback_query", "text", "caption", "chat", "id", "from",
     "message_id", "date", "location", "latitude", "longitude", "venue", "photo", "voice",
     "file_id", "width", "height", "file_size", "data", "title", "address", "edit_date"]
)  # fmt: skip
TELEGRAMISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(JSON, TELEGRAMISH, st.builds(lambda m: {"update_id": 1, "message": m}, TELEGRAMISH))
)
def test_arbitrary_json_is_a_value_or_a_clear_refusal(update: Any) -> None:
    try:
        item = wire.read(update, NOW)
    except wire.BadUpdate as e:
        assert e.field
        return
    if isinstance(item, wire.Alarm):
        r = item.report
        r.to_json()  # what intake stores
        assert r.received_at.tzinfo is not None
        assert len(r.text) <= wire.MAX_TEXT
        assert all(c in "\n\r\t" or ord(c) >= 0x20 for c in r.text if not 0x7F <= ord(c) <= 0x9F)
