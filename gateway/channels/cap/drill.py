"""Drill injects on the CAP channel (its declaration's ``drill``): a CAP 1.2 alert with
status ``Exercise``, as another city system would send one.

- **A file** of the scenario, as written: it must say ``<status>Exercise</status>`` (CAP 1.2
  §3.2.1: a drill's alert says so itself). One thing is changed: its ``identifier`` (and
  the identifiers its ``references`` name) gets the run's suffix (``.drill-run7``). A
  message is known by its sender and identifier, so the same file played again in a later
  run would otherwise be a repeat of the first run's alert and file nothing.
- **Made of the inject's values**: sent now from the gateway's own drill sender
  (``drill-<feed sender>``), identifier ``drill-<run>-<inject>``, msgType Alert, scope
  Restricted, one ``info`` (zh-CN, category Safety: the scenario gives none) with the
  event, urgency, severity, certainty, headline and text, and one ``area``: the inject's
  address as its areaDesc and a circle of `radius_km` around its point. Built with lxml.

Either way the alert is checked by the channel's own parser (the OASIS XSD) and handed to
its intake path (`CapChannel.receive`, what ``POST /api/v1/cap`` calls once the token is
checked); it does not cross HTTP (the gateway holds no integration token of its own), and
`Sent.via` says so. The channel files an Exercise alert as drills (`mapping`), one report
per info; the inject's report is the first info's, known by the external id the channel
gives it (`mapping.external_id`). The same run and inject give the same sender and
identifier, so a second try is a repeat and stores nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lxml import etree
from twisted.logger import Logger

from gateway.channels.cap import mapping, message
from gateway.channels.cap.feed import cap_time
from gateway.channels.cap.message import NS, CapError
from gateway.channels.cap.service import CapChannel, Outcome, Refusal
from gateway.drills.inject import DrillInject, InjectError, Sent
from gateway.drills.scenario import CapAlert
from gateway.store.engine import StoreUnavailable

log = Logger()

VIA = "CAP接收接口（网关内演练注入）"
EXERCISE = "Exercise"
CATEGORY = "Safety"  # CAP 1.2 §3.2.2: "General emergency and public safety"
RESTRICTION = "演练消息，仅供本市110接处警演练使用"


async def inject(cap: CapChannel, drill: DrillInject) -> Sent:
    """Send the inject's alert (see the module's docstring); `InjectError` says why not."""
    content = drill.inject.content
    if not isinstance(content, CapAlert):
        raise InjectError(f"inject {drill.inject.id} is not a CAP alert")
    if not cap.running:
        raise InjectError("the CAP channel is not running")
    now = cap.ctx.now()
    if content.file:
        data = from_file(drill.file(content.file), drill.run)
    else:
        data = made_of_values(cap, drill, now)
    try:
        alert = message.parse(data)
    except CapError as e:
        raise InjectError(f"not a CAP 1.2 alert the channel takes: {e.message}") from None
    await _receive(cap, data, now)
    log.info(
        "CAP: drill run {run} inject {inject}: alert {identifier} from {sender}, {via}",
        run=drill.run,
        inject=drill.inject.id,
        identifier=alert.identifier,
        sender=alert.sender,
        via=VIA,
    )
    return Sent("cap", external_id=mapping.external_id(alert.sender, alert.identifier, 0), via=VIA)


# -- the scenario's file -----------------------------------------------------------------------


def from_file(data: bytes, run: int) -> bytes:
    """The file's alert, status Exercise, its identifiers made the run's own."""
    try:
        root = message.validated(data)
    except CapError as e:
        raise InjectError(
            f"the file is not a CAP 1.2 alert the channel takes: {e.message}"
        ) from None
    status = (root.findtext(_q("status")) or "").strip()
    if status != EXERCISE:
        raise InjectError(
            f"the file's alert says status {status}: a drill's alert is {EXERCISE} "
            "(CAP 1.2 §3.2.1), or it would be taken as a real one"
        )
    suffix = f".drill-run{run}"
    ident = root.find(_q("identifier"))
    ident.text = ident.text.strip() + suffix
    refs = root.find(_q("references"))
    if refs is not None:
        refs.text = " ".join(_suffixed(triple, suffix) for triple in refs.text.split())
    return bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8"))


def _suffixed(triple: str, suffix: str) -> str:
    """``sender,identifier,sent`` naming the same run's message (CAP 1.2 §3.2.1); what is
    not such a triple is left for the channel's parser to refuse."""
    parts = triple.split(",")
    if len(parts) != 3:
        return triple
    sender, identifier, sent = parts
    return f"{sender},{identifier}{suffix},{sent}"


# -- an alert of the inject's values -----------------------------------------------------------


def drill_sender(cap: CapChannel) -> str:
    """The gateway's own sender of drill alerts: its feed's sender, prefixed."""
    return f"drill-{cap.sender}"


def made_of_values(cap: CapChannel, drill: DrillInject, now: datetime) -> bytes:
    c = drill.inject.content
    assert isinstance(c, CapAlert)
    loc = drill.inject.location
    if loc is None or loc.lat is None or loc.lon is None or not loc.address:
        raise InjectError("a CAP alert made from keys needs the inject's address, lat and lon")
    if not (c.event and c.urgency and c.severity):
        raise InjectError("a CAP alert made from keys needs event, urgency and severity")
    alert = _el("alert")
    _sub(alert, "identifier", f"drill-{drill.run}-{drill.inject.id}")
    _sub(alert, "sender", drill_sender(cap))
    _sub(alert, "sent", cap_time(now, cap.ctx.tz))
    _sub(alert, "status", EXERCISE)
    _sub(alert, "msgType", "Alert")
    _sub(alert, "scope", "Restricted")
    _sub(alert, "restriction", RESTRICTION)
    _sub(
        alert,
        "note",
        f"演练：演练运行 {drill.run} 的模拟警情 {drill.inject.id}（网关演练脚本生成）",
    )
    info = _sub(alert, "info")
    _sub(info, "language", "zh-CN")
    _sub(info, "category", CATEGORY)
    _sub(info, "event", c.event)
    _sub(info, "urgency", c.urgency)
    _sub(info, "severity", c.severity)
    _sub(info, "certainty", c.certainty)
    _sub(info, "senderName", f"{cap.feed_context.sender_name}（演练）")
    _sub(info, "headline", c.headline or c.event)
    if c.text and c.text.strip():
        _sub(info, "description", c.text.strip())
    area = _sub(info, "area")
    _sub(area, "areaDesc", loc.address)
    # CAP 1.2 §3.2.4 circle: "lat,lon radius", WGS 84, the radius in kilometres.
    _sub(area, "circle", f"{loc.lat},{loc.lon} {c.radius_km}")
    return bytes(etree.tostring(alert, xml_declaration=True, encoding="UTF-8"))


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _el(name: str) -> Any:
    return etree.Element(_q(name), nsmap={None: NS})


def _sub(parent: Any, name: str, text: str | None = None) -> Any:
    child = etree.SubElement(parent, _q(name))
    child.text = text
    return child


# -- into the channel --------------------------------------------------------------------------


async def _receive(cap: CapChannel, data: bytes, now: datetime) -> Outcome:
    """The alert through the channel's intake path; it must be stored (a repeat of this
    run and inject is: nothing new)."""
    try:
        outcome = await cap.receive(data, now)
    except CapError as e:
        raise InjectError(f"the CAP channel refused the alert: {e.message}") from None
    except Refusal as e:
        raise InjectError(f"the CAP channel refused the alert: {e.text}") from None
    except StoreUnavailable as e:
        raise InjectError(f"the store is unavailable: {e}") from None
    if not outcome.body.get("stored") or not outcome.body.get("receipts"):
        raise InjectError(f"the CAP channel filed nothing: {outcome.body.get('note', '')}")
    return outcome
