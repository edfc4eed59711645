"""A drill run's scorecard as values (演练成绩单): each inject's steps and what the center
made of it, the same per unit and per person, the merges missed or made wrongly, and a run in
a few numbers (`RunSummary`: the overview and a point of the trend). `gateway.drills.score`
reads them from the store; the functions below add them up (pure: values in, values out).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping

from gateway.console.stats import percentile
from gateway.drills.scenario import Expectation
from gateway.workflow.table import OPEN_STATES, State

STEPS = ("answer", "accept", "dispatch", "acknowledge", "arrive", "feedback", "close")
STEP_NAMES_ZH = {
    "answer": "接听",
    "accept": "受理",
    "dispatch": "派警",
    "acknowledge": "签收",
    "arrive": "到场",
    "feedback": "反馈",
    "close": "结案",
}
# The steps a person is named for (the call-takers' and dispatchers' table).
PEOPLE_STEPS = ("answer", "accept", "dispatch")


# -- the figures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepTime:
    """One step of one inject. `step_s` is the step's own time as its SLA counts it (accept:
    from the report's storing; dispatch: from accept; …)."""

    step: str
    at: datetime | None  # when the inject reached it; None: not (yet)
    seconds: float | None  # from the send
    step_s: float | None
    sla_s: int | None  # for the incident's priority; None: the city sets none
    by: str | None = None  # who: the answering call-taker, the accepting or dispatching person

    @property
    def met(self) -> bool | None:
        """Within the SLA; None when not judged (no SLA, or not reached)."""
        if self.step_s is None or self.sla_s is None:
            return None
        return self.step_s <= self.sla_s


@dataclass(frozen=True)
class InjectScore:
    seq: int
    id: str
    kind: str  # the scenario's channel: phone, sms, web…
    at: float  # seconds after the start, as written
    note: str | None
    expect: Expectation
    status: str  # the send's: sent, failed, cancelled, pending, sending
    error: str | None
    sent_at: datetime | None
    receipt: str | None  # None: no report found
    incident: str | None  # the incident it ended in
    joined: str | None  # opened (its own incident), attached (by correlation), merged
    state: str | None  # of that incident
    category: str | None
    priority: int | None
    unit: str | None  # the owning unit
    accepted: bool  # a person classified the incident (category, unit)
    steps: tuple[StepTime, ...] = ()

    def step(self, code: str) -> StepTime:
        return next(s for s in self.steps if s.step == code)

    @property
    def sent(self) -> bool:
        return self.status == "sent"

    @property
    def found(self) -> bool:
        return self.receipt is not None

    @property
    def answered(self) -> bool:
        return bool(self.steps) and self.step("answer").at is not None

    @property
    def late(self) -> bool:
        return any(s.met is False for s in self.steps)

    @property
    def misrouted(self) -> bool:
        return self.accepted and self.unit != self.expect.unit

    @property
    def miscategorised(self) -> bool:
        e = self.expect
        return self.accepted and (self.category != e.category or self.priority != e.priority)

    @property
    def still_open(self) -> bool:
        return self.state is not None and State(self.state) in OPEN_STATES


@dataclass(frozen=True)
class StepFigures:
    """A step over several injects: times from the send, and the SLA judgments."""

    step: str
    count: int  # injects that reached it
    p50: float | None
    max: float | None
    judged: int  # of those, with an SLA
    met: int


@dataclass(frozen=True)
class GroupScore:
    """A unit (its code) or a person (the user name), and the injects that were theirs."""

    code: str
    name: str
    injects: tuple[str, ...]  # inject ids
    steps: tuple[StepFigures, ...]
    late: int  # of those injects, late at a step (a person: at one of their own)

    def step(self, code: str) -> StepFigures:
        return next(s for s in self.steps if s.step == code)


@dataclass(frozen=True)
class MergeMismatch:
    """A missed merge: `key` is a label, `parts` its incidents; a wrong merge: `key` is an
    incident, `parts` its labels. Each part with its inject ids."""

    key: str
    parts: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class RunSummary:
    """A run in a few numbers: the overview of the scorecard and a point of the trend."""

    run_id: int
    started_at: datetime
    state: str
    injects: int
    sent: int
    found: int
    answered: int
    late: int
    judged: int  # steps with an SLA, over all injects
    met: int
    p50: Mapping[str, float | None]  # step → median seconds from the send
    misrouted: int
    miscategorised: int
    missed_merges: int
    wrong_merges: int
    not_sent: int
    not_found: int
    still_open: int

    @property
    def within(self) -> float | None:
        return self.met / self.judged if self.judged else None

    @property
    def mismatches(self) -> int:
        return self.misrouted + self.miscategorised + self.missed_merges + self.wrong_merges


@dataclass(frozen=True)
class Scorecard:
    run_id: int
    name: str
    description: str | None
    file: str
    sha256: str
    state: str  # running, paused, aborted, done
    started_by: Mapping[str, Any]  # the actor
    started_at: datetime
    ended_at: datetime | None
    paused_s: float
    scored_at: datetime
    city: str
    timezone: str
    injects: tuple[InjectScore, ...]
    units: tuple[GroupScore, ...]
    people: tuple[GroupScore, ...]
    missed_merges: tuple[MergeMismatch, ...]
    wrong_merges: tuple[MergeMismatch, ...]
    summary: RunSummary
    trend: tuple[RunSummary, ...]  # the earlier runs of this scenario, oldest first
    unit_names: Mapping[str, str] = field(default_factory=dict)
    category_names: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        """From the start to the end (or to now, while it runs), pauses included."""
        return ((self.ended_at or self.scored_at) - self.started_at).total_seconds()

    @property
    def misrouted(self) -> tuple[InjectScore, ...]:
        return tuple(i for i in self.injects if i.misrouted)

    @property
    def miscategorised(self) -> tuple[InjectScore, ...]:
        return tuple(i for i in self.injects if i.miscategorised)

    @property
    def not_sent(self) -> tuple[InjectScore, ...]:
        return tuple(i for i in self.injects if not i.sent)

    @property
    def not_found(self) -> tuple[InjectScore, ...]:
        return tuple(i for i in self.injects if i.sent and not i.found)

    @property
    def unanswered(self) -> tuple[InjectScore, ...]:
        """Found, but not answered: a call nobody picked up."""
        return tuple(i for i in self.injects if i.found and not i.answered)

    @property
    def still_open(self) -> tuple[InjectScore, ...]:
        return tuple(i for i in self.injects if i.still_open)


# -- adding up ---------------------------------------------------------------------------------


def step_figures(code: str, times: Iterable[StepTime]) -> StepFigures:
    reached = [t for t in times if t.seconds is not None]
    seconds = [t.seconds for t in reached if t.seconds is not None]
    judged = [t.met for t in reached if t.met is not None]
    return StepFigures(
        code,
        len(seconds),
        percentile(seconds, 50),
        max(seconds, default=None),
        len(judged),
        sum(judged),
    )


def by_unit(injects: Sequence[InjectScore], org: Any) -> tuple[GroupScore, ...]:
    """Per owning unit (those not yet found or not owned by any: left out)."""
    groups: dict[str, list[InjectScore]] = defaultdict(list)
    for i in injects:
        if i.found and i.unit:
            groups[i.unit].append(i)
    return tuple(
        GroupScore(
            code,
            org.get(code).name if code in org else code,
            tuple(i.id for i in members),
            tuple(step_figures(step, (i.step(step) for i in members)) for step in STEPS),
            sum(i.late for i in members),
        )
        for code, members in sorted(groups.items())
    )


def by_person(injects: Sequence[InjectScore]) -> tuple[GroupScore, ...]:
    """Per person who answered, accepted or dispatched, with the times of their steps."""
    steps: dict[str, dict[str, list[StepTime]]] = defaultdict(lambda: defaultdict(list))
    theirs: dict[str, dict[str, bool]] = defaultdict(dict)  # inject id → late at their step
    for i in injects:
        for code in PEOPLE_STEPS:
            t = i.step(code) if i.steps else None
            if t is not None and t.by:
                steps[t.by][code].append(t)
                theirs[t.by][i.id] = theirs[t.by].get(i.id, False) or t.met is False
    return tuple(
        GroupScore(
            person,
            person,
            tuple(theirs[person]),
            tuple(step_figures(code, steps[person][code]) for code in PEOPLE_STEPS),
            sum(theirs[person].values()),
        )
        for person in sorted(steps)
    )


def merge_mismatches(
    injects: Sequence[InjectScore],
) -> tuple[tuple[MergeMismatch, ...], tuple[MergeMismatch, ...]]:
    """(missed merges, wrong merges), among the injects whose report was found."""
    by_label: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    by_incident: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for i in injects:
        if i.incident is not None:
            by_label[i.expect.incident][i.incident].append(i.id)
            by_incident[i.incident][i.expect.incident].append(i.id)

    def mismatches(groups: Mapping[str, Mapping[str, list[str]]]) -> tuple[MergeMismatch, ...]:
        return tuple(
            MergeMismatch(key, tuple((part, tuple(ids)) for part, ids in parts.items()))
            for key, parts in groups.items()
            if len(parts) > 1
        )

    return mismatches(by_label), mismatches(by_incident)


def summarise(
    run: RowMapping,
    injects: Sequence[InjectScore],
    merges: tuple[Sequence[MergeMismatch], Sequence[MergeMismatch]] | None = None,
) -> RunSummary:
    missed, wrong = merges or merge_mismatches(injects)
    steps = [t for i in injects for t in i.steps]
    judged = [t.met for t in steps if t.met is not None]
    return RunSummary(
        run_id=run["id"],
        started_at=run["started_at"],
        state=run["state"],
        injects=len(injects),
        sent=sum(i.sent for i in injects),
        found=sum(i.found for i in injects),
        answered=sum(i.answered for i in injects),
        late=sum(i.late for i in injects),
        judged=len(judged),
        met=sum(judged),
        p50={code: step_figures(code, (t for t in steps if t.step == code)).p50 for code in STEPS},
        misrouted=sum(i.misrouted for i in injects),
        miscategorised=sum(i.miscategorised for i in injects),
        missed_merges=len(missed),
        wrong_merges=len(wrong),
        not_sent=sum(not i.sent for i in injects),
        not_found=sum(i.sent and not i.found for i in injects),
        still_open=sum(i.still_open for i in injects),
    )
