"""The `Report`: what one channel heard, in the one shape the rest of the gateway speaks.

A channel adapter builds a Report from its wire format and hands it to
`gateway.intake`. The JSON form is `schemas/report.schema.json`; `Report.from_json`
and `Report.to_json` are the only places that know it, and the tests check both
against the schema.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.errors import DomainError

SENDER_KINDS: tuple[str, ...] = ("phone", "email", "account", "terminal", "web", "system")


class InvalidReport(DomainError, ValueError):
    """The report itself is wrong: a permanent error (HTTP 4xx, SMTP 5xx, SMPP permanent).

    `field` names the offending field as a JSON pointer-ish path (``location.lat``)."""

    def __init__(self, field: str, problem: str) -> None:
        DomainError.__init__(self, f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Sender:
    kind: str
    id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """WGS84 point with accuracy, and/or a free-text address."""

    lat: float | None = None
    lon: float | None = None
    accuracy_m: float | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    content_type: str
    size: int
    sha256: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmRef:
    """A fixed target's alarm panel: account and zone (SIA DC-09, Contact ID)."""

    account: str
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    channel: str
    external_id: str
    received_at: datetime
    sender: Sender
    text: str = ""
    location: Location | None = None
    attachments: tuple[Attachment, ...] = ()
    raw_ref: str | None = None
    drill: bool = False
    category: str | None = None
    alarm: AlarmRef | None = None
    priority: int | None = None  # what the channel knows for sure (a hold-up alarm: 1)
    follow_up: bool = False  # only joins an open incident (a panel's restoral), never opens one
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise InvalidReport("received_at", "must carry a time zone (stored in UTC)")
        if self.priority is not None and (
            isinstance(self.priority, bool) or self.priority not in (1, 2, 3, 4)
        ):
            raise InvalidReport("priority", f"must be 1, 2, 3 or 4 (got {self.priority!r})")
        if self.follow_up and self.alarm is None:
            raise InvalidReport("follow_up", "a follow-up names the alarm it follows (alarm)")

    # -- JSON ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "channel": self.channel,
            "external_id": self.external_id,
            "received_at": format_utc(self.received_at),
            "sender": _drop_none(
                {"kind": self.sender.kind, "id": self.sender.id, "name": self.sender.name}
            ),
            "text": self.text,
            "drill": self.drill,
        }
        if self.location is not None:
            out["location"] = _drop_none(
                {
                    "lat": self.location.lat,
                    "lon": self.location.lon,
                    "accuracy_m": self.location.accuracy_m,
                    "address": self.location.address,
                }
            )
        if self.attachments:
            out["attachments"] = [
                _drop_none(
                    {
                        "name": a.name,
                        "content_type": a.content_type,
                        "size": a.size,
                        "sha256": a.sha256,
                        "ref": a.ref,
                    }
                )
                for a in self.attachments
            ]
        if self.raw_ref is not None:
            out["raw_ref"] = self.raw_ref
        if self.category is not None:
            out["category"] = self.category
        if self.alarm is not None:
            out["alarm"] = _drop_none({"account": self.alarm.account, "zone": self.alarm.zone})
        if self.priority is not None:
            out["priority"] = self.priority
        if self.follow_up:
            out["follow_up"] = True
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Report:
        """Build from a document that already passed the JSON Schema; checks what the
        schema cannot (coordinates that are numbers but not finite, control characters)."""
        loc = doc.get("location")
        location = None
        if loc is not None:
            location = Location(
                lat=_coord(loc.get("lat"), "location.lat", 90.0),
                lon=_coord(loc.get("lon"), "location.lon", 180.0),
                accuracy_m=_coord(loc.get("accuracy_m"), "location.accuracy_m", 100_000.0),
                address=_text(loc.get("address"), "location.address"),
            )
            if (location.lat is None) != (location.lon is None):
                raise InvalidReport("location", "lat and lon come together or not at all")
        sender = doc["sender"]
        alarm = doc.get("alarm")
        return cls(
            channel=doc["channel"],
            external_id=_text(doc["external_id"], "external_id") or "",
            received_at=parse_utc(doc["received_at"], "received_at"),
            sender=Sender(
                kind=sender["kind"],
                id=_text(sender["id"], "sender.id") or "",
                name=_text(sender.get("name"), "sender.name"),
            ),
            text=_text(doc.get("text", ""), "text", multiline=True) or "",
            location=location,
            attachments=tuple(
                Attachment(
                    name=_text(a["name"], f"attachments.{i}.name") or "",
                    content_type=_text(a["content_type"], f"attachments.{i}.content_type") or "",
                    size=a["size"],
                    sha256=a["sha256"],
                    ref=a.get("ref"),
                )
                for i, a in enumerate(doc.get("attachments", ()))
            ),
            raw_ref=doc.get("raw_ref"),
            drill=bool(doc.get("drill", False)),
            category=doc.get("category"),
            alarm=AlarmRef(alarm["account"], alarm.get("zone")) if alarm else None,
            priority=None if doc.get("priority") is None else int(doc["priority"]),
            follow_up=bool(doc.get("follow_up", False)),
            extra=doc.get("extra") or {},
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    """What intake gives back once the report is durably stored."""

    receipt: str
    incident: str
    state: str
    duplicate: bool  # True when (channel, external_id) was already stored: a retry
    attached: bool  # True when correlation attached it to an existing incident

    def to_json(self) -> dict[str, Any]:
        return {"receipt": self.receipt, "incident": {"number": self.incident, "state": self.state}}


# -- helpers -------------------------------------------------------------------


def format_utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(t: datetime, tz: ZoneInfo) -> str:
    """Times are stored in UTC and shown to people in the city's time zone, with its offset:
    ``2026-11-24 09:00:00 +08:00`` (the JSON API keeps UTC)."""
    t = t.astimezone(tz)
    offset = t.strftime("%z")  # +0800
    return f"{t:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


def parse_utc(value: str, field: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidReport(field, f"{value!r} is not an ISO 8601 date-time") from None
    if t.tzinfo is None:
        raise InvalidReport(field, "needs a UTC offset (e.g. 2026-11-24T08:00:00+08:00)")
    if not 1900 <= t.year <= 2999:  # as the schemas' date_time says
        raise InvalidReport(field, f"{value!r} is out of range (years 1900 to 2999)")
    return t.astimezone(UTC)


def _coord(value: Any, field: str, limit: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidReport(field, "must be a finite number")
    if not -limit <= value <= limit:
        raise InvalidReport(field, f"{value} is out of range [-{limit:g}, {limit:g}]")
    return float(value)


def _text(value: Any, field: str, multiline: bool = False) -> str | None:
    """Refuse control characters: they break logs, CSV exports and terminals downstream."""
    if value is None:
        return None
    allowed = "\n\r\t" if multiline else ""
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"):
            raise InvalidReport(field, f"contains control character U+{ord(ch):04X}")
    return str(value)


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
