"""The data components of an EIDO (NENA-STA-021.1b chapter 2) as alarmgw fills them from one
incident: agencies, agents, notes, locations, and each report as a call with its caller and
callback. `gateway.eido.export` puts them together."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from gateway.config import Config
from gateway.eido.codes import CALL_TAKING, DISPATCHING, NOT_AGENTS
from gateway.eido.formats import callback_uri, html5, pidf_lo
from gateway.report import parse_utc


def element_of(config: Config) -> str:
    """The gateway's element identifier (STA-010 FQDN) and the parent of its agencies."""
    host = urlsplit(config.http.public_base_url or "").hostname
    if host and re.fullmatch(r"(?=.*[a-z])[a-z0-9.-]+", host):  # a name, not an address
        return host
    return "alarmgw.invalid"


def alnum(text: str) -> str:
    """STA-010 unique strings are letters and digits."""
    return re.sub(r"[^0-9A-Za-z]", "", text)


def ref(component_id: str) -> dict[str, str]:
    # STA-021 §2.3: a JSON Reference holds the $id of a component elsewhere in the EIDO.
    return {"$ref": component_id}


class Components:
    """The data components of one incident's EIDO, gathered as the incident is read: each
    has its STA-021 §2.1 prologue and an $id that is the same in every EIDO of the incident."""

    def __init__(self, doc: Mapping[str, Any], config: Config) -> None:
        self.doc, self.config = doc, config
        self.tz = ZoneInfo(config.city.timezone)
        self.element = element_of(config)
        self.number = doc["number"]
        self.key = alnum(self.number)
        self.center = config.org.root.code
        self.components: dict[str, list[dict[str, Any]]] = {}
        self.agencies: dict[str, tuple[str, set[str]]] = {}  # id → (unit code, roles)
        self.agents: dict[str, dict[str, Any]] = {}
        self.report_locations: list[str] = []

    # -- identifiers and common parts ----------------------------------------------------

    def unit_name(self, unit: str) -> str:
        return self.config.org.get(unit).name if unit in self.config.org else unit

    def agency_id(self, unit: str) -> str:
        return f"{unit}.{self.element}"

    def incident_id(self, number: str) -> str:
        return f"urn:emergency:uid:incidentid:{alnum(number)}:{self.element}"

    def component_id(self, kind: str, n: str = "", unit: str | None = None) -> str:
        agency = self.agency_id(unit or self.center)
        return f"urn:emergency:uid:eidodatacomponent:{self.key}{kind}{alnum(n)}:{agency}"

    def time(self, utc: str) -> str:
        """STA-021 §2.1: W3C date-time (NENA-STA-010); the city's offset, as people there
        read it, with milliseconds as stored."""
        return parse_utc(utc, "time").astimezone(self.tz).isoformat(timespec="milliseconds")

    def prologue(
        self, cid: str, at: str, unit: str | None = None, agent: str | None = None
    ) -> dict[str, Any]:
        """STA-021 §2.1: the members every data component starts with."""
        out: dict[str, Any] = {
            "$id": cid,
            "lastUpdateTimeStamp": self.time(at),
            "updatedByAgencyReference": ref(self.agency(unit or self.center)),
        }
        if agent is not None:
            out["updatedByAgentReference"] = ref(agent)
        return out

    def add(self, component: str, item: dict[str, Any]) -> str:
        self.components.setdefault(component, []).append(item)
        return str(item["$id"])

    def agency(self, unit: str, *roles: str) -> str:
        aid = self.agency_id(unit)
        self.agencies.setdefault(aid, (unit, set()))[1].update(roles)
        return aid

    def note(self, kind: str, n: str, text: str, at: str, agent: str | None = None) -> str:
        return self.add(
            "notesComponent",
            {
                **self.prologue(self.component_id(kind, n), at, agent=agent),
                "notesActionComments": html5(text),
                **({"agentReference": ref(agent)} if agent else {}),
            },
        )

    # -- agents: the people whose actions are on the incident -----------------------------

    def agent_of(self, actor: Mapping[str, Any], at: str) -> str | None:
        if actor.get("role") in NOT_AGENTS or not actor.get("user"):
            return None
        unit = actor.get("unit") or self.center
        aid = f"{quote(str(actor['user']), safe='')}@{self.agency_id(unit)}"
        role = CALL_TAKING if actor["role"] == "calltaker" else DISPATCHING
        agent = self.agents.get(aid)
        if agent is None:
            self.agency(unit)  # its role is what it did besides: else Assisting (eido())
            agent = self.agents[aid] = {
                **self.prologue(aid, at, unit),
                "agentRoleRegistryText": [],
                "agencyReference": ref(self.agency_id(unit)),
            }
        agent["lastUpdateTimeStamp"] = self.time(at)
        if role not in agent["agentRoleRegistryText"]:
            agent["agentRoleRegistryText"].append(role)
        return aid

    # -- the parts of the incident --------------------------------------------------------

    def location(self, kind: str, n: str, where: Mapping[str, Any], at: str, typ: str) -> str:
        cid = self.component_id(kind, n)
        item = {
            **self.prologue(cid, at),
            "locationTypeDescriptionRegistryText": typ,  # STA-021 §3.8
            "locationByValue": pidf_lo(
                where, f"pres:{self.key}{kind}{alnum(n)}@{self.element}", self.time(at)
            ),
        }
        if where.get("address"):
            item["locationDescriptionText"] = where["address"]
        return self.add("locationComponent", item)

    def report(self, report: Mapping[str, Any]) -> str:
        """A report as a call (STA-021 §2.10): every channel's alarm is an incoming
        emergency contact, the channel its local call type; its caller as a person (§2.16:
        "MUST be created along with a Call") with the callback the channel gives."""
        # Named by the receipt, not by position: a merge can put reports before this one.
        at, n = report["received_at"], report["receipt"]
        call_id = f"urn:emergency:uid:callid:{alnum(report['receipt'])}:{self.element}"
        call: dict[str, Any] = {
            **self.prologue(call_id, at),
            "standardPrimaryCallType": "emergency",
            "localCallType": report["channel"],
            "direction": "incoming",
            "callStartTimestamp": self.time(at),
            # The gateway keeps reports, not live calls: by the time one is here it is whole.
            "callStateRegistryText": "callEnd",
        }
        sender = report["sender"]
        uri = callback_uri(sender)
        person_id = None
        if sender["kind"] not in ("terminal", "system"):
            person: dict[str, Any] = {
                **self.prologue(self.component_id("person", n), at),
                "personIncidentRoleRegistryText": ["Caller"],  # STA-021 §3.6
                "callIdentifier": [call_id],
            }
            if sender.get("name"):
                person["ncPersonComponent"] = {
                    "name": [{"personFullName": [{"value": sender["name"]}]}]
                }
            if uri is not None:
                cb = self.add(
                    "callbackComponent",
                    {
                        **self.prologue(self.component_id("callback", n), at),
                        "callBackInformationUri": [uri],
                    },
                )
                person["callBackReference"] = call["callBackReference"] = ref(cb)
            person_id = self.add("personComponent", person)
            call["personReference"] = [ref(person_id)]
        notes = []
        if report.get("text"):
            notes.append(self.note("report", n, report["text"], at))
        if report.get("alarm"):
            alarm = report["alarm"]
            zone = f"，防区 {alarm['zone']}" if alarm.get("zone") else ""
            notes.append(self.note("alarm", n, f"报警主机 {alarm['account']}{zone}", at))
        if notes:
            call["notesReference"] = [ref(x) for x in notes]
        if report.get("location"):
            loc = self.location("reportloc", n, report["location"], at, "InitialIncident")
            self.report_locations.append(loc)
            call["locationReference"] = [ref(loc)]
            if person_id is not None:
                self.components["personComponent"][-1]["locationReference"] = [ref(loc)]
        media = [
            self.add(
                "mediaComponent",
                {
                    **self.prologue(self.component_id("media", f"{n}x{k}"), at),
                    "uri": quote(a["ref"], safe=":/?#[]@!$&'()*+,;=%"),
                    "contentType": a["content_type"],
                    "label": a["name"],
                },
            )
            for k, a in enumerate(report.get("attachments") or ())
            if a.get("ref")
        ]
        if media:
            call["mediaReferences"] = [ref(m) for m in media]
        return self.add("callComponent", call)
