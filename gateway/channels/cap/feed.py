"""Incidents → CAP 1.2 messages in an Atom feed (RFC 4287), for other city departments (pure).

One Atom entry per incident; its content is the CAP message of the incident's latest
version. Each state the incident entered is a version: the first an ``Alert``, later ones
``Update``, and ``Cancel`` once it is cancelled, invalid or merged (CAP 1.2 §3.2.1
msgType); ``references`` lists the earlier versions. A drill is ``status=Exercise``.

No personal data: only the category, place (the incident's point and its unit's name),
state, times and unit. Never the reporter, the report text, a name, a phone number or a
free-text reason, whatever the incident holds.

Times: CAP's own pattern (``2026-11-26T09:00:00+08:00``: no ``Z``, no fractions; CAP 1.2
§3.3.2) in the city's time zone; Atom's RFC 3339 in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree

from gateway.channels.cap.message import NS as CAP_NS
from gateway.channels.cap.settings import FEED_CATEGORIES
from gateway.channels.cap.store import FeedIncident
from gateway.report import local_time
from gateway.workflow.table import STATE_NAMES_ZH, State

ATOM_NS = "http://www.w3.org/2005/Atom"
CAP_MEDIA_TYPE = "application/cap+xml"
CANCELLED = frozenset({State.CANCELLED, State.INVALID, State.MERGED})
DONE = CANCELLED | {State.HANDLED, State.CLOSED}
# Priority 1–4 (红/橙/黄/蓝) → CAP 1.2 §3.2.2 urgency and severity.
URGENCY = {1: "Immediate", 2: "Immediate", 3: "Expected", 4: "Expected"}
SEVERITY = {1: "Extreme", 2: "Severe", 3: "Moderate", 4: "Minor"}
COLOUR = {1: "红", 2: "橙", 3: "黄", 4: "蓝"}
RESTRICTION = "仅供本市相关部门处置使用，不得向公众发布"


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What the feed needs of the city (names, codes, time zone, settings)."""

    sender: str  # CAP <sender>
    city_code: str
    sender_name: str  # the root unit's name
    title: str
    tz: ZoneInfo
    category_names: Mapping[str, str]  # our code → 中文名
    unit_names: Mapping[str, str]
    cap_categories: Mapping[str, str]  # our code → CAP category (overrides)


def cap_time(t: datetime, tz: ZoneInfo) -> str:
    """CAP 1.2 §3.3.2: ``YYYY-MM-DDThh:mm:ss±hh:mm``, never ``Z`` or a fraction."""
    return t.astimezone(tz).replace(microsecond=0).isoformat()


def atom_time(t: datetime) -> str:
    """RFC 3339 as RFC 4287 §3.3 wants it, in UTC."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def identifier(number: str, version: int) -> str:
    """Stable per incident and version; no spaces, commas, < or & (CAP 1.2 §3.2.1)."""
    return f"{number}.{version}"


def msg_type(incident: FeedIncident) -> str:
    if incident.state in CANCELLED:
        return "Cancel"
    return "Alert" if len(incident.versions) == 1 else "Update"


def alert(incident: FeedIncident, fc: FeedContext) -> Any:
    """The CAP 1.2 ``alert`` element of the incident's latest version."""
    versions = incident.versions
    latest = versions[-1]
    cap = _Maker(CAP_NS)
    root = cap.el("alert")
    cap.sub(root, "identifier", identifier(incident.number, len(versions)))
    cap.sub(root, "sender", fc.sender)
    cap.sub(root, "sent", cap_time(latest.at, fc.tz))
    cap.sub(root, "status", "Exercise" if incident.drill else "Actual")
    cap.sub(root, "msgType", msg_type(incident))
    cap.sub(root, "scope", "Restricted")
    cap.sub(root, "restriction", RESTRICTION)
    state_zh = STATE_NAMES_ZH.get(State(incident.state), incident.state)
    if incident.state in CANCELLED:
        note = f"警情已{state_zh}"
        if incident.master:
            note += f"，并入警情 {incident.master}"
        cap.sub(root, "note", note)
    if len(versions) > 1:
        cap.sub(
            root,
            "references",
            " ".join(
                f"{fc.sender},{identifier(incident.number, k + 1)},{cap_time(v.at, fc.tz)}"
                for k, v in enumerate(versions[:-1])
            ),
        )
    cap.sub(root, "incidents", incident.number)
    _info(cap, root, incident, fc, state_zh)
    return root


def _info(cap: _Maker, root: Any, incident: FeedIncident, fc: FeedContext, state_zh: str) -> None:
    category_name = fc.category_names.get(incident.category or "", "未分类")
    unit_name = fc.unit_names.get(incident.unit or "", fc.sender_name)
    info = cap.sub(root, "info")
    cap.sub(info, "language", "zh-CN")
    code = incident.category or ""
    cap.sub(info, "category", fc.cap_categories.get(code) or FEED_CATEGORIES.get(code, "Security"))
    cap.sub(info, "event", f"{category_name}警情")
    p = incident.priority
    done = incident.state in DONE
    cap.sub(info, "urgency", "Past" if done else URGENCY.get(p or 0, "Unknown"))
    cap.sub(info, "severity", SEVERITY.get(p or 0, "Unknown"))
    cap.sub(info, "certainty", _certainty(incident.state))
    cap.sub(info, "senderName", fc.sender_name)
    cap.sub(info, "headline", f"{category_name}警情 · {state_zh} · {unit_name}")
    lines = [
        f"警情编号：{incident.number}",
        f"状态：{state_zh}",
        f"类别：{category_name}",
        f"优先级：{p}（{COLOUR[p]}）" if p in COLOUR else "优先级：未定",
        f"接警时间：{local_time(incident.created_at, fc.tz)}",
        f"更新时间：{local_time(incident.versions[-1].at, fc.tz)}",
        f"责任单位：{unit_name}",
    ]
    if incident.drill:
        lines.insert(0, "【演练】")
    cap.sub(info, "description", "\n".join(lines))
    for name, value in (
        ("incident", incident.number),
        ("state", incident.state),
        ("category", code or "-"),
        ("priority", str(p) if p else "-"),
        ("unit", incident.unit or "-"),
    ):
        parameter = cap.sub(info, "parameter")
        cap.sub(parameter, "valueName", name)
        cap.sub(parameter, "value", value)
    area = cap.sub(info, "area")
    cap.sub(area, "areaDesc", unit_name)
    if incident.lat is not None and incident.lon is not None:
        radius_km = (incident.accuracy_m or 0.0) / 1000.0
        # CAP 1.2 §3.2.4 circle: "lat,lon radius", WGS 84, the radius in kilometres.
        cap.sub(area, "circle", f"{incident.lat:.6f},{incident.lon:.6f} {radius_km:.3f}")


def _certainty(state: str) -> str:
    if state == State.RECEIVED:
        return "Possible"  # not yet verified by a call-taker
    if state == State.INVALID:
        return "Unlikely"
    if state in (State.ON_SCENE, State.HANDLED, State.CLOSED):
        return "Observed"
    if state in (State.CANCELLED, State.MERGED):
        return "Unknown"
    return "Likely"


def atom(
    incidents: Sequence[FeedIncident],
    fc: FeedContext,
    scope: str,
    self_href: str,
    now: datetime,
) -> bytes:
    """The Atom feed document (RFC 4287 §4.1.1: id, title, updated, author; each entry
    id, title, updated and its CAP message as inline XML content, §4.1.3.3)."""
    a = _Maker(ATOM_NS)
    feed = a.el("feed")
    a.sub(feed, "id", f"urn:alarmgw:{fc.city_code}:cap-feed:{scope}")
    a.sub(feed, "title", fc.title)
    newest = max((i.versions[-1].at for i in incidents), default=now)
    a.sub(feed, "updated", atom_time(newest))
    author = a.sub(feed, "author")
    a.sub(author, "name", fc.sender_name)
    link = a.sub(feed, "link")
    link.set("rel", "self")
    link.set("type", "application/atom+xml")
    link.set("href", self_href)
    for incident in incidents:
        message = alert(incident, fc)
        entry = a.sub(feed, "entry")
        a.sub(entry, "id", f"urn:alarmgw:{fc.city_code}:incident:{incident.number}")
        a.sub(entry, "title", message.findtext(f"{{{CAP_NS}}}info/{{{CAP_NS}}}headline"))
        a.sub(entry, "updated", atom_time(incident.versions[-1].at))
        a.sub(entry, "published", atom_time(incident.created_at))
        content = a.sub(entry, "content")
        content.set("type", CAP_MEDIA_TYPE)
        content.append(message)
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8"))


class _Maker:
    """Elements of one namespace, its default (no prefixes in the output)."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def el(self, name: str) -> Any:
        return etree.Element(f"{{{self.ns}}}{name}", nsmap={None: self.ns})

    def sub(self, parent: Any, name: str, text: str | None = None) -> Any:
        child = etree.SubElement(parent, f"{{{self.ns}}}{name}")
        if text is not None:
            child.text = text
        return child
