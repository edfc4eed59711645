"""The 110 incident life (接处警), declared once as data.

Every rule about which action may move an incident from which state, and who may
take it, is in the tables below; `gateway.workflow.machine.apply` is the one place
that reads them. Adding a state or an action means adding rows here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"  # 接警
    ACCEPTED = "accepted"  # 受理
    INVALID = "invalid"  # 无效警情
    MERGED = "merged"  # 合并
    DISPATCHED = "dispatched"  # 派警
    ACKNOWLEDGED = "acknowledged"  # 签收
    ON_SCENE = "on_scene"  # 到场
    HANDLED = "handled"  # 处警反馈
    CLOSED = "closed"  # 结案
    CANCELLED = "cancelled"  # 撤销


STATE_NAMES_ZH: dict[State, str] = {
    State.RECEIVED: "接警",
    State.ACCEPTED: "受理",
    State.INVALID: "无效警情",
    State.MERGED: "合并",
    State.DISPATCHED: "派警",
    State.ACKNOWLEDGED: "签收",
    State.ON_SCENE: "到场",
    State.HANDLED: "处警反馈",
    State.CLOSED: "结案",
    State.CANCELLED: "撤销",
}

# The main line of an incident's life, in order.
FORWARD: tuple[State, ...] = (
    State.RECEIVED,
    State.ACCEPTED,
    State.DISPATCHED,
    State.ACKNOWLEDGED,
    State.ON_SCENE,
    State.HANDLED,
    State.CLOSED,
)
# Open incidents are the ones a new report may be attached to and the ones queues show.
OPEN_STATES: frozenset[State] = frozenset(FORWARD[:-1])


class Action(StrEnum):
    ACCEPT = "accept"
    MARK_INVALID = "mark_invalid"
    MERGE = "merge"
    UNMERGE = "unmerge"
    DISPATCH = "dispatch"
    ACKNOWLEDGE = "acknowledge"
    ARRIVE = "arrive"
    FEEDBACK = "feedback"
    CLOSE = "close"
    REOPEN = "reopen"
    CANCEL = "cancel"
    TRANSFER = "transfer"
    ESCALATE = "escalate"


class Role(StrEnum):
    CALLTAKER = "calltaker"  # 接警员
    DISPATCHER = "dispatcher"  # 调度员
    UNIT_OFFICER = "unit_officer"  # 所队值班员
    SUPERVISOR = "supervisor"  # 指挥长
    DRILL_COORDINATOR = "drill_coordinator"  # 演练组织者
    INTEGRATION = "integration"  # 外部系统
    ADMIN = "admin"  # 系统管理员
    SYSTEM = "system"  # the gateway itself: deadlines, intake


class Step(StrEnum):
    """Steps that carry an SLA; each is armed when its state is entered."""

    ACCEPT = "accept"  # received → accepted
    DISPATCH = "dispatch"  # accepted → dispatched
    ACKNOWLEDGE = "acknowledge"  # dispatched → acknowledged
    ARRIVE = "arrive"  # acknowledged → on_scene
    FEEDBACK = "feedback"  # on_scene → handled


# The deadline armed on entering a state.
STEP_ON_ENTRY: dict[State, Step] = {
    State.RECEIVED: Step.ACCEPT,
    State.ACCEPTED: Step.DISPATCH,
    State.DISPATCHED: Step.ACKNOWLEDGE,
    State.ACKNOWLEDGED: Step.ARRIVE,
    State.ON_SCENE: Step.FEEDBACK,
}

# "Go back to the state before": reopen after invalid/cancelled/closed, unmerge.
RESUME = "resume"
# Transfer and escalation: an accepted incident stays accepted with a new suggested unit;
# an active one goes back to dispatched, for the new unit to acknowledge.
REDISPATCH = "redispatch"


@dataclass(frozen=True, slots=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State | str  # a State, or RESUME
    roles: frozenset[Role]
    needs: tuple[str, ...] = ()  # parameters the action requires


_CT, _DI, _UO, _SU, _SY = (
    Role.CALLTAKER,
    Role.DISPATCHER,
    Role.UNIT_OFFICER,
    Role.SUPERVISOR,
    Role.SYSTEM,
)
_ACTIVE = frozenset({State.DISPATCHED, State.ACKNOWLEDGED, State.ON_SCENE})


def _t(
    action: Action,
    sources: set[State] | frozenset[State],
    target: State | str,
    roles: set[Role],
    needs: tuple[str, ...] = (),
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), needs)


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(Action.ACCEPT, {State.RECEIVED}, State.ACCEPTED, {_CT, _DI, _SU}, ("category",)),
        _t(
            Action.MARK_INVALID,
            {State.RECEIVED, State.ACCEPTED},
            State.INVALID,
            {_CT, _DI, _SU},
            ("reason",),
        ),
        _t(
            Action.MERGE,
            {State.RECEIVED, State.ACCEPTED},
            State.MERGED,
            {_CT, _DI, _SU},
            ("master",),
        ),
        _t(Action.UNMERGE, {State.MERGED}, RESUME, {_CT, _DI, _SU}),
        _t(Action.DISPATCH, {State.ACCEPTED}, State.DISPATCHED, {_DI, _SU}),
        _t(Action.ACKNOWLEDGE, {State.DISPATCHED}, State.ACKNOWLEDGED, {_UO, _DI, _SU}),
        _t(Action.ARRIVE, {State.ACKNOWLEDGED}, State.ON_SCENE, {_UO, _DI, _SU}),
        _t(Action.FEEDBACK, {State.ON_SCENE}, State.HANDLED, {_UO, _DI, _SU}, ("result",)),
        _t(Action.CLOSE, {State.HANDLED}, State.CLOSED, {_DI, _SU}),
        # Reopen returns to the state before; a closed case returns to accepted, to be
        # dispatched again.
        _t(
            Action.REOPEN,
            {State.INVALID, State.CANCELLED, State.CLOSED},
            RESUME,
            {_DI, _SU},
            ("reason",),
        ),
        _t(
            Action.CANCEL,
            {State.RECEIVED, State.ACCEPTED} | _ACTIVE,
            State.CANCELLED,
            {_CT, _DI, _SU},
            ("reason",),
        ),
        # 转警: to another unit; an active incident must be acknowledged again by the new unit.
        _t(Action.TRANSFER, {State.ACCEPTED} | _ACTIVE, REDISPATCH, {_DI, _SU, _UO}, ("unit",)),
        _t(Action.ESCALATE, {State.ACCEPTED} | _ACTIVE, REDISPATCH, {_DI, _SU, _UO, _SY}),
    )
}

# Roles that may act on drill incidents as if they were supervisors, and only on those.
DRILL_ROLES: frozenset[Role] = frozenset({Role.DRILL_COORDINATOR})


def allowed_actions(state: State) -> list[Action]:
    return [t.action for t in TRANSITIONS.values() if state in t.sources]
