"""Reassembling concatenated SMS. Pure, no I/O, no clock: the caller passes the time in.

The caller turns each part into a `Part`, whether the reference came from a UDH
(`text.parse_udh`) or from the sar_msg_ref_num/sar_total_segments/sar_segment_seqnum TLVs,
and feeds it to `Reassembler.add`, which returns the `Complete` message when its last part
arrives (in any order). Parts of one message share (source, dest, ref, total). A repeated
seq is ignored (the first one wins) but counted in `parts_seen`.

`Reassembler.expire` must be called regularly: it returns as `Incomplete` the messages
whose first part came `timeout` seconds ago or more, and those evicted because more than
`max_groups` messages were waiting (`add` evicts the oldest, which `expire` then returns).

An `Incomplete` text marks each missing part as ``[…缺第N段…]`` and each part that came but
could not be decoded (`Part.text` None) as ``[…第N段无法解码…]``, N the 1-based seq, in
the place of that part; nothing else separates the parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Reason = Literal["timeout", "evicted", "superseded"]
MISSING_MARK = "[…缺第{seq}段…]"
UNDECODABLE_MARK = "[…第{seq}段无法解码…]"


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a concatenated message: `seq` (1-based) of `total`; `text` the decoded
    payload (None if binary or undecodable) and `raw` the payload octets without the UDH."""

    source: str
    dest: str
    ref: int
    total: int
    seq: int
    text: str | None
    raw: bytes
    received_at: datetime
    data_coding: int = 0  # of `raw` (the parts of one message share it)


@dataclass(frozen=True, slots=True)
class Complete:
    """A message with all its parts. `text` is None if a part's text is: the caller may then
    decode `raw` (all payloads joined), which also mends a surrogate pair another sender
    split across parts."""

    source: str
    dest: str
    ref: int
    total: int
    text: str | None
    raw: bytes
    received_at: tuple[datetime, ...]  # of each part, in seq order
    parts_seen: int  # parts added, duplicates included
    parts: tuple[Part, ...]  # in seq order


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A message given up on (`reason` timeout or evicted), with the parts that came and the
    seqs that did not; `text` has a marker in place of each missing or undecodable part."""

    source: str
    dest: str
    ref: int
    total: int
    text: str
    missing: tuple[int, ...]
    received_at: tuple[datetime, ...]  # of each part that came, in seq order
    parts_seen: int
    parts: tuple[Part, ...]  # those that came, in seq order
    reason: Reason


_Key = tuple[str, str, int, int]


@dataclass(slots=True)
class _Group:
    first_at: float
    parts: dict[int, Part] = field(default_factory=dict)
    seen: int = 0


class Reassembler:
    """Concatenated messages waiting for their parts: at most `max_groups` at once."""

    def __init__(self, timeout: float = 60.0, max_groups: int = 10_000) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if max_groups < 1:
            raise ValueError(f"max_groups must be at least 1, not {max_groups}")
        self.timeout = timeout
        self.max_groups = max_groups
        self._groups: dict[_Key, _Group] = {}  # in order of first part
        self._evicted: list[Incomplete] = []

    def add(self, part: Part, now: float) -> Complete | None:
        """Add a part (`now` in seconds, any monotonic clock); the whole message if it was
        the last one missing. ValueError if seq is not 1 to total."""
        if not 1 <= part.seq <= part.total:
            raise ValueError(f"part {part.seq} of {part.total} is not a part")
        key = (part.source, part.dest, part.ref, part.total)
        group = self._groups.get(key)
        if group is None:
            while len(self._groups) >= self.max_groups:
                oldest = next(iter(self._groups))
                self._evicted.append(_incomplete(oldest, self._groups.pop(oldest), "evicted"))
            group = self._groups[key] = _Group(first_at=now)
        group.seen += 1
        group.parts.setdefault(part.seq, part)
        if len(group.parts) < part.total:
            return None
        del self._groups[key]
        parts = tuple(group.parts[s] for s in range(1, part.total + 1))
        texts = [p.text for p in parts]
        return Complete(
            source=part.source,
            dest=part.dest,
            ref=part.ref,
            total=part.total,
            text=None if None in texts else "".join(t or "" for t in texts),
            raw=b"".join(p.raw for p in parts),
            received_at=tuple(p.received_at for p in parts),
            parts_seen=group.seen,
            parts=parts,
        )

    def expire(self, now: float) -> list[Incomplete]:
        """Messages evicted since the last call, then those whose first part came `timeout`
        seconds or more before `now`, oldest first; they are forgotten."""
        out, self._evicted = self._evicted, []
        old = [k for k, g in self._groups.items() if now - g.first_at >= self.timeout]
        out.extend(_incomplete(k, self._groups.pop(k), "timeout") for k in old)
        return out

    def take(self, source: str, dest: str, ref: int, total: int) -> Incomplete | None:
        """Give up on one message now (its reference was reused by another, say): what
        came of it, as `Incomplete` (reason "superseded"), or None if nothing waits."""
        group = self._groups.pop((source, dest, ref, total), None)
        return (
            None if group is None else _incomplete((source, dest, ref, total), group, "superseded")
        )

    def pending(self) -> int:
        """Messages waiting for parts."""
        return len(self._groups)


def _incomplete(key: _Key, group: _Group, reason: Reason) -> Incomplete:
    source, dest, ref, total = key
    pieces: list[str] = []
    for seq in range(1, total + 1):
        part = group.parts.get(seq)
        if part is None:
            pieces.append(MISSING_MARK.format(seq=seq))
        elif part.text is None:
            pieces.append(UNDECODABLE_MARK.format(seq=seq))
        else:
            pieces.append(part.text)
    parts = tuple(group.parts[s] for s in sorted(group.parts))
    return Incomplete(
        source=source,
        dest=dest,
        ref=ref,
        total=total,
        text="".join(pieces),
        missing=tuple(s for s in range(1, total + 1) if s not in group.parts),
        received_at=tuple(p.received_at for p in parts),
        parts_seen=group.seen,
        parts=parts,
        reason=reason,
    )
