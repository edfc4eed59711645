"""The gateway's HTTP listener: one twisted.web site serving the core's routes and the
enabled channels' (`gateway.http.resource`)."""

from __future__ import annotations

import functools
import time
from typing import Any

from twisted.application import service
from twisted.logger import Logger
from twisted.web import http, server
from twisted.web.resource import Resource

log = Logger()


class Site(server.Site):
    """Answers go out at once (TCP_NODELAY): a 201 is one small write, and Nagle's
    algorithm with the client's delayed ACK could hold it back for up to 40 ms."""

    def buildProtocol(self, addr: Any) -> Any:
        proto = super().buildProtocol(addr)
        make = proto.makeConnection

        def makeConnection(transport: Any) -> None:
            if hasattr(transport, "setTcpNoDelay"):
                transport.setTcpNoDelay(True)
            make(transport)

        proto.makeConnection = makeConnection
        return proto


class LimitedRequest(server.Request):
    """Stops buffering a body past the configured limit; the handler answers 413."""

    max_body = 1 << 20
    too_large = False

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        # Twisted parses every POST's Content-Type with the email package (tens of
        # microseconds) to find form bodies; only the citizen form sends one.
        ctype = (self.requestHeaders.getRawHeaders(b"content-type") or [b""])[0].lower()
        self._parsePOSTFormSubmission = b"form" in ctype
        super().requestReceived(command, path, version)

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self.max_body:
            self.too_large = True
            length = 0
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.too_large:
            return
        assert self.content is not None
        if self.content.tell() + len(data) > self.max_body:
            self.too_large = True
            self.content.seek(0)
            self.content.truncate()
            return
        super().handleContentChunk(data)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=1)
def _local_clf_time(second: int) -> str:
    """A second in the Combined Log Format, in the process's zone (the city's, set at start)
    as the rest of the log is: twisted.web stamps its access lines in UTC. Formatted once a
    second, as twisted.web does its own."""
    t = time.localtime(second)
    offset = t.tm_gmtoff // 60
    sign = "-" if offset < 0 else "+"
    return (
        f"[{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} "
        f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}]"
    )


def _access_line(_utc_timestamp: str, request: Any) -> str:
    return str(http.combinedLogFormatter(_local_clf_time(int(time.time())), request))


def make_site(resource: Resource, max_body: int) -> Site:
    site = Site(resource, logFormatter=_access_line)

    class _Request(LimitedRequest):
        pass

    _Request.max_body = max_body
    site.requestFactory = _Request
    site.displayTracebacks = False
    return site


class WebService(service.Service):
    """The HTTP listener, bound (and its port held) before the gateway starts; it takes
    connections from when this service starts, after the store and the notifiers."""

    name = "http"  # type: ignore[assignment]

    def __init__(self, port: Any) -> None:
        self.port = port

    def startService(self) -> None:
        service.Service.startService(self)
        self.port.startReading()
        addr = self.port.getHost()
        log.info("HTTP on http://{host}:{port}/", host=addr.host, port=addr.port)

    def stopService(self) -> Any:
        service.Service.stopService(self)
        return self.port.stopListening()
