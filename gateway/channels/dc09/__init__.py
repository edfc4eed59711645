"""Alarm panels of fixed targets (联网报警: banks, shops, homes) over SIA DC-09, on TCP and
UDP; Contact ID panels on a phone line reach the same receiver through Asterisk's
AlarmReceiver and `asterisk/agi-bin/alarmgw-cid-forward`. An alarm is a report with the
premises' place, name and zone; a restoral joins its alarm's incident; tests, open/close
and supervision only move the premises' last-seen time and signal history."""

from gateway.channel import Channel

_P = "gateway.channels.dc09"

CHANNEL = Channel(
    code="dc09",
    report_channel="dc09",
    title="Alarm panels over SIA DC-09 and Contact ID",
    service=f"{_P}.service:Dc09Channel",
    settings=f"{_P}.settings:Dc09Settings",
    config_check=f"{_P}.settings:config_problems",
    metrics=f"{_P}.metrics:PanelMetrics",
    tables=f"{_P}.tables",
    migrations="migrations",
    drill=f"{_P}.drill:inject",
)
