"""What one Bot API update is to us (pure: a JSON object in, a value out; never raises
anything but `BadUpdate`). https://core.telegram.org/bots/api#update

- a citizen's message (text, location, venue, photo, voice; a caption is its text) is an
  `Alarm`: the report, and the file to fetch for a photo or a voice message;
- ``/start`` and ``/help`` are a `Command` (answered with the notice, no report);
- a press of an inline button (a unit's 签收) is a `ButtonPress`;
- a message of another kind (a sticker, a contact, a document) is `Unsupported` (answered
  with what we do take, no report); anything else is `Ignored`.

The report's external id is ``<chat id>:<message id>``: Telegram delivers an update again
until it is confirmed, always with the same message id, so a redelivery is the same report.
An edited text is a new report (``<chat id>:<message id>:edit:<edit date>``): what the
citizen corrected is news for the call-taker, and each edit is filed once. The edits a live
location sends every few seconds are ignored (they would file a report each).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.report import Location, Report, Sender

CHANNEL = "telegram"
MAX_TEXT = 10_000  # report.schema.json's text.maxLength
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
_COMMAND = re.compile(r"^/(start|help)(?:@\w+)?(?:\s|$)")


class BadUpdate(ValueError):
    """An update we cannot read: names the field that is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass(frozen=True)
class Media:
    """A file of the message to fetch with getFile and store with the report."""

    kind: str  # photo | voice
    file_id: str
    size: int | None  # as Telegram declares it
    content_type: str
    name: str


@dataclass(frozen=True)
class Alarm:
    chat: int
    report: Report  # without its attachment: the inbox adds it once fetched
    media: Media | None = None


@dataclass(frozen=True)
class Command:
    chat: int
    name: str  # start | help


@dataclass(frozen=True)
class ButtonPress:
    callback_id: str
    chat: int | None  # the chat of the message whose button it was (None: an inline one)
    user: int | None
    data: str


@dataclass(frozen=True)
class Unsupported:
    chat: int
    what: str


@dataclass(frozen=True)
class Ignored:
    reason: str


Inbound = Alarm | Command | ButtonPress | Unsupported | Ignored


def update_id(update: Any) -> int | None:
    """The update's id, or None when it has none we can confirm."""
    if not isinstance(update, dict):
        return None
    uid = update.get("update_id")
    return uid if isinstance(uid, int) and not isinstance(uid, bool) and uid >= 0 else None


def read(update: Any, now: datetime, drill_chats: tuple[int, ...] = ()) -> Inbound:
    """What `update` is. `now` is the arrival time (a message's own date is kept when it
    has a sane one)."""
    if not isinstance(update, dict):
        raise BadUpdate("update", "not a JSON object")
    if "callback_query" in update:
        return _button(_object(update, "callback_query"))
    edited = "edited_message" in update and "message" not in update
    key = "edited_message" if edited else "message"
    if key not in update:
        kinds = ", ".join(sorted(k for k in update if k != "update_id")) or "nothing"
        return Ignored(f"an update of {kinds}")
    return _message(_object(update, key), key, edited, now, drill_chats)


def _message(
    m: dict[str, Any], key: str, edited: bool, now: datetime, drill_chats: tuple[int, ...]
) -> Inbound:
    chat = _int(_object(m, "chat", key), "id", f"{key}.chat")
    message_id = _int(m, "message_id", key)
    text = m.get("text", m.get("caption"))
    if text is not None and not isinstance(text, str):
        raise BadUpdate(f"{key}.text", "not a string")
    if text is not None and not edited and _COMMAND.match(text):
        return Command(chat, _COMMAND.match(text)[1])  # type: ignore[index]
    location: Location | None = None
    media: Media | None = None
    if "venue" in m:
        venue = _object(m, "venue", key)
        place = "，".join(_clean(str(venue[k]), 200) for k in ("title", "address") if venue.get(k))
        location = _location(_object(venue, "location", f"{key}.venue"), f"{key}.venue")
        location = Location(location.lat, location.lon, location.accuracy_m, place or None)
        text = text or f"[位置] {place}"
    elif "location" in m:
        if edited:
            return Ignored("a live location moved")
        location = _location(_object(m, "location", key), key)
        text = text or "[位置]"
    elif "photo" in m:
        media = _photo(m, key, message_id)
        text = text or "[照片]"
    elif "voice" in m:
        voice = _object(m, "voice", key)
        duration = voice.get("duration")
        secs = f" {duration}秒" if isinstance(duration, int) else ""
        mime = voice.get("mime_type")
        media = Media(
            "voice",
            _file_id(voice, f"{key}.voice"),
            _size(voice),
            mime
            if isinstance(mime, str) and re.fullmatch(r"audio/[\w.+-]+", mime)
            else "audio/ogg",
            f"voice-{message_id}.ogg",
        )
        text = text or f"[语音{secs}]"
    elif text is None:
        kinds = [k for k in m if k not in _MESSAGE_META]
        if edited:
            return Ignored("an edit of something other than text")
        return Unsupported(chat, ",".join(sorted(kinds))[:100] or "empty")
    sender = _sender(m, chat)
    external = f"{chat}:{message_id}"
    if edited:
        edit = m.get("edit_date")
        external += f":edit:{edit if isinstance(edit, int) else 0}"
        text = f"（修改）{text}"
    extra: dict[str, Any] = {
        "chat_id": chat,
        "message_id": message_id,
        "chat_type": _clean(str(_object(m, "chat", key).get("type", "")), 20),
    }
    if edited:
        extra["edited"] = True
    report = Report(
        channel=CHANNEL,
        external_id=external,
        received_at=_date(m.get("edit_date" if edited else "date"), now),
        sender=sender,
        text=_clean(text or "", MAX_TEXT, multiline=True),
        location=location,
        drill=chat in drill_chats,
        extra={"telegram": extra},
    )
    return Alarm(chat, report, media)


# Message fields that are not its content (what makes one "unsupported" is the rest).
_MESSAGE_META = frozenset(
    {
        "message_id", "message_thread_id", "from", "sender_chat", "date", "chat", "edit_date",
        "forward_origin", "forward_from", "forward_date", "reply_to_message", "entities",
        "caption_entities", "via_bot", "author_signature", "has_protected_content",
        "is_topic_message", "link_preview_options", "reply_markup", "media_group_id",
    }
)  # fmt: skip


def _button(q: dict[str, Any]) -> ButtonPress:
    cid = q.get("id")
    if not isinstance(cid, str | int) or isinstance(cid, bool):
        raise BadUpdate("callback_query.id", "missing")
    data = q.get("data")
    message = q.get("message")
    chat = None
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        c = message["chat"].get("id")
        chat = c if isinstance(c, int) and not isinstance(c, bool) else None
    user = q.get("from", {}).get("id") if isinstance(q.get("from"), dict) else None
    return ButtonPress(
        str(cid),
        chat,
        user if isinstance(user, int) and not isinstance(user, bool) else None,
        data if isinstance(data, str) else "",
    )


def _photo(m: dict[str, Any], key: str, message_id: int) -> Media:
    sizes = m["photo"]
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, dict) for s in sizes):
        raise BadUpdate(f"{key}.photo", "not a list of sizes")

    def area(s: dict[str, Any]) -> tuple[int, int]:
        w, h, n = s.get("width"), s.get("height"), s.get("file_size")
        ok = isinstance(w, int) and isinstance(h, int)
        return (w * h if ok else 0, n if isinstance(n, int) else 0)  # type: ignore[operator]

    best = max(sizes, key=area)  # Bot API: the largest is the original's size
    return Media(
        "photo", _file_id(best, f"{key}.photo"), _size(best), "image/jpeg",
        f"photo-{message_id}.jpg",
    )  # fmt: skip


def _sender(m: dict[str, Any], chat: int) -> Sender:
    who = m.get("from")
    if not isinstance(who, dict) or not isinstance(who.get("id"), int):
        return Sender("account", f"telegram:{chat}", None)  # a channel or anonymous admin
    parts = [who.get("first_name"), who.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    username = who.get("username")
    if not name and isinstance(username, str):
        name = f"@{username}"
    return Sender("account", f"telegram:{who['id']}", _clean(name, 100) or None)


def _location(loc: dict[str, Any], where: str) -> Location:
    lat = _number(loc.get("latitude"), f"{where}.location.latitude", 90.0)
    lon = _number(loc.get("longitude"), f"{where}.location.longitude", 180.0)
    accuracy = loc.get("horizontal_accuracy")
    acc = None
    if isinstance(accuracy, int | float) and not isinstance(accuracy, bool):
        # Bot API: 0-1500 metres. Beyond that it is not a GPS fix we can use as a radius.
        acc = float(accuracy) if math.isfinite(accuracy) and 0 <= accuracy <= 100_000 else None
    # The app sends WGS84 (Telegram's maps are WGS84, unlike Chinese consumer apps' GCJ-02).
    return Location(lat, lon, acc)


def _number(v: Any, field: str, limit: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadUpdate(field, "not a number")
    if not -limit <= v <= limit:
        raise BadUpdate(field, f"{v} out of range")
    return float(v)


def _object(d: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    v = d.get(key)
    if not isinstance(v, dict):
        raise BadUpdate(f"{where}.{key}" if where else key, "missing or not an object")
    return v


def _int(d: dict[str, Any], key: str, where: str) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or abs(v) >= 2**63:
        raise BadUpdate(f"{where}.{key}", "missing or not an integer")
    return v


def _file_id(d: dict[str, Any], where: str) -> str:
    v = d.get("file_id")
    if not isinstance(v, str) or not v or len(v) > 500:
        raise BadUpdate(f"{where}.file_id", "missing")
    return v


def _size(d: dict[str, Any]) -> int | None:
    v = d.get("file_size")
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _date(v: Any, now: datetime) -> datetime:
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            t = datetime.fromtimestamp(v, UTC)
        except (OverflowError, OSError, ValueError):
            return now
        if 2000 <= t.year <= 2999:
            return t
    return now


def _clean(text: str, limit: int, multiline: bool = False) -> str:
    """Intake refuses control characters (they break logs and exports) and lone surrogates
    (JSON may carry them): a citizen's message is not refused for one, it becomes U+FFFD."""
    keep = "\n\r\t" if multiline else ""
    out = "".join(
        "\ufffd" if c not in keep and unicodedata.category(c) in ("Cc", "Cs") else c for c in text
    )
    if len(out) > limit:
        out = out[: limit - 20] + "[…超长，余下未存…]"
    return out
