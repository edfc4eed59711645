"""Drill injects on the Telegram channel (its declaration's ``drill``): a citizen's messages
in a drill chat — the text, then the location when the inject has a point.

A script cannot write to the bot as a Telegram user (the Bot API only lets a bot send), so
this is **the adapter's drill injection**: the Bot API ``Update`` objects Telegram would
deliver for those messages are made here and handed to the channel's own update path
(`Inbox.handle`, what the poller and the webhook call: `update.read` → report → intake →
the receipt queued in `telegram_out` and sent to the chat by the outbox). Each report says
in ``extra["injected"]`` that the drill runner made it and it never came from Telegram.

Ids. Telegram's ``update_id`` and ``message_id`` are positive (message ids count up from 1
in each chat), so the made-up ones are negative and cannot collide with a real message:
``-(2 × h + part + 1)``, where ``h`` is 48 bits of SHA-256 over the run and the inject id
(fits a JSON-safe integer) and ``part`` is 0 for the text, 1 for the location. The same
run and inject always give the same ids, so the report's external id
(``<chat>:<message id>``) is the same on a second try and intake stores nothing twice.

Only a chat among `drill_chats` is played: the channel files its messages as drills, so
nothing a drill sends can become a real alarm.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from gateway.channels.telegram import update as wire
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import TelegramMessage
from gateway.report import Location
from gateway.store.engine import StoreUnavailable

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

log = Logger()

VIA = "适配器演练注入（未经Telegram）"
MAX_ACCURACY_M = 1500.0  # Bot API Location.horizontal_accuracy: 0-1500 metres
TAKEN = frozenset({"stored", "duplicate"})  # duplicate: this run and inject played before


async def inject(service: TelegramChannel, drill: DrillInject) -> Sent:
    """File the inject's messages (see the module's docstring); `InjectError` says why not."""
    content = drill.inject.content
    if not isinstance(content, TelegramMessage):
        raise InjectError(f"inject {drill.inject.id} is not a Telegram message")
    if content.chat not in service.settings.drill_chats:
        raise InjectError(
            f"chat {content.chat} is not among [channels.telegram] drill_chats: "
            "its messages would be filed as real alarms"
        )
    if not service.running:
        raise InjectError("the Telegram channel is not running")
    updates = drill_updates(drill, int(service.ctx.clock.seconds()))
    if not updates:
        raise InjectError(f"inject {drill.inject.id} has neither a text nor a point to send")
    for update in updates:
        _check(update, service)
    injected = {
        "by": "drill_runner",
        "run": drill.run,
        "inject": drill.inject.id,
        "telegram": False,  # never came from Telegram
        "via": VIA,
    }
    for update in updates:
        await _hand_over(service, update, injected)
    first = updates[0]["message"]
    log.info(
        "Telegram: drill run {run} inject {inject}: {n} message(s) in chat {chat}, {via}",
        run=drill.run,
        inject=drill.inject.id,
        n=len(updates),
        chat=content.chat,
        via=VIA,
    )
    return Sent("telegram", external_id=f"{content.chat}:{first['message_id']}", via=VIA)


def drill_updates(drill: DrillInject, now: int) -> list[dict[str, Any]]:
    """The Bot API updates of the inject's messages, as Telegram delivers a chat's: the
    text (trimmed, as Telegram trims it), then the location (if the inject has a point)."""
    content = drill.inject.content
    assert isinstance(content, TelegramMessage)
    messages: list[dict[str, Any]] = []
    if content.text and content.text.strip():
        messages.append({"text": content.text.strip()})
    loc = drill.inject.location
    if loc is not None and loc.lat is not None and loc.lon is not None:
        messages.append({"location": _location(loc)})
    return [
        _update(content.chat, drill_id(drill.run, drill.inject.id, part), now, m)
        for part, m in enumerate(messages)
    ]


def drill_id(run: int, inject_id: str, part: int) -> int:
    """A message (and update) id of the drill's own: negative, so never one of Telegram's."""
    digest = hashlib.sha256(f"alarmgw-drill:{run}:{inject_id}".encode()).digest()
    return -(2 * int.from_bytes(digest[:6], "big") + part + 1)


def _update(chat: int, message_id: int, now: int, content: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"message_id": message_id, "date": now}
    if chat > 0:
        # A private chat: the user is the chat (Bot API: their ids are the same).
        message["from"] = {"id": chat, "is_bot": False, "first_name": "演练报警人"}
        message["chat"] = {"id": chat, "type": "private", "first_name": "演练报警人"}
    else:
        # A group: there is no drill user to name, so the message is the group's own, as
        # Telegram gives one sent on behalf of a chat (sender_chat). Its sender is then the
        # drill chat itself (telegram:<chat>): its messages correlate with each other only.
        group = {"id": chat, "type": _group_type(chat), "title": "演练群"}
        message["sender_chat"] = group
        message["chat"] = group
    return {"update_id": message_id, "message": message | content}


def _group_type(chat: int) -> str:
    """Bot API chat ids: supergroups are -100…, basic groups other negative ids."""
    return "supergroup" if str(chat).startswith("-100") else "group"


def _location(loc: Location) -> dict[str, Any]:
    out: dict[str, Any] = {"latitude": loc.lat, "longitude": loc.lon}
    if loc.accuracy_m is not None and 0 <= loc.accuracy_m <= MAX_ACCURACY_M:
        out["horizontal_accuracy"] = loc.accuracy_m
    return out


def _check(update: dict[str, Any], service: TelegramChannel) -> None:
    """What the channel will make of it, before anything is handed over: a drill report (a
    text such as ``/start`` would be answered, not filed)."""
    try:
        item = wire.read(update, service.ctx.now(), service.settings.drill_chats)
    except wire.BadUpdate as e:
        raise InjectError(f"the Telegram channel cannot read the message: {e}") from None
    if not isinstance(item, wire.Alarm):
        raise InjectError(f"the Telegram channel would not file it as a report: {item}")
    if not item.report.drill:
        raise InjectError(f"chat {item.chat} is not a drill chat")  # never: checked above


async def _hand_over(
    service: TelegramChannel, update: dict[str, Any], injected: dict[str, Any]
) -> None:
    """One update through the inbox, tracked as the poller's are (a stop waits for it)."""
    try:
        outcome = await service.inflight.track(
            defer.ensureDeferred(service.inbox.handle(update, injected))
        )
    except StoreUnavailable as e:
        raise InjectError(f"the store is unavailable: {e}") from None
    if outcome not in TAKEN:
        message_id = update["message"]["message_id"]
        raise InjectError(f"the Telegram channel did not file message {message_id}: {outcome}")
