"""`AsyncMultiService`: a MultiService that waits for each child's start, in order.

Twisted's plain MultiService ignores the Deferreds its children return, so the channels
could start taking reports before the store had applied its migrations. Modelled on
buildbot's `AsyncMultiService`: children start one after another in the order added
(store first), and stop in reverse order (channels first, the store last, after the
writes in flight have committed). A failed start is reported, not swallowed.
"""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.internet import defer


class AsyncMultiService(service.MultiService):
    @defer.inlineCallbacks
    def startService(self) -> Any:
        service.Service.startService(self)
        for child in list(self):
            yield defer.maybeDeferred(child.startService)

    @defer.inlineCallbacks
    def stopService(self) -> Any:
        service.Service.stopService(self)
        for child in reversed(list(self)):
            if child.running:
                yield defer.maybeDeferred(child.stopService)
