"""Alarms pushed by other information systems: ``POST /api/v1/systems/{system}/alarms``,
signed with HMAC-SHA256 by each system's own secret, mapped to a report by configuration."""

from gateway.channel import Channel

_P = "gateway.channels.systems"

CHANNEL = Channel(
    code="systems",
    report_channel="systems",
    title="Signed alarms from other information systems",
    service=f"{_P}.service:SystemsChannel",
    settings=f"{_P}.settings:SystemsSettings",
)
