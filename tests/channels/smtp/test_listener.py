"""The listener's pieces that need no peer: its fast reading of SMTP paths gives what
aiosmtpd's own parser gives, and the rate limiter counts per client address."""

from __future__ import annotations

import asyncio
from typing import Any

from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.channels.smtp.listener import Handler, RateLimiter, Server
from gateway.channels.smtp.settings import RateLimit, SmtpSettings

STOCK = SMTP(object(), loop=asyncio.new_event_loop())
OURS = Server.__new__(Server)  # only _getaddr is used: no session
OURS.local_part_limit = 0

atoms = st.text(st.sampled_from("abcXYZ019.-+_=!#'\"@[]<>: 王"), max_size=12)
paths = st.builds(
    lambda lead, local, domain, close, rest: f"{lead}<{local}@{domain}{close}{rest}",
    st.sampled_from(["", " ", "\t"]),
    atoms,
    atoms,
    st.sampled_from([">", "", ">>"]),
    st.sampled_from(["", " SIZE=100", "\tBODY=8BITMIME", "x", " ", "  A=1 B"]),
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(paths, st.text(max_size=40)))
def test_paths_read_as_aiosmtpd_reads_them(arg: str) -> None:
    """The same answer; where aiosmtpd's parser raises (IndexError, AttributeError on some
    malformed paths, which the session would answer with a 451), a malformed path."""
    try:
        expected = STOCK._getaddr(arg)
    except Exception:  # noqa: BLE001
        expected = (None, None)
    assert OURS._getaddr(arg) == expected


def test_the_limit_of_a_local_part_holds() -> None:
    OURS.local_part_limit = 64
    try:
        assert OURS._getaddr("<" + "a" * 65 + "@b.c>") == (None, None)
        assert OURS._getaddr("<" + "a" * 64 + "@b.c>") == ("a" * 64 + "@b.c", "")
    finally:
        OURS.local_part_limit = 0


class Clock:
    t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_the_rate_per_address() -> None:
    clock = Clock()
    s = SmtpSettings(
        rate=RateLimit(messages=3, seconds=60, connections=2), rate_exempt=("10.0.0.0/8",)
    )
    limiter = RateLimiter(s, clock)
    assert [limiter.message("192.0.2.1") for _ in range(4)] == [True, True, True, False]
    assert limiter.message("192.0.2.2")  # another address has its own
    assert all(limiter.message("10.1.2.3") for _ in range(10))  # exempt
    clock.t += 61
    assert limiter.message("192.0.2.1")  # the window moved on
    assert limiter.connect("192.0.2.1") and limiter.connect("192.0.2.1")
    assert not limiter.connect("192.0.2.1")
    limiter.disconnect("192.0.2.1")
    assert limiter.connect("192.0.2.1")
    limiter.forget_idle()
    assert not limiter.limited("10.9.9.9") and limiter.limited("not an address")


def test_an_error_of_ours_is_451_not_aiosmtpd_500() -> None:
    """A fault no peer can cause: our DATA handler raising (a bug). aiosmtpd would answer
    500 (a bounce of an alarm); the listener answers 451 and the session goes on. The
    handler here is made to fail on purpose; everything else is the real listener."""
    import smtplib
    import threading

    async def broken(session: Any, envelope: Any) -> str:
        raise RuntimeError("a bug of ours")

    s = SmtpSettings(recipients=("110@alarm.example.cn",))
    limiter = RateLimiter(s, Clock())
    handler = Handler(s, limiter, broken)
    loop = asyncio.new_event_loop()
    ports: list[int] = []
    ready = threading.Event()

    def run() -> None:  # a loop of its own in a thread (the test's own one runs already)
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(
            loop.create_server(lambda: Server(handler, limiter, loop=loop), "127.0.0.1", 0)
        )
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    port = ports[0]
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
            c.ehlo("client.example.com")
            c.mail("a@example.com")
            c.rcpt("110@alarm.example.cn")
            code, answer = c.data(b"Subject: x\r\n\r\nbody\r\n")
            assert code == 451, answer
            assert c.noop()[0] == 250  # the session goes on
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
