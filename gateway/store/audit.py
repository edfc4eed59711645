"""The append-only event log: each event carries the SHA-256 of the one before.

hash(n) = SHA-256(hash(n-1) ‖ canonical JSON of event n), with hash(0) = 64 zeros.
Editing an event breaks its own hash; deleting one leaves a gap in `seq` and breaks the
next event's `prev_hash`; deleting the newest ones disagrees with `chain_head`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from gateway.store.prepared import Prepared
from gateway.store.tables import chain_head, events

GENESIS = "0" * 64
# Built once: SQLAlchemy then reuses the compiled statement (this is the hot path).

# The fields that are hashed, in the order they are stored.
HASHED = (
    "seq",
    "number",
    "action",
    "actor",
    "at",
    "from_state",
    "to_state",
    "reason",
    "data",
    "drill",
)
INSERT_EVENT = Prepared(events.insert(), keys=["incident_id", *HASHED, "prev_hash", "hash"])


def canonical(fields: dict[str, Any]) -> bytes:
    doc = {k: fields.get(k) for k in HASHED}
    at = doc["at"]
    if isinstance(at, datetime):
        doc["at"] = at.isoformat()
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(fields)).hexdigest()


def chained_row(seq: int, prev_hash: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The events row for `fields` as event number `seq`, chained to `prev_hash`."""
    row = dict(fields, seq=seq)
    return dict(row, prev_hash=prev_hash, hash=chain(prev_hash, row))


@dataclass(frozen=True)
class Problem:
    seq: int
    what: str


def verify(conn: Connection, batch: int = 5000) -> tuple[int, list[Problem]]:
    """Walk the whole chain; return (events checked, problems found)."""
    problems: list[Problem] = []
    prev_seq, prev_hash = 0, GENESIS
    count = 0
    for row in _rows(conn, batch):
        count += 1
        fields = {k: row[k] for k in HASHED}
        if row["seq"] != prev_seq + 1:
            problems.append(
                Problem(row["seq"], f"events {prev_seq + 1}..{row['seq'] - 1} are missing")
            )
        if row["prev_hash"] != prev_hash:
            problems.append(Problem(row["seq"], "prev_hash does not match the event before"))
        if chain(row["prev_hash"], fields) != row["hash"]:
            problems.append(Problem(row["seq"], "content does not match its hash (edited)"))
        prev_seq, prev_hash = row["seq"], row["hash"]
    head = conn.execute(select(chain_head.c.seq, chain_head.c.hash)).first()
    if head is None:
        problems.append(Problem(0, "chain head is missing"))
    elif (head.seq, head.hash) != (prev_seq, prev_hash):
        problems.append(
            Problem(head.seq, f"chain head says seq {head.seq} but the log ends at {prev_seq}")
        )
    return count, problems


def _rows(conn: Connection, batch: int) -> Iterator[dict[str, Any]]:
    last = 0
    while True:
        rows = (
            conn.execute(
                select(events).where(events.c.seq > last).order_by(events.c.seq).limit(batch)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        for r in rows:
            yield dict(r)
        last = rows[-1]["seq"]
