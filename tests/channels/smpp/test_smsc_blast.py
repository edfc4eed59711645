"""The SMSC peer's `blast` command (tests/peers/smsc: the npm `smpp` server, scripted) against
the baseline ESME of bench/sms_baseline.py: every message answered within the window, the
rate limit honoured, error statuses counted. Skips unless the peer is installed
(scripts/install-peers); ALARMGW_REQUIRE_SMSC=1 turns the skip into a failure."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bench.sms_baseline import blast, run_baseline
from tests.peers.smsc import HOST, Smsc, peer_or_skip

SYSTEM_ID = "alarmgw"
PASSWORD = "s3cret"
ESME_RX_T_APPN = 0x64


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with peer_or_skip(SYSTEM_ID, PASSWORD) as peer:
        yield peer


@pytest.fixture
def esme(smsc: Smsc) -> Iterator[Callable[[int], None]]:
    """Binds the baseline ESME, answering every deliver_sm with the given status."""
    stops: list[Callable[[], None]] = []

    def bind(status: int = 0) -> None:
        _thread, stop = run_baseline(HOST, smsc.port, SYSTEM_ID, PASSWORD, status=status)
        stops.append(stop)
        smsc.wait_event(lambda e: e["event"] == "bind" and e["command_status"] == 0)

    yield bind
    for stop in stops:
        stop()


def test_blast_all_answered_within_window(smsc: Smsc, esme: Callable[[int], None]) -> None:
    esme(0)
    r = blast(smsc, n=2000, window=20, timeout=60)
    assert (r["n"], r["ok"], r["timeouts"], r["statuses"]) == (2000, 2000, 0, {"0": 2000})
    assert 0 < r["p50"] <= r["p90"] <= r["p99"] <= r["max"]
    assert r["rate"] > 0 and r["elapsed_s"] > 0
    # One event for the whole blast, none per message.
    assert not [e for e in smsc.events() if e["event"] == "deliver_sm_resp"]


def test_blast_rate_limit(smsc: Smsc, esme: Callable[[int], None]) -> None:
    esme(0)
    r = blast(smsc, n=500, window=20, rate=500, timeout=30)
    assert (r["ok"], r["timeouts"]) == (500, 0)
    # The last message is due 499/500 s after the first.
    assert r["elapsed_s"] >= 0.9
    assert r["rate"] <= 560


def test_blast_error_status_counted_not_resent(smsc: Smsc, esme: Callable[[int], None]) -> None:
    esme(ESME_RX_T_APPN)
    r = blast(smsc, n=200, window=20, timeout=30)
    assert r["statuses"] == {str(ESME_RX_T_APPN): 200}
    assert (r["ok"], r["timeouts"]) == (0, 0)


def test_blast_session_closed_mid_blast(smsc: Smsc, esme: Callable[[int], None]) -> None:
    esme(0)
    ack = smsc.send({"cmd": "blast", "n": 5000, "window": 20, "rate": 1000})
    smsc.send({"cmd": "drop"})
    r = smsc.wait_event(lambda e: e["event"] == "blast_done" and e["id"] == ack["id"], 3)
    assert r["ok"] + r["timeouts"] == 5000 and r["timeouts"] > 0
