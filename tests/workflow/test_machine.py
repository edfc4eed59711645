"""The pure workflow machine (`gateway.workflow.machine`) over the bundled sample city.

Every expectation about where an action leads is written out here, independently of
`gateway.workflow.table`, so a change to the table that is not a change to the rules
shows up as a failure.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config import load_config
from gateway.workflow.machine import (
    SYSTEM,
    Actor,
    ArmDeadline,
    BadParameters,
    Forbidden,
    MoveReports,
    NotAllowedInState,
    Notify,
    Outcome,
    Refused,
    Snapshot,
    apply,
    on_deadline,
)
from gateway.workflow.table import TRANSITIONS, Action, Role, State, Step, allowed_actions

CONFIG = load_config(None)
ORG = CONFIG.org
SLA = CONFIG.sla
NOW = datetime(2026, 11, 24, 1, tzinfo=UTC)

CITY = "530100000000"
TRAFFIC = "530100170000"
MINGHU = "530102000000"  # district
NANBA, MINGHU_STATION, BEIMEN = "530102510000", "530102520000", "530102530000"
QINGSHAN = "530103000000"  # district
LUOFENG = "530103510000"  # a station of 青山分局
ALL_UNITS = sorted(u.code for u in ORG.units())
UNKNOWN_UNIT = "999999999999"

NUMBER = "530100-20261124-000001"
MASTER = "530100-20261124-000002"

SUPERVISOR = Actor("chief", Role.SUPERVISOR, CITY)

# What each action needs, with values that are valid for a station incident at NANBA
# (`run` passes "unit" to transfer only).
PARAMS: dict[str, Any] = {
    "category": "criminal",
    "reason": "核实后处理",
    "master": MASTER,
    "unit": LUOFENG,
    "result": "已调解",
}

R, A, I, M = State.RECEIVED, State.ACCEPTED, State.INVALID, State.MERGED  # noqa: E741
D, K, O, H = State.DISPATCHED, State.ACKNOWLEDGED, State.ON_SCENE, State.HANDLED  # noqa: E741
C, X = State.CLOSED, State.CANCELLED
ACTIVE = {D, K, O}

# The state before invalid / merged / cancelled, for the table-driven tests: chosen so that
# "back to where it was" differs from every fixed target.
BEFORE = {I: A, M: A, X: O}

# (state, action) → the state after, for every pair the rules allow; every other pair is refused.
EXPECTED: dict[tuple[str, str], str] = {
    ("received", "accept"): "accepted",
    ("received", "mark_invalid"): "invalid",
    ("received", "merge"): "merged",
    ("received", "cancel"): "cancelled",
    ("accepted", "mark_invalid"): "invalid",
    ("accepted", "merge"): "merged",
    ("accepted", "dispatch"): "dispatched",
    ("accepted", "cancel"): "cancelled",
    ("accepted", "transfer"): "accepted",
    ("accepted", "escalate"): "accepted",
    ("invalid", "reopen"): str(BEFORE[I]),
    ("merged", "unmerge"): str(BEFORE[M]),
    ("dispatched", "acknowledge"): "acknowledged",
    ("dispatched", "cancel"): "cancelled",
    ("dispatched", "transfer"): "dispatched",
    ("dispatched", "escalate"): "dispatched",
    ("acknowledged", "arrive"): "on_scene",
    ("acknowledged", "cancel"): "cancelled",
    ("acknowledged", "transfer"): "dispatched",
    ("acknowledged", "escalate"): "dispatched",
    ("on_scene", "feedback"): "handled",
    ("on_scene", "cancel"): "cancelled",
    ("on_scene", "transfer"): "dispatched",
    ("on_scene", "escalate"): "dispatched",
    ("handled", "close"): "closed",
    ("closed", "reopen"): "accepted",
    ("cancelled", "reopen"): str(BEFORE[X]),
}

# Where "go back to the state before" may lead, from each state that has a before.
RESUMABLE: dict[State, set[State]] = {
    I: {R, A},  # mark_invalid is allowed from received and accepted
    M: {R, A},  # so is merge
    X: {R, A, D, K, O},  # cancel from any open state but handled
    C: {A},  # a closed case goes back to accepted, whatever came before
}

# The deadline armed on entering a state (and nothing on entering any other).
EXPECTED_STEP: dict[State, Step] = {
    R: Step.ACCEPT,
    A: Step.DISPATCH,
    D: Step.ACKNOWLEDGE,
    K: Step.ARRIVE,
    O: Step.FEEDBACK,
}

# For the role tests: one state each action is allowed from.
SOURCE: dict[Action, State] = {
    Action.ACCEPT: R,
    Action.MARK_INVALID: R,
    Action.MERGE: A,
    Action.UNMERGE: M,
    Action.DISPATCH: A,
    Action.ACKNOWLEDGE: D,
    Action.ARRIVE: K,
    Action.FEEDBACK: O,
    Action.CLOSE: H,
    Action.REOPEN: C,
    Action.CANCEL: D,
    Action.TRANSFER: K,
    Action.ESCALATE: O,
}


def snap(
    state: State,
    *,
    unit: str | None = NANBA,
    drill: bool = False,
    priority: int | None = 2,
    before: State | None = None,
) -> Snapshot:
    """An incident in `state` as the machine would have left it."""
    before = before if before is not None else BEFORE.get(state)
    assigned = state in ACTIVE | {H, C} or (state is X and before in ACTIVE)
    return Snapshot(
        NUMBER,
        state,
        drill=drill,
        category=None if state is R else "criminal",
        priority=priority,
        unit=unit,
        unit_assigned=assigned,
        master=MASTER if state is M else None,
        resume_state=before if state in (I, M, X) else None,
        result="已调解" if state in (H, C) else None,
    )


def run(
    s: Snapshot,
    action: Action | str,
    actor: Actor = SUPERVISOR,
    params: dict[str, Any] | None = None,
) -> Outcome:
    if params is None:
        # The target unit only where it is needed: accept and dispatch keep the incident's.
        params = PARAMS if action == Action.TRANSFER else {**PARAMS, "unit": None}
    return apply(s, action, actor, params, now=NOW, org=ORG, sla=SLA)


def deadlines(out: Outcome) -> list[ArmDeadline]:
    return [e for e in out.effects if isinstance(e, ArmDeadline)]


def notices(out: Outcome) -> list[Notify]:
    return [e for e in out.effects if isinstance(e, Notify)]


def due(step: Step, priority: int) -> datetime:
    seconds = SLA.seconds(str(step), priority)
    assert seconds is not None
    return NOW + timedelta(seconds=seconds)


# -- 1. the transition table ------------------------------------------------------------------


def test_expected_table_is_the_rule_table() -> None:
    allowed = {(str(s), str(a)) for a, t in TRANSITIONS.items() for s in t.sources}
    assert allowed == set(EXPECTED)
    assert set(TRANSITIONS) == set(Action)


@pytest.mark.parametrize(
    ("state", "action"), list(itertools.product(State, Action)), ids=lambda v: str(v)
)
def test_every_state_action_pair(state: State, action: Action) -> None:
    s = snap(state)
    expected = EXPECTED.get((str(state), str(action)))
    if expected is None:
        assert state not in TRANSITIONS[action].sources
        with pytest.raises(NotAllowedInState) as e:
            run(s, action)
        assert str(state) in str(e.value) and str(action) in str(e.value)
        assert NUMBER in str(e.value)
        return
    assert state in TRANSITIONS[action].sources
    out = run(s, action)
    new = out.incident
    assert isinstance(new.state, State)
    assert new.state == State(expected)
    assert new.number == NUMBER
    [event] = out.events
    assert (event.action, event.from_state, event.to_state) == (str(action), state, new.state)
    assert event.actor == SUPERVISOR
    assert out.clears_deadlines is True
    assert new.unit is not None and new.unit in ORG


def test_accept_records_classification_and_suggested_unit() -> None:
    out = run(snap(R, priority=None), Action.ACCEPT, params={"category": "fire", "priority": 1})
    new = out.incident
    assert (new.state, new.category, new.priority, new.unit) == (A, "fire", 1, NANBA)
    assert new.unit_assigned is False
    assert out.events[0].data == {"category": "fire", "priority": 1, "unit": NANBA}
    # The caller passes the routed unit and the category's default priority.
    out = run(
        snap(R, unit=None, priority=None),
        Action.ACCEPT,
        params={"category": "traffic", "default_priority": 2, "unit": TRAFFIC},
    )
    assert (out.incident.unit, out.incident.priority) == (TRAFFIC, 2)


def test_dispatch_assigns_the_unit_and_notifies_it() -> None:
    out = run(snap(A), Action.DISPATCH, params={})
    assert (out.incident.state, out.incident.unit, out.incident.unit_assigned) == (D, NANBA, True)
    assert notices(out) == [Notify(NANBA, "dispatch")]
    out = run(snap(A), Action.DISPATCH, params={"unit": LUOFENG})
    assert out.incident.unit == LUOFENG and notices(out) == [Notify(LUOFENG, "dispatch")]


@pytest.mark.parametrize("unit", [None, UNKNOWN_UNIT])
def test_dispatch_needs_a_known_unit(unit: str | None) -> None:
    with pytest.raises(BadParameters, match="dispatch needs a known unit"):
        run(snap(A, unit=None), Action.DISPATCH, params={"unit": unit})


@pytest.mark.parametrize("state", [D, K, O])
def test_escalate_an_active_incident_goes_to_the_parent_unit(state: State) -> None:
    out = run(snap(state), Action.ESCALATE)
    new = out.incident
    assert (new.state, new.unit, new.unit_assigned) == (D, MINGHU, True)
    assert notices(out) == [Notify(MINGHU, "escalate")]
    assert out.events[0].data == {"from_unit": NANBA, "unit": MINGHU}
    # Then from the district to the city center, and no further.
    out = run(new, Action.ESCALATE)
    assert (out.incident.state, out.incident.unit) == (D, CITY)
    with pytest.raises(NotAllowedInState, match="top unit"):
        run(out.incident, Action.ESCALATE)


def test_escalate_an_accepted_incident_changes_the_suggestion_only() -> None:
    out = run(snap(A, unit=TRAFFIC), Action.ESCALATE)
    assert (out.incident.state, out.incident.unit, out.incident.unit_assigned) == (A, CITY, False)
    assert notices(out) == []


@pytest.mark.parametrize("state", [A, D, K, O])
def test_transfer(state: State) -> None:
    out = run(snap(state), Action.TRANSFER, params={"unit": LUOFENG})
    expected = A if state is A else D
    new = out.incident
    assert (new.state, new.unit, new.unit_assigned) == (expected, LUOFENG, expected is D)
    assert notices(out) == ([] if state is A else [Notify(LUOFENG, "transfer")])
    assert out.events[0].data == {"from_unit": NANBA, "unit": LUOFENG}


@pytest.mark.parametrize("state", [A, D])
def test_transfer_to_the_same_or_an_unknown_unit_is_refused(state: State) -> None:
    with pytest.raises(BadParameters, match="already with unit"):
        run(snap(state), Action.TRANSFER, params={"unit": NANBA})
    with pytest.raises(BadParameters, match="unknown unit"):
        run(snap(state), Action.TRANSFER, params={"unit": UNKNOWN_UNIT})


def test_merge_moves_reports_and_unmerge_brings_them_back() -> None:
    out = run(snap(A), Action.MERGE, params={"master": MASTER})
    assert (out.incident.state, out.incident.master, out.incident.resume_state) == (M, MASTER, A)
    assert MoveReports(to_master=MASTER) in out.effects
    back = run(out.incident, Action.UNMERGE, params={})
    assert (back.incident.state, back.incident.master, back.incident.resume_state) == (
        A,
        None,
        None,
    )
    assert MoveReports(to_master=None) in back.effects
    assert back.events[0].data == {"master": MASTER}


def test_merge_into_itself_is_refused() -> None:
    with pytest.raises(BadParameters, match="itself"):
        run(snap(R), Action.MERGE, params={"master": NUMBER})


@pytest.mark.parametrize(
    ("there", "action", "sources"),
    [
        (I, Action.MARK_INVALID, [R, A]),
        (M, Action.MERGE, [R, A]),
        (X, Action.CANCEL, [R, A, D, K, O]),
    ],
)
def test_reopen_and_unmerge_return_to_the_state_before(
    there: State, action: Action, sources: list[State]
) -> None:
    back = Action.UNMERGE if there is M else Action.REOPEN
    for before in sources:
        gone = run(snap(before), action)
        assert gone.incident.state is there
        out = run(gone.incident, back)
        assert out.incident.state is before, (before, action)
        assert out.incident.resume_state is None
        assert out.events[0].from_state is there and out.events[0].to_state is before
        assert out.incident.unit_assigned is (before in ACTIVE)


@pytest.mark.parametrize("there", [I, M, X])
def test_resume_without_a_recorded_state_goes_back_to_received(there: State) -> None:
    s = replace(snap(there), resume_state=None)
    out = run(s, Action.UNMERGE if there is M else Action.REOPEN)
    assert out.incident.state is R


@pytest.mark.parametrize("before", [None, R, A, D])
def test_reopen_closed_goes_back_to_accepted(before: State | None) -> None:
    s = replace(snap(C), resume_state=before)
    out = run(s, Action.REOPEN)
    assert out.incident.state is A
    assert out.incident.unit == NANBA


def test_reopened_closed_case_is_no_longer_assigned() -> None:
    """Reopening a closed case puts it back in accepted "to be dispatched again": the old
    unit is a suggestion there, as after accept, transfer or escalate in accepted."""
    out = run(snap(C), Action.REOPEN)
    assert out.incident.state is A
    assert out.incident.unit_assigned is False


def test_feedback_records_the_result_and_cancel_the_reason() -> None:
    out = run(snap(O), Action.FEEDBACK, params={"result": "已调解"})
    assert out.incident.result == "已调解" and out.events[0].data == {"result": "已调解"}
    out = run(snap(K), Action.CANCEL, params={"reason": "报警人撤回"})
    assert out.incident.reason == "报警人撤回" and out.events[0].reason == "报警人撤回"
    assert out.incident.resume_state is K


# -- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["bogus", "", "ACCEPT", "detach", "accept "])
def test_unknown_action_is_bad_parameters(action: str) -> None:
    with pytest.raises(BadParameters, match="unknown action"):
        run(snap(R), action)


NEEDS = [(a, name) for a, t in TRANSITIONS.items() for name in t.needs]


def test_needs_are_as_documented() -> None:
    assert {(str(a), n) for a, n in NEEDS} == {
        ("accept", "category"),
        ("mark_invalid", "reason"),
        ("merge", "master"),
        ("feedback", "result"),
        ("reopen", "reason"),
        ("cancel", "reason"),
        ("transfer", "unit"),
    }


@pytest.mark.parametrize(("action", "name"), NEEDS, ids=lambda v: str(v))
@pytest.mark.parametrize("missing", ["absent", None, ""])
def test_missing_parameter_is_bad_parameters_naming_it(
    action: Action, name: str, missing: str | None
) -> None:
    params = dict(PARAMS)
    if missing == "absent":
        del params[name]
    else:
        params[name] = missing
    with pytest.raises(BadParameters) as e:
        run(snap(SOURCE[action]), action, params=params)
    assert name in str(e.value) and str(action) in str(e.value)


def test_the_action_may_be_given_as_a_string() -> None:
    assert run(snap(R), "accept").incident.state is A


# -- 2. roles and scope -----------------------------------------------------------------------


def test_roles_are_as_documented() -> None:
    roles = {str(a): {str(r) for r in t.roles} for a, t in TRANSITIONS.items()}
    desk = {"calltaker", "dispatcher", "supervisor"}
    field = {"unit_officer", "dispatcher", "supervisor"}
    assert roles == {
        "accept": desk,
        "mark_invalid": desk,
        "merge": desk,
        "unmerge": desk,
        "dispatch": {"dispatcher", "supervisor"},
        "acknowledge": field,
        "arrive": field,
        "feedback": field,
        "close": {"dispatcher", "supervisor"},
        "reopen": {"dispatcher", "supervisor"},
        "cancel": desk,
        "transfer": field,
        "escalate": field | {"system"},
    }
    for t in TRANSITIONS.values():
        assert not t.roles & {Role.INTEGRATION, Role.ADMIN, Role.DRILL_COORDINATOR}


@pytest.mark.parametrize("drill", [False, True], ids=["real", "drill"])
@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize("action", list(Action), ids=str)
def test_role_may_take_action(action: Action, role: Role, drill: bool) -> None:
    s = snap(SOURCE[action], drill=drill)
    # The actor sits at the incident's own unit, so scope never stands in the way.
    actor = SYSTEM if role is Role.SYSTEM else Actor("u", role, NANBA)
    if role is Role.SYSTEM or role in TRANSITIONS[action].roles:
        allowed = True
    elif role is Role.DRILL_COORDINATOR:
        allowed = drill
    else:
        allowed = False
    if allowed:
        out = run(s, action, actor)
        assert out.events[0].actor == actor
        assert out.incident.state == State(EXPECTED[(str(s.state), str(action))])
        return
    with pytest.raises(Forbidden) as e:
        run(s, action, actor)
    assert str(role) in str(e.value)
    if role is not Role.DRILL_COORDINATOR:
        assert str(action) in str(e.value)


@pytest.mark.parametrize("role", [Role.INTEGRATION, Role.ADMIN])
def test_integration_and_admin_are_refused_even_at_the_root(role: Role) -> None:
    for action in Action:
        for drill in (False, True):
            with pytest.raises(Forbidden) as e:
                run(snap(SOURCE[action], drill=drill), action, Actor("svc", role, CITY))
            assert str(role) in str(e.value) and str(action) in str(e.value)


def test_drill_coordinator_is_scoped_too() -> None:
    coordinator = Actor("drill", Role.DRILL_COORDINATOR, QINGSHAN)
    assert run(snap(D, drill=True, unit=LUOFENG), Action.ACKNOWLEDGE, coordinator)
    with pytest.raises(Forbidden, match=QINGSHAN):
        run(snap(D, drill=True, unit=NANBA), Action.ACKNOWLEDGE, coordinator)
    with pytest.raises(Forbidden, match="drill"):
        run(snap(D, drill=False, unit=LUOFENG), Action.ACKNOWLEDGE, coordinator)


def test_unit_officer_cannot_act_for_another_station() -> None:
    officer = Actor("duty", Role.UNIT_OFFICER, NANBA)
    assert run(snap(D, unit=NANBA), Action.ACKNOWLEDGE, officer).incident.state is K
    for other in (MINGHU_STATION, BEIMEN, LUOFENG, MINGHU, CITY, TRAFFIC):
        with pytest.raises(Forbidden) as e:
            run(snap(D, unit=other), Action.ACKNOWLEDGE, officer)
        assert NANBA in str(e.value) and other in str(e.value)


def test_district_dispatcher_covers_its_stations_only() -> None:
    dispatcher = Actor("d", Role.DISPATCHER, MINGHU)
    for station in (NANBA, MINGHU_STATION, BEIMEN, MINGHU):
        assert run(snap(D, unit=station), Action.ACKNOWLEDGE, dispatcher).incident.state is K
    for outside in (LUOFENG, QINGSHAN, TRAFFIC, CITY):
        with pytest.raises(Forbidden, match=f"outside the scope of {MINGHU}"):
            run(snap(D, unit=outside), Action.ACKNOWLEDGE, dispatcher)


def test_district_dispatcher_cannot_dispatch_outside_its_district() -> None:
    dispatcher = Actor("d", Role.DISPATCHER, MINGHU)
    assert run(snap(A), Action.DISPATCH, dispatcher, {"unit": BEIMEN}).incident.unit == BEIMEN
    with pytest.raises(Forbidden, match=LUOFENG):
        run(snap(A), Action.DISPATCH, dispatcher, {"unit": LUOFENG})


def test_city_supervisor_covers_everything() -> None:
    for unit in ALL_UNITS:
        assert run(snap(D, unit=unit), Action.ACKNOWLEDGE).incident.state is K


def test_incident_without_a_unit_is_for_the_root_only() -> None:
    s = snap(R, unit=None)
    assert run(s, Action.ACCEPT, Actor("ct", Role.CALLTAKER, CITY)).incident.state is A
    assert run(s, Action.ACCEPT, SYSTEM).incident.state is A
    for scope in (MINGHU, NANBA, TRAFFIC):
        with pytest.raises(Forbidden, match="has no unit"):
            run(s, Action.ACCEPT, Actor("ct", Role.CALLTAKER, scope))


def test_non_system_actor_without_a_unit_is_refused() -> None:
    with pytest.raises(Forbidden, match="needs a unit"):
        run(snap(R), Action.ACCEPT, Actor("ct", Role.CALLTAKER, None))


# -- 3. deadlines -----------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [1, 2, 3, 4, None], ids=lambda p: f"p{p}")
@pytest.mark.parametrize(("state", "action"), list(EXPECTED), ids=lambda v: str(v))
def test_entering_a_state_arms_its_deadline(state: str, action: str, priority: int | None) -> None:
    out = run(snap(State(state), priority=priority), action)
    new = out.incident
    armed = deadlines(out)
    step = EXPECTED_STEP.get(new.state)
    if step is None:
        assert armed == []
        return
    assert armed == [ArmDeadline(step, due(step, priority or 2), new.unit)]


def test_deadline_values_from_the_sample_city() -> None:
    assert deadlines(run(snap(R, priority=1), Action.ACCEPT)) == [
        ArmDeadline(Step.DISPATCH, NOW + timedelta(seconds=60), NANBA)
    ]
    assert deadlines(run(snap(A, priority=4), Action.DISPATCH)) == [
        ArmDeadline(Step.ACKNOWLEDGE, NOW + timedelta(seconds=600), NANBA)
    ]
    assert deadlines(run(snap(D, priority=None), Action.ACKNOWLEDGE)) == [
        ArmDeadline(Step.ARRIVE, NOW + timedelta(seconds=900), NANBA)
    ]


@pytest.mark.parametrize("there", [I, M])
def test_going_back_to_received_arms_the_accept_deadline(there: State) -> None:
    out = run(snap(there, before=R, priority=3), Action.UNMERGE if there is M else Action.REOPEN)
    assert out.incident.state is R
    assert deadlines(out) == [ArmDeadline(Step.ACCEPT, due(Step.ACCEPT, 3), NANBA)]


def test_missed_acknowledge_escalates_a_station_to_its_district() -> None:
    out = on_deadline(snap(D, priority=1), Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert [e.action for e in out.events] == ["deadline_missed", "escalate"]
    missed, escalate = out.events
    assert missed.actor == SYSTEM and missed.data == {"step": "acknowledge", "unit": NANBA}
    assert (missed.from_state, missed.to_state) == (D, D)
    assert (escalate.from_state, escalate.to_state) == (D, D)
    assert escalate.data == {"from_unit": NANBA, "unit": MINGHU}
    new = out.incident
    assert (new.state, new.unit, new.unit_assigned) == (D, MINGHU, True)
    assert deadlines(out) == [ArmDeadline(Step.ACKNOWLEDGE, due(Step.ACKNOWLEDGE, 1), MINGHU)]
    assert notices(out) == [Notify(MINGHU, "escalate")]
    assert out.clears_deadlines is True
    # Missed again: the district goes to the city center.
    again = on_deadline(new, Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert again.incident.unit == CITY
    assert deadlines(again) == [ArmDeadline(Step.ACKNOWLEDGE, due(Step.ACKNOWLEDGE, 1), CITY)]


def test_missed_acknowledge_by_a_special_unit_goes_to_the_city() -> None:
    out = on_deadline(snap(D, unit=TRAFFIC), Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert out.incident.unit == CITY and out.incident.state is D


def test_missed_acknowledge_at_the_root_only_alerts() -> None:
    s = snap(D, unit=CITY)
    out = on_deadline(s, Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert out.incident == s
    assert [e.action for e in out.events] == ["deadline_missed"]
    assert out.effects == [Notify(CITY, "deadline_missed:acknowledge")]
    assert out.clears_deadlines is False


@pytest.mark.parametrize(
    ("state", "step"), [(R, Step.ACCEPT), (A, Step.DISPATCH)], ids=["accept", "dispatch"]
)
@pytest.mark.parametrize("unit", [NANBA, MINGHU, TRAFFIC, CITY, None])
def test_missed_accept_or_dispatch_alerts_the_root(
    state: State, step: Step, unit: str | None
) -> None:
    s = snap(state, unit=unit)
    out = on_deadline(s, step, now=NOW, org=ORG, sla=SLA)
    assert out.incident == s
    assert [(e.action, e.data["step"]) for e in out.events] == [("deadline_missed", str(step))]
    assert out.effects == [Notify(CITY, f"deadline_missed:{step}")]
    assert out.clears_deadlines is False


@pytest.mark.parametrize(
    ("state", "step"), [(K, Step.ARRIVE), (O, Step.FEEDBACK)], ids=["arrive", "feedback"]
)
@pytest.mark.parametrize(
    ("unit", "alerted"),
    [
        (NANBA, MINGHU),
        (LUOFENG, QINGSHAN),
        (MINGHU, CITY),
        (TRAFFIC, CITY),
        (CITY, CITY),
        (None, CITY),
    ],
)
def test_missed_arrive_or_feedback_alerts_the_tier_above(
    state: State, step: Step, unit: str | None, alerted: str
) -> None:
    s = snap(state, unit=unit)
    out = on_deadline(s, step, now=NOW, org=ORG, sla=SLA)
    assert out.incident == s
    assert [e.action for e in out.events] == ["deadline_missed"]
    assert out.effects == [Notify(alerted, f"deadline_missed:{step}")]
    assert out.clears_deadlines is False


def test_stale_acknowledge_deadline_does_not_escalate() -> None:
    s = snap(K)
    out = on_deadline(s, Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert out.incident == s and out.effects == [Notify(CITY, "deadline_missed:acknowledge")]


# -- unknown unit codes (a unit removed from the configuration, or a bad `unit` on accept) -----


def test_accept_refuses_an_unknown_unit() -> None:
    """Dispatch and transfer refuse a unit the org tree does not know; accept should too
    (the service passes a caller's `unit` straight through: `params.setdefault("unit", …)`)."""
    with pytest.raises(BadParameters):
        run(snap(R), Action.ACCEPT, params={"category": "criminal", "unit": UNKNOWN_UNIT})


def test_escalating_an_incident_of_an_unknown_unit_is_refused_not_a_crash() -> None:
    s = snap(D, unit=UNKNOWN_UNIT)
    with pytest.raises(Refused):
        run(s, Action.ESCALATE)
    # The deadline path must not crash either: it can only alert the root.
    out = on_deadline(s, Step.ACKNOWLEDGE, now=NOW, org=ORG, sla=SLA)
    assert out.incident == s and notices(out) == [Notify(CITY, "deadline_missed:acknowledge")]


def test_actor_of_an_unknown_unit_is_forbidden_not_a_crash() -> None:
    with pytest.raises(Forbidden):
        run(snap(R, unit=None), Action.ACCEPT, Actor("ct", Role.CALLTAKER, UNKNOWN_UNIT))


# -- 4. random walks --------------------------------------------------------------------------

# Valid choices come up often enough for walks to get far (closed, reopened, escalated
# twice…); the rest of the time anything goes.
ACTORS = st.one_of(
    st.just(SUPERVISOR),
    st.just(SUPERVISOR),
    st.just(SYSTEM),
    st.builds(
        Actor,
        st.just("u"),
        st.sampled_from(list(Role)),
        st.sampled_from([*ALL_UNITS, UNKNOWN_UNIT, None]),
    ),
)
UNITS = st.sampled_from([*ALL_UNITS, UNKNOWN_UNIT, "", None])


def sometimes(valid: Any, *invalid: Any) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), st.just(valid), st.sampled_from([valid, *invalid]))


PARAMETERS = st.fixed_dictionaries(
    {
        "category": sometimes("criminal", "traffic", "fire", "", None),
        "reason": sometimes("核实", "", None),
        "master": sometimes(MASTER, NUMBER, "", None),
        "result": sometimes("已处置", "", None),
    },
    optional={"unit": UNITS, "priority": st.sampled_from([1, 2, 3, 4, None])},
)


def next_action(state: State) -> st.SearchStrategy[str]:
    """Mostly an action the state allows (so walks get far), else any string."""
    allowed = [str(a) for a in allowed_actions(state)]
    anything = st.sampled_from([*map(str, Action), "bogus", ""])
    if not allowed:
        return anything
    return st.one_of(st.sampled_from(allowed), st.sampled_from(allowed), anything)


def check_step(
    old: Snapshot, action: str, actor: Actor, out: Outcome, before: State | None
) -> None:
    new = out.incident
    t = TRANSITIONS[Action(action)]
    assert isinstance(new.state, State)
    assert old.state in t.sources
    if isinstance(t.target, State):
        assert new.state is t.target
    elif action == "reopen" and old.state is C:
        assert new.state is A
    elif action in ("reopen", "unmerge"):
        assert new.state in RESUMABLE[old.state]
        assert new.state is (before or R)
    else:  # transfer, escalate
        assert new.state is (A if old.state is A else D)
    assert EXPECTED.get((str(old.state), action)) is not None
    assert new.unit is None or new.unit in ORG
    if new.state in ACTIVE | {H, C}:
        assert new.unit in ORG
    if new.state in ACTIVE | {H, C}:
        assert new.unit_assigned is True
    if new.state in (R, A, I, M):
        assert new.unit_assigned is False
    if new.state is X:
        assert new.unit_assigned is (old.state in ACTIVE)
    [event] = out.events
    assert (event.action, event.from_state, event.to_state, event.actor) == (
        action,
        old.state,
        new.state,
        actor,
    )
    assert len(deadlines(out)) == (1 if new.state in EXPECTED_STEP else 0)
    assert out.clears_deadlines is True


@settings(max_examples=300, deadline=None)
@given(unit=st.sampled_from([*ALL_UNITS, None]), drill=st.booleans(), data=st.data())
def test_random_walk(unit: str | None, drill: bool, data: st.DataObject) -> None:
    s = Snapshot(NUMBER, R, drill=drill, unit=unit)
    before: State | None = None  # our own record of the state before invalid/merged/cancelled
    for _ in range(data.draw(st.integers(0, 40), label="steps")):
        if data.draw(st.integers(0, 5), label="kind") == 0:
            step = data.draw(st.sampled_from(list(Step)), label="deadline")
            out = on_deadline(s, step, now=NOW, org=ORG, sla=SLA)
            assert out.events[0].action == "deadline_missed"
            assert out.events[0].from_state is s.state
            if len(out.events) == 1:
                assert out.incident == s and out.clears_deadlines is False
                assert [type(e) for e in out.effects] == [Notify]
                assert out.effects[0].unit in ORG
            else:
                assert step is Step.ACKNOWLEDGE and s.state is D
                assert s.unit is not None
                parent = ORG.escalation_target(s.unit)
                assert parent is not None
                assert (out.incident.state, out.incident.unit) == (D, parent.code)
                assert out.events[1].action == "escalate"
                assert len(deadlines(out)) == 1
            s = out.incident
            continue
        action = data.draw(next_action(s.state), label="action")
        actor = data.draw(ACTORS, label="actor")
        params = data.draw(PARAMETERS, label="params")
        try:
            out = apply(s, action, actor, params, now=NOW, org=ORG, sla=SLA)
        except Refused as e:
            assert type(e) in (NotAllowedInState, Forbidden, BadParameters)
            if action not in set(map(str, Action)):
                assert type(e) is BadParameters
            elif s.state not in TRANSITIONS[Action(action)].sources:
                # Role and scope are checked first (403 before 409), then the state.
                assert type(e) in (NotAllowedInState, Forbidden)
            continue
        check_step(s, action, actor, out, before)
        if out.incident.state in (I, M, X):
            before = s.state
        s = out.incident


def test_role_is_checked_before_state() -> None:
    """Someone without the role learns nothing about the incident's state (403, not 409)."""
    s = Snapshot("530100-20261124-000001", State.CLOSED, unit="530102510000")
    officer = Actor("po", Role.UNIT_OFFICER, "530102510000")
    with pytest.raises(Forbidden):
        apply(s, Action.ACCEPT, officer, {"category": "criminal"}, now=NOW, org=ORG, sla=SLA)
