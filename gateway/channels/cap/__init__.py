"""CAP 1.2 (OASIS Common Alerting Protocol): alerts in from other systems, each ``info`` a
report; an Atom feed of CAP messages out for other city departments."""

from gateway.channel import Channel

_P = "gateway.channels.cap"

CHANNEL = Channel(
    code="cap",
    report_channel="cap",
    title="CAP 1.2 alerts in and out",
    service=f"{_P}.service:CapChannel",
    settings=f"{_P}.settings:CapSettings",
)
