"""CAP 1.2 (OASIS Common Alerting Protocol): alerts in from other systems, each ``info`` a
report (``POST /api/v1/cap``, integration tokens); an Atom feed of CAP messages out for other
city departments (``GET /api/v1/cap/feed``, each consumer's token scoped to its unit)."""

from gateway.channel import Channel, ChannelRoute

_P = "gateway.channels.cap"
_HTTP = f"{_P}.http"
_SYSTEMS = frozenset({"integration", "admin"})

CHANNEL = Channel(
    code="cap",
    report_channel="cap",
    title="CAP 1.2 alerts in and out",
    service=f"{_P}.service:CapChannel",
    settings=f"{_P}.settings:CapSettings",
    config_check=f"{_P}.settings:config_problems",
    routes=(
        ChannelRoute(
            "POST",
            "/api/v1/cap",
            r"^/api/v1/cap$",
            f"{_HTTP}:receive",
            f"{_HTTP}:RECEIVE",
            roles=_SYSTEMS,
        ),
        ChannelRoute(
            "GET",
            "/api/v1/cap/feed",
            r"^/api/v1/cap/feed$",
            f"{_HTTP}:feed",
            f"{_HTTP}:FEED",
            roles=_SYSTEMS,
        ),
    ),
    openapi_components=f"{_HTTP}:COMPONENTS",
    drill=f"{_P}.drill:inject",
)
