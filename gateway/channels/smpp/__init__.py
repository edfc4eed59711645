"""SMS to 12110 over SMPP 3.4: the gateway binds to the operator's SMSC as an ESME; each
citizen's SMS is a report, answered with a receipt; call-takers reply; duty phones get
notices by SMS and acknowledge with ``1 <incident>``."""

from gateway.channel import Channel, ChannelAction, ChannelView

_P = "gateway.channels.smpp"

CHANNEL = Channel(
    code="smpp",
    report_channel="sms",
    title="SMS to 12110 over SMPP",
    service=f"{_P}.service:SmppChannel",
    settings=f"{_P}.settings:SmppSettings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:SmsMetrics",
    intake_hook=f"{_P}.intake:SmsIntake",
    notify_kind="sms",
    notifier=f"{_P}.duty:duty_notices",
    drill=f"{_P}.drill:inject",
    actions=(
        ChannelAction(
            "reply",
            handler=f"{_P}.http:reply",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
            params={
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 670,
                    "description": "reply: the SMS to the citizen (at most ten UCS2 parts)",
                },
                "to": {
                    "type": "string",
                    "pattern": "^[0-9+]{3,21}$",
                    "description": "reply: which of the numbers that wrote to the incident; "
                    "default the latest",
                },
            },
            required=("text",),
            status=202,
            response=f"{_P}.http:SMS_QUEUED",
            summary="回复短信: the SMS to the citizen is queued; `sms_sent` and `sms_delivered` "
            "events follow.",
            answers=("sms",),
        ),
    ),
    views=(
        ChannelView(
            "sms",
            render=f"{_P}.views:thread",
            schema=f"{_P}.views:THREAD",
            description="Detail view only: the SMS the gateway sent about this incident "
            "(receipts, follow-up receipts, state updates, call-takers' replies, duty-phone "
            "notices), oldest first; the citizen's own SMS are its reports (channel sms).",
        ),
    ),
    tables=f"{_P}.tables",
    migrations="migrations",
    events=(
        "sms_repeat",
        "sms_reply",
        "sms_sent",
        "sms_failed",
        "sms_delivered",
        "sms_undelivered",
    ),
)
