"""110 calls through Asterisk (AMI): each call a report from the moment it arrives, followed
to its end; call-takers ring back abandoned calls; duty phones are called and acknowledge
with 1; a drill's phone injects are calls over the drill way in that speak their script.
See asterisk/README.md for the Asterisk side."""

from gateway.channel import Channel, ChannelAction, ChannelRoute, ChannelView

_P = "gateway.channels.ami"

CHANNEL = Channel(
    code="ami",
    report_channel="phone",
    title="110 calls through Asterisk (AMI)",
    service=f"{_P}.service:AmiChannel",
    settings=f"{_P}.settings:AmiSettings",
    metrics=f"{_P}.metrics:AmiMetrics",
    notify_kind="phone",
    notifier=f"{_P}.duty:duty_calls",
    drill=f"{_P}.drill:inject",
    actions=(
        ChannelAction(
            "callback",
            handler=f"{_P}.http:callback",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
            params={
                "calltaker": {
                    "type": "string",
                    "pattern": "^[0-9A-Za-z_.-]{1,32}$",
                    "description": "callback: the call-taker whose softphone rings first "
                    "(e.g. 1001)",
                }
            },
            required=("calltaker",),
            status=202,
            response=f"{_P}.http:CALLBACK_STARTED",
            summary="回拨: the call-taker's softphone is ringing, then the caller's phone; the "
            "outcome comes as a `callback_result` event on the incident.",
        ),
    ),
    views=(
        ChannelView(
            "calls",
            render=f"{_P}.views:calls",
            schema=f"{_P}.views:CALLS",
            description="Detail view only: the 110 calls filed under this incident, followed "
            "over AMI from arrival to hang-up.",
        ),
    ),
    tasks=f"{_P}.views:callbacks",
    routes=(
        ChannelRoute(
            "GET",
            "/api/v1/calltakers/{calltaker}/current",
            r"^/api/v1/calltakers/(?P<calltaker>[0-9A-Za-z_.-]{1,32})/current$",
            handler=f"{_P}.http:current_call",
            openapi=f"{_P}.http:CURRENT_CALL",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
        ),
        ChannelRoute(
            "GET",
            "/api/v1/incidents/{number}/recordings/{linkedid}",
            r"^/api/v1/incidents/(?P<number>\d{6}-\d{8}-\d{6})/recordings/(?P<linkedid>[0-9.]{1,40})$",
            handler=f"{_P}.http:recording",
            openapi=f"{_P}.http:RECORDING",
            roles=frozenset({"calltaker", "dispatcher", "supervisor", "admin"}),
        ),
    ),
    openapi_components=f"{_P}.http:COMPONENTS",
    tables=f"{_P}.tables",
    migrations="migrations",
    events=(
        "call_answered",
        "call_queue_timeout",
        "call_ended",
        "call_abandoned",
        "callback_started",
        "callback_result",
    ),
)
