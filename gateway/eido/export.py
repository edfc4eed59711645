"""The incident as a NENA EIDO (Emergency Incident Data Object, NENA-STA-021.1b-2022, JSON),
served at ``GET /api/v1/incidents/{number}/eido`` for agency-to-agency exchange.

The EIDO is built from the incident's detail document (`gateway.workflow.documents`), read
as ``GET /api/v1/incidents/{number}`` reads it and with the same scope, so it says no more
about the reporters than that route says to the same actor. STA-021 §2 ("An EIDO SHALL
represent the state of the Incident … at the time it was sent … not history"): the
workflow's audit log is not copied; the milestones are, once, as a note.

Identifiers follow STA-010's forms (STA-021 §2.1): the incident tracking identifier
``urn:emergency:uid:incidentid:<unique>:<element>``, calls ``…:callid:…``, agencies by
domain name, agents ``user@agency``, other components ``…:eidodatacomponent:<unique>:<agency>``,
each the same in every EIDO of the incident. The gateway has no registered domain of its
own: the element is the host of ``[http] public_base_url``, else ``alarmgw.invalid`` (RFC
2606: a name that resolves nowhere), and each unit of the org tree is the agency
``<unit code>.<element>``.

STA-021 names no media type of its own (NENA's openapi.yaml serves EIDOs as
``application/json``), so neither do we.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gateway.config import Config
from gateway.eido.codes import (
    COMMON_PRIORITY,
    DISPOSITIONS,
    INCIDENT_TYPES,
    MILESTONE_ORDER,
    NO_TYPE,
    PRIORITY_COLOURS,
    STATUSES,
    UNIT_STATUS,
)
from gateway.eido.components import Components, ref
from gateway.eido.formats import jcard
from gateway.http.resource import Call, HttpError
from gateway.store.tables import incidents
from gateway.workflow import records
from gateway.workflow.service import may_see
from gateway.workflow.table import STATE_NAMES_ZH, State

if TYPE_CHECKING:
    from gateway.app import Gateway

EIDO_VERSION = "1.0"  # STA-021 Table 2-2: "the value MUST be 1.0"
# NENA's openapi.yaml: the only value its schema allows for the JSON-LD vocabulary.
CONTEXT = {"@vocab": "./JSON-LD_Contexts/EmergencyIncidentDataObjectType.jsonld"}

#: The data components in the order STA-021 Table 2-2 lists them.
ORDER = (
    "mergeComponent", "linkComponent", "callComponent", "callbackComponent",
    "dispatchComponent", "notesComponent", "emergencyResourceComponent",
    "alarmsSensorsComponent", "additionalDataComponent", "locationComponent",
    "personComponent", "vehicleComponent", "mediaComponent",
)  # fmt: skip


class EidoExport:
    """The route's handler: scope as ``GET /api/v1/incidents/{number}``, then the mapping."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    async def handle(self, call: Call) -> Any:
        assert call.actor is not None  # the route requires a token or a session
        who, number = call.actor, call.params["number"]
        org, documents = self.gw.config.org, self.gw.documents

        def run(conn: Any) -> tuple[dict[str, Any], list[str]]:
            row = records.load(conn, number)
            if not may_see(who, row["unit"], org):
                raise HttpError(403, "forbidden", f"incident {number} is outside your scope")
            merged_in = list(
                conn.execute(
                    select(incidents.c.number)
                    .where(incidents.c.master == number)
                    .order_by(incidents.c.id)
                ).scalars()
            )
            return documents.one(conn, row, detail=True), merged_in

        doc, merged_in = await self.gw.db.read(run)
        return 200, eido(doc, self.gw.config, merged_in)


def eido(doc: Mapping[str, Any], config: Config, merged_in: Iterable[str] = ()) -> dict[str, Any]:
    """The EIDO of the incident whose detail document is `doc` (`Documents.one(…,
    detail=True)`); `merged_in`: the numbers of incidents merged into it."""
    c = Components(doc, config)
    c.agency(c.center, "CallReceiving")
    last_agent = None
    for event in doc.get("events") or ():
        last_agent = c.agent_of(event["actor"], event["at"]) or last_agent
    for report in doc.get("reports") or ():
        c.report(report)
    incident = _incident(c, doc, last_agent)
    if doc.get("unit") and doc.get("unit_assigned"):
        _dispatch(c, doc, doc["unit"])
    _merges(c, doc, merged_in)
    updated = doc["updated_at"]
    out: dict[str, Any] = {
        **c.prologue(c.incident_id(c.number), updated, agent=last_agent),
        "eidoVersion": EIDO_VERSION,
        "issuingElementIdentification": c.element,
        "incidentComponent": incident,
        **dict(sorted(c.components.items(), key=lambda item: _place(item[0]))),
        "agencyComponent": [
            {
                **c.prologue(aid, doc["created_at"], unit),
                "agencyJcard": jcard(c.unit_name(unit), config.city.name, unit),
                # STA-021 §3.1; an agency only here for its agents' actions: Assisting.
                "agencyRoleDescriptionRegistryText": sorted(roles) or ["Assisting"],
                "agencyType": ["police"],  # IANA urn:emergency:service:responder registry
                "incidentOwningAgencyIndicator": unit == c.center,
            }
            for aid, (unit, roles) in c.agencies.items()
        ],
        "agentComponent": list(c.agents.values()),
        "@context": CONTEXT,
    }
    return {k: v for k, v in out.items() if v != []}


def _place(component: str) -> int:
    return ORDER.index(component) if component in ORDER else len(ORDER)


def _incident(c: Components, doc: Mapping[str, Any], agent: str | None) -> dict[str, Any]:
    """STA-021 §2.9: what the incident is, how it stands, where, who is involved; its
    disposition (§2.14) once it has ended; its notes (§2.15)."""
    state, updated = State(doc["state"]), doc["updated_at"]
    incident = c.prologue(c.component_id("incident"), updated, agent=agent)
    category = doc.get("category")
    incident["incidentTypeCommonRegistryText"] = INCIDENT_TYPES.get(category or "", NO_TYPE)
    if category:
        incident["incidentTypeInternalCode"] = category
        known = c.config.categories.get(category)
        incident["incidentTypeInternalText"] = known.name if known else category
    internal = [str(state), STATE_NAMES_ZH[state]]
    if doc.get("drill"):
        # EIDO 1.0 has no exercise flag (CAP's status=Exercise has no counterpart): the
        # drill shows in the internal status, the resource's Training status and a note.
        internal += ["drill", "演练"]
    incident["incidentStatusInternalText"] = internal
    incident["incidentStatusCommonRegistryText"] = list(STATUSES[state])
    incident["internalIncidentId"] = c.number
    if doc.get("priority") is not None:
        p = int(doc["priority"])
        incident["incidentPriorityInternalText"] = f"{p} {PRIORITY_COLOURS.get(p, '')}".strip()
        incident["incidentCommonPriorityNumber"] = COMMON_PRIORITY.get(p, 0)
    if doc.get("unit"):
        incident["beatOrDispatchGroupText"] = c.unit_name(doc["unit"])
    locations = list(c.report_locations)
    if doc.get("location"):
        current = c.location("location", "", doc["location"], updated, "CurrentIncident")
        locations.insert(0, current)
    references = {
        "locationReference": locations,
        "personReference": [p["$id"] for p in c.components.get("personComponent", ())],
        "agentReference": list(c.agents),
    }
    incident.update({k: [ref(x) for x in ids] for k, ids in references.items() if ids})
    disposition = DISPOSITIONS.get(state)
    if disposition is not None:
        ended = state in (State.HANDLED, State.CLOSED)
        text = doc.get("result") if ended else doc.get("reason")
        incident["dispositionComponent"] = [
            {
                **c.prologue(c.component_id("disposition"), updated, agent=agent),
                "dispositionCommonRegistryCode": disposition,
                "dispositionPrimaryIndicator": True,
                "dispositionCategoryText": STATE_NAMES_ZH[state],
                **({"dispositionDescriptionText": text} if text else {}),
            }
        ]
    incident["notesReference"] = [ref(n) for n in _notes(c, doc)]
    return incident


def _notes(c: Components, doc: Mapping[str, Any]) -> list[str]:
    """The incident's notes: its timeline (the time it last entered each state it reached:
    STA-021 keeps no history, so this is the one place the milestones go), the drill mark,
    the unit's feedback, why it was marked invalid or cancelled."""
    updated, milestones = doc["updated_at"], doc.get("milestones") or {}
    timeline = "；".join(
        f"{STATE_NAMES_ZH[State(s)]} {s} {c.time(milestones[s])}"
        for s in MILESTONE_ORDER
        if s in milestones
    )
    notes = [c.note("timeline", "", f"时间线：{timeline}", updated)]
    if doc.get("drill"):
        text = "演练警情，非真实警情 (drill: not a real incident)"
        notes.append(c.note("drill", "", text, doc["created_at"]))
    if doc.get("result"):
        notes.append(c.note("result", "", f"处警反馈：{doc['result']}", updated))
    if doc.get("reason"):
        notes.append(c.note("reason", "", f"原因：{doc['reason']}", updated))
    return notes


def _dispatch(c: Components, doc: Mapping[str, Any], unit: str) -> None:
    """STA-021 §2.13 and §2.12: the dispatch to the assigned unit and that unit's response
    as an emergency resource, its status by the incident's state."""
    state, milestones = State(doc["state"]), doc.get("milestones") or {}
    c.agency(c.center, "Dispatching")
    c.agency(unit, "Dispatched")
    at = milestones.get("dispatched", doc["updated_at"])
    steps = ("dispatched", "acknowledged", "on_scene", "handled", "closed", "cancelled")
    since = max((milestones[s] for s in steps if s in milestones), default=at)
    primary, secondary = UNIT_STATUS.get(state, ("NotAvailable", "Assigned"))
    tier = c.config.org.get(unit).tier if unit in c.config.org else "station"
    unit_agents = [
        aid for aid, a in c.agents.items() if a["agencyReference"]["$ref"] == c.agency_id(unit)
    ]
    resource = c.add(
        "emergencyResourceComponent",
        {
            **c.prologue(c.component_id("resource", unit), since, unit),
            # STA-021 §3.11: a station answers with patrol officers, traffic police with a
            # traffic unit.
            "emergencyResourceTypeCommonRegistryText": "TrafficUnit"
            if tier == "special"
            else "PatrolUnit",
            "emergencyResourceTypeInternalText": tier,
            "resourceAttributeRegistryText": [],
            "emergencyResourceName": c.unit_name(unit),
            "primaryUnitStatusRegistryText": primary,
            "secondaryUnitStatusRegistryText": [secondary]
            + (["Training"] if doc.get("drill") else []),
            "unitStatusInternal": [str(state), STATE_NAMES_ZH[state]],
            "agentReference": [ref(a) for a in unit_agents],
        },
    )
    c.add(
        "dispatchComponent",
        {
            **c.prologue(c.component_id("dispatch", unit), at),
            "agencyReference": ref(c.agency_id(unit)),
            "emergencyResourceReference": [ref(resource)],
        },
    )


def _merges(c: Components, doc: Mapping[str, Any], merged_in: Iterable[str]) -> None:
    """STA-021 §2.7: the incidents this one replaced (merged into it), and the one that
    replaced it when it was merged."""
    updated = doc["updated_at"]
    for number in merged_in:
        c.add(
            "mergeComponent",
            {
                **c.prologue(c.component_id("merge", number), updated),
                "incidentTrackingIdentifier": c.incident_id(number),
                "incidentMergeDirectionCode": "REPLACED",
            },
        )
    if doc["state"] == State.MERGED and doc.get("master"):
        at = (doc.get("milestones") or {}).get("merged", updated)
        c.add(
            "mergeComponent",
            {
                **c.prologue(c.component_id("merge", doc["master"]), at),
                "incidentTrackingIdentifier": c.incident_id(doc["master"]),
                "incidentMergeDirectionCode": "REPLACING",
            },
        )
