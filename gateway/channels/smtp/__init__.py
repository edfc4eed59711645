"""Alarms by e-mail and fax-to-mail: an SMTP server for the alarm addresses (a ``email``
report per message) and the fax server's (a ``fax`` report, its pages imaged and read by
OCR after the commit); 250 only after the commit. The citizen is answered by mail through
the site's smarthost; call-takers reply; units can be notified by mail."""

from gateway.channel import Channel, ChannelAction, ChannelRoute, ChannelView

_P = "gateway.channels.smtp"

CHANNEL = Channel(
    code="smtp",
    report_channel="email",
    also_files_under=("fax",),
    title="E-mail and fax-to-mail over SMTP",
    service=f"{_P}.service:SmtpChannel",
    drill=f"{_P}.drill:inject",
    settings=f"{_P}.settings:SmtpSettings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:MailMetrics",
    intake_hook=f"{_P}.intake:MailIntake",
    notify_kind="email",
    notifier=f"{_P}.duty:duty_notices",
    actions=(
        ChannelAction(
            "reply_mail",
            handler=f"{_P}.http:reply",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
            params={
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 10000,
                    "description": "reply_mail: the mail to the citizen (plain text)",
                },
                "address": {
                    "type": "string",
                    "maxLength": 254,
                    "description": "reply_mail: which of the addresses that wrote to the "
                    "incident; default the latest",
                },
            },
            required=("message",),
            status=202,
            response=f"{_P}.http:MAIL_QUEUED",
            summary="回复邮件: the mail to the citizen is queued; a `mail_sent` or "
            "`mail_failed` event follows.",
            answers=("email",),
        ),
    ),
    views=(
        ChannelView(
            "mail",
            render=f"{_P}.views:sent",
            schema=f"{_P}.views:SENT",
            description="Detail view only: the mail the gateway sent about this incident "
            "(receipts, state updates, call-takers' replies), oldest first; the citizen's own "
            "mails are its reports (channel email).",
        ),
        ChannelView(
            "fax",
            render=f"{_P}.views:faxes",
            schema=f"{_P}.views:FAX",
            description="Detail view only: the fax documents of its fax reports, each page's "
            "image and OCR text.",
        ),
    ),
    routes=(
        ChannelRoute(
            "GET",
            "/api/v1/incidents/{number}/files/{sha256}",
            r"^/api/v1/incidents/(?P<number>[0-9]{6}-[0-9]{8}-[0-9]{6})/files/"
            r"(?P<sha256>[0-9a-f]{64})$",
            handler=f"{_P}.http:file",
            openapi=f"{_P}.http:FILE",
        ),
    ),
    tables=f"{_P}.tables",
    migrations="migrations",
    events=(
        "fax_pages",
        "fax_ocr",
        "fax_unreadable",
        "mail_reply",
        "mail_sent",
        "mail_failed",
    ),
)
