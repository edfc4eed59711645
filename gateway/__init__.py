"""alarmgw: a 110 alarm-intake gateway."""

__version__ = "0.1.0"
