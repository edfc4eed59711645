"""The registry as administrators change it: upserts keyed on what the signals name (a
premises' account, receiver and line; a vehicle's terminal), look-ups, deletion, and the
API's documents. Plain functions over a Connection, inside the caller's transaction.

An upsert compares each target with what is stored and writes only what changed, so
importing the same file twice leaves `updated_at` (which the channels' caches follow)
alone. It never touches what the channels record (`last_*`, `fault_reported_at`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, RowMapping, bindparam, delete, insert, select, update

from gateway.report import format_utc
from gateway.targets.fields import KIND_NAMES_ZH, PremisesFields, VehicleFields
from gateway.targets.tables import premises, vehicles

Outcome = Literal["new", "updated", "unchanged"]
T = TypeVar("T")

#: Keys per look-up of the stored rows (well under every backend's bound-parameter limit).
CHUNK = 500
#: The most a list of the API gives at once.
MAX_LIST = 1000

_PREMISES_FIELDS = ("name", "address", "lat", "lon", "unit", "phones", "zones", "aes_key",
                    "supervision_s")  # fmt: skip
_VEHICLE_FIELDS = ("plate", "plate_color", "kind", "company", "unit", "phones")

_UPDATE_PREMISES = (
    update(premises)
    .where(premises.c.id == bindparam("p_id"))
    .values({name: bindparam(f"p_{name}") for name in (*_PREMISES_FIELDS, "updated_at")})
)
_UPDATE_VEHICLE = (
    update(vehicles)
    .where(vehicles.c.id == bindparam("p_id"))
    .values({name: bindparam(f"p_{name}") for name in (*_VEHICLE_FIELDS, "updated_at")})
)


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _premises_values(item: PremisesFields, stored: RowMapping | None) -> dict[str, Any]:
    key = stored["aes_key"] if item.keep_key and stored is not None else item.aes_key
    return {
        "name": item.name,
        "address": item.address,
        "lat": item.lat,
        "lon": item.lon,
        "unit": item.unit,
        "phones": list(item.phones),
        "zones": dict(item.zones),
        "aes_key": key,
        "supervision_s": item.supervision_s,
    }


def _vehicle_values(item: VehicleFields) -> dict[str, Any]:
    return {
        "plate": item.plate,
        "plate_color": item.plate_color,
        "kind": item.kind,
        "company": item.company,
        "unit": item.unit,
        "phones": list(item.phones),
    }


def _changed(values: dict[str, Any], stored: RowMapping) -> bool:
    return any(values[name] != stored[name] for name in values)


def upsert_premises(
    conn: Connection, items: Sequence[PremisesFields], now: datetime, *, write: bool = True
) -> list[Outcome]:
    """Each item's outcome, in order; with `write=False` nothing is written (a dry run)."""
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError("the same premises twice in one upsert")
    stored: dict[tuple[str, str, str], RowMapping] = {}
    accounts = sorted({item.account for item in items})
    for chunk in _chunks(accounts):
        q = select(premises).where(premises.c.account.in_(chunk))
        for found in conn.execute(q).mappings():
            stored[(found["account"], found["receiver"], found["line"])] = found
    return _apply(
        conn,
        premises,
        _UPDATE_PREMISES,
        [
            (
                stored.get(item.key),
                {"account": item.account, "receiver": item.receiver, "line": item.line},
                _premises_values(item, stored.get(item.key)),
            )
            for item in items
        ],
        now,
        write,
    )


def upsert_vehicles(
    conn: Connection, items: Sequence[VehicleFields], now: datetime, *, write: bool = True
) -> list[Outcome]:
    """Each item's outcome, in order; with `write=False` nothing is written (a dry run)."""
    terminals = [item.terminal for item in items]
    if len(set(terminals)) != len(terminals):
        raise ValueError("the same terminal twice in one upsert")
    stored: dict[str, RowMapping] = {}
    for chunk in _chunks(sorted(terminals)):
        q = select(vehicles).where(vehicles.c.terminal.in_(chunk))
        for found in conn.execute(q).mappings():
            stored[found["terminal"]] = found
    return _apply(
        conn,
        vehicles,
        _UPDATE_VEHICLE,
        [
            (
                stored.get(item.terminal),
                {"terminal": item.terminal, "alarm_flags": 0},
                _vehicle_values(item),
            )
            for item in items
        ],  # fmt: skip
        now,
        write,
    )


def _apply(
    conn: Connection,
    table: Any,
    update_stmt: Any,
    plans: Sequence[tuple[RowMapping | None, dict[str, Any], dict[str, Any]]],
    now: datetime,
    write: bool,
) -> list[Outcome]:
    """One upsert's outcomes, in order, from (the stored row or None, the columns only a new
    row gets, the values compared and set) per item; the inserts and the updates in chunks."""
    outcomes: list[Outcome] = []
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for row, key, values in plans:
        if row is None:
            outcomes.append("new")
            new.append({**key, **values, "created_at": now, "updated_at": now})
        elif _changed(values, row):
            outcomes.append("updated")
            changed.append({f"p_{k}": v for k, v in values.items()}
                           | {"p_id": row["id"], "p_updated_at": now})  # fmt: skip
        else:
            outcomes.append("unchanged")
    if write:
        for rows in _chunks(new):
            conn.execute(insert(table), list(rows))
        for rows in _chunks(changed):
            conn.execute(update_stmt, list(rows))
    return outcomes


# -- reading and deleting ---------------------------------------------------------------------


def premises_by_id(conn: Connection, premises_id: int) -> RowMapping | None:
    return conn.execute(select(premises).where(premises.c.id == premises_id)).mappings().first()


def premises_by_key(conn: Connection, key: tuple[str, str, str]) -> RowMapping | None:
    account, receiver, line = key
    q = select(premises).where(
        premises.c.account == account, premises.c.receiver == receiver, premises.c.line == line
    )
    return conn.execute(q).mappings().first()


def vehicle_by_terminal(conn: Connection, terminal: str) -> RowMapping | None:
    q = select(vehicles).where(vehicles.c.terminal == terminal)
    return conn.execute(q).mappings().first()


def list_premises(
    conn: Connection,
    *,
    account: str | None = None,
    units: Iterable[str] | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[RowMapping]:
    """By id; `units`: only these (a scope's subtree); `after`: ids above it (paging)."""
    q = select(premises).where(premises.c.id > after).order_by(premises.c.id).limit(limit)
    if account is not None:
        q = q.where(premises.c.account == account)
    if units is not None:
        q = q.where(premises.c.unit.in_(sorted(units)))
    return list(conn.execute(q).mappings())


def list_vehicles(
    conn: Connection,
    *,
    kind: str | None = None,
    plate: str | None = None,
    units: Iterable[str] | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[RowMapping]:
    """By id; `units`: only these (a scope below the root: a vehicle of no unit is the
    root's)."""
    q = select(vehicles).where(vehicles.c.id > after).order_by(vehicles.c.id).limit(limit)
    if kind is not None:
        q = q.where(vehicles.c.kind == kind)
    if plate is not None:
        q = q.where(vehicles.c.plate == plate)
    if units is not None:
        q = q.where(vehicles.c.unit.in_(sorted(units)))
    return list(conn.execute(q).mappings())


def delete_premises(conn: Connection, premises_id: int) -> RowMapping | None:
    """The row deleted, or None if there was none."""
    row = premises_by_id(conn, premises_id)
    if row is not None:
        conn.execute(delete(premises).where(premises.c.id == premises_id))
    return row


def delete_vehicle(conn: Connection, terminal: str) -> RowMapping | None:
    row = vehicle_by_terminal(conn, terminal)
    if row is not None:
        conn.execute(delete(vehicles).where(vehicles.c.id == row["id"]))
    return row


# -- the API's documents ----------------------------------------------------------------------


def _utc(t: datetime | None) -> str | None:
    return None if t is None else format_utc(t)


def premises_document(row: RowMapping) -> dict[str, Any]:
    """What the API shows of a premises: everything but its key (only whether it has one)."""
    return {
        "id": row["id"],
        "account": row["account"],
        "receiver": row["receiver"],
        "line": row["line"],
        "name": row["name"],
        "address": row["address"],
        "lat": row["lat"],
        "lon": row["lon"],
        "unit": row["unit"],
        "phones": list(row["phones"]),
        "zones": dict(row["zones"]),
        "has_key": row["aes_key"] is not None,
        "supervision_s": row["supervision_s"],
        "last_seen_at": _utc(row["last_seen_at"]),
        "last_signal": row["last_signal"],
        "fault_reported_at": _utc(row["fault_reported_at"]),
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
    }


def vehicle_document(row: RowMapping) -> dict[str, Any]:
    position = None
    if row["last_fix_at"] is not None:
        position = {
            "lat": row["last_lat"],
            "lon": row["last_lon"],
            "speed_kmh": row["last_speed_kmh"],
            "heading": row["last_heading"],
            "fix_at": _utc(row["last_fix_at"]),
        }
    return {
        "id": row["id"],
        "terminal": row["terminal"],
        "plate": row["plate"],
        "plate_color": row["plate_color"],
        "kind": row["kind"],
        "kind_name": KIND_NAMES_ZH.get(row["kind"], row["kind"]),
        "company": row["company"],
        "unit": row["unit"],
        "phones": list(row["phones"]),
        "position": position,
        "last_seen_at": _utc(row["last_seen_at"]),
        "alarm_flags": row["alarm_flags"],
        "created_at": _utc(row["created_at"]),
        "updated_at": _utc(row["updated_at"]),
    }
