"""The systems channel's settings (`[channels.systems]`): the replay window, and each
system that may push alarms (`[channels.systems.sources.<system>]`): its name, its secrets,
and how its JSON maps to a report (`[channels.systems.sources.<system>.map]`, JSON
Pointers, RFC 6901)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.channels.systems import pointer

# The report fields a system's JSON may fill, each from a JSON Pointer into it.
FIELDS = (
    "external_id",
    "text",
    "location.lat",
    "location.lon",
    "location.accuracy_m",
    "location.address",
    "sender.id",
    "sender.name",
    "category",
    "priority",
    "received_at",
    "drill",
)
# A shared secret shorter than this is guessable offline from one signed request.
MIN_SECRET = 16
MAX_SECRETS = 4  # the current one and those being rotated out


@dataclass(frozen=True)
class Source:
    """One system that pushes alarms: ``POST /api/v1/systems/<code>/alarms``."""

    code: str
    name: str  # its Chinese name: the report's sender name
    secrets: tuple[str, ...] = field(repr=False)  # any of them signs (rotation)
    fields: Mapping[str, str] = field(default_factory=dict)  # report field → JSON Pointer
    required: frozenset[str] = frozenset({"text"})  # report fields the body must give
    drill: bool = False  # a drill system (演练): all its alarms are drills
    category: str | None = None  # when the body gives none
    priority: int | None = None  # when the body gives none
    category_codes: Mapping[str, str] = field(default_factory=dict)  # its code → ours
    priority_codes: Mapping[str, int] = field(default_factory=dict)  # its code → 1…4


@dataclass(frozen=True)
class SystemsSettings:
    enabled: bool = False
    # How far a request's timestamp may be from our clock, either way (seconds): a signed
    # request replayed later than this is refused; a retry inside it is answered by
    # its idempotency key.
    window_s: int = 300
    sources: Mapping[str, Source] = field(default_factory=dict)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SystemsSettings:
        """`raw` has passed the channel's config.schema.json and `config_problems`."""
        sources = {code: _source(code, spec) for code, spec in raw.get("sources", {}).items()}
        return cls(
            enabled=raw.get("enabled", False), window_s=raw.get("window_s", 300), sources=sources
        )


def _source(code: str, spec: Mapping[str, Any]) -> Source:
    secret = spec["secret"]
    return Source(
        code=code,
        name=spec["name"],
        secrets=(secret,) if isinstance(secret, str) else tuple(secret),
        fields=flat_map(spec.get("map", {})),
        required=frozenset(spec.get("required", ("text",))),
        drill=spec.get("drill", False),
        category=spec.get("category"),
        priority=spec.get("priority"),
        category_codes={str(k): v for k, v in spec.get("category_codes", {}).items()},
        priority_codes={str(k): v for k, v in spec.get("priority_codes", {}).items()},
    )


def flat_map(raw: Mapping[str, Any]) -> dict[str, str]:
    """The map with TOML's two spellings of a dotted field made one: ``location.lat =
    "/p"`` (a table ``location``) and ``"location.lat" = "/p"`` (a quoted key)."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            out |= {f"{key}.{sub}": v for sub, v in value.items()}
        else:
            out[key] = value
    return out


def config_problems(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the schema cannot say (never echoing a secret)."""
    problems: list[tuple[str, str]] = []
    for code, spec in section.get("sources", {}).items():
        where = f"sources.{code}"
        secret = spec.get("secret", ())
        secrets = [secret] if isinstance(secret, str) else list(secret)
        for i, s in enumerate(secrets):
            key = "secret" if isinstance(secret, str) else f"secret[{i}]"
            if len(s.encode("utf-8")) < MIN_SECRET:
                problems.append((f"{where}.{key}", f"shorter than {MIN_SECRET} bytes"))
        if len(set(secrets)) != len(secrets):
            problems.append((f"{where}.secret", "the same secret twice"))
        raw_map = spec.get("map", {})
        fields = flat_map(raw_map)
        for table, value in raw_map.items():
            if isinstance(value, Mapping):
                problems += [
                    (f"{where}.map.{table}.{sub}", "given twice (also quoted)")
                    for sub in value
                    if f"{table}.{sub}" in raw_map
                ]
        for name, ptr in fields.items():
            if name not in FIELDS:
                problems.append(
                    (f"{where}.map.{name}", f"not a report field ({', '.join(FIELDS)})")
                )
                continue
            try:
                pointer.parse(ptr)
            except ValueError as e:
                problems.append((f"{where}.map.{name}", str(e)))
        if ("location.lat" in fields) != ("location.lon" in fields):
            problems.append((f"{where}.map", "location.lat and location.lon come together"))
        for name in spec.get("required", ("text",)):
            if name not in fields:
                problems.append((f"{where}.required", f"{name} is required but not in map"))
        if spec.get("category_codes") and "category" not in fields:
            problems.append((f"{where}.category_codes", "map.category is not given"))
        if spec.get("priority_codes") and "priority" not in fields:
            problems.append((f"{where}.priority_codes", "map.priority is not given"))
    return problems
