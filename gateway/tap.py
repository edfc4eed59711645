"""twistd glue: options and `makeService`. Used by the `alarmgw` twistd plugin and by
`alarmgw run`."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from twisted.python import usage


class Options(usage.Options):
    synopsis = "[--config FILE] [--data-dir DIR] [--http-port N] [--http-host HOST]"
    optParameters = [
        ["config", "c", None, "TOML configuration file (default: the bundled sample city)"],
        ["data-dir", "d", "alarmgw-data", "Directory for the SQLite database and raw payloads"],
        ["http-port", "p", None, "HTTP port (default: [http] port in the config, 8110)", int],
        ["http-host", None, None, "HTTP interface (default: [http] host, 127.0.0.1)"],
    ]

    def postOptions(self) -> None:
        from gateway.config import ConfigError, load_config

        try:
            self["loaded"] = load_config(self["config"])
        except ConfigError as e:
            raise usage.UsageError(str(e)) from None
        port = self["http-port"]
        if port is not None and not 0 <= port <= 65535:
            raise usage.UsageError(f"--http-port: {port} is not a TCP port")


def makeService(options: Options) -> Any:
    from gateway.reactor import install

    install()
    # The reactor thread and the store's writer thread hand the GIL to each other for
    # every batch; the default 5 ms switch interval would add that much to each
    # acknowledgement under load.
    sys.setswitchinterval(0.0001)
    from twisted.internet import reactor

    from gateway.app import StartupError, build

    config = options["loaded"]
    # People read the log in the city's time: twistd stamps it in the process's local time
    # zone (the store and the API keep UTC, and no code of ours uses the local zone).
    os.environ["TZ"] = config.city.timezone
    time.tzset()
    host = options["http-host"] or config.http.host
    port = options["http-port"] if options["http-port"] is not None else config.http.port
    try:
        top, _gw = build(config, options["data-dir"], (host, port), reactor)
    except StartupError as e:
        # One line and exit 1, before anything started: no traceback, no half a gateway.
        print(f"alarmgw: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    if config.city.sample:
        print(
            "alarmgw: running the SAMPLE city (示例数据, fictitious); pass --config for a real one",
            file=sys.stderr,
        )
    return top
