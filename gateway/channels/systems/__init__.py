"""Alarms pushed by other information systems: ``POST /api/v1/systems/{system}/alarms``,
signed with HMAC-SHA256 by each system's own secret, mapped to a report by configuration.
The reports file under channel ``systems``, the sender being the system itself
(``Sender("system", <system>, <its name>)``); their external ids are ``<system>:<key>``."""

from gateway.channel import Channel, ChannelRoute

_P = "gateway.channels.systems"

CHANNEL = Channel(
    code="systems",
    report_channel="systems",
    title="Signed alarms from other information systems",
    service=f"{_P}.service:SystemsChannel",
    settings=f"{_P}.settings:SystemsSettings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:SystemsMetrics",
    routes=(
        ChannelRoute(
            "POST",
            "/api/v1/systems/{system}/alarms",
            r"^/api/v1/systems/(?P<system>[a-z0-9][a-z0-9_-]{0,31})/alarms$",
            f"{_P}.http:receive_alarm",
            f"{_P}.http:RECEIVE_ALARM",
            auth="none",  # the signature is the authentication
        ),
    ),
)
