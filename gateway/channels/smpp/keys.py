"""The idempotency key of an SMS: what makes an SMSC's redelivery the same report.

An SMSC redelivers a deliver_sm it got no ESME_ROK for (our temporary error, a dropped
bind, a lost response). SMPP gives the message no stable id on the way in, so the gateway
makes one from what a redelivery repeats exactly:

- the source address (the citizen's number) and the destination (e.g. 12110), both as
  received, without normalisation (a redelivery repeats them byte for byte);
- the data_coding and the message octets (short_message, or message_payload), all parts
  of a concatenated message in order, *without* their UDH: so a redelivery matches whether
  the SMSC resends the parts or reassembled them itself;
- the concatenation reference and part count when there are parts (a citizen who types the
  same long text again gets a new reference from the handset: a new alarm);

hashed (SHA-256, first 128 bits, hex). That **content key** is not yet the external id: the
same short text ("救命") sent again an hour later is a new alarm. The external id is
``sms:<content key>@<first arrival, epoch seconds>``: a message whose content key was
stored within the redelivery window (default 24 h, an SMSC's usual validity period) takes
that message's external id, so intake answers with the first receipt and stores nothing;
one outside the window is a new report. `external_id` decides, given the earlier arrivals
the store knows for that content key.

Two limits keep that from swallowing a real alarm (`intake.SmsIntake.resolve`): an
identical SMS is folded only while the first one's incident is still open (after it is
closed the same words are a new alarm), and one folded more than a minute after the first
arrival puts an ``sms_repeat`` event on the incident, so the call-taker sees that the
citizen (or the SMSC) sent it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

PREFIX = "sms:"
DEFAULT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Concatenation:
    ref: int
    total: int


def content_key(
    source: str,
    dest: str,
    data_coding: int,
    parts: Sequence[bytes],
    concat: Concatenation | None = None,
) -> str:
    """128 bits of SHA-256 over what an SMSC's redelivery repeats exactly."""
    h = hashlib.sha256()
    for field in (source.encode("utf-8"), dest.encode("utf-8"), bytes([data_coding & 0xFF])):
        h.update(len(field).to_bytes(4, "big") + field)
    marker = f"{concat.ref}/{concat.total}" if concat is not None else "-"
    h.update(marker.encode("ascii"))
    h.update(len(parts).to_bytes(4, "big"))
    for part in parts:
        h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest()[:32]


def external_id(
    key: str,
    arrived: datetime,
    earlier: Iterable[str],
    window: timedelta = DEFAULT_WINDOW,
) -> str:
    """The report's external id: an earlier one with this content key whose first arrival
    lies within `window` before `arrived` (the latest such), else a new one.

    `earlier` are external ids the store holds that start with ``sms:<key>@``."""
    best: tuple[float, str] | None = None
    for candidate in earlier:
        stamp = first_arrival(candidate, key)
        if stamp is None:
            continue
        age = arrived.timestamp() - stamp
        if 0 <= age <= window.total_seconds() or -60 <= age < 0:  # 60 s of clock skew
            if best is None or stamp > best[0]:
                best = (stamp, candidate)
    if best is not None:
        return best[1]
    return f"{PREFIX}{key}@{int(arrived.timestamp())}"


def first_arrival(external: str, key: str) -> float | None:
    """The epoch seconds an external id of this content key was first seen, or None."""
    parsed = parse(external)
    if parsed is None or parsed[0] != key:
        return None
    return float(parsed[1])


def parse(external: str) -> tuple[str, int] | None:
    """(content key, first arrival) of an SMS external id, or None if it is not one."""
    if not external.startswith(PREFIX) or "@" not in external:
        return None
    key, _, stamp = external[len(PREFIX) :].partition("@")
    if len(key) != 32 or not stamp.isdigit():
        return None
    return key, int(stamp)


def id_range(key: str) -> tuple[str, str]:
    """For the store's lookup: the external ids of this content key are those in
    ``[lo, hi)`` ("@" is followed by "A" in ASCII, and the key is 32 hex digits, so no other
    key's ids fall between). A range, unlike ``LIKE 'sms:<key>@%'``, uses the unique
    (channel, external_id) index on SQLite and PostgreSQL alike."""
    return f"{PREFIX}{key}@", f"{PREFIX}{key}A"
