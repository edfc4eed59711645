"""The registry's tables, on the core's `metadata` (the core's migration 0006 creates them).

Two kinds of columns in each: what an administrator registers (the CSV's and the API's
fields, changed only by an import or a PUT, which bump `updated_at`) and what the channels
record as targets report in (`last_*`, `fault_reported_at`, `alarm_flags`), which never
bump `updated_at`: a channel's cache follows `updated_at`, and a panel's every poll must
not make every node reload it.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, String, Table

from gateway.store.tables import Id, UTCDateTime, metadata

# Fixed targets (固定目标): an alarm panel's premises, keyed as its signals name it: the
# account, and the receiver and line (account prefix) numbers, '' meaning any.
premises = Table(
    "premises",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("account", String(16), nullable=False),  # 3-16 hex digits, upper-case
    Column("receiver", String(6), nullable=False),  # DC-09 Rrcvr, '' = any
    Column("line", String(6), nullable=False),  # DC-09 Lpref, '' = any
    Column("name", String(200), nullable=False),
    Column("address", String(500), nullable=False),
    Column("lat", Float),  # WGS84; both or neither
    Column("lon", Float),
    Column("unit", String(12), nullable=False),
    Column("phones", JSON, nullable=False),  # ["0871-63100001", …]
    Column("zones", JSON, nullable=False),  # {"1": "前门", "2": "金库"}
    Column("aes_key", String(64)),  # hex; a panel with a key is never heard unencrypted
    Column("supervision_s", Integer),  # silent longer than this: a comm-fault incident
    Column("last_seen_at", UTCDateTime),
    Column("last_signal", String(32)),  # the last signal's code: NULL, RP, BA, …
    Column("fault_reported_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
# Unique, and led by the account: it is also the index of a look-up by account alone.
Index(
    "ix_premises_account_receiver_line",
    premises.c.account,
    premises.c.receiver,
    premises.c.line,
    unique=True,
)
Index("ix_premises_updated_at", premises.c.updated_at)
Index("ix_premises_unit", premises.c.unit)

# Mobile targets (移动目标): JT/T 808 terminals, keyed by the terminal's phone number.
vehicles = Table(
    "vehicles",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("terminal", String(20), nullable=False),  # decimal digits, no leading zeros
    Column("plate", String(16)),
    Column("plate_color", Integer),  # JT/T 697.7: 1 蓝 2 黄 3 黑 4 白 5 绿 9 其他
    Column("kind", String(16), nullable=False),
    Column("company", String(200), nullable=False),
    Column("unit", String(12)),
    Column("phones", JSON, nullable=False),
    Column("last_lat", Float),
    Column("last_lon", Float),
    Column("last_speed_kmh", Float),
    Column("last_heading", Integer),
    Column("last_fix_at", UTCDateTime),
    Column("last_seen_at", UTCDateTime),
    # JT/T 808 §8.18's alarm word of the latest fix: a DWORD, past a signed 32-bit integer.
    Column("alarm_flags", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
Index("ix_vehicles_terminal", vehicles.c.terminal, unique=True)
Index("ix_vehicles_updated_at", vehicles.c.updated_at)
Index("ix_vehicles_unit", vehicles.c.unit)
