"""Install Twisted's asyncio reactor on an explicit event loop, before anything imports
`twisted.internet.reactor`, so asyncio libraries (panoramisk, aiosmtpd,
python-telegram-bot) and Twisted share one loop."""

from __future__ import annotations

import asyncio
import sys


class WrongReactor(RuntimeError):
    pass


def install() -> asyncio.AbstractEventLoop:
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        loop = getattr(reactor, "_asyncioEventloop", None)
        if loop is None:
            raise WrongReactor(
                f"alarmgw needs the asyncio reactor, but {type(reactor).__name__} is installed "
                "(run twistd with --reactor=asyncio, or use `alarmgw run`)"
            )
        return loop  # type: ignore[no-any-return]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    return loop
