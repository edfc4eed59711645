"""Telegram: a bot's chats become reports (text, location, venue, photo, voice); the receipt,
state updates and call-takers' replies go back to the chat; units can be notified with a
签收 button."""

from gateway.channel import Channel

_P = "gateway.channels.telegram"

CHANNEL = Channel(
    code="telegram",
    report_channel="telegram",
    title="Telegram (a bot)",
    service=f"{_P}.service:TelegramChannel",
    settings=f"{_P}.settings:TelegramSettings",
)
