"""Vehicle terminals of mobile targets (移动目标: taxis, cash vans, buses) over JT/T 808
(2013 and 2019) on TCP. The emergency button (SOS) opens a priority-1 incident at the
vehicle's position; its later positions are the incident's track; accepting the incident
confirms the alarm to the terminal (0x8203). Ordinary positions and heartbeats only update
the vehicle in the targets registry, in batches."""

from gateway.channel import Channel, ChannelView

_P = "gateway.channels.jt808"

CHANNEL = Channel(
    code="jt808",
    report_channel="jt808",
    title="Vehicle terminals over JT/T 808",
    service=f"{_P}.service:Jt808Channel",
    settings=f"{_P}.settings:Jt808Settings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:VehicleMetrics",
    views=(
        ChannelView(
            "track",
            render=f"{_P}.views:track",
            schema=f"{_P}.views:TRACK",
            description="Detail view only: the positions of the vehicle whose emergency "
            "button opened the incident, while it is open (oldest first).",
        ),
    ),
    tables=f"{_P}.tables",
    migrations="migrations",
    drill=f"{_P}.drill:inject",
)
