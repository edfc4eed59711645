"""What the channels call (`gateway.targets.registry`), on SQLite and on PostgreSQL: the
caches' refresh, the look-up's precedence, last-seen times, supervision (a fault reported
once, across nodes too) and positions."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from gateway.config import Config
from gateway.store.engine import make_engine
from gateway.store.migrate import upgrade
from gateway.targets import fields, records, registry
from gateway.targets.registry import PositionUpdate
from gateway.targets.tables import premises, vehicles
from tests.conftest import T0

NANBA = "530102510000"
S = timedelta(seconds=1)


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    e = make_engine(store_url, writer=True)
    upgrade(e)
    yield e
    e.dispose()


def add_premises(engine: Engine, config: Config, now: Any = T0, **values: Any) -> int:
    row = {"name": "示例银行", "address": "南坝路1号", "unit": NANBA, **values}
    item, problems = fields.check_premises(row, config.org)
    assert item is not None, problems
    with engine.begin() as conn:
        records.upsert_premises(conn, [item], now)
        found = records.premises_by_key(conn, item.key)
    assert found is not None
    return int(found["id"])


def add_vehicle(engine: Engine, config: Config, **values: Any) -> None:
    item, problems = fields.check_vehicle({"kind": "taxi", **values}, config.org)
    assert item is not None, problems
    with engine.begin() as conn:
        records.upsert_vehicles(conn, [item], T0)


def run(engine: Engine, fn: Any, *args: Any) -> Any:
    with engine.begin() as conn:
        return fn(conn, *args)


def row_of(engine: Engine, table: Any, **where: Any) -> Any:
    with engine.connect() as conn:
        q = select(table).where(*(table.c[k] == v for k, v in where.items()))
        return conn.execute(q).mappings().one()


# -- the caches ----------------------------------------------------------------------------------


def test_premises_changed_gives_what_the_channels_need(engine: Engine, config: Config) -> None:
    key = bytes(range(16))
    first = add_premises(engine, config, account="12ab", zones="1:前门, 002:金库",
                         phones="0871-60000101；13800000101", key=key.hex(), lat="24.98",
                         lon="102.65", supervision_s="90")  # fmt: skip
    add_premises(engine, config, T0 + 10 * S, account="5678", line="2")
    everything = run(engine, registry.premises_changed, None)
    assert [p.account for p in everything] == ["12AB", "5678"]
    p = everything[0]
    assert p.id == first and p.key == ("12AB", "", "")
    assert p.aes_key == key and p.zones == {"1": "前门", "2": "金库"}
    assert p.phones == ("0871-60000101", "13800000101")
    assert (p.lat, p.lon, p.unit, p.supervision_s) == (24.98, 102.65, NANBA, 90)
    assert p.updated_at == T0 and p.created_at == T0 and p.last_seen_at is None
    assert everything[1].aes_key is None and everything[1].key == ("5678", "", "2")
    assert [p.account for p in run(engine, registry.premises_changed, T0)] == ["5678"]
    assert run(engine, registry.premises_changed, T0 + 10 * S) == []
    assert run(engine, registry.premises_ids) == {p.id for p in everything}

    # What the panels say does not count as a change: no cache reloads on a poll.
    run(engine, registry.mark_seen, [(first, T0 + 20 * S, "NULL")])
    assert run(engine, registry.premises_changed, T0 + 10 * S) == []
    # An administrator's change does.
    add_premises(engine, config, T0 + 30 * S, account="12AB", name="示例银行（新）",
                 zones="1:前门, 2:金库", phones="0871-60000101；13800000101", lat="24.98",
                 lon="102.65", supervision_s="90")  # fmt: skip
    changed = run(engine, registry.premises_changed, T0 + 10 * S)
    assert [(p.name, p.aes_key) for p in changed] == [("示例银行（新）", key)]  # key kept
    assert changed[0].last_seen_at == T0 + 20 * S


def test_vehicles_changed(engine: Engine, config: Config) -> None:
    add_vehicle(engine, config, terminal="013800138001", plate="云a12345", plate_color="黄",
                kind="运钞车", company="示例押运公司", unit="530100000000")  # fmt: skip
    (v,) = run(engine, registry.vehicles_changed, None)
    assert (v.terminal, v.plate, v.plate_color, v.kind, v.kind_name, v.company, v.unit) == (
        "13800138001", "云A12345", 2, "cash_van", "运钞车", "示例押运公司", "530100000000"
    )  # fmt: skip
    assert v.updated_at == T0 and v.phones == ()
    assert run(engine, registry.vehicles_changed, T0) == []
    assert run(engine, registry.vehicle_ids) == {v.id}
    assert registry.KIND_NAMES_ZH["cash_van"] == "运钞车"


def test_find_premises_takes_the_most_specific_registration(engine: Engine, config: Config) -> None:
    add_premises(engine, config, account="1234", name="任意")
    add_premises(engine, config, account="1234", line="2", name="线路2")
    add_premises(engine, config, account="1234", receiver="5", name="接收机5")
    add_premises(engine, config, account="1234", receiver="5", line="2", name="接收机5线路2")
    add_premises(engine, config, account="AB12", receiver="5", name="只在接收机5")
    cache = {p.key: p for p in run(engine, registry.premises_changed, None)}

    def name(account: str, receiver: str | None, line: str | None) -> str | None:
        found = registry.find_premises(cache, account, receiver, line)
        return None if found is None else found.name

    assert name("1234", "5", "2") == "接收机5线路2"  # exact
    assert name("1234", "6", "2") == "线路2"  # any receiver, this line
    assert name("1234", "5", "3") == "接收机5"  # this receiver, any line
    assert name("1234", "6", "3") == "任意"
    assert name("1234", None, None) == name("1234", "", "") == "任意"
    assert name("ab12", "5", "1") == "只在接收机5"  # any case
    assert name("AB12", "", "") is None  # registered for receiver 5 only
    assert name("9999", "5", "2") is None
    # With both an any-receiver and an any-line registration, the line wins.
    del cache[("1234", "5", "2")]
    assert name("1234", "5", "2") == "线路2"


def test_zone_name(engine: Engine, config: Config) -> None:
    add_premises(engine, config, account="1234", zones="1:前门，002：金库")
    (p,) = run(engine, registry.premises_changed, None)
    assert registry.zone_name(p, "001") == registry.zone_name(p, "1") == "前门"
    assert registry.zone_name(p, "0002") == "金库"
    assert registry.zone_name(p, "3") is None
    assert registry.zone_name(p, None) is None
    assert registry.zone_name(p, "A1") is None


# -- supervision ----------------------------------------------------------------------------------


def test_mark_seen(engine: Engine, config: Config) -> None:
    a = add_premises(engine, config, account="1111")
    b = add_premises(engine, config, account="2222")
    assert run(engine, registry.mark_seen, []) == []
    run(engine, registry.mark_seen, [(a, T0 + 10 * S, "NULL"), (b, T0 + 5 * S, "BA")])
    # An older signal (a batch that came late) does not move a panel back in time.
    run(engine, registry.mark_seen, [(a, T0 + 8 * S, "RP"), (b, T0 + 6 * S, "BR")])
    ra, rb = row_of(engine, premises, id=a), row_of(engine, premises, id=b)
    assert (ra["last_seen_at"], ra["last_signal"]) == (T0 + 10 * S, "NULL")
    assert (rb["last_seen_at"], rb["last_signal"]) == (T0 + 6 * S, "BR")
    assert ra["updated_at"] == T0  # not an administrator's change
    assert run(engine, registry.mark_seen, [(999, T0, "NULL")]) == []  # unknown: nothing


def test_overdue_and_the_fault_reported_once(engine: Engine, config: Config) -> None:
    watched = add_premises(engine, config, account="1111", supervision_s="60")
    add_premises(engine, config, account="2222")  # not supervised: never overdue
    assert run(engine, registry.overdue_premises, T0 + 59 * S, 10) == []
    (p,) = run(engine, registry.overdue_premises, T0 + 61 * S, 10)  # never heard
    assert p.id == watched and p.last_seen_at is None and p.created_at == T0
    assert run(engine, registry.mark_fault_reported, watched, T0 + 61 * S) is True
    assert run(engine, registry.mark_fault_reported, watched, T0 + 62 * S) is False
    assert run(engine, registry.overdue_premises, T0 + 100 * S, 10) == []
    assert row_of(engine, premises, id=watched)["fault_reported_at"] == T0 + 61 * S

    # Heard again: the fault is cleared (said once), and the window runs from then.
    assert run(engine, registry.mark_seen, [(watched, T0 + 70 * S, "NULL")]) == [watched]
    assert row_of(engine, premises, id=watched)["fault_reported_at"] is None
    assert run(engine, registry.mark_seen, [(watched, T0 + 80 * S, "NULL")]) == []
    assert run(engine, registry.overdue_premises, T0 + 139 * S, 10) == []
    # Not overdue: not taken (a signal came in between the read and the mark).
    assert run(engine, registry.mark_fault_reported, watched, T0 + 139 * S) is False
    assert [p.id for p in run(engine, registry.overdue_premises, T0 + 141 * S, 10)] == [watched]
    assert run(engine, registry.overdue_premises, T0 + 141 * S, 10)[0].last_seen_at == T0 + 80 * S


def test_overdue_longest_silent_first_and_limited(engine: Engine, config: Config) -> None:
    ids = [add_premises(engine, config, account=f"10{i:02d}", supervision_s="60") for i in range(5)]
    run(engine, registry.mark_seen, [(ids[i], T0 + (10 - i) * S, "NULL") for i in range(5)])
    found = run(engine, registry.overdue_premises, T0 + 100 * S, 3)
    assert [p.id for p in found] == [ids[4], ids[3], ids[2]]


def test_two_nodes_report_a_fault_once(engine: Engine, store_url: str, config: Config) -> None:
    """Two nodes' transactions at once: the second waits for the first's row lock (or, on
    SQLite, its write lock) and then finds the fault taken."""
    watched = add_premises(engine, config, account="1111", supervision_s="60")
    other = make_engine(store_url, writer=True)
    now = T0 + 61 * S
    results: list[bool] = []
    try:
        with engine.connect() as first:
            tx = first.begin()
            assert registry.mark_fault_reported(first, watched, now) is True

            def second() -> None:
                with other.begin() as conn:
                    results.append(registry.mark_fault_reported(conn, watched, now))

            t = threading.Thread(target=second)
            t.start()
            time.sleep(0.3)
            assert results == []  # waiting for the first node
            tx.commit()
            t.join(10)
        assert results == [False]
    finally:
        other.dispose()


# -- positions ---------------------------------------------------------------------------------


def position(terminal: str, at: Any, lat: float = 24.98, **kw: Any) -> PositionUpdate:
    values = {"lon": 102.65, "speed_kmh": 42.5, "heading": 90, "seen_at": at, "alarm_flags": 0}
    return PositionUpdate(terminal=terminal, lat=lat, fix_at=at, **(values | kw))


def test_record_positions(engine: Engine, config: Config) -> None:
    add_vehicle(engine, config, terminal="13800138001")
    add_vehicle(engine, config, terminal="13800138002")
    run(engine, registry.record_positions, [])
    run(
        engine,
        registry.record_positions,
        [
            position("013800138001", T0 + 10 * S, alarm_flags=0xFFFFFFFF),  # leading zero
            position("13800138002", T0 + 10 * S, lat=25.0),
            position("13999999999", T0 + 10 * S),  # not registered: nothing
        ],
    )
    v = row_of(engine, vehicles, terminal="13800138001")
    assert (v["last_lat"], v["last_lon"], v["last_speed_kmh"], v["last_heading"]) == (
        24.98, 102.65, 42.5, 90
    )  # fmt: skip
    assert v["last_fix_at"] == v["last_seen_at"] == T0 + 10 * S
    assert v["alarm_flags"] == 0xFFFFFFFF  # a DWORD: past a signed 32-bit integer
    assert v["updated_at"] == T0
    assert row_of(engine, vehicles, terminal="13800138002")["last_lat"] == 25.0

    # A blind-zone batch (0x0704): older fixes count as seen but keep the latest position.
    run(
        engine,
        registry.record_positions,
        [position("13800138001", T0 + 5 * S, lat=24.5, seen_at=T0 + 20 * S, alarm_flags=1)],
    )
    v = row_of(engine, vehicles, terminal="13800138001")
    assert (v["last_lat"], v["last_fix_at"], v["alarm_flags"]) == (24.98, T0 + 10 * S, 0xFFFFFFFF)
    assert v["last_seen_at"] == T0 + 20 * S
    # A newer fix replaces it, alarm word and all.
    run(engine, registry.record_positions, [position("13800138001", T0 + 30 * S, lat=24.99)])
    v = row_of(engine, vehicles, terminal="13800138001")
    assert (v["last_lat"], v["last_fix_at"], v["alarm_flags"]) == (24.99, T0 + 30 * S, 0)


def test_touch_vehicles(engine: Engine, config: Config) -> None:
    add_vehicle(engine, config, terminal="13800138001")
    run(engine, registry.touch_vehicles, [("013800138001", T0 + 10 * S), ("1", T0)])
    run(engine, registry.touch_vehicles, [("13800138001", T0 + 5 * S)])  # older: no change
    v = row_of(engine, vehicles, terminal="13800138001")
    assert v["last_seen_at"] == T0 + 10 * S and v["last_fix_at"] is None
    assert v["updated_at"] == T0


def test_record_positions_keeps_up(engine: Engine, config: Config) -> None:
    """A city's taxis report every 30 s or so: ~700 positions a second, in batches of one
    second's worth. Ten batches must take well under ten seconds."""
    n = 700
    with engine.begin() as conn:
        conn.execute(
            vehicles.insert(),
            [{"terminal": str(13800000000 + i), "kind": "taxi", "company": "", "phones": [],
              "alarm_flags": 0, "created_at": T0, "updated_at": T0} for i in range(n)],
        )  # fmt: skip
    started = time.perf_counter()
    for second in range(10):
        at = T0 + second * S
        batch = [position(str(13800000000 + i), at, lat=24.9 + i * 1e-4) for i in range(n)]
        run(engine, registry.record_positions, batch)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, f"10 batches of {n} positions took {elapsed:.2f} s"
    with engine.connect() as conn:
        stale = conn.execute(
            select(vehicles.c.id).where(vehicles.c.last_fix_at != T0 + 9 * S)
        ).all()
    assert stale == []


def test_the_registry_and_the_channels_columns_apart(engine: Engine, config: Config) -> None:
    """An import leaves what the channels recorded alone."""
    pid = add_premises(engine, config, account="1111", supervision_s="60")
    run(engine, registry.mark_seen, [(pid, T0 + 10 * S, "NULL")])
    with engine.begin() as conn:
        conn.execute(update(premises).values(fault_reported_at=T0 + 80 * S))
    add_premises(engine, config, T0 + 90 * S, account="1111", name="改名", supervision_s="60")
    r = row_of(engine, premises, id=pid)
    assert (r["name"], r["updated_at"]) == ("改名", T0 + 90 * S)
    assert (r["last_seen_at"], r["last_signal"], r["fault_reported_at"]) == (
        T0 + 10 * S, "NULL", T0 + 80 * S
    )  # fmt: skip


def test_a_late_old_signal_does_not_clear_a_fault(engine: Engine, config: Config) -> None:
    pid = add_premises(engine, config, account="1111", supervision_s="60")
    run(engine, registry.mark_seen, [(pid, T0 + 10 * S, "NULL")])
    assert run(engine, registry.mark_fault_reported, pid, T0 + 71 * S) is True
    assert run(engine, registry.mark_seen, [(pid, T0 + 5 * S, "RP")]) == []
    assert row_of(engine, premises, id=pid)["fault_reported_at"] == T0 + 71 * S
    batch = [(pid, T0 + 5 * S, "RP"), (pid, T0 + 80 * S, "NULL"), (pid, T0 + 75 * S, "BA")]
    assert run(engine, registry.mark_seen, batch) == [pid]
    r = row_of(engine, premises, id=pid)
    assert (r["fault_reported_at"], r["last_seen_at"], r["last_signal"]) == (
        None, T0 + 80 * S, "NULL"
    )  # fmt: skip


def test_a_mirror_reads_changes_and_sees_deletions_on_its_full_reads() -> None:
    """A channel's copy of a registry table: the whole table first, then what changed
    (with an overlap: updated_at is set before its commit), and the whole table again every
    `full_read_s`, which is how a deleted row leaves it."""
    from dataclasses import dataclass as dc

    from gateway.targets.registry import REFRESH_OVERLAP, Mirror

    @dc(frozen=True)
    class Row:
        key: str
        updated_at: datetime

    t0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    m: Mirror[str, Row] = Mirror(lambda r: r.key, full_read_s=300)
    assert m.since(0.0) is None
    m.apply([Row("a", t0), Row("b", t0 + timedelta(seconds=5))], None, 0.0)
    since = m.since(10.0)
    assert since == t0 + timedelta(seconds=5) - REFRESH_OVERLAP
    m.apply([Row("c", t0 + timedelta(seconds=20))], since, 10.0)
    assert sorted(m.items) == ["a", "b", "c"]
    assert m.since(299.0) is not None and m.since(300.0) is None
    m.apply([Row("a", t0), Row("c", t0 + timedelta(seconds=20))], None, 300.0)  # b deleted
    assert sorted(m.items) == ["a", "c"]
