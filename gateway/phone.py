"""Phone numbers, the one place that knows their spellings.

`normalise` is the number as the gateway keys it (`correlate.sender_key`, the SMS channel's
senders and duty phones), so that a call, an SMS, a web report and a CLI report from one
phone correlate however it was written. `looks_like_phone` is the shape a number typed by a
person must have (the web channel, the CLI); other channels file what their peer says, e.g.
a withheld caller as `anonymous-<linkedid>`, which `normalise` leaves as it is.
"""

from __future__ import annotations

import re

# Digits with an optional leading +, and the separators people type: spaces, dashes, dots,
# parentheses.
_SHAPE = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = re.compile(r"[ ().\-]")
MIN_DIGITS, MAX_DIGITS = 3, 20
# China's country code, as an SMSC, a carrier trunk or a person writes it.
_COUNTRY = ("+86", "0086", "86")


# The same as a JSON Schema pattern (for the documents that describe a phone field).
PATTERN = r"^\+?(?=(?:[^0-9]*[0-9]){3,20}[^0-9]*$)[0-9 ().\-]+$"

NOT_A_PHONE = (
    "not a phone number (digits, an optional leading +, spaces, dashes, dots or parentheses; "
    "3 to 20 digits)"
)


def looks_like_phone(value: str) -> bool:
    """Digits, an optional leading ``+`` and separators (a space among them), with 3 to 20
    digits: exactly what `PATTERN` says."""
    if value.isascii() and value.isdigit():  # the usual case, a bare number: no regex
        return MIN_DIGITS <= len(value) <= MAX_DIGITS
    digits = sum(map(str.isdigit, value))
    return _SHAPE.fullmatch(value) is not None and MIN_DIGITS <= digits <= MAX_DIGITS


def normalise(value: str) -> str:
    """``+86 139-1111-2222`` → ``13911112222``: separators dropped, and +86/0086/86 before an
    11-digit mobile number (starting with 1) too. What does not look like a phone number
    is returned unchanged."""
    if not looks_like_phone(value):
        return value
    number = value if value.isdigit() else _SEPARATORS.sub("", value.strip())
    for prefix in _COUNTRY:
        rest = number[len(prefix) :]
        if number.startswith(prefix) and len(rest) == 11 and rest.startswith("1"):
            return rest
    return number
