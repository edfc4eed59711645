"""The command line's side of the registry: `alarmgw targets import|list` (premises,
固定目标) and `alarmgw vehicles import|list` (移动目标). Each command is one transaction."""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from gateway.errors import DomainError
from gateway.targets import importer, records
from gateway.targets.fields import PLATE_COLORS_ZH, normalise_terminal
from gateway.targets.importer import Read


def premises_import(config: Any, db: Any, args: Any) -> int:
    return _import(args, importer.read_premises, records.upsert_premises, config, db, "premises")


def vehicles_import(config: Any, db: Any, args: Any) -> int:
    return _import(args, importer.read_vehicles, records.upsert_vehicles, config, db, "vehicles")


def _import(
    args: Any,
    read: Callable[[bytes, Any], Read[Any]],
    upsert: Callable[..., list[records.Outcome]],
    config: Any,
    db: Any,
    what: str,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    name = args.file
    try:
        data = Path(name).read_bytes()
    except OSError as e:
        raise DomainError(f"{name}: {e.strerror}") from None
    found = read(data, config.org)
    if found.encoding != "unknown":
        print(f"{name}: read as {found.encoding}", file=out)
    if found.problems:
        for p in found.problems:
            print(p.format(name), file=err)
        n = len(found.problems)
        print(f"{name}: {n} problem{'s' if n > 1 else ''}; nothing was imported", file=err)
        return 1
    items = [item for _, item in found.rows]
    now = datetime.now(UTC)
    outcomes = db.run_sync(lambda ctx: upsert(ctx.conn, items, now, write=not args.dry_run))
    counts = Counter(outcomes)
    dry = " (dry run: nothing written)" if args.dry_run else ""
    print(
        f"{name}: {len(items)} {what}: {counts['new']} new, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged{dry}",
        file=out,
    )
    return 0


# -- lists ----------------------------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    """Left-aligned in `width` terminal columns (a Chinese character takes two)."""
    return text + " " * max(0, width - _width(text))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(_pad(cell, w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _local(t: datetime | None, tz: ZoneInfo) -> str:
    return "-" if t is None else t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _units(config: Any, unit: str | None) -> frozenset[str] | None:
    if unit is None:
        return None
    if unit not in config.org:
        raise DomainError(f"--unit: unknown unit {unit!r}")
    return frozenset(config.org.subtree(unit))


def _unit_name(config: Any, code: str | None) -> str:
    return config.org.get(code).name if code in config.org else code or "-"


def premises_list(config: Any, db: Any, args: Any) -> int:
    units = _units(config, args.unit)
    account = args.account.upper() if args.account else None
    with db.read_engine.connect() as conn:
        rows = records.list_premises(conn, account=account, units=units, limit=args.limit)
    tz = ZoneInfo(config.city.timezone)
    table = [
        [
            str(r["id"]),
            r["account"],
            r["receiver"] or "*",
            r["line"] or "*",
            r["name"],
            _unit_name(config, r["unit"]),
            "是" if r["aes_key"] else "否",
            str(r["supervision_s"] or "-"),
            _local(r["last_seen_at"], tz),
            "通讯故障" if r["fault_reported_at"] else "",
        ]
        for r in rows
    ]
    header = ["编号", "账号", "接收机", "线路", "名称", "单位", "加密", "巡检(秒)", "最后通讯", ""]
    print(_table(header, table))
    print(f"({len(rows)} 个固定目标; times {config.city.timezone})")
    return 0


def vehicles_list(config: Any, db: Any, args: Any) -> int:
    units = _units(config, args.unit)
    with db.read_engine.connect() as conn:
        if args.terminal:
            row = records.vehicle_by_terminal(conn, normalise_terminal(args.terminal))
            rows = [row] if row is not None else []
        else:
            rows = records.list_vehicles(conn, units=units, limit=args.limit)
    tz = ZoneInfo(config.city.timezone)
    table = []
    for r in rows:
        doc = records.vehicle_document(r)
        pos = doc["position"]
        color = PLATE_COLORS_ZH.get(r["plate_color"], "") if r["plate_color"] else ""
        table.append(
            [
                r["terminal"],
                (r["plate"] or "-") + (f" ({color})" if color else ""),
                doc["kind_name"],
                r["company"] or "-",
                _unit_name(config, r["unit"]),
                f"{pos['lat']:.5f}, {pos['lon']:.5f}" if pos else "-",
                _local(r["last_fix_at"], tz),
            ]
        )
    header = ["终端号", "车牌", "类型", "公司", "单位", "最后位置", "定位时间"]
    print(_table(header, table))
    print(f"({len(rows)} 个移动目标; times {config.city.timezone})")
    return 0
