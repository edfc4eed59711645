"""The mail benchmark's baseline: aiosmtpd on the Twisted asyncio reactor's loop, as the
gateway runs it, answering 250 to every message without reading or storing it: the SMTP
transport's ceiling on this machine.

    python bench/mail_baseline.py PORT
"""

from __future__ import annotations

import sys
from typing import Any


def main(port: int) -> None:
    from gateway.reactor import install

    loop = install()
    from aiosmtpd.smtp import SMTP
    from twisted.internet import defer, reactor

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 OK"

    def start() -> None:
        d = defer.Deferred.fromFuture(
            loop.create_task(
                loop.create_server(
                    lambda: SMTP(Handler(), loop=loop, enable_SMTPUTF8=True, hostname="bench"),
                    "127.0.0.1",
                    port,
                )
            )
        )
        d.addCallback(lambda _: print("listening", flush=True))

    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main(int(sys.argv[1]))
