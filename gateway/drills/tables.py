"""A drill run's records (core tables, migration 0013).

`drill_runs`: one row a run of a scenario — the checked scenario as played (its JSON, with
the files it names), who started it, its state (``running``, ``paused``, ``aborted``,
``done``) and its clock: `paused_s` is the time spent paused, each inject's `due_at` moving
on by each pause's length.

`drill_sends`: one row an inject (a surge's alarms each), in the order played: ``pending``,
``sending`` (claimed by the runner), ``sent``, ``failed`` (`error` says why), or
``cancelled`` (the run was aborted first). A sent one says how its report will be known: its
channel and sender (`sender_key`, as correlation makes it) or, when the injector knows it,
its external id; `report_id` is filled once the report is found.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from gateway.store.tables import Id, UTCDateTime, metadata

drill_runs = Table(
    "drill_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("file", String(500), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("scenario", JSON, nullable=False),  # Scenario.to_json(), file paths relative
    Column("files", JSON, nullable=False),  # {relative path: base64}
    Column("state", String(12), nullable=False),
    Column("started_by", JSON, nullable=False),  # the actor
    Column("started_at", UTCDateTime, nullable=False),
    Column("paused_at", UTCDateTime),
    Column("paused_s", Float, nullable=False, default=0.0),
    Column("ended_at", UTCDateTime),
    Index("ix_drill_runs_sha256", "sha256"),
)

drill_sends = Table(
    "drill_sends",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("drill_runs.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # 0-based, in the scenario's order
    Column("inject_id", String(40), nullable=False),
    Column("kind", String(12), nullable=False),  # the scenario's channel: phone, sms, web…
    Column("at", Float, nullable=False),  # seconds from the start, as written
    Column("due_at", UTCDateTime, nullable=False),  # moved on by each pause
    Column("status", String(12), nullable=False),
    Column("claimed_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("via", String(100)),
    Column("report_channel", String(32)),
    Column("sender_key", String(220)),
    Column("external_id", String(200)),
    Column("report_id", Id, ForeignKey("reports.id")),
    Column("error", Text),
    Index("ix_drill_sends_run_id", "run_id", "seq", unique=True),
    Index("ix_drill_sends_status", "status", "due_at"),
)
