"""Units on Telegram (notify kind ``telegram``): a unit's notify target ``{ kind = "telegram",
address = "<chat id>" }`` gets the incident with an inline 签收 button whose callback data
names the delivery (``ack:<delivery id>``). A press is honoured only from a chat registered
as a telegram target of that delivery's unit — anyone else is answered 无权签收 and nothing
changes — and then goes through the workflow as a duty phone's answer does
(`ChannelContext.acknowledge_notice`: the unit's 签收 when the incident waits for it)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from twisted.internet import defer
from twisted.logger import Logger

from gateway.channels.telegram import store
from gateway.channels.telegram.bot import FloodWait, TelegramRefused, TelegramUnavailable
from gateway.channels.telegram.settings import fill
from gateway.channels.telegram.update import ButtonPress
from gateway.errors import DomainError, NotFound
from gateway.notify.outbox import Attempt, Backoff, Delivery, Policy
from gateway.orgtree import OrgTree
from gateway.store.tables import deliveries
from gateway.workflow import records

if TYPE_CHECKING:
    from gateway.channels.telegram.service import TelegramChannel

log = Logger()

KIND = "telegram"
_ACK = re.compile(r"^ack:([0-9]{1,18})$")
ACK_LABEL = "签收"


def duty_notices(channel: TelegramChannel) -> DutyChats:
    """The notifier of the channel's declaration."""
    return channel.duty


class DutyChats:
    kind = KIND

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel
        self.ctx = channel.ctx
        s = channel.settings
        self.policy = Policy(
            lease=120.0,
            backoff=Backoff(s.send_attempts, s.retry_seconds, s.retry_seconds * 32),
            batch=10,
            concurrency=4,
        )
        self.chats = duty_chats(self.ctx.org)

    # -- out: the notice (one outbox attempt) ------------------------------------------------

    def ready(self) -> bool:
        return (
            bool(self.channel.running)
            and self.channel.bot_ready
            and not self.channel.sender.paused()
        )

    def attempt(self, d: Delivery) -> defer.Deferred[Attempt]:
        return defer.ensureDeferred(self._send(d))

    async def _send(self, d: Delivery) -> Attempt:
        try:
            chat = int(d.target)
        except ValueError:
            return Attempt("gave_up", "the target is not a chat id")
        row = await self.ctx.read(records.load, d.number)
        text = self.text(row, d.drill)
        try:
            message_id = await self.channel.link.send(chat, text, (ACK_LABEL, f"ack:{d.id}"))
        except FloodWait as e:
            return Attempt("later", str(e), retry_at=self.channel.sender.flood(e.seconds))
        except TelegramRefused as e:
            return Attempt("gave_up", str(e)[:200])
        except TelegramUnavailable as e:
            return Attempt("retry", str(e)[:200])
        await self.ctx.write(store.notice_sent, d.number, chat, text, message_id, self.ctx.now())
        return Attempt("delivered")

    def text(self, row: Any, drill: bool) -> str:
        location = records.snapshot(row).location or {}
        category = self.ctx.config.categories.get(row["category"]) if row["category"] else None
        return fill(
            self.channel.settings.notify_text,
            drill,
            self.ctx.now(),
            self.ctx.tz,
            incident=row["number"],
            category=category.name if category is not None else "未分类",
            priority=row["priority"] or "-",
            summary=(row["summary"] or "").strip()[:200],
            address=location.get("address") or "未知",
        )

    # -- in: the 签收 button ------------------------------------------------------------------

    async def pressed(self, press: ButtonPress) -> None:
        """A button of ours was pressed: answered in any case (Telegram shows a spinner until
        answerCallbackQuery); raises StoreUnavailable when the workflow could not decide (the
        update is not confirmed, and comes again)."""
        m = _ACK.match(press.data)
        if m is None:
            await self._answer(press, "无法识别的操作")
            return
        delivery = int(m[1])
        unit = await self.ctx.read(_unit_of, delivery)
        if unit is None or press.chat is None or unit not in self.chats.get(press.chat, ()):
            log.warn(
                "Telegram: 签收 of notice {d} from chat {chat} (user {user}) refused: not a "
                "registered chat of unit {unit}",
                d=delivery,
                chat=press.chat,
                user=press.user,
                unit=unit or "-",
            )
            await self._answer(press, "无权签收：本聊天未登记为该单位的值班聊天")
            return
        reason = f"Telegram签收 (acknowledged in chat {press.chat})"
        try:
            outcome = await self.ctx.acknowledge_notice(delivery, reason)
        except NotFound:
            await self._answer(press, "该通知不存在")
            return
        except DomainError as e:
            log.warn("Telegram: 签收 of notice {d} refused: {e}", d=delivery, e=e)
            await self._answer(press, f"无法签收：{e}"[:200])
            return
        log.info(
            "Telegram: chat {chat} answered notice {d} for {unit}: {outcome}",
            chat=press.chat,
            d=delivery,
            unit=unit,
            outcome=outcome,
        )
        if outcome == "acknowledged":
            await self._answer(press, "已签收")
        else:
            await self._answer(press, "已确认收到（该警情当前无需本单位签收）")

    async def _answer(self, press: ButtonPress, text: str) -> None:
        try:
            await self.channel.link.answer_button(press.callback_id, text)
        except (FloodWait, TelegramRefused, TelegramUnavailable) as e:
            # A button's answer is a courtesy (the spinner stops by itself): not retried.
            log.warn("Telegram: answer to a button not sent: {e}", e=e)


def _unit_of(conn: Connection, delivery: int) -> str | None:
    """The unit a telegram notice went to (None: no such notice of ours)."""
    row = conn.execute(
        select(deliveries.c.unit).where(deliveries.c.id == delivery, deliveries.c.kind == KIND)
    ).first()
    return None if row is None else row.unit


def duty_chats(org: OrgTree) -> dict[int, frozenset[str]]:
    """Registered chats (notify targets of kind telegram) → the units they answer for."""
    out: dict[int, set[str]] = {}
    for unit in org.units():
        for target in unit.notify:
            if target.kind == KIND:
                try:
                    out.setdefault(int(target.address), set()).add(unit.code)
                except ValueError:
                    continue  # config_check names it
    return {k: frozenset(v) for k, v in out.items()}
