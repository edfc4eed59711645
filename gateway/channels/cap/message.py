"""CAP 1.2 messages in: octets → a checked `Alert` (pure; no I/O but reading the bundled XSD).

The message is parsed with a hardened libxml2 parser (no DTD, no entities, no network, no
huge trees) and a DOCTYPE is refused outright (billion laughs, XXE), then validated against
the official OASIS schema (`CAP-v1.2.xsd`, bundled; see its SOURCE note). What the schema
cannot say (CAP 1.2 §3.2.1: identifiers and senders without spaces, commas, ``<`` or ``&``;
``references`` as sender,identifier,sent triples) is checked here. Every refusal is a
`CapError` naming the element (a path such as ``alert/info[1]/urgency``) and its line.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from lxml import etree

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_Q = "{" + NS + "}"
XSD = "CAP-v1.2.xsd"
# The schema's own pattern for every CAP date-time (CAP 1.2 §3.3.2): no Z, no fractions.
CAP_TIME = re.compile(r"^\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
# CAP 1.2 §3.2.1 identifier, sender: "MUST NOT include spaces, commas or restricted
# characters (< and &)". Control characters are refused too (they break logs downstream).
_BAD_ID_CHARS = re.compile(r"[\s,<&]")
# Elements the schema lets repeat: a path always gives their position (alert/info[1]/…).
REPEATABLE = frozenset(
    {"code", "info", "category", "responseType", "eventCode", "parameter", "resource", "area"}
    | {"polygon", "circle", "geocode"}
)


class CapError(Exception):
    """A message we refuse: `status` 400 (not XML at all) or 422 (XML but not a CAP 1.2
    alert we can take), `code` for machines, `element` the path of the culprit."""

    def __init__(self, status: int, code: str, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.element = status, code, message, element


@dataclass(frozen=True, slots=True)
class Area:
    desc: str
    polygons: tuple[tuple[tuple[float, float], ...], ...]  # each ring of (lat, lon)
    circles: tuple[tuple[float, float, float], ...]  # (lat, lon, radius km)
    path: str  # alert/info[1]/area[1], for errors


@dataclass(frozen=True, slots=True)
class Info:
    index: int  # 0-based position among the alert's info blocks
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    sender_name: str | None
    headline: str | None
    description: str | None
    instruction: str | None
    contact: str | None
    areas: tuple[Area, ...]


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of ``references``: an earlier message (CAP 1.2 §3.2.1)."""

    sender: str
    identifier: str
    sent: str


@dataclass(frozen=True, slots=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str  # Actual, Exercise, System, Test, Draft
    msg_type: str  # Alert, Update, Cancel, Ack, Error
    scope: str
    note: str | None
    references: tuple[Reference, ...]
    infos: tuple[Info, ...]


@cache
def schema() -> etree.XMLSchema:
    """The OASIS schema, parsed once (it imports nothing, so no resolver is needed)."""
    data = resources.files(__package__).joinpath(XSD).read_bytes()
    return etree.XMLSchema(etree.fromstring(data, _parser()))


def _parser() -> etree.XMLParser:
    # Hardened: no DTD loaded, no entity substituted, nothing fetched, libxml2's size limits on.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_pis=True,
    )


def parse(data: bytes) -> Alert:
    """A CAP 1.2 alert from its octets, or `CapError`."""
    root = validated(data)
    return _alert(root)


def validated(data: bytes) -> Any:
    """The root element of a well-formed, DOCTYPE-free document that the OASIS schema
    accepts, or `CapError`."""
    if not data.strip():
        raise CapError(400, "bad_xml", "the body is empty: send a CAP 1.2 <alert>", "alert")
    # Refused before libxml2 sees it, whatever it would do with it (an encoding libxml2 reads
    # but this test misses still meets the check after parsing, below).
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise CapError(400, "bad_xml", "a DOCTYPE or entity declaration is not allowed")
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as e:
        line = e.lineno if e.lineno else 1
        raise CapError(400, "bad_xml", f"not well-formed XML at line {line}: {e.msg}") from None
    except (ValueError, etree.LxmlError) as e:
        raise CapError(400, "bad_xml", f"not XML: {e}") from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise CapError(400, "bad_xml", "a DOCTYPE or entity declaration is not allowed")
    root = tree.getroot()
    if root.tag != _Q + "alert":
        qname = etree.QName(root)
        if qname.localname == "alert" and qname.namespace and "emergency:cap" in qname.namespace:
            problem = f"namespace {qname.namespace} is not CAP 1.2: send {NS}"
        else:
            problem = f"the root element is {root.tag}, not a CAP 1.2 alert ({{{NS}}}alert)"
        raise CapError(422, "invalid_cap", problem, "alert")
    xsd = schema()
    if not xsd.validate(tree):
        first = xsd.error_log[0]
        raise CapError(
            422,
            "invalid_cap",
            f"line {first.line}: {_readable(first.message)}",
            _element_path(tree, first.path),
        )
    return root


def _readable(message: str) -> str:
    return message.replace(_Q, "").replace("{http://www.w3.org/2001/XMLSchema}", "xs:")


def _element_path(tree: Any, path: str | None) -> str:
    """libxml2 names the culprit by a node path without names (``/*/*[7]/*[4]``): the same
    element as ``alert/info[1]/urgency``."""
    found = tree.xpath(path) if path else None
    if not found or not isinstance(found[0], etree._Element):
        return "alert"
    steps = []
    el = found[0]
    while el is not None:
        name = etree.QName(el).localname
        parent = el.getparent()
        if parent is not None and (name in REPEATABLE or len(parent.findall(el.tag)) > 1):
            name += f"[{parent.findall(el.tag).index(el) + 1}]"
        steps.append(name)
        el = parent
    return "/".join(reversed(steps))


# -- the alert's values ------------------------------------------------------------------------


def _kids(el: Any) -> dict[str, Any]:
    """An element's children by tag, the first of each: one pass in libxml2 where a find()
    per name (its path parsed in Python each time) cost ~10 µs each, 19 of them a message."""
    kids: dict[str, Any] = {}
    for child in el.iterchildren():
        kids.setdefault(child.tag, child)
    return kids


def _text(kids: dict[str, Any], name: str) -> str | None:
    child = kids.get(_Q + name)
    if child is None:
        return None
    if len(child) == 0:  # the usual case: no comment or PI splits the text
        return (child.text or "").strip()
    return "".join(child.itertext()).strip()


def _required(kids: dict[str, Any], name: str) -> str:
    value = _text(kids, name)
    assert value is not None, name  # the schema requires it
    return value


def _alert(root: Any) -> Alert:
    kids = _kids(root)
    identifier = _checked_id(_required(kids, "identifier"), "alert/identifier")
    sender = _checked_id(_required(kids, "sender"), "alert/sender")
    sent_text = _required(kids, "sent")
    sent = _time(sent_text, "alert/sent")
    refs_text = _text(kids, "references")
    references = _references(refs_text) if refs_text is not None else ()
    infos = tuple(
        _info(el, i, f"alert/info[{i + 1}]") for i, el in enumerate(root.findall(_Q + "info"))
    )
    return Alert(
        identifier=identifier,
        sender=sender,
        sent=sent,
        status=_required(kids, "status"),
        msg_type=_required(kids, "msgType"),
        scope=_required(kids, "scope"),
        note=_text(kids, "note"),
        references=references,
        infos=infos,
    )


def _checked_id(value: str, where: str) -> str:
    if not value:
        raise CapError(422, "invalid_cap", f"{where.rsplit('/', 1)[-1]} is empty", where)
    bad = _BAD_ID_CHARS.search(value) or next(
        (ch for ch in value if unicodedata.category(ch) in ("Cc", "Cs")), None
    )
    if bad is not None:
        raise CapError(
            422,
            "invalid_cap",
            f"{where.rsplit('/', 1)[-1]} must not contain spaces, commas, '<' or '&' "
            "(CAP 1.2 §3.2.1)",
            where,
        )
    if len(value) > 200:
        raise CapError(422, "invalid_cap", "longer than 200 characters", where)
    return value


def _time(value: str, where: str) -> datetime:
    if not CAP_TIME.match(value):  # the schema checked it; a second look costs nothing
        raise CapError(422, "invalid_cap", f"{value!r} is not a CAP date-time", where)
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CapError(422, "invalid_cap", f"{value!r} is not a date-time", where) from None


def _references(value: str) -> tuple[Reference, ...]:
    """CAP 1.2 §3.2.1 references: space-separated ``sender,identifier,sent`` triples."""
    out = []
    for triple in value.split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts) or not CAP_TIME.match(parts[2]):
            raise CapError(
                422,
                "invalid_cap",
                f"{triple!r} is not sender,identifier,sent (CAP 1.2 §3.2.1)",
                "alert/references",
            )
        out.append(Reference(*parts))
    if not out:
        raise CapError(422, "invalid_cap", "references is empty", "alert/references")
    return tuple(out)


def _info(el: Any, index: int, path: str) -> Info:
    kids = _kids(el)
    return Info(
        index=index,
        language=_text(kids, "language") or "en-US",  # the schema's default
        categories=tuple("".join(c.itertext()).strip() for c in el.findall(_Q + "category")),
        event=_required(kids, "event"),
        urgency=_required(kids, "urgency"),
        severity=_required(kids, "severity"),
        certainty=_required(kids, "certainty"),
        sender_name=_text(kids, "senderName"),
        headline=_text(kids, "headline"),
        description=_text(kids, "description"),
        instruction=_text(kids, "instruction"),
        contact=_text(kids, "contact"),
        areas=tuple(
            _area(a, f"{path}/area[{j + 1}]") for j, a in enumerate(el.findall(_Q + "area"))
        ),
    )


def _area(el: Any, path: str) -> Area:
    polygons = tuple(
        _polygon("".join(p.itertext()), f"{path}/polygon[{k + 1}]")
        for k, p in enumerate(el.findall(_Q + "polygon"))
    )
    circles = tuple(
        _circle("".join(c.itertext()), f"{path}/circle[{k + 1}]")
        for k, c in enumerate(el.findall(_Q + "circle"))
    )
    return Area(_required(_kids(el), "areaDesc"), polygons, circles, path)


def _point(pair: str, where: str) -> tuple[float, float]:
    """CAP 1.2 §3.2.4: a WGS 84 point is "latitude,longitude" in decimal degrees."""
    try:
        lat_s, lon_s = pair.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise CapError(422, "invalid_cap", f"{pair!r} is not latitude,longitude", where) from None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # also refuses nan
        raise CapError(422, "invalid_cap", f"{pair!r} is outside WGS 84 bounds", where)
    return lat, lon


def _polygon(value: str, where: str) -> tuple[tuple[float, float], ...]:
    """CAP 1.2 §3.2.4 polygon: four or more points, the first and last the same."""
    points = tuple(_point(p, where) for p in value.split())
    if len(points) < 4 or points[0] != points[-1]:
        raise CapError(
            422,
            "invalid_cap",
            "a polygon needs at least 4 points, the first and last the same (CAP 1.2 §3.2.4)",
            where,
        )
    return points


def _circle(value: str, where: str) -> tuple[float, float, float]:
    """CAP 1.2 §3.2.4 circle: "lat,lon radius", the radius in kilometres."""
    parts = value.split()
    if len(parts) != 2:
        raise CapError(422, "invalid_cap", f"{value.strip()!r} is not 'lat,lon radius'", where)
    lat, lon = _point(parts[0], where)
    try:
        radius = float(parts[1])
    except ValueError:
        raise CapError(422, "invalid_cap", f"radius {parts[1]!r} is not a number", where) from None
    if not 0.0 <= radius <= 20_000.0:  # also refuses nan
        raise CapError(422, "invalid_cap", f"radius {parts[1]!r} km is out of range", where)
    return lat, lon, radius
