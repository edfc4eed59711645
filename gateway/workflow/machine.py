"""One pure function moves an incident: state + action + actor → new state + events + effects.

No I/O, no clock of its own: the caller passes `now`, the org tree and the SLAs, and
persists what comes back (`gateway.workflow.service`). That keeps every rule testable
in microseconds and lets a property test walk thousands of random action sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from gateway.errors import DomainError
from gateway.workflow.table import (
    DRILL_ROLES,
    REDISPATCH,
    RESUME,
    STEP_ON_ENTRY,
    TRANSITIONS,
    Action,
    Role,
    State,
    Step,
)

DEFAULT_PRIORITY = 2


class Org(Protocol):
    """What the machine needs of `gateway.orgtree.OrgTree`."""

    def __contains__(self, code: object) -> bool: ...

    def covers(self, scope_code: str, unit_code: str) -> bool: ...

    def escalation_target(self, code: str) -> Any: ...

    @property
    def root(self) -> Any: ...


class Slas(Protocol):
    def seconds(self, step: str, priority: int) -> int | None: ...


class Refused(DomainError):
    """An action the state, the role or the scope does not allow (HTTP 409/403/422)."""

    kind = "conflict"


class NotAllowedInState(Refused):
    kind = "conflict"


class Forbidden(Refused):
    kind = "forbidden"


class BadParameters(Refused):
    kind = "invalid"


@dataclass(frozen=True, slots=True)
class Actor:
    user: str
    role: Role
    unit: str | None  # scope: this unit's subtree; None only for the system actor

    def to_json(self) -> dict[str, Any]:
        return {"user": self.user, "role": str(self.role), "unit": self.unit}


SYSTEM = Actor("alarmgw", Role.SYSTEM, None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The part of an incident the rules look at."""

    number: str
    state: State
    drill: bool = False
    category: str | None = None
    priority: int | None = None
    unit: str | None = None  # assigned (after dispatch) or suggested (by routing)
    unit_assigned: bool = False
    master: str | None = None
    resume_state: State | None = None  # where reopen/unmerge go back to
    reason: str | None = None
    result: str | None = None
    location: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class EventDraft:
    action: str
    from_state: State | None
    to_state: State | None
    actor: Actor
    reason: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ArmDeadline:
    step: Step
    due: datetime
    unit: str | None


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell a unit (its notify targets) about the incident, with why."""

    unit: str
    reason: str


@dataclass(frozen=True, slots=True)
class MoveReports:
    """Merge moves the incident's reports to the master; unmerge brings them back."""

    to_master: str | None  # None: back from the master to this incident


Effect = ArmDeadline | Notify | MoveReports


@dataclass(frozen=True, slots=True)
class Outcome:
    incident: Snapshot
    events: list[EventDraft]
    effects: list[Effect]
    # Every transition ends the deadlines the old state had armed (the store marks
    # them met or cancelled); the effects arm the new one.
    clears_deadlines: bool = True


def whole_priority(value: Any) -> int | None:
    """A priority as the integer it is. JSON Schema counts 1.0 (or 1e0) as an integer, so
    the API's schema lets a whole float through; SLAs are indexed by the priority and it is
    stored and returned as an integer."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4
    ):
        raise BadParameters(f"priority must be 1, 2, 3 or 4 (got {value!r})", "priority")
    return value


def checked_location(value: Any) -> dict[str, Any]:
    """A location given with an action, held to what a report's must be: lat and lon come
    together, and there is a point or an address (`{"accuracy_m": 5}` alone says nowhere)."""
    if not isinstance(value, dict):
        raise BadParameters("location must be an object", "location")
    if ("lat" in value) != ("lon" in value):
        raise BadParameters("location: lat and lon come together or not at all", "location")
    if "lat" not in value and not value.get("address"):
        raise BadParameters("location needs lat and lon, or an address", "location")
    return value


def effective_priority(s: Snapshot) -> int:
    return s.priority if s.priority is not None else DEFAULT_PRIORITY


def check_actor(s: Snapshot, actor: Actor, roles: frozenset[Role], org: Org, action: str) -> None:
    """Role and scope: the actor's unit subtree must cover the incident's unit."""
    if actor.role is Role.SYSTEM:
        return
    if actor.role in DRILL_ROLES:
        if not s.drill:
            raise Forbidden(f"role {actor.role} may act on drill incidents only")
    elif actor.role not in roles:
        raise Forbidden(f"role {actor.role} may not {action}")
    if actor.unit is None:
        raise Forbidden("an actor needs a unit")
    if actor.unit not in org:
        raise Forbidden(f"unit {actor.unit} is not in the org tree")
    target = s.unit
    if target is None or target not in org:
        # No unit yet: only the root's people see it.
        if org.escalation_target(actor.unit) is not None:
            raise Forbidden(f"incident {s.number} has no unit in the scope of {actor.unit}")
        return
    if not org.covers(actor.unit, target):
        raise Forbidden(f"incident {s.number} (unit {target}) is outside the scope of {actor.unit}")


def arm(state: State, s: Snapshot, now: datetime, sla: Slas, unit: str | None) -> list[Effect]:
    step = STEP_ON_ENTRY.get(state)
    if step is None:
        return []
    seconds = sla.seconds(str(step), effective_priority(s))
    if seconds is None:
        return []
    return [ArmDeadline(step, now + timedelta(seconds=seconds), unit)]


def apply(
    s: Snapshot,
    action: Action | str,
    actor: Actor,
    params: dict[str, Any],
    *,
    now: datetime,
    org: Org,
    sla: Slas,
) -> Outcome:
    """Apply `action` with `params` (already type-checked by the API schema)."""
    try:
        action = Action(action)
    except ValueError:
        raise BadParameters(f"unknown action {action!r}") from None
    t = TRANSITIONS[action]
    # Who may act comes first: someone without the role or the scope learns nothing
    # about the incident's state (403 before 409).
    check_actor(s, actor, t.roles, org, str(action))
    if s.state not in t.sources:
        raise NotAllowedInState(
            f"incident {s.number} is {s.state}: action {action} is not allowed "
            f"(allowed from {', '.join(sorted(t.sources))})"
        )
    for name in t.needs:
        if params.get(name) in (None, ""):
            raise BadParameters(f"action {action} needs {name}", name)

    if params.get("location") is not None:
        checked_location(params["location"])
    reason = params.get("reason")
    data: dict[str, Any] = {}
    effects: list[Effect] = []
    new = s
    unit = s.unit

    if action is Action.ACCEPT:
        priority = whole_priority(
            params.get("priority") or params.get("default_priority") or s.priority
        )
        new = replace(
            s,
            category=params["category"],
            priority=priority,
            location=params.get("location") or s.location,
        )
        # Routing is done by the caller (it needs the geometry); it passes the result.
        unit = params.get("unit") or s.unit
        if unit is not None and unit not in org:
            raise BadParameters(f"unknown unit {unit!r}", "unit")
        new = replace(new, unit=unit, unit_assigned=False)
        data = {"category": new.category, "priority": new.priority, "unit": unit}
        target: State = State.ACCEPTED
    elif action is Action.MARK_INVALID:
        target = State.INVALID
        new = replace(s, reason=reason, resume_state=s.state)
    elif action is Action.MERGE:
        master = params["master"]
        if master == s.number:
            raise BadParameters("an incident cannot be merged into itself", "master")
        target = State.MERGED
        new = replace(s, master=master, resume_state=s.state)
        effects.append(MoveReports(to_master=master))
        data = {"master": master}
    elif action is Action.UNMERGE:
        target = s.resume_state or State.RECEIVED
        data = {"master": s.master}
        new = replace(s, master=None, resume_state=None)
        effects.append(MoveReports(to_master=None))
    elif action is Action.DISPATCH:
        unit = params.get("unit") or s.unit
        if unit is None or unit not in org:
            raise BadParameters(f"dispatch needs a known unit (got {unit!r})", "unit")
        if actor.role is not Role.SYSTEM and actor.unit and not org.covers(actor.unit, unit):
            raise Forbidden(f"unit {unit} is outside the scope of {actor.unit}")
        target = State.DISPATCHED
        new = replace(s, unit=unit, unit_assigned=True)
        effects.append(Notify(unit, "dispatch"))
        data = {"unit": unit}
    elif action is Action.ACKNOWLEDGE:
        target = State.ACKNOWLEDGED
    elif action is Action.ARRIVE:
        target = State.ON_SCENE
    elif action is Action.FEEDBACK:
        target = State.HANDLED
        new = replace(s, result=params["result"])
        data = {"result": params["result"]}
    elif action is Action.CLOSE:
        target = State.CLOSED
    elif action is Action.REOPEN:
        if s.state is State.CLOSED:
            # Back to accepted, to be dispatched again: the unit is a suggestion once more.
            target = State.ACCEPTED
            new = replace(s, resume_state=None, unit_assigned=False)
        else:
            target = s.resume_state or State.RECEIVED
            new = replace(s, resume_state=None)
    elif action is Action.CANCEL:
        target = State.CANCELLED
        new = replace(s, reason=reason, resume_state=s.state)
    elif action in (Action.TRANSFER, Action.ESCALATE):
        if action is Action.TRANSFER:
            unit = params["unit"]
            if unit not in org:
                raise BadParameters(f"unknown unit {unit!r}", "unit")
        else:
            parent = org.escalation_target(s.unit) if s.unit and s.unit in org else None
            if parent is None:
                raise NotAllowedInState(
                    f"incident {s.number} is {s.state} at the top unit: "
                    "action escalate is not allowed"
                )
            unit = parent.code
        if unit == s.unit:
            raise BadParameters(f"incident {s.number} is already with unit {unit}", "unit")
        assert t.target == REDISPATCH
        target = State.ACCEPTED if s.state is State.ACCEPTED else State.DISPATCHED
        new = replace(s, unit=unit, unit_assigned=target is State.DISPATCHED)
        if target is State.DISPATCHED:
            effects.append(Notify(unit, str(action)))
        data = {"from_unit": s.unit, "unit": unit}
    else:  # pragma: no cover - the table and this function must list the same actions
        raise AssertionError(f"action {action} has no rule")

    if t.target not in (RESUME, REDISPATCH):
        assert target == t.target, (action, target, t.target)
    new = replace(new, state=target)
    if new.location != s.location:
        # Who moved the incident where: the audit log keeps both places.
        data = {**data, "location": new.location, "from_location": s.location}
    effects[:0] = arm(target, new, now, sla, new.unit)
    event = EventDraft(str(action), s.state, target, actor, reason, data)
    return Outcome(new, [event], effects)


def on_deadline(s: Snapshot, step: Step, *, now: datetime, org: Org, sla: Slas) -> Outcome:
    """A deadline passed. Unacknowledged dispatch escalates to the parent unit and re-arms;
    any other missed step raises an alert to the unit above (the supervisor at the root)."""
    missed = EventDraft(
        "deadline_missed", s.state, s.state, SYSTEM, None, {"step": str(step), "unit": s.unit}
    )
    if step is Step.ACKNOWLEDGE and s.state is State.DISPATCHED and s.unit and s.unit in org:
        parent = org.escalation_target(s.unit)
        if parent is not None:
            out = apply(
                s, Action.ESCALATE, SYSTEM, {"reason": "签收超时"}, now=now, org=org, sla=sla
            )
            return Outcome(out.incident, [missed, *out.events], out.effects)
    # Accepting and dispatching are the command center's own steps: alert its supervisor.
    # Arrival and feedback are the unit's: alert the tier above it.
    alert = org.root.code
    if step in (Step.ARRIVE, Step.FEEDBACK) and s.unit and s.unit in org:
        above = org.escalation_target(s.unit)
        alert = above.code if above is not None else s.unit
    effects: list[Effect] = [Notify(alert, f"deadline_missed:{step}")]
    return Outcome(s, [missed], effects, clears_deadlines=False)
