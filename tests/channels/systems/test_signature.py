"""Signature checking, a table of cases: a system's request is taken only with a signature
by one of its secrets over the timestamp and the exact body, inside the window."""

from __future__ import annotations

import pytest

from gateway.channels.systems.signature import Refused, Replays, verify
from gateway.notify.webhook import sign

SECRETS = ("the-current-secret-0001", "the-previous-secret-01")
BODY = b'{"alarm": {"id": "F-1", "content": "\xe8\xb5\xb7\xe7\x81\xab"}}'
NOW = 1_795_685_400  # 2026-11-26T09:30:00Z
WINDOW = 300


def good(ts: int = NOW, body: bytes = BODY, secret: str = SECRETS[0]) -> str:
    return sign(secret, ts, body)


CASES: list[tuple[str, tuple[str, ...] | None, str | None, str | None, bytes, str | None]] = [
    # (name, secrets, timestamp header, signature header, body, refusal or None: taken)
    ("good", SECRETS, str(NOW), good(), BODY, None),
    ("the secret being rotated out", SECRETS, str(NOW), good(secret=SECRETS[1]), BODY, None),
    ("upper-case hex", SECRETS, str(NOW), "sha256=" + good()[7:].upper(), BODY, None),
    ("at the window's old edge", SECRETS, str(NOW - WINDOW), good(NOW - WINDOW), BODY, None),
    ("at the window's new edge", SECRETS, str(NOW + WINDOW), good(NOW + WINDOW), BODY, None),
    ("another secret", SECRETS, str(NOW), good(secret="someone-elses-secret"), BODY,
     "bad_signature"),
    ("a tampered body", SECRETS, str(NOW), good(), BODY.replace(b"F-1", b"F-2"),
     "bad_signature"),
    ("a body with a space more", SECRETS, str(NOW), good(), BODY + b" ", "bad_signature"),
    ("another timestamp than signed", SECRETS, str(NOW + 1), good(), BODY, "bad_signature"),
    ("an unknown system", None, str(NOW), good(), BODY, "unknown_system"),
    ("late", SECRETS, str(NOW - WINDOW - 1), good(NOW - WINDOW - 1), BODY, "late"),
    ("from the future", SECRETS, str(NOW + WINDOW + 1), good(NOW + WINDOW + 1), BODY, "early"),
    ("no timestamp", SECRETS, None, good(), BODY, "no_timestamp"),
    ("no signature", SECRETS, str(NOW), None, BODY, "no_signature"),
    ("milliseconds", SECRETS, str(NOW * 1000), good(NOW * 1000), BODY, "bad_timestamp"),
    ("a century ahead", SECRETS, str(NOW * 2), good(NOW * 2), BODY, "early"),
    ("a leading zero", SECRETS, "0" + str(NOW), good(), BODY, "bad_timestamp"),
    ("a plus sign", SECRETS, "+" + str(NOW), good(), BODY, "bad_timestamp"),
    ("Arabic-Indic digits", SECRETS, "١٧٦٤١٤٩٤٠٠", good(), BODY, "bad_timestamp"),
    ("an ISO time", SECRETS, "2026-11-26T09:30:00Z", good(), BODY, "bad_timestamp"),
    ("no sha256= prefix", SECRETS, str(NOW), good()[7:], BODY, "bad_signature_format"),
    ("sha1", SECRETS, str(NOW), "sha1=" + "0" * 40, BODY, "bad_signature_format"),
    ("short hex", SECRETS, str(NOW), good()[:-2], BODY, "bad_signature_format"),
    ("two signatures", SECRETS, str(NOW), good() + "," + good(), BODY, "bad_signature_format"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("secrets", "timestamp", "signature", "body", "refusal"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_signature(
    secrets: tuple[str, ...] | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    refusal: str | None,
) -> None:
    if refusal is None:
        assert verify(secrets, timestamp, signature, body, NOW, WINDOW) == int(timestamp or 0)
    else:
        with pytest.raises(Refused) as e:
            verify(secrets, timestamp, signature, body, NOW, WINDOW)
        assert e.value.reason == refusal


def test_the_same_signature_may_come_again_only_with_the_same_key() -> None:
    replays = Replays(WINDOW)
    sig = good()
    replays.check(sig, "k1", NOW, NOW)
    replays.check(sig, "k1", NOW, NOW + 10)  # a retry
    with pytest.raises(Refused) as e:
        replays.check(sig, "k2", NOW, NOW + 20)  # captured and sent under a key of its own
    assert e.value.reason == "replayed"
    with pytest.raises(Refused):
        replays.check(sig.upper().replace("SHA256", "sha256"), None, NOW, NOW + 20)
    replays.check(good(NOW + 1), "k2", NOW + 1, NOW + 20)  # another request: its own key


def test_signatures_are_forgotten_when_their_timestamp_leaves_the_window() -> None:
    replays = Replays(WINDOW)
    for i in range(100):
        replays.check(good(NOW + i), f"k{i}", NOW + i, NOW + i)
    replays.check(good(NOW + 200), "k", NOW + 200, NOW + WINDOW + 50)
    assert len(replays._seen) == 51  # those of NOW+50 … NOW+99, and the new one
