"""A CAP 1.2 alert → the gateway's reports, one per ``info`` (pure).

The place: the first ``circle`` gives its centre and radius, else the first ``polygon`` its
centroid (Shapely) and the distance to its farthest corner as the accuracy; ``areaDesc`` is
the address. The category and priority come from the city's rules (`settings.Rule`). The
text a call-taker reads is the info's headline, description and instruction with Chinese
labels. An alert's infos share one alarm key (its sender and identifier), so the languages
of one alert land on one incident, and its Updates and Cancels find it again.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import replace
from datetime import datetime
from typing import Any

from shapely.geometry import Polygon

from gateway.channels.cap.message import Alert, Area, Info, Reference
from gateway.channels.cap.settings import PRIORITY_OF_SEVERITY, CapSettings
from gateway.report import AlarmRef, Location, Report, Sender

CHANNEL = "cap"
MAX_TEXT = 10_000  # a report's text (report.schema.json)
MAX_ADDRESS = 500
MAX_ACCURACY_M = 100_000.0  # a report's accuracy_m
EARTH_RADIUS_M = 6_371_000.0

KIND_ZH = {"Alert": "预警", "Update": "更新", "Cancel": "撤销"}
# CAP 1.2 §3.2.1 status: only these are meant for action by a 110 center.
ACTIONABLE_STATUS = frozenset({"Actual", "Exercise"})
ACTIONABLE_TYPES = frozenset({"Alert", "Update", "Cancel"})


def external_id(sender: str, identifier: str, index: int) -> str:
    """The report's idempotency key: a message is known by its sender and identifier (CAP
    1.2 §3.2.1: the pair is unique), each info by its position. Too long for the store's
    200 characters: a digest of the same."""
    plain = f"{sender},{identifier},{index}"
    if len(plain) <= 200:
        return plain
    return f"sha256:{hashlib.sha256(f'{sender},{identifier}'.encode()).hexdigest()},{index}"


def alarm_of(sender: str, identifier: str) -> AlarmRef:
    """The alarm key of an alert and of every Update and Cancel that follows it: a digest,
    as the key's zone is 32 characters at most (report.schema.json)."""
    digest = hashlib.sha256(f"{sender},{identifier}".encode()).hexdigest()[:32]
    return AlarmRef(account=CHANNEL, zone=digest)


def reference_ids(ref: Reference) -> str:
    """The external id under which a referenced message's first report is stored."""
    return external_id(ref.sender, ref.identifier, 0)


def category_and_priority(info: Info, settings: CapSettings) -> tuple[str, int | None]:
    for rule in settings.rules:
        if rule.matches(info.event, info.categories, info.urgency, info.severity, info.certainty):
            return rule.category, rule.priority or PRIORITY_OF_SEVERITY.get(info.severity)
    return settings.default_category, PRIORITY_OF_SEVERITY.get(info.severity)


def reports(
    alert: Alert,
    settings: CapSettings,
    now: datetime,
    alarm: AlarmRef | None = None,
) -> list[Report]:
    """The reports of an actionable alert (status Actual or Exercise; Alert, Update or
    Cancel): one per info, or for an Update or Cancel without any, one from its header.
    `alarm`: the key of the alert it references (an Update or a Cancel), else its own."""
    alarm = alarm or alarm_of(alert.sender, alert.identifier)
    infos: list[Info | None] = list(alert.infos) or [None]
    out = []
    for n, info in enumerate(infos):
        out.append(_report(alert, info, n, settings, now, alarm))
    return out


def _report(
    alert: Alert,
    info: Info | None,
    index: int,
    settings: CapSettings,
    now: datetime,
    alarm: AlarmRef,
) -> Report:
    category, priority = category_and_priority(info, settings) if info is not None else (None, None)
    extra: dict[str, Any] = {
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": alert.sent.isoformat(),
        "status": alert.status,
        "msgType": alert.msg_type,
    }
    if alert.references:
        extra["references"] = [f"{r.sender},{r.identifier},{r.sent}" for r in alert.references]
    if info is not None:
        extra |= {
            "info": index,
            "language": info.language,
            "event": info.event,
            "categories": list(info.categories),
            "urgency": info.urgency,
            "severity": info.severity,
            "certainty": info.certainty,
        }
    name = info.sender_name if info is not None else None
    where = location(info.areas) if info is not None else None
    return Report(
        channel=CHANNEL,
        external_id=external_id(alert.sender, alert.identifier, index),
        received_at=now,
        sender=Sender("system", alert.sender, _clean(name)[:200] if name else None),
        text=text(alert, info),
        location=where,
        drill=alert.status == "Exercise",
        category=category,
        priority=priority,
        alarm=alarm,
        # An Update or a Cancel joins the incident of the alert it references.
        follow_up=alert.msg_type in ("Update", "Cancel"),
        extra={"cap": extra},
    )


def opening(report: Report) -> Report:
    """An Update whose alert's incident is no longer open opens a new one (same key)."""
    return replace(report, follow_up=False)


def text(alert: Alert, info: Info | None) -> str:
    """What the call-taker reads: Chinese labels over the sender's own words."""
    head = f"【CAP {KIND_ZH.get(alert.msg_type, alert.msg_type)}】"
    if alert.status == "Exercise":
        head = "【演练】" + head
    lines = [head + (info.headline or info.event if info is not None else "")]
    if alert.msg_type == "Cancel":
        lines.append("发送方已撤销此前的预警。")
    if info is not None:
        lines += [
            f"事件：{info.event}",
            f"紧急程度：{info.urgency}；严重程度：{info.severity}；确定性：{info.certainty}",
        ]
        for label, value in (
            ("描述", info.description),
            ("指引", info.instruction),
            ("联系方式", info.contact),
        ):
            if value:
                lines.append(f"{label}：{value}")
        places = "；".join(" ".join(a.desc.split()) for a in info.areas if a.desc)
        if places:
            lines.append(f"区域：{places}")
        how = located_by(info.areas)
        if how:
            lines.append(how)
    if alert.note:
        lines.append(f"备注：{alert.note}")
    sender = f"{info.sender_name}（{alert.sender}）" if info and info.sender_name else alert.sender
    lines.append(f"发送方：{sender}")
    lines.append(f"CAP 标识：{alert.identifier}")
    return _clean("\n".join(lines), multiline=True)[:MAX_TEXT]


def located_by(areas: tuple[Area, ...]) -> str | None:
    """How the report's point was found, for the call-taker (the same choice as `location`)."""
    for area in areas:
        for _lat, _lon, radius_km in area.circles:
            return f"定位：预警区域圆心，半径约 {radius_km * 1000:.0f} 米"
    for area in areas:
        for ring in area.polygons:
            spread = centroid(ring)[2]
            n = sum(len(a.polygons) for a in areas)
            more = f"（共 {n} 个多边形，取第一个）" if n > 1 else ""
            return f"定位：预警多边形区域的中心点，距最远顶点约 {spread:.0f} 米{more}"
    return None


def location(areas: tuple[Area, ...]) -> Location | None:
    """The first circle's centre and radius, else the first polygon's centroid, with that
    area's description as the address; without either, the first description alone."""
    for area in areas:
        for lat, lon, radius_km in area.circles:
            accuracy = min(radius_km * 1000.0, MAX_ACCURACY_M)
            return Location(lat=lat, lon=lon, accuracy_m=accuracy, address=_address(area))
    for area in areas:
        for ring in area.polygons:
            lat, lon, spread = centroid(ring)
            accuracy = min(spread, MAX_ACCURACY_M)
            return Location(lat=lat, lon=lon, accuracy_m=accuracy, address=_address(area))
    address = _address(areas[0]) if areas else None
    return Location(address=address) if address else None


def _address(area: Area) -> str | None:
    return _clean(" ".join(area.desc.split()))[:MAX_ADDRESS] or None


def centroid(ring: tuple[tuple[float, float], ...]) -> tuple[float, float, float]:
    """A polygon's centroid (lat, lon) and its distance in metres to the farthest corner.
    A degenerate ring (a line, a point) has no area: the mean of its corners instead."""
    shape = Polygon([(lon, lat) for lat, lon in ring])
    if shape.is_valid and shape.area > 0:
        point = shape.centroid
        lat, lon = point.y, point.x
    else:
        corners = ring[:-1]
        lat = sum(p[0] for p in corners) / len(corners)
        lon = sum(p[1] for p in corners) / len(corners)
    spread = max(distance_m(lat, lon, p[0], p[1]) for p in ring)
    return lat, lon, spread


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _clean(value: str, multiline: bool = False) -> str:
    """XML 1.0 lets C1 controls (U+0080–U+009F) through; a report refuses them: a space
    instead, so the sender's words stay readable."""
    keep = "\n\t" if multiline else ""
    return "".join(
        ch if ch in keep or unicodedata.category(ch) not in ("Cc", "Cs") else " " for ch in value
    )
