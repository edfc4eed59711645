"""The web channel (网上报警): the citizen's report form, the receipt status page, and
``POST /api/v1/reports`` for people and other systems. On unless ``[channels.web] enabled =
false``."""

from gateway.channel import Channel, ChannelRoute

_HTTP = "gateway.channels.web.http"

CHANNEL = Channel(
    code="web",
    report_channel="web",
    title="网上报警 (web form and reports API)",
    service="gateway.channels.web.service:WebChannel",
    drill="gateway.channels.web.drill:inject",
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
        ChannelRoute(
            "GET",
            "/report/locate.js",
            r"^/report/locate\.js$",
            f"{_HTTP}:locate_script",
            f"{_HTTP}:LOCATE_SCRIPT",
            "none",
        ),
        # The citizen's receipt: the lookup form (?r=…) and the status page.
        ChannelRoute(
            "GET",
            "/receipt",
            r"^/receipt$",
            f"{_HTTP}:receipt_lookup",
            f"{_HTTP}:RECEIPT_LOOKUP",
            "none",
        ),
        ChannelRoute(
            "GET",
            "/receipt/{receipt}",
            r"^/receipt/(?P<receipt>[^/]+)$",
            f"{_HTTP}:receipt_page",
            f"{_HTTP}:RECEIPT_PAGE",
            "none",
        ),
    ),
)
