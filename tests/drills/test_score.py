"""The scorecard's figures (gateway.drills.score) against the events of a drill played on a
real store, on SQLite and PostgreSQL: `conftest.py` tells the run second by second, and
every figure here is what those events say, to the second."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from gateway.drills.figures import STEPS, MergeMismatch, Scorecard, merge_mismatches
from gateway.drills.score import score_run
from gateway.errors import NotFound
from tests.drills.conftest import BEIMEN, MINGHU, NANBA, T0, Played

NOW = T0 + timedelta(seconds=1800)
CITY_CENTER = "530100000000"

# inject → step → (seconds from the send, the step's own seconds, its SLA, who). Steps not
# listed were not reached. SLAs: p1 accept 30, dispatch 60, acknowledge 60, arrive 600,
# feedback 3600; p3 accept 120, dispatch 300, acknowledge 300; none for answer and close.
EXPECTED: dict[str, dict[str, tuple[float, float, int | None, str | None]]] = {
    "call": {
        "answer": (10, 10, None, "王接警"),  # extension 8001 is 王接警's
        "accept": (40, 38, 30, "王接警"),  # from the report stored at 2: late
        "dispatch": (80, 40, 60, "李调度"),
        "acknowledge": (100, 20, 60, "明湖值班"),
        "arrive": (400, 300, 600, "明湖值班"),
        "feedback": (1000, 600, 3600, "明湖值班"),
        "close": (1200, 200, None, "赵指挥"),
    },
    "sms": {  # sent at 90, stored at 95, merged into the call's incident at 130
        "answer": (5, 5, None, None),
        "accept": (40, 35, 30, "王接警"),  # the merge is the call-taker's accept: late
        "dispatch": (40, 0, 60, None),  # the master was dispatched (80) before the merge
        "acknowledge": (40, 0, 60, None),
        "arrive": (310, 270, 600, "明湖值班"),
        "feedback": (910, 600, 3600, "明湖值班"),
        "close": (1110, 200, None, "赵指挥"),
    },
    "witness": {  # sent at 120, stored at 121
        "answer": (1, 1, None, None),
        "accept": (120, 119, 30, "孙接警"),
    },
    "noise": {  # sent at 180, stored at 183, p3
        "answer": (3, 3, None, None),
        "accept": (20, 17, 120, "王接警"),
        "dispatch": (80, 60, 300, "李调度"),
        "acknowledge": (380, 300, 300, "南坝值班"),  # exactly the SLA: in time
    },
    "mail": {  # sent at 300, stored at 310, accepted as p3
        "answer": (10, 10, None, None),
        "accept": (100, 90, 120, "王接警"),
    },
    "silent": {},  # stored at 365, never answered
}


@pytest.fixture(scope="module")
def card(played: Played) -> Scorecard:
    return played.read(lambda c: score_run(c, played.run, played.h.config, now=NOW))


def test_each_inject_timed_from_its_send(card: Scorecard, played: Played) -> None:
    assert [i.id for i in card.injects] == [i.id for i in played.scenario.injects]
    for inject in card.injects:
        if inject.id not in EXPECTED:
            assert inject.steps == ()
            continue
        assert [s.step for s in inject.steps] == list(STEPS)
        for t in inject.steps:
            want = EXPECTED[inject.id].get(t.step)
            got = (t.seconds, t.step_s, t.sla_s, t.by) if t.at else None
            if want is None:
                assert t.at is None and t.seconds is None, (inject.id, t)
            else:
                assert got == want, (inject.id, t.step)
                assert t.met == (None if t.sla_s is None else t.step_s <= t.sla_s)


def test_late_steps(card: Scorecard) -> None:
    late = {i.id: [t.step for t in i.steps if t.met is False] for i in card.injects}
    assert late == {
        "call": ["accept"],
        "sms": ["accept"],
        "witness": ["accept"],
        "noise": [],
        "mail": [],
        "silent": [],
        "fax": [],
        "tg": [],
    }


def test_reports_and_the_incidents_they_ended_in(card: Scorecard, played: Played) -> None:
    n = played.numbers
    got = {i.id: (i.receipt, i.incident, i.joined, i.state) for i in card.injects}
    r = played.receipts
    assert got == {
        "call": (r["call"], n["call"], "opened", "closed"),
        "sms": (r["sms"], n["call"], "merged", "closed"),  # followed to its master
        "witness": (r["witness"], n["witness"], "opened", "accepted"),
        "noise": (r["noise"], n["noise"], "opened", "acknowledged"),
        "mail": (r["mail"], n["mail"], "opened", "accepted"),
        "silent": (r["silent"], n["silent"], "opened", "received"),
        "fax": (None, None, None, None),
        "tg": (None, None, None, None),
    }
    fax, tg = card.injects[-2:]
    assert (fax.status, fax.error, fax.sent_at) == ("failed", "传真服务器拒收：线路忙", None)
    assert (tg.status, tg.sent_at) == ("sent", T0 + timedelta(seconds=480))


def test_against_the_scenario(card: Scorecard, played: Played) -> None:
    n = played.numbers
    assert [(i.id, i.expect.unit, i.unit) for i in card.misrouted] == [("noise", MINGHU, NANBA)]
    assert [(i.id, i.category, i.priority) for i in card.miscategorised] == [
        ("mail", "public_order", 3)  # expected: tip, 4
    ]
    assert card.missed_merges == (
        MergeMismatch("robbery", ((n["call"], ("call", "sms")), (n["witness"], ("witness",)))),
    )
    assert card.wrong_merges == ()
    assert [i.id for i in card.not_sent] == ["fax"]
    assert [i.id for i in card.not_found] == ["tg"]
    assert [i.id for i in card.unanswered] == ["silent"]
    assert [i.id for i in card.still_open] == ["witness", "noise", "mail", "silent"]
    # Not accepted: neither misrouted nor mis-categorised, whatever routing suggested.
    silent = card.injects[5]
    assert (silent.accepted, silent.unit, silent.misrouted) == (False, CITY_CENTER, False)


def test_wrong_merges(card: Scorecard) -> None:
    """Injects of two labels in one incident, and of one label in two."""
    base = card.injects[0]

    def inject(id_: str, label: str, incident: str) -> Any:
        return replace(base, id=id_, incident=incident, expect=replace(base.expect, incident=label))

    injects = [
        inject("a", "noise", "N1"),
        inject("b", "gambling", "N1"),
        inject("c", "gambling", "N2"),
    ]
    missed, wrong = merge_mismatches(injects)
    assert wrong == (MergeMismatch("N1", (("noise", ("a",)), ("gambling", ("b",)))),)
    assert missed == (MergeMismatch("gambling", (("N1", ("b",)), ("N2", ("c",)))),)


def test_summary(card: Scorecard) -> None:
    s = card.summary
    assert (s.run_id, s.state, s.started_at) == (card.run_id, "done", T0)
    assert (s.injects, s.sent, s.found, s.answered, s.late) == (8, 7, 6, 5, 3)
    # Judged steps: call 5, sms 5, witness 1, noise 3, mail 1; late: three accepts.
    assert (s.judged, s.met, s.within) == (15, 12, 0.8)
    assert s.p50 == {
        "answer": 5,  # 1, 3, 5, 10, 10
        "accept": 40,  # 20, 40, 40, 100, 120
        "dispatch": 80,  # 40, 80, 80
        "acknowledge": 100,  # 40, 100, 380
        "arrive": 355,  # 310, 400
        "feedback": 955,
        "close": 1155,
    }
    assert (s.misrouted, s.miscategorised, s.missed_merges, s.wrong_merges) == (1, 1, 1, 0)
    assert (s.not_sent, s.not_found, s.still_open, s.mismatches) == (1, 1, 4, 3)
    assert card.duration_s == 1500 and card.paused_s == 30
    assert card.scored_at == NOW
    assert card.unit_names[NANBA] == "南坝派出所"
    assert card.category_names["tip"] == "举报"


def test_per_unit(card: Scorecard) -> None:
    units = {u.code: u for u in card.units}
    assert list(units) == [CITY_CENTER, NANBA, MINGHU, BEIMEN]  # by code
    minghu = units[MINGHU]
    assert (minghu.name, minghu.injects, minghu.late) == (
        "明湖派出所",
        ("call", "sms", "witness"),
        3,
    )
    figures = {f.step: (f.count, f.p50, f.max, f.judged, f.met) for f in minghu.steps}
    assert figures == {
        "answer": (3, 5, 10, 0, 0),
        "accept": (3, 40, 120, 3, 0),
        "dispatch": (2, 60, 80, 2, 2),
        "acknowledge": (2, 70, 100, 2, 2),
        "arrive": (2, 355, 400, 2, 2),
        "feedback": (2, 955, 1000, 2, 2),
        "close": (2, 1155, 1200, 0, 0),
    }
    nanba = units[NANBA]
    assert (nanba.injects, nanba.late) == (("noise",), 0)
    assert nanba.step("acknowledge").p50 == 380 and nanba.step("arrive").count == 0
    assert units[CITY_CENTER].injects == ("silent",)  # not accepted: routing's suggestion
    assert units[CITY_CENTER].step("answer").count == 0


def test_per_call_taker(card: Scorecard) -> None:
    people = {p.code: p for p in card.people}
    assert list(people) == sorted(["王接警", "孙接警", "李调度"])

    def figures(person: str) -> dict[str, tuple[Any, ...]]:
        return {f.step: (f.count, f.p50, f.max, f.judged, f.met) for f in people[person].steps}

    assert people["王接警"].injects == ("call", "sms", "noise", "mail")
    assert people["王接警"].late == 2  # the call's and the SMS's accept
    assert figures("王接警") == {
        "answer": (1, 10, 10, 0, 0),
        "accept": (4, 40, 100, 4, 2),  # 40, 40 (the merge), 20, 100
        "dispatch": (0, None, None, 0, 0),
    }
    assert figures("孙接警")["accept"] == (1, 120, 120, 1, 0)
    assert figures("李调度")["dispatch"] == (2, 80, 80, 2, 2)
    assert people["李调度"].late == 0


def test_trend_of_earlier_runs(played: Played, card: Scorecard) -> None:
    (before,) = card.trend  # not the later run, not the other scenario's
    assert (before.run_id, before.state, before.started_at) == (
        played.earlier,
        "aborted",
        T0 - timedelta(days=7),
    )
    assert (before.injects, before.sent, before.found, before.answered) == (8, 1, 1, 1)
    # Accepted at 60, cancelled, reopened at 120: the first accept counts (57 s of 30: late).
    assert before.p50["accept"] == 60 and before.p50["answer"] == 9
    assert (before.late, before.judged, before.met) == (1, 1, 0)
    assert (before.not_sent, before.not_found, before.still_open) == (7, 0, 1)

    later = played.read(lambda c: score_run(c, played.later, played.h.config, now=NOW))
    assert [r.run_id for r in later.trend] == [played.earlier, played.run]
    assert later.trend[1] == card.summary
    assert later.injects == () and later.summary.injects == 0
    assert later.ended_at is None and later.duration_s == (NOW - later.started_at).total_seconds()
    other = played.read(lambda c: score_run(c, played.other, played.h.config, now=NOW))
    assert other.trend == ()


def test_a_run_that_does_not_exist(played: Played) -> None:
    with pytest.raises(NotFound, match="no drill run 999"):
        played.read(lambda c: score_run(c, 999, played.h.config))


def test_a_few_queries_whatever_the_size(played: Played) -> None:
    """The run, the trend's runs, and per run: sends, incidents, events, extensions."""
    engine = played.h.db.read_engine
    statements: list[str] = []

    def count(*args: Any) -> None:
        if not args[2].startswith("BEGIN"):  # SQLite's transaction, not a query
            statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        played.read(lambda c: score_run(c, played.run, played.h.config, now=NOW))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 2 + 2 * 4, statements
