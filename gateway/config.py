"""The gateway's configuration: one TOML file, checked completely before the reactor runs.

Checking happens in two passes. The JSON Schema (``schemas/config.schema.json``) catches shape
errors and typos (unknown keys are refused); the semantic pass then checks what a schema cannot
say: unique codes, one root, parents that exist, no cycles, valid polygons, routing hints that
name real units. Every problem becomes a ``ConfigError`` naming the file, the key path and what
is wrong, e.g. ``alarmgw.toml: sla.acknowledge.p1: -5 is less than the minimum of 1``.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import shapely.geometry
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from gateway import discovery
from gateway.channel import Channel, resolve
from gateway.orgtree import NotifyTarget, OrgTree, Unit
from gateway.schemas import load_schema

SAMPLE_NAME = "sample_city.toml"
SLA_STEPS = ("accept", "dispatch", "acknowledge", "arrive", "feedback")
PRIORITIES = (1, 2, 3, 4)


class ConfigError(Exception):
    """The configuration cannot be used; the message lists every problem found, one a line."""


@dataclass(frozen=True)
class City:
    name: str
    code: str
    timezone: str
    sample: bool


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int
    max_body: int
    public_base_url: str | None


@dataclass(frozen=True)
class ConsoleSettings:
    idle_timeout_s: int = 3600
    session_max_s: int = 43200
    login_failures: int = 5
    login_window_s: int = 300
    tile_url: str | None = None
    tile_attribution: str | None = None
    stream_poll_s: float = 0.5


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    priority: int  # default priority, 1 highest … 4
    route_to: str | None  # a unit that takes this category regardless of territory
    also_notify: tuple[NotifyTarget, ...]


@dataclass(frozen=True)
class Sla:
    """Seconds allowed per workflow step, per priority (index 0 is p1)."""

    steps: Mapping[str, tuple[int, int, int, int]] = field(hash=False)

    def seconds(self, step: str, priority: int) -> int | None:
        limits = self.steps.get(step)
        if limits is None or priority not in PRIORITIES:
            return None
        return limits[priority - 1]


@dataclass(frozen=True)
class CorrelationSettings:
    sender_window: int
    alarm_window: int
    place_radius_m: float
    place_window: int


@dataclass(frozen=True)
class WebhookSettings:
    timeout: float
    max_attempts: int
    backoff_initial: float
    backoff_max: float


@dataclass(frozen=True)
class Config:
    path: Path | None  # None: the bundled sample city
    city: City
    storage_url: str | None
    busy_timeout_ms: int
    intake_worker: bool
    http: HttpSettings
    org: OrgTree = field(hash=False)
    categories: Mapping[str, Category] = field(hash=False)
    sla: Sla
    correlation: CorrelationSettings
    webhook: WebhookSettings
    channels: Mapping[str, Mapping[str, Any]] = field(hash=False)  # the raw sections
    enabled_channels: tuple[Channel, ...] = ()  # in the order they start (web first)
    console: ConsoleSettings = ConsoleSettings()

    def channel(self, code: str) -> Channel | None:
        """The declaration of channel `code` if it is enabled."""
        return next((c for c in self.enabled_channels if c.code == code), None)

    @property
    def notify_kinds(self) -> frozenset[str]:
        """The notify-target kinds something delivers: webhook, and the enabled channels'."""
        kinds = {c.notify_kind for c in self.enabled_channels if c.notify_kind}
        return frozenset({"webhook", *kinds})


# -- entry points ------------------------------------------------------------------------------


def sample_text() -> str:
    """The bundled sample city, e.g. for ``alarmgw config sample > alarmgw.toml``."""
    return resources.files("gateway").joinpath(SAMPLE_NAME).read_text(encoding="utf-8")


def load_config(path: str | Path | None = None) -> Config:
    """Read, validate and build the configuration; ``None`` loads the bundled sample city."""
    if path is None:
        return _build(sample_text(), SAMPLE_NAME, None, resources.files("gateway"))
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    return _build(text, str(path), p, p.parent)


def check_config(path: str | Path | None) -> Config:
    """Validate only (``alarmgw config check``); same checks and errors as ``load_config``."""
    return load_config(path)


# -- building --------------------------------------------------------------------------------


def _build(text: str, label: str, path: Path | None, base: Traversable) -> Config:
    data = _parse_toml(text, label)
    problems = _schema_problems(data)
    enabled: tuple[Channel, ...] = ()
    if not problems:
        units, unit_problems = _build_units(data["org"]["units"], base)
        enabled = discovery.enabled(data.get("channels", {}))
        problems = (
            unit_problems
            + _reference_problems(data, units)
            + _channel_problems(data.get("channels", {}))
            + _notify_problems(data, enabled)
        )
    if problems:
        raise ConfigError("\n".join(f"{label}: {p}" for p in problems))
    return Config(
        path=path,
        city=City(
            name=data["city"]["name"],
            code=data["city"]["code"],
            timezone=data["city"]["timezone"],
            sample=data["city"].get("sample", False),
        ),
        storage_url=data.get("storage", {}).get("url"),
        busy_timeout_ms=data.get("storage", {}).get("busy_timeout_ms", 5000),
        intake_worker=data.get("storage", {}).get("intake_worker", True),
        http=HttpSettings(
            host=data["http"]["host"],
            port=data["http"]["port"],
            max_body=data["http"].get("max_body", 1048576),
            public_base_url=data["http"].get("public_base_url"),
        ),
        console=ConsoleSettings(**data.get("console", {})),
        org=OrgTree(units),
        categories={
            code: Category(
                code=code,
                name=c["name"],
                priority=int(c["priority"]),  # the schema lets a whole float (2.0) through
                route_to=c.get("route_to"),
                also_notify=_targets(c.get("also_notify", ())),
            )
            for code, c in data["categories"].items()
        },
        sla=Sla(
            {
                step: tuple(data["sla"][step][f"p{p}"] for p in PRIORITIES)  # type: ignore[misc]
                for step in SLA_STEPS
            }
        ),
        correlation=CorrelationSettings(**data["correlation"]),
        webhook=WebhookSettings(**data["webhook"]),
        channels={name: dict(table) for name, table in data.get("channels", {}).items()},
        enabled_channels=enabled,
    )


def _parse_toml(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib puts the position at the end: "Invalid value (at line 3, column 7)".
        message = str(e)
        m = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message)
        if m:
            message = f"line {m[2]}, column {m[3]}: {m[1]}"
        raise ConfigError(f"{label}: {message}") from e


def _targets(raw: Iterable[Mapping[str, str]]) -> tuple[NotifyTarget, ...]:
    return tuple(
        NotifyTarget(
            kind=t["kind"],
            address=t["address"],
            name=t.get("name"),
            secret=t.get("secret"),
            drill=bool(t.get("drill", False)),
        )
        for t in raw
    )


# -- pass 1: the schema -----------------------------------------------------------------------


def key_path(parts: Iterable[str | int]) -> str:
    """``["org", "units", 3, "code"]`` → ``org.units[3].code``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def config_schema() -> dict[str, Any]:
    """The configuration's JSON Schema: the core's (``schemas/config.schema.json``) with each
    installed channel's own under ``channels.<code>``."""
    schema = copy.deepcopy(load_schema("config"))
    sections = schema["properties"]["channels"]["properties"]
    for code in discovery.installed():
        sections[code] = channel_section_schema(discovery.declaration(code))
    return schema


def channel_section_schema(channel: Channel) -> dict[str, Any]:
    if channel.config_schema is None:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}},
        }
    text = discovery.resource(channel, channel.config_schema).read_text(encoding="utf-8")
    fragment: dict[str, Any] = json.loads(text)
    fragment.pop("$schema", None)
    return fragment


def _schema_problems(data: dict[str, Any]) -> list[str]:
    validator = Draft202012Validator(config_schema())
    problems: list[tuple[str, str]] = []
    for error in validator.iter_errors(data):
        problems.extend(_describe(error))
    return [f"{where}: {what}" if where else what for where, what in sorted(set(problems))]


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    # A oneOf/anyOf failure ("is not valid under any of the given schemas") says nothing useful;
    # the branch that got furthest usually does.
    if error.validator in ("oneOf", "anyOf") and error.context:
        deepest = best_match(error.context)
        if deepest is not None:
            error = deepest
    parts = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        # Name each unknown key (the usual typo) in the path itself, with what would be allowed.
        known = error.schema.get("properties", {})
        allowed = ", ".join(sorted(known))
        what = "unknown key (allowed here"
        if parts == ["channels"]:
            what = "unknown channel (installed"  # a typo, or a channel not installed
        return [
            (key_path([*parts, key]), f"{what}: {allowed})")
            for key in error.instance
            if key not in known
        ]
    if parts and str(parts[-1]) in SECRET_KEYS and isinstance(error.instance, str):
        # Never echo a password into a log or a terminal: say what is wrong without it.
        return [(key_path(parts), error.message.replace(repr(error.instance), "the value"))]
    return [(key_path(parts), error.message)]


SECRET_KEYS = frozenset({"secret", "password"})


# -- pass 2: semantics ------------------------------------------------------------------------


def _build_units(
    raw_units: Sequence[Mapping[str, Any]], base: Traversable
) -> tuple[list[Unit], list[str]]:
    problems: list[str] = []
    units: list[Unit] = []
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_units):
        where = f"org.units[{i}]"
        code = raw["code"]
        if code in first_index:
            problems.append(
                f"{where}.code: duplicate unit code {code} (also org.units[{first_index[code]}])"
            )
            continue
        first_index[code] = i
        geometry: BaseGeometry | None = None
        if "jurisdiction" in raw:
            geometry, problem = _jurisdiction(raw["jurisdiction"], base)
            if problem:
                problems.append(f"{where}.jurisdiction: {problem}")
        elif raw["tier"] == "station":
            problems.append(f"{where}.jurisdiction: a station needs a jurisdiction")
        units.append(
            Unit(
                code=code,
                name=raw["name"],
                tier=raw["tier"],
                parent=raw.get("parent"),
                keywords=tuple(raw.get("keywords", ())),
                notify=_targets(raw.get("notify", ())),
                jurisdiction=geometry,
            )
        )
    problems.extend(_tree_problems(units, first_index))
    return units, problems


def _jurisdiction(
    raw: str | Mapping[str, Any], base: Traversable
) -> tuple[BaseGeometry | None, str | None]:
    if isinstance(raw, str):
        try:
            loaded = json.loads(base.joinpath(raw).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            return None, f"cannot read {raw}: {e}"
        if isinstance(loaded, dict) and loaded.get("type") == "Feature":
            loaded = loaded.get("geometry")
        if not (isinstance(loaded, dict) and loaded.get("type") in ("Polygon", "MultiPolygon")):
            return None, f"{raw}: expected a GeoJSON Polygon or MultiPolygon (or a Feature of one)"
        raw = loaded
    try:
        geometry = shapely.geometry.shape(raw)
    except Exception as e:  # shapely raises several types for malformed coordinates
        return None, f"not a usable polygon: {e}"
    if not geometry.is_valid:
        return None, f"invalid polygon: {explain_validity(geometry)}"
    if geometry.is_empty or geometry.area == 0:
        return None, "invalid polygon: empty"
    return geometry, None


def _tree_problems(units: Sequence[Unit], index: Mapping[str, int]) -> list[str]:
    problems: list[str] = []
    by_code = {u.code: u for u in units}
    roots = [u for u in units if u.parent is None]
    if len(roots) != 1:
        found = ", ".join(f"org.units[{index[u.code]}]" for u in roots) or "none"
        problems.append(f"org.units: expected exactly one root unit (no parent), found {found}")
    for unit in units:
        where = f"org.units[{index[unit.code]}]"
        if unit.parent is None:
            if unit.tier != "city":
                problems.append(
                    f'{where}.tier: the root unit must have tier "city", not "{unit.tier}"'
                )
            continue
        if unit.tier == "city":
            problems.append(f'{where}.tier: only the root unit may have tier "city"')
        if unit.parent not in by_code:
            problems.append(f"{where}.parent: unknown unit {unit.parent}")
    # Cycles: follow parents from each unit; report each cycle once, at its lowest code.
    reported: set[frozenset[str]] = set()
    for unit in units:
        chain = [unit.code]
        current = by_code[unit.code].parent
        while current is not None and current in by_code and current not in chain:
            chain.append(current)
            current = by_code[current].parent
        if current is not None and current in chain:
            cycle = chain[chain.index(current) :]
            key = frozenset(cycle)
            if key not in reported:
                reported.add(key)
                start = min(cycle)
                ordered = cycle[cycle.index(start) :] + cycle[: cycle.index(start)] + [start]
                problems.append(f"org.units[{index[start]}].parent: cycle {' → '.join(ordered)}")
    return problems


def _reference_problems(data: Mapping[str, Any], units: Sequence[Unit]) -> list[str]:
    problems: list[str] = []
    codes = {u.code for u in units}
    roots = [u.code for u in units if u.parent is None]
    city_code = data["city"]["code"]
    tz = data["city"]["timezone"]
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"city.timezone: unknown time zone {tz!r} (e.g. Asia/Shanghai)")
    if len(roots) == 1 and city_code != roots[0]:
        problems.append(f"city.code: {city_code} is not the root unit's code {roots[0]}")
    for name, category in data["categories"].items():
        route_to = category.get("route_to")
        if route_to is not None and route_to not in codes:
            problems.append(f"categories.{name}.route_to: unknown unit {route_to}")
    return problems


def _channel_problems(sections: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Each configured channel's own check of what its schema cannot say."""
    problems: list[str] = []
    for code, section in sections.items():
        channel = discovery.declaration(code)
        if channel.config_check is not None:
            check = resolve(channel.config_check)
            problems += [f"channels.{code}.{key}: {what}" for key, what in check(section)]
    return problems


def _notify_problems(data: Mapping[str, Any], enabled: Sequence[Channel]) -> list[str]:
    """A notify target nothing delivers would leave its unit unaware of its incidents."""
    kinds = {c.notify_kind: c for c in enabled if c.notify_kind}
    others = {}
    for code in discovery.installed():
        channel = discovery.declaration(code)
        if channel.notify_kind and channel.notify_kind not in kinds:
            others[channel.notify_kind] = channel
    places = [
        (f"org.units[{i}].notify", f"unit {unit['code']}, ", unit.get("notify", ()))
        for i, unit in enumerate(data["org"]["units"])
    ] + [
        (f"categories.{code}.also_notify", "", category.get("also_notify", ()))
        for code, category in data["categories"].items()
    ]
    problems = []
    for where, whose, targets in places:
        for j, target in enumerate(targets):
            kind = target["kind"]
            if kind == "webhook" or kind in kinds:
                continue
            if kind in others:
                why = f"need [channels.{others[kind].code}] enabled"
            else:
                known = ", ".join(sorted({"webhook", *kinds}))
                why = f"cannot be delivered: no installed channel delivers them ({known} can be)"
            problems.append(
                f'{where}[{j}].kind: "{kind}" targets {why} ({whose}target {target["address"]})'
            )
    return problems
