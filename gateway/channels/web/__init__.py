"""The web channel (网上报警): the citizen's report form and ``POST /api/v1/reports`` for
people and other systems. On unless ``[channels.web] enabled = false``."""

from gateway.channel import Channel, ChannelRoute

_HTTP = "gateway.channels.web.http"

CHANNEL = Channel(
    code="web",
    report_channel="web",
    title="网上报警 (web form and reports API)",
    service="gateway.channels.web.service:WebChannel",
    settings="gateway.channels.web.settings:WebSettings",
    enabled_by_default=True,
    routes=(
        ChannelRoute(
            "POST",
            "/api/v1/reports",
            r"^/api/v1/reports$",
            f"{_HTTP}:submit_report",
            f"{_HTTP}:SUBMIT_REPORT",
            auth="optional",
        ),
        ChannelRoute("GET", "/report", r"^/report$", f"{_HTTP}:form", f"{_HTTP}:FORM", "none"),
        ChannelRoute(
            "POST", "/report", r"^/report$", f"{_HTTP}:submit_form", f"{_HTTP}:SUBMIT_FORM", "none"
        ),
        ChannelRoute("GET", "/", r"^/$", f"{_HTTP}:form", f"{_HTTP}:FORM_HOME", "none"),
    ),
)
