"""A drill played against a real store, for the scorecard's tests: runs and sends written as
the runner writes them, reports stored by intake, incidents moved by the workflow, and a
call's answer written as the AMI channel writes it — each at a controlled time, so that
every figure of the scorecard is known to the second.

The run (`T0` = 10:00 in Beijing) and what the center made of it:

====  =========  ===========================================================================
 s    inject     what happened
====  =========  ===========================================================================
   0  call       a call (robbery, p1, 明湖派出所), arrives at 2, answered at 10 by extension
                 8001 (王接警); accepted 40 (late: 38 s of 30), dispatched 80, acknowledged
                 100, on scene 400, feedback 1000, closed 1200
  90  sms        the same robbery; stored 95, its incident merged into the call's at 130
 120  witness    the same robbery on the web; stored 121, accepted on its own at 240 by
                 孙接警 (a missed merge; late)
 180  noise      a dispute for 明湖; stored 183, accepted 200, dispatched to 南坝 at 260
                 (misrouted), acknowledged 560 (300 s of 300: in time)
 300  mail       a tip (p4) for 北门; stored 310, accepted 400 as 治安, p3 (mis-categorised)
 360  silent     a call nobody answers; stored 365, left received
 420  fax        the send failed
 480  tg         sent, its report never found
====  =========  ===========================================================================

An earlier run of the same scenario (a week before: its call, sent at 0, arrives at 3, is
answered at 9, accepted at 60, cancelled at 100 and reopened at 120 — its milestone says
accepted at 120, its events at 60 —, the rest cancelled when the run was aborted), a run of
another scenario, and a later run of this one are in the store too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from gateway.config import Config
from gateway.drills.scenario import Inject, Scenario, scenario_from_text
from gateway.drills.tables import drill_runs, drill_sends
from gateway.report import Location, Receipt, Sender
from gateway.store.tables import reports, users
from gateway.store.transaction import WriteContext
from gateway.workflow import records
from gateway.workflow.machine import Actor, EventDraft
from gateway.workflow.table import Role
from tests.conftest import PG_URL, fresh_pg_schema, pg_available
from tests.harness import CITY, Harness

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
MINGHU = "530102520000"  # 明湖派出所
NANBA = "530102510000"  # 南坝派出所
BEIMEN = "530102530000"  # 北门派出所
NAME = "测试演练：明湖分局混合渠道"

SCENARIO = f"""
name = "{NAME}"
description = "电话、短信、网页、邮件、传真、Telegram 各渠道的模拟警情。"
units = ["530102000000"]

[[inject]]
id = "call"
at = "+0:00"
channel = "phone"
from = "13800000201"
script = "湖滨街十二号门口有人抢包，往翠柳巷跑了。"
location = {{ address = "示例市明湖区湖滨街12号", lat = 25.041, lon = 102.652 }}
expect = {{ incident = "robbery", category = "criminal", priority = 1, unit = "{MINGHU}" }}
note = "第一报警人"

[[inject]]
id = "sms"
at = "+1:30"
channel = "sms"
from = "13800000202"
text = "湖滨街有人抢老人的包，嫌疑人黑衣服。"
expect = {{ incident = "robbery" }}
note = "应并入电话警情"

[[inject]]
id = "witness"
at = "+2:00"
channel = "web"
from = "13800000203"
text = "湖滨街抢包的人往翠柳巷跑了。"
location = {{ address = "示例市明湖区翠柳巷", lat = 25.045, lon = 102.655 }}
expect = {{ incident = "robbery" }}

[[inject]]
id = "noise"
at = "+3:00"
channel = "web"
from = "13800000204"
text = "明湖路66号楼上每天夜里敲打。"
location = {{ address = "示例市明湖区明湖路66号", lat = 25.030, lon = 102.660 }}
expect = {{ incident = "noise", category = "dispute", unit = "{MINGHU}" }}

[[inject]]
id = "mail"
at = "+5:00"
channel = "email"
from = "drill-citizen@example.cn"
subject = "举报聚众赌博"
text = "北门街圆通巷口棋牌室每晚聚众赌博。"
location = {{ address = "示例市明湖区北门街圆通巷口" }}
expect = {{ incident = "gambling", category = "tip", priority = 4, unit = "{BEIMEN}" }}

[[inject]]
id = "silent"
at = "+6:00"
channel = "phone"
from = "13800000206"
script = "喂……"
expect = {{ incident = "silent", category = "other", unit = "{MINGHU}" }}

[[inject]]
id = "fax"
at = "+7:00"
channel = "fax"
from = "087100000207"
text = "南坝路有人打架。"
expect = {{ incident = "fight", category = "public_order", unit = "{NANBA}" }}

[[inject]]
id = "tg"
at = "+8:00"
channel = "telegram"
chat = -1001234567890
text = "北门街有人晕倒。"
expect = {{ incident = "faint", category = "assistance", unit = "{BEIMEN}" }}
"""

CALLTAKER = Actor("王接警", Role.CALLTAKER, CITY)
CALLTAKER2 = Actor("孙接警", Role.CALLTAKER, CITY)
DISPATCHER = Actor("李调度", Role.DISPATCHER, CITY)
SUPERVISOR = Actor("赵指挥", Role.SUPERVISOR, CITY)
OFFICER_MINGHU = Actor("明湖值班", Role.UNIT_OFFICER, MINGHU)
OFFICER_NANBA = Actor("南坝值班", Role.UNIT_OFFICER, NANBA)
COORDINATOR = {"user": "周演练", "role": "drill_coordinator", "unit": CITY}


@dataclass
class Played:
    """The store with the runs, and what the test needs to look things up."""

    h: Harness
    scenario: Scenario
    run: int  # the run scored
    earlier: int
    later: int
    other: int  # another scenario's
    numbers: dict[str, str] = field(default_factory=dict)  # inject id → incident it landed in
    receipts: dict[str, str] = field(default_factory=dict)

    def read(self, fn: Any, *args: Any) -> Any:
        return self.h.read(fn, *args)


def _insert(h: Harness, table: Any, **values: Any) -> int:
    def write(ctx: WriteContext) -> int:
        return int(ctx.conn.execute(insert(table).values(**values)).inserted_primary_key[0])

    return h.db.run_sync(write)


def _run(h: Harness, scenario: Scenario, started: datetime, state: str, **kw: Any) -> int:
    return _insert(
        h,
        drill_runs,
        name=scenario.name,
        file="drills/test.toml",
        sha256=scenario.sha256,
        scenario=scenario.to_json(),
        files={},
        state=state,
        started_by=COORDINATOR,
        started_at=started,
        paused_s=kw.pop("paused_s", 0.0),
        **kw,
    )


def _send(
    h: Harness,
    run: int,
    seq: int,
    inject: Inject,
    due_at: datetime,
    status: str,
    sent_at: datetime | None,
    receipt: str | None,
    error: str | None = None,
) -> None:
    report_id = None
    if receipt is not None:
        report_id = h.read(
            lambda c: c.execute(select(reports.c.id).where(reports.c.receipt == receipt)).scalar()
        )
    _insert(
        h,
        drill_sends,
        run_id=run,
        seq=seq,
        inject_id=inject.id,
        kind=inject.channel,
        at=inject.at,
        due_at=due_at,
        status=status,
        sent_at=sent_at,
        report_id=report_id,
        error=error,
    )


def answered(h: Harness, number: str, waited: float, extension: str) -> None:
    """What the AMI channel writes when a call is picked up (gateway/channels/ami/store.py)."""

    def write(ctx: WriteContext) -> None:
        row = records.load(ctx.conn, number)
        draft = EventDraft(
            "call_answered",
            None,
            None,
            Actor("ami", Role.SYSTEM, None),
            data={"calltaker": extension, "queue": "110", "time_to_answer_s": waited},
        )
        records.add_event(ctx, row["id"], number, draft, h.now, row["drill"])

    h.db.run_sync(write)


def _report(h: Harness, channel: str, sender: str, **kw: Any) -> Receipt:
    kind = "email" if "@" in sender else "phone"
    return h.submit(h.report(channel=channel, sender=Sender(kind, sender), drill=True, **kw))


class Center:
    """Plays the center's side of one run: reports stored and incidents acted on at times
    from the run's start."""

    def __init__(self, h: Harness, scenario: Scenario, t0: datetime) -> None:
        self.h = h
        self.scenario = scenario
        self.t0 = t0
        self.receipts: dict[str, str] = {}  # inject id → its report's receipt
        self.numbers: dict[str, str] = {}  # inject id → the incident its report landed in

    def at(self, s: float) -> None:
        self.h.now = self.t0 + timedelta(seconds=s)

    def submit(self, inject: str, s: float, channel: str, sender: str, **kw: Any) -> None:
        self.at(s)
        stored = _report(self.h, channel, sender, **kw)
        self.receipts[inject], self.numbers[inject] = stored.receipt, stored.incident

    def answer(self, inject: str, s: float, waited: float, extension: str) -> None:
        self.at(s)
        answered(self.h, self.numbers[inject], waited, extension)

    def act(self, s: float, inject: str, action: str, actor: Actor, **params: Any) -> None:
        self.at(s)
        self.h.act(self.numbers[inject], action, actor, **params)

    def send(self, run: int, inject: Inject, status: str, s: float | None, **kw: Any) -> None:
        """The runner's record of `inject`, sent `s` seconds after the start (None: not)."""
        seq = self.scenario.injects.index(inject)
        due = self.t0 + timedelta(seconds=inject.at)
        sent_at = None if s is None else self.t0 + timedelta(seconds=s)
        receipt = self.receipts.get(inject.id)
        _send(self.h, run, seq, inject, due, status, sent_at, receipt, **kw)


ROBBERY = {"lat": 25.041, "lon": 102.652, "address": "示例市明湖区湖滨街12号"}


def play(h: Harness, config: Config) -> Played:
    scenario = scenario_from_text(SCENARIO, config, file="drills/test.toml")
    run = _run(h, scenario, T0, "done", ended_at=T0 + timedelta(seconds=1500), paused_s=30.0)
    _insert(
        h,
        users,
        name="王接警",
        role="calltaker",
        unit=CITY,
        extension="8001",
        password_hash="-",
        created_at=T0,
        password_changed_at=T0,
    )
    c = Center(h, scenario, T0)
    c.submit("call", 2, "phone", "13800000201")
    c.answer("call", 10, 8.0, "8001")
    c.act(40, "call", "accept", CALLTAKER, category="criminal", priority=1, location=ROBBERY)
    c.act(80, "call", "dispatch", DISPATCHER)
    c.submit("sms", 95, "sms", "13800000202")
    c.act(100, "call", "acknowledge", OFFICER_MINGHU)
    c.submit("witness", 121, "web", "13800000203", location=Location(lat=25.045, lon=102.655))
    c.act(130, "sms", "merge", CALLTAKER, master=c.numbers["call"])
    c.submit("noise", 183, "web", "13800000204", location=Location(lat=25.030, lon=102.660))
    c.act(200, "noise", "accept", CALLTAKER, category="dispute")
    c.act(240, "witness", "accept", CALLTAKER2, category="criminal", priority=1)
    c.act(260, "noise", "dispatch", DISPATCHER, unit=NANBA)
    mail_place = Location(address="示例市明湖区北门街圆通巷口")
    c.submit("mail", 310, "email", "drill-citizen@example.cn", location=mail_place)
    c.submit("silent", 365, "phone", "13800000206")
    c.act(400, "call", "arrive", OFFICER_MINGHU)
    c.act(400, "mail", "accept", CALLTAKER, category="public_order", priority=3)
    c.act(560, "noise", "acknowledge", OFFICER_NANBA)
    c.act(1000, "call", "feedback", OFFICER_MINGHU, result="嫌疑人已抓获")
    c.act(1200, "call", "close", SUPERVISOR)
    call, sms, witness, noise, mail, silent, fax, tg = scenario.injects
    for inject, s in ((call, 0), (sms, 90), (witness, 120), (noise, 180), (mail, 300)):
        c.send(run, inject, "sent", s)
    c.send(run, silent, "sent", 360)
    c.send(run, fax, "failed", None, error="传真服务器拒收：线路忙")
    c.send(run, tg, "sent", 480)

    # A week before (see the module's docstring).
    before = T0 - timedelta(days=7)
    earlier = _run(h, scenario, before, "aborted", ended_at=before + timedelta(seconds=600))
    e = Center(h, scenario, before)
    e.submit("call", 3, "phone", "13800000201")
    e.answer("call", 9, 6.0, "8001")
    e.act(60, "call", "accept", CALLTAKER, category="criminal", priority=1, location=ROBBERY)
    e.act(100, "call", "cancel", DISPATCHER, reason="报警人称已离开")
    e.act(120, "call", "reopen", DISPATCHER, reason="报警人再次来电")  # accepted again
    e.send(earlier, call, "sent", 0)
    for inject in scenario.injects[1:]:
        e.send(earlier, inject, "cancelled", None)

    other = scenario_from_text(SCENARIO.replace(NAME, "另一场演练"), config)
    return Played(
        h,
        scenario,
        run=run,
        earlier=earlier,
        later=_run(h, scenario, T0 + timedelta(days=1), "running"),
        other=_run(h, other, T0 - timedelta(days=1), "done"),
        numbers=c.numbers,
        receipts=c.receipts,
    )


def _store(kind: str, tmp: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'alarmgw.db'}", None
    reason = pg_available()
    if reason:
        if os.environ.get("ALARMGW_REQUIRE_PG"):
            pytest.fail(reason)
        pytest.skip(reason)
    return fresh_pg_schema(PG_URL)


@contextmanager
def _played(kind: str, tmp: Path, config: Config) -> Iterator[Played]:
    url, drop = _store(kind, tmp)
    h = Harness(url, config, T0)
    try:
        yield play(h, config)
    finally:
        h.close()
        if drop is not None:
            drop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def played(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, config: Config
) -> Iterator[Played]:
    with _played(request.param, tmp_path_factory.mktemp("drill"), config) as p:
        yield p


@pytest.fixture(scope="module")
def played_sqlite(tmp_path_factory: pytest.TempPathFactory, config: Config) -> Iterator[Played]:
    with _played("sqlite", tmp_path_factory.mktemp("drill"), config) as p:
        yield p
