"""Install Twisted's asyncio reactor on an explicit event loop, before anything imports
`twisted.internet.reactor`, so asyncio libraries (panoramisk, aiosmtpd,
python-telegram-bot) and Twisted share one loop."""

from __future__ import annotations

import asyncio
import sys
from typing import Any


class WrongReactor(RuntimeError):
    pass


def event_loop(reactor: Any) -> asyncio.AbstractEventLoop:
    """The asyncio loop `reactor` runs on. Twisted's AsyncioSelectorReactor has no public
    accessor for it (and `asyncio.get_running_loop()` fails before the reactor runs, when
    services start): this is the one place that reads its attribute."""
    loop = getattr(reactor, "_asyncioEventloop", None)
    if loop is None:
        raise WrongReactor(
            f"alarmgw needs the asyncio reactor, but {type(reactor).__name__} is installed "
            "(run twistd with --reactor=asyncio, or use `alarmgw run`)"
        )
    return loop  # type: ignore[no-any-return]


def install() -> asyncio.AbstractEventLoop:
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        return event_loop(reactor)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    from twisted.internet import asyncioreactor

    asyncioreactor.install(loop)
    return loop
