"""What the channels call: the registry as the alarm-panel (SIA DC-09 / Contact ID) and the
vehicle-terminal (JT/T 808) channels read and update it. Plain functions over a SQLAlchemy
`Connection` (``ctx.read(fn, …)`` gives one; in ``ctx.write(fn, …)`` it is ``wctx.conn``),
no Twisted; none of them commits.

**Caches.** A channel looks targets up in memory, for every frame, on the reactor thread
(`find_premises` over a dict it keeps), and refreshes the dict from a reader thread:

    changed = premises_changed(conn, since)   # all when since is None
    since = max(p.updated_at for p in changed) - REFRESH_OVERLAP   (keep the old one if none)

`updated_at` is taken before the writing transaction commits, so a row may become visible
with an `updated_at` a little older than rows seen before it: ask again from a little
earlier (`REFRESH_OVERLAP`); a row seen twice is the same row. Deletions do not show as
changes: drop the cached targets whose id is no longer in `premises_ids` /
`vehicle_ids` now and then (a few thousand integers). A premises' key (account, receiver,
line) never changes under its id, nor a vehicle's terminal.

**What the channels record** (`mark_seen`, `record_positions`, `touch_vehicles`,
`mark_fault_reported`) never changes `updated_at`, so it reloads no cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Interval,
    RowMapping,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    update,
)

from gateway.store.prepared import Prepared
from gateway.store.tables import UTCDateTime
from gateway.targets.fields import KIND_NAMES_ZH, normalise_terminal, normalise_zone
from gateway.targets.tables import premises, vehicles

__all__ = [
    "KIND_NAMES_ZH",
    "REFRESH_OVERLAP",
    "Mirror",
    "PositionUpdate",
    "Premises",
    "Vehicle",
    "find_premises",
    "mark_fault_reported",
    "mark_seen",
    "overdue_premises",
    "premises_changed",
    "premises_ids",
    "premises_key",
    "record_positions",
    "touch_vehicles",
    "vehicle_ids",
    "vehicles_changed",
    "zone_name",
]

#: How far back a cache refresh asks again (see the module's docstring).
REFRESH_OVERLAP = timedelta(seconds=60)
FULL_READ_S = 300.0  # a mirror reads its table in full this often: deletions are seen then


class _Row(Protocol):
    @property
    def updated_at(self) -> datetime: ...


K = TypeVar("K")
R = TypeVar("R", bound=_Row)


class Mirror(Generic[K, R]):
    """A channel's copy in memory of one registry table (a lookup per frame must cost
    nothing): `since(now_s)` says what to read with the table's `*_changed` — None, the
    whole table, at first and every `full_read_s` (deletions are only seen so) — and
    `apply` takes what was read."""

    def __init__(self, key: Callable[[R], K], full_read_s: float = FULL_READ_S) -> None:
        self.key = key
        self.full_read_s = full_read_s
        self.items: dict[K, R] = {}
        self._latest: datetime | None = None
        self._full_at: float | None = None

    def since(self, now_s: float) -> datetime | None:
        if self._full_at is None or now_s - self._full_at >= self.full_read_s:
            return None
        # updated_at is set before its transaction commits: read back with an overlap.
        return self._latest - REFRESH_OVERLAP if self._latest is not None else None

    def apply(self, rows: Sequence[R], since: datetime | None, now_s: float) -> None:
        if since is None:
            self.items, self._full_at = {}, now_s
        for row in rows:
            self.items[self.key(row)] = row
            if self._latest is None or row.updated_at > self._latest:
                self._latest = row.updated_at


@dataclass(frozen=True, slots=True)
class Premises:
    """A fixed target. `aes_key` set: the panel encrypts (DC-09 §5.4), and a message from
    it in the clear must be refused, never taken. `last_seen_at` is as of the read: a
    panel's signals do not refresh the copies in a cache."""

    id: int
    account: str  # upper-case hex
    receiver: str  # '' = any receiver
    line: str  # '' = any line (account prefix)
    name: str
    address: str
    lat: float | None
    lon: float | None
    unit: str
    phones: tuple[str, ...]
    zones: Mapping[str, str]  # zone number without leading zeros → name
    aes_key: bytes | None
    supervision_s: int | None
    updated_at: datetime
    created_at: datetime
    last_seen_at: datetime | None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account, self.receiver, self.line)


@dataclass(frozen=True, slots=True)
class Vehicle:
    """A mobile target, by its JT/T 808 terminal phone number (no leading zeros)."""

    id: int
    terminal: str
    plate: str | None
    plate_color: int | None  # JT/T 697.7: 1 蓝 2 黄 3 黑 4 白 5 绿 9 其他
    kind: str  # a key of KIND_NAMES_ZH
    company: str
    unit: str | None
    phones: tuple[str, ...]
    updated_at: datetime

    @property
    def kind_name(self) -> str:
        return KIND_NAMES_ZH.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """One JT/T 808 location report (0x0200, or one of a 0x0704 batch)."""

    terminal: str  # its digits; leading zeros are stripped here
    lat: float
    lon: float
    speed_kmh: float
    heading: int  # 0-359, clockwise from north
    fix_at: datetime  # the terminal's GNSS time (aware)
    seen_at: datetime  # when the gateway received it (aware)
    alarm_flags: int  # the alarm word (DWORD)


def premises_key(
    account: str, receiver: str | None = "", line: str | None = ""
) -> tuple[str, str, str]:
    """The cache key as the registry spells it: upper-case hex, '' for none."""
    return (account.upper(), (receiver or "").upper(), (line or "").upper())


# -- the caches ---------------------------------------------------------------------------------


def _premises(row: RowMapping) -> Premises:
    key = row["aes_key"]
    return Premises(
        id=row["id"],
        account=row["account"],
        receiver=row["receiver"],
        line=row["line"],
        name=row["name"],
        address=row["address"],
        lat=row["lat"],
        lon=row["lon"],
        unit=row["unit"],
        phones=tuple(row["phones"]),
        zones=dict(row["zones"]),
        aes_key=bytes.fromhex(key) if key else None,
        supervision_s=row["supervision_s"],
        updated_at=row["updated_at"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


def _vehicle(row: RowMapping) -> Vehicle:
    return Vehicle(
        id=row["id"],
        terminal=row["terminal"],
        plate=row["plate"],
        plate_color=row["plate_color"],
        kind=row["kind"],
        company=row["company"],
        unit=row["unit"],
        phones=tuple(row["phones"]),
        updated_at=row["updated_at"],
    )


def premises_changed(conn: Connection, since: datetime | None) -> list[Premises]:
    """Every premises when `since` is None, else those changed after it; oldest change first."""
    q = select(premises).order_by(premises.c.updated_at, premises.c.id)
    if since is not None:
        q = q.where(premises.c.updated_at > since)
    return [_premises(row) for row in conn.execute(q).mappings()]


def vehicles_changed(conn: Connection, since: datetime | None) -> list[Vehicle]:
    """Every vehicle when `since` is None, else those changed after it; oldest change first."""
    q = select(vehicles).order_by(vehicles.c.updated_at, vehicles.c.id)
    if since is not None:
        q = q.where(vehicles.c.updated_at > since)
    return [_vehicle(row) for row in conn.execute(q).mappings()]


def premises_ids(conn: Connection) -> frozenset[int]:
    """The ids of every registered premises (to drop deleted ones from a cache)."""
    return frozenset(conn.execute(select(premises.c.id)).scalars())


def vehicle_ids(conn: Connection) -> frozenset[int]:
    return frozenset(conn.execute(select(vehicles.c.id)).scalars())


def find_premises(
    cache: Mapping[tuple[str, str, str], Premises],
    account: str,
    receiver: str | None,
    line: str | None,
) -> Premises | None:
    """The premises a signal from `account` (at `receiver`, on `line`) comes from, by the
    most specific registration: exactly (account, receiver, line); then (account, any
    receiver, line); then (account, receiver, any line); then (account, any, any).

    The line (DC-09's account prefix, Lpref) comes before the receiver because it is what
    partitions the account numbers: two alarm companies may both have an account 1234, on
    different lines, while the receiver number says which receiver took the call. A
    registration with a receiver or a line never matches a signal without one.
    `cache` is keyed by `Premises.key` (upper-case); the arguments may be in any case."""
    account, receiver, line = premises_key(account, receiver, line)
    for key in (
        (account, receiver, line),
        (account, "", line),
        (account, receiver, ""),
        (account, "", ""),
    ):
        found = cache.get(key)
        if found is not None:
            return found
    return None


def zone_name(p: Premises, zone: str | None) -> str | None:
    """The registered name of a zone (``"001"`` and ``"1"`` are the same zone), or None."""
    if zone is None or not zone.strip().isdigit():
        return None
    return p.zones.get(normalise_zone(zone.strip()))


# -- what the panels say: supervision --------------------------------------------------------------

_WHEN = bindparam("p_when", type_=UTCDateTime)
# Out-of-order batches must not move a panel back in time: only a later signal counts.
_MARK_SEEN = Prepared(
    update(premises)
    .where(
        premises.c.id == bindparam("p_id"),
        or_(premises.c.last_seen_at.is_(None), premises.c.last_seen_at < _WHEN),
    )
    .values(last_seen_at=_WHEN, last_signal=bindparam("p_signal"), fault_reported_at=null())
)


def mark_seen(conn: Connection, items: Sequence[tuple[int, datetime, str]]) -> list[int]:
    """Record that premises (id) were heard at `when` with `signal` (e.g. "NULL", "RP",
    "BA"; cut to 32 characters): one SELECT and one executemany. A later signal clears
    `fault_reported_at`; returns the ids whose comm fault this call cleared (a channel may
    file the restoral), each once even across nodes (the rows are locked on PostgreSQL)."""
    if not items:
        return []
    latest: dict[int, datetime] = {}
    for premises_id, when, _ in items:
        if premises_id not in latest or when > latest[premises_id]:
            latest[premises_id] = when
    # Rows are locked in id order, by every node alike: two nodes' batches wait for each
    # other rather than deadlock.
    faulted = conn.execute(
        select(premises.c.id, premises.c.last_seen_at)
        .where(premises.c.id.in_(sorted(latest)), premises.c.fault_reported_at.is_not(None))
        .order_by(premises.c.id)
        .with_for_update()
    ).all()
    _MARK_SEEN.executemany(
        conn,
        (
            {"p_id": i, "p_when": when, "p_signal": signal[:32]}
            for i, when, signal in sorted(items, key=lambda item: (item[0], item[1]))
        ),
    )
    return [i for i, seen in faulted if seen is None or seen < latest[i]]


def _silent_for_its_window(dialect: str, now: datetime) -> ColumnElement[bool]:
    """Heard last (or, never heard, registered) longer than its supervision window ago."""
    since = func.coalesce(premises.c.last_seen_at, premises.c.created_at)
    at = bindparam("p_now", now, type_=UTCDateTime)
    if dialect == "sqlite":  # datetimes are text there: compare as Julian days
        window = premises.c.supervision_s / literal_column("86400.0", Float)
        return func.julianday(since) + window < func.julianday(at)
    return since + premises.c.supervision_s * literal_column("INTERVAL '1 second'", Interval) < at


def _overdue(dialect: str, now: datetime) -> ColumnElement[bool]:
    return and_(
        premises.c.supervision_s.is_not(None),
        premises.c.fault_reported_at.is_(None),
        _silent_for_its_window(dialect, now),
    )


def overdue_premises(conn: Connection, now: datetime, limit: int) -> list[Premises]:
    """Supervised premises silent for longer than their window (never heard: since they
    were registered) whose fault is not reported yet; the longest silent first."""
    since = func.coalesce(premises.c.last_seen_at, premises.c.created_at)
    q = (
        select(premises)
        .where(_overdue(conn.dialect.name, now))
        .order_by(since, premises.c.id)
        .limit(limit)
    )
    return [_premises(row) for row in conn.execute(q).mappings()]


def mark_fault_reported(conn: Connection, premises_id: int, now: datetime) -> bool:
    """Take the reporting of a premises' comm fault: True for the one call (on any node)
    that set `fault_reported_at`, and only while the premises is still overdue (a signal
    that came in meanwhile leaves it alone)."""
    q = (
        update(premises)
        .where(premises.c.id == premises_id, _overdue(conn.dialect.name, now))
        .values(fault_reported_at=now)
    )
    return bool(conn.execute(q).rowcount == 1)


# -- what the terminals say: positions and heartbeats --------------------------------------------


def _param(name: str, type_: Any) -> Any:
    return bindparam(f"p_{name}", type_=type_)


_FIX_AT = _param("fix_at", UTCDateTime)
_SEEN_AT = _param("seen_at", UTCDateTime)
# A 0x0704 batch carries positions a terminal kept while it had no network: older than
# the one stored, they must not replace it (nor its alarm word), though they count as seen.
_NEWER_FIX = or_(vehicles.c.last_fix_at.is_(None), vehicles.c.last_fix_at <= _FIX_AT)
_LATER_SEEN = or_(vehicles.c.last_seen_at.is_(None), vehicles.c.last_seen_at < _SEEN_AT)


def _if_newer(column: Any, value: Any) -> Any:
    return case((_NEWER_FIX, value), else_=column)


_RECORD_POSITIONS = Prepared(
    update(vehicles)
    .where(vehicles.c.terminal == _param("terminal", vehicles.c.terminal.type))
    .values(
        last_lat=_if_newer(vehicles.c.last_lat, _param("lat", Float)),
        last_lon=_if_newer(vehicles.c.last_lon, _param("lon", Float)),
        last_speed_kmh=_if_newer(vehicles.c.last_speed_kmh, _param("speed_kmh", Float)),
        last_heading=_if_newer(vehicles.c.last_heading, _param("heading", Integer)),
        alarm_flags=_if_newer(
            vehicles.c.alarm_flags, _param("alarm_flags", vehicles.c.alarm_flags.type)
        ),
        last_fix_at=_if_newer(vehicles.c.last_fix_at, _FIX_AT),
        last_seen_at=case((_LATER_SEEN, _SEEN_AT), else_=vehicles.c.last_seen_at),
    )
)
_TOUCH_VEHICLES = Prepared(
    update(vehicles)
    .where(vehicles.c.terminal == _param("terminal", vehicles.c.terminal.type), _LATER_SEEN)
    .values(last_seen_at=_SEEN_AT)
)


def record_positions(conn: Connection, items: Sequence[PositionUpdate]) -> None:
    """The latest position of each vehicle: one executemany UPDATE by terminal, on the
    DBAPI cursor (`gateway.store.prepared`). A terminal not in the registry is not
    updated; an older fix than the stored one only counts as seen."""
    if not items:
        return
    # In one order on every node (the rows' locks): by terminal.
    ordered = sorted(items, key=lambda u: normalise_terminal(u.terminal))
    rows = [
        {
            "p_terminal": normalise_terminal(u.terminal),
            "p_lat": u.lat,
            "p_lon": u.lon,
            "p_speed_kmh": u.speed_kmh,
            "p_heading": u.heading,
            "p_alarm_flags": u.alarm_flags,
            "p_fix_at": u.fix_at,
            "p_seen_at": u.seen_at,
        }
        for u in ordered
    ]
    _RECORD_POSITIONS.executemany(conn, rows)


def touch_vehicles(conn: Connection, items: Sequence[tuple[str, datetime]]) -> None:
    """Heartbeats (0x0002) and anything else a terminal says: `last_seen_at` by terminal."""
    if not items:
        return
    _TOUCH_VEHICLES.executemany(
        conn,
        [
            {"p_terminal": terminal, "p_seen_at": when}
            for terminal, when in sorted((normalise_terminal(t), w) for t, w in items)
        ],
    )
