"""What a channel is to the core: one small declaration, and the context the core hands it.

Each channel folder (`gateway/channels/<code>/`, or a package of its own registered under the
``alarmgw.channels`` entry point group) exports ``CHANNEL``, a `Channel`, from its
``__init__.py``. The declaration names its parts with dotted strings (``"module:attr"``), as
Twisted's ``ServiceMaker`` does, so nothing of a channel is imported until its
``[channels.<code>]`` section enables it: the core learns of a channel only here.

A channel's service is built with a `ChannelContext`: the one way into the core (intake,
workflow actions, the store, the clock, the org tree, metrics, action listeners), so that
mypy checks every call a channel makes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from sqlalchemy import Connection
    from twisted.internet.defer import Deferred

    from gateway.config import Config
    from gateway.orgtree import OrgTree
    from gateway.report import Receipt, Report
    from gateway.store.transaction import WriteContext
    from gateway.workflow.documents import Documents
    from gateway.workflow.machine import Actor

P = ParamSpec("P")
T = TypeVar("T")

# Every part of a declaration that names code does it as "package.module:attribute".
Dotted = str


def resolve(dotted: Dotted) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module, _, attr = dotted.partition(":")
    obj: Any = importlib.import_module(module)
    for name in attr.split(".") if attr else ():
        obj = getattr(obj, name)
    return obj


@dataclass(frozen=True)
class ChannelAction:
    """An extra incident action a channel offers (``POST /api/v1/incidents/{n}/actions``
    with ``{"action": name, …}``). The core checks the parameters' JSON Schema, the required
    ones, the role and the actor's scope over the incident, then ``handler(service, actor,
    number, params)`` gives the answer's body: a Deferred, or a coroutine that awaits
    Deferreds."""

    name: str
    handler: Dotted
    roles: frozenset[str]
    params: Mapping[str, Any] = field(default_factory=dict)  # JSON Schema properties
    required: tuple[str, ...] = ()
    status: int = 200  # 202: the work goes on after the answer
    response: Dotted | None = None  # JSON Schema of the answer's body (for OpenAPI)
    summary: str = ""
    # The Report.channels it answers (a reply goes back where a report came from): the
    # console offers it only on an incident with such a report. Empty: on every incident.
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelView:
    """A key of the incident document filled by the channel, e.g. ``calls``: ``render(conn,
    incident_ids)`` → {incident id: value}; ``schema`` is the value's JSON Schema."""

    key: str
    render: Dotted
    schema: Dotted
    description: str = ""
    detail_only: bool = True  # the list view leaves it out


@dataclass(frozen=True)
class ChannelRoute:
    """An HTTP route of the channel on the gateway's site: ``await handler(service, call)``
    with a `RouteCall`, returns ``(status, body)``. ``openapi`` is the operation object."""

    method: str
    path: str  # OpenAPI path template, e.g. /api/v1/calltakers/{calltaker}/current
    pattern: str  # the regular expression that matches it, with named groups
    handler: Dotted
    openapi: Dotted  # an operation object (dict) for the OpenAPI document
    auth: str = "required"  # bearer token: "required", "optional" or "none"
    roles: frozenset[str] | None = None  # with a token, only these roles (None: any)


@dataclass(frozen=True)
class Channel:
    """A channel's declaration. Only `code`, `report_channel` and `service` are required."""

    code: str  # its [channels.<code>] section
    report_channel: str  # the Report.channel it files under
    title: str
    service: Dotted  # a twisted Service class, built as cls(ChannelContext)
    also_files_under: tuple[str, ...] = ()  # more Report.channels of its own (email: fax)
    settings: Dotted | None = None  # class with from_config(section) → the settings object
    config_schema: str | None = "config.schema.json"  # in the channel's package
    config_check: Dotted | None = None  # fn(section) → [(key, problem), …]
    intake_hook: Dotted | None = None  # class with from_config(Config) → intake.ChannelHook
    notify_kind: str | None = None  # the notify-target kind it delivers
    notifier: Dotted | None = None  # fn(service) → notify.outbox.Notifier
    actions: tuple[ChannelAction, ...] = ()
    views: tuple[ChannelView, ...] = ()
    tasks: Dotted | None = None  # fn(conn, incident ids) → {id: [task, …]} (the queue's to-dos)
    routes: tuple[ChannelRoute, ...] = ()
    openapi_components: Dotted | None = None  # {name: schema} its documents refer to
    tables: Dotted | None = None  # module declaring its tables on gateway.store.tables.metadata
    migrations: str | None = None  # folder of its Alembic branch (label: its code)
    events: tuple[str, ...] = ()  # audit event names it writes
    metrics: Dotted | None = None  # class built with the registry: its own metrics
    # async fn(service, gateway.drills.inject.DrillInject) → Sent: plays a drill inject
    # through the channel, as its alarms really come (gateway.drills.inject says how)
    drill: Dotted | None = None
    enabled_by_default: bool = False
    package: str = ""  # the package that declared it (filled in by discovery)


class RouteCall(Protocol):
    """What a channel's route handler gets of an HTTP request (`gateway.http.resource`)."""

    actor: Actor | None  # who sent the token (None without one, where none is needed)
    params: dict[str, str]  # the path's named groups
    now: datetime

    @property
    def query(self) -> dict[str, str]: ...

    @property
    def too_large(self) -> bool: ...

    def form(self) -> dict[str, str]: ...

    def header(self, name: str) -> str | None: ...

    def json(self) -> Any:
        """The body as JSON; a body that is not refuses the request (400, 413, 415)."""
        ...

    def body(self, *media_types: str) -> bytes:
        """The body's octets as sent (to check a signature, to parse XML); refuses a body
        too large (413) or, with `media_types`, of another Content-Type (415)."""
        ...


class ChannelContext(Protocol):
    """The core as one channel sees it."""

    @property
    def channel(self) -> Channel: ...

    @property
    def settings(self) -> Any: ...  # the channel's own settings object (its `settings` class)

    @property
    def metrics(self) -> Any: ...  # the channel's own metrics object (its `metrics` class)

    @property
    def config(self) -> Config: ...

    @property
    def org(self) -> OrgTree: ...

    @property
    def tz(self) -> ZoneInfo: ...

    @property
    def reactor(self) -> Any: ...

    @property
    def clock(self) -> Any: ...  # IReactorTime

    @property
    def registry(self) -> CollectorRegistry: ...

    def now(self) -> datetime: ...

    def submit(self, report: Report) -> Deferred[Receipt]:
        """Intake: fires after the report is durably committed (see `gateway.intake`)."""
        ...

    def act(
        self, number: str, action: str, actor: Actor, params: dict[str, Any]
    ) -> Deferred[dict[str, Any]]:
        """A workflow action, as the HTTP API would take it; fires with the incident."""
        ...

    def acknowledge_notice(self, delivery: int, reason: str) -> Deferred[str]:
        """A duty phone answered notice `delivery` (the outbox row): the unit's 签收 when the
        incident waits for that unit, else only a confirmation. See `gateway.workflow.duty`."""
        ...

    def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kw: P.kwargs
    ) -> Deferred[T]: ...

    def write(
        self, fn: Callable[Concatenate[WriteContext, P], T], *args: P.args, **kw: P.kwargs
    ) -> Deferred[T]: ...

    def on_action(self, listener: Callable[[str, str, dict[str, Any]], None]) -> Callable[[], None]:
        """Call `listener(number, action, document)` after each committed action; returns
        the function that unsubscribes it (call it when the service stops)."""
        ...

    @property
    def documents(self) -> Documents: ...  # renders incident documents
