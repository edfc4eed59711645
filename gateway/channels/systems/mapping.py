"""A system's JSON → a `Report`, by its source's map (report field → JSON Pointer). Pure:
values in, a report or `Unmappable` out (naming the pointer into the system's JSON, which
is what its integrator must fix)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fastjsonschema

from gateway.channels.systems import pointer
from gateway.channels.systems.settings import Source
from gateway.report import InvalidReport, Report, parse_utc

REPORT_CHANNEL = "systems"
MAX_EXTERNAL_ID = 200  # report.schema.json
MAX_TEXT = 200  # characters of a sender's id or name (report.schema.json)
_DECIMAL = re.compile(r"-?[0-9]{1,4}(?:\.[0-9]{1,15})?", re.ASCII)  # "24.98" as some send it
_NUMBERS = ("location.lat", "location.lon", "location.accuracy_m")
_STRINGS = ("text", "location.address", "sender.name")
_IDS = ("external_id", "sender.id")  # a string, or an integer written as one


class Unmappable(Exception):
    """The body cannot be this system's alarm: HTTP 422, nothing stored. `field` is the JSON
    Pointer into the body (or the header) that is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def report_of(
    source: Source,
    body: Any,
    key: str | None,
    now: datetime,
    categories: Mapping[str, Any],
    validate: Callable[[Any], Any],
) -> Report:
    """The report of `body` (a parsed JSON document) from `source`. `key` is the request's
    Idempotency-Key (checked), else the mapped external_id is; `validate` is the report
    schema's validator with the city's categories."""
    values: dict[str, Any] = {}
    for name, ptr in source.fields.items():
        value = pointer.resolve(body, pointer.parse(ptr))
        if value is pointer.MISSING:
            if name in source.required:
                raise Unmappable(ptr, f"missing ({name} is required)")
            continue
        values[name] = _convert(source, name, ptr, value, categories)
    if ("location.lat" in values) != ("location.lon" in values):
        missing = "location.lon" if "location.lat" in values else "location.lat"
        raise Unmappable(source.fields[missing], f"missing ({missing} comes with the other)")
    if key is None:
        key = values.get("external_id")
    if key is None:
        raise Unmappable(
            "Idempotency-Key",
            "send an Idempotency-Key header or map external_id: without a key a retry "
            "would store the alarm twice",
        )
    # Scoped by the system: two systems' alarm 1 are two alarms.
    external_id = f"{source.code}:{key}"
    if len(external_id) > MAX_EXTERNAL_ID:
        where = source.fields.get("external_id", "Idempotency-Key")
        limit = MAX_EXTERNAL_ID - len(source.code) - 1
        raise Unmappable(where, f"the key is over {limit} characters")
    received = values.get("received_at", now)
    location = {k.partition(".")[2]: v for k, v in values.items() if k.startswith("location.")}
    category = values.get("category", source.category)
    priority = values.get("priority", source.priority)
    reporter = {k.partition(".")[2]: v for k, v in values.items() if k.startswith("sender.")}
    extra: dict[str, Any] = {"system": source.code}
    if isinstance(category, UnknownCategory):
        extra["details"] = [f"对方系统的警情类别 {category.code!r} 未对应本市类别，请接警员确定"]
        category = source.category
    if reporter:
        # The person the other system heard from; the report's sender is the system.
        extra["reporter"] = reporter
    doc: dict[str, Any] = {
        "channel": REPORT_CHANNEL,
        "external_id": external_id,
        "received_at": received.astimezone(UTC).isoformat(),
        "sender": {"kind": "system", "id": source.code, "name": source.name},
        "text": values.get("text", ""),
        "drill": source.drill or values.get("drill", False),
        "extra": extra,
    }
    if location:
        doc["location"] = location
    if category is not None:
        doc["category"] = category
    if priority is not None:
        doc["priority"] = priority
    try:
        validate(doc)
        return Report.from_json(doc)
    except fastjsonschema.JsonSchemaValueException as e:
        name = ".".join(str(p) for p in (e.path or [])[1:])
        problem = e.message.replace("data.", "").replace("data ", "")
        if e.rule == "pattern":  # the schema's patterns refuse control characters
            problem = f"{name} contains a control character"
        raise Unmappable(_where(source, name), problem) from None
    except InvalidReport as e:
        raise Unmappable(_where(source, e.field or ""), f"{e.field}: {e.problem}") from None


@dataclass(frozen=True)
class UnknownCategory:
    """A category code of the system's that maps to none of the city's."""

    code: str


def _where(source: Source, field: str) -> str:
    """The pointer a report field came from (the field itself where none did)."""
    if field == "external_id" and "external_id" not in source.fields:
        return "Idempotency-Key"
    return source.fields.get(field, field)


def _convert(source: Source, name: str, ptr: str, value: Any, categories: Mapping[str, Any]) -> Any:
    if name in _IDS:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise Unmappable(ptr, f"{name} must be a non-empty string or an integer")
        return _plain(value.strip(), ptr, name)
    if name in _STRINGS:
        if not isinstance(value, str):
            raise Unmappable(ptr, f"{name} must be a string")
        return value if name == "text" else _plain(value, ptr, name)
    if name in _NUMBERS:
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unmappable(ptr, f"{name} must be a number")
        if not math.isfinite(value):
            raise Unmappable(ptr, f"{name} must be finite")
        return value
    if name == "category":
        code = _code(value, ptr, name)
        ours = source.category_codes.get(code, code)
        if ours not in categories:
            # Stored all the same: a 4xx would be a permanent error to the other system and
            # the alarm lost if nobody reads its errors. The call-taker classifies it.
            return UnknownCategory(code)
        return ours
    if name == "priority":
        code = _code(value, ptr, name)
        if code in source.priority_codes:
            return source.priority_codes[code]
        if code not in ("1", "2", "3", "4"):
            raise Unmappable(ptr, f"priority {code!r} is not 1 to 4 nor in priority_codes")
        return int(code)
    if name == "received_at":
        return _time(value, ptr)
    if name == "drill":
        if not isinstance(value, bool):
            raise Unmappable(ptr, "drill must be true or false")
        return value
    raise AssertionError(name)  # settings.FIELDS and this function disagree


def _plain(value: str, ptr: str, name: str) -> str:
    """The reporter's id and name go to the report's `extra`, which no schema checks: no
    control characters (they break logs, CSV exports and terminals), 200 at most."""
    if len(value) > MAX_TEXT:
        raise Unmappable(ptr, f"{name} is over {MAX_TEXT} characters")
    for ch in value:
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise Unmappable(ptr, f"{name} contains control character U+{ord(ch):04X}")
    return value


def _code(value: Any, ptr: str, name: str) -> str:
    """A system's code as a string: ``"01"``, ``3`` → ``"3"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Unmappable(ptr, f"{name} must be a string or an integer")
    return value.strip()


def _time(value: Any, ptr: str) -> datetime:
    """RFC 3339 with an offset, or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 <= value < 32503680000:  # to the year 3000
            raise Unmappable(ptr, f"received_at {value} is out of range")
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str):
        raise Unmappable(ptr, "received_at must be an RFC 3339 date-time or Unix seconds")
    try:
        return parse_utc(value, "received_at")
    except InvalidReport as e:
        raise Unmappable(ptr, e.problem) from None
