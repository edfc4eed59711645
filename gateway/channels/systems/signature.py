"""Is a request really from the system it names, and fresh? The scheme is the one the
gateway signs its own webhooks with (`gateway.notify.webhook.sign`): HMAC-SHA256 (RFC 2104)
by the system's secret over ``"<timestamp>." + body``, sent as

    X-Alarmgw-Timestamp: 1764149400            (Unix seconds)
    X-Alarmgw-Signature: sha256=<64 hex digits>

The timestamp is signed with the body, so a captured request cannot be given a new time:
replayed later than the window it is refused; replayed inside it, its idempotency key gives
back the first receipt."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence

from gateway.notify.webhook import sign

TIMESTAMP = "X-Alarmgw-Timestamp"
SIGNATURE = "X-Alarmgw-Signature"
# As `sign` writes it: no sign, no leading zero (int() would also take "+1", "01", "١").
_TIMESTAMP = re.compile(r"0|[1-9][0-9]{0,11}", re.ASCII)
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})", re.ASCII)
# Checked for a system that does not exist, so that it costs the same as one that does.
_NOBODY = ("\x00" * 32,)


class Refused(Exception):
    """Not from the system, or not fresh: HTTP 401, nothing read of the body.

    `reason` is a metric label and a log field: unknown_system, no_timestamp, no_signature,
    bad_timestamp, bad_signature_format, bad_signature, late, early."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(
    secrets: Sequence[str] | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    window_s: int,
) -> int:
    """The request's timestamp, if `signature` is one of `secrets`' over it and `body` and
    the timestamp is within `window_s` of `now`; else `Refused`. ``secrets=None``: an
    unknown system (refused like a bad signature, after the same work)."""
    if timestamp is None:
        raise Refused("no_timestamp")
    if signature is None:
        raise Refused("no_signature")
    if not _TIMESTAMP.fullmatch(timestamp.strip()):
        raise Refused("bad_timestamp")
    sent = _SIGNATURE.fullmatch(signature.strip())
    if sent is None:
        raise Refused("bad_signature_format")
    ts = int(timestamp.strip())
    given = "sha256=" + sent[1].lower()
    # Every secret is tried (no early exit): the time taken says nothing of which matched.
    matched = False
    for secret in secrets or _NOBODY:
        matched |= hmac.compare_digest(sign(secret, ts, body), given)
    if secrets is None:
        raise Refused("unknown_system")
    if not matched:
        raise Refused("bad_signature")
    # Checked after the signature: a "late" in the log is a genuine request that is old (a
    # replay, or a clock that is off), not anybody's guess.
    if ts < now - window_s:
        raise Refused("late")
    if ts > now + window_s:
        raise Refused("early")
    return ts


class Replays:
    """The signatures verified inside the window, each with the Idempotency-Key it came
    with. That header is not signed: a captured request sent again inside the window under
    a key of the sender's choosing would store the alarm a second time. Held in memory (a
    restart, or another node, forgets them: a body key, which is signed, has no such gap)."""

    def __init__(self, window_s: int) -> None:
        self.window_s = window_s
        self._seen: dict[str, tuple[str | None, int]] = {}  # signature → (key, expiry)

    def check(self, signature: str, key: str | None, timestamp: int, now: float) -> None:
        """Remember `signature` with `key`; `Refused("replayed")` if it came with another."""
        while self._seen:  # roughly in timestamp order: stop at the first still fresh
            oldest = next(iter(self._seen))
            if self._seen[oldest][1] >= now:
                break
            del self._seen[oldest]
        sig = signature.strip().lower()
        seen = self._seen.get(sig)
        if seen is not None and seen[0] != key:
            raise Refused("replayed")
        self._seen[sig] = (key, timestamp + self.window_s)
