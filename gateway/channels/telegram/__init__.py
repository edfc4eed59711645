"""Telegram: a bot's chats become reports (text, location, venue, photo, voice); the receipt,
state updates and call-takers' replies go back to the chat; units can be notified with a
签收 button."""

from gateway.channel import Channel, ChannelAction, ChannelRoute, ChannelView

_P = "gateway.channels.telegram"

CHANNEL = Channel(
    code="telegram",
    report_channel="telegram",
    title="Telegram (a bot)",
    service=f"{_P}.service:TelegramChannel",
    settings=f"{_P}.settings:TelegramSettings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:TelegramMetrics",
    intake_hook=f"{_P}.intake:TelegramIntake",
    notify_kind="telegram",
    notifier=f"{_P}.duty:duty_notices",
    actions=(
        ChannelAction(
            "reply_telegram",
            handler=f"{_P}.http:reply",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
            params={
                "telegram_text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 4096,
                    "description": "reply_telegram: the message to the citizen's chat",
                },
                "telegram_chat": {
                    "type": "integer",
                    "description": "reply_telegram: which of the chats that wrote to the "
                    "incident; default the latest",
                },
            },
            required=("telegram_text",),
            status=202,
            response=f"{_P}.http:TELEGRAM_QUEUED",
            summary="回复Telegram: the message to the citizen's chat is queued; a "
            "`telegram_sent` or `telegram_failed` event follows.",
            answers=("telegram",),
        ),
    ),
    views=(
        ChannelView(
            "telegram",
            render=f"{_P}.views:thread",
            schema=f"{_P}.views:THREAD",
            description="Detail view only: what the bot sent about this incident (receipts, "
            "state updates, call-takers' replies, units' notices), oldest first; the "
            "citizen's own messages are its reports (channel telegram).",
        ),
    ),
    routes=(
        ChannelRoute(
            "POST",
            "/api/v1/telegram/webhook",
            r"^/api/v1/telegram/webhook$",
            handler=f"{_P}.http:webhook",
            openapi=f"{_P}.http:WEBHOOK",
            auth="none",
        ),
        ChannelRoute(
            "GET",
            "/api/v1/telegram/files/{sha256}",
            r"^/api/v1/telegram/files/(?P<sha256>[0-9a-f]{64})$",
            handler=f"{_P}.http:file",
            openapi=f"{_P}.http:FILE",
        ),
    ),
    tables=f"{_P}.tables",
    migrations="migrations",
    events=("telegram_reply", "telegram_sent", "telegram_failed"),
    drill=f"{_P}.drill:inject",
)
