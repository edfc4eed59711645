"""The values of NENA-STA-021.1b's registries (its chapter 3, "IANA Actions") that an
alarmgw incident maps to, in one place: each table says which of our values becomes which
of theirs, and why where the fit is loose."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.workflow.table import State

#: Our categories → STA-021 §3.2 "EIDO-IncidentType-Common" (APCO ANS 2.103.2-2019), the
#: closest code; an unclassified incident or a city's own category is NCRNONE ("None - No
#: Code Found"). Our code and its Chinese name travel beside it as the internal type.
INCIDENT_TYPES: Mapping[str, str] = {
    "criminal": "INVEST",  # Investigation
    "public_order": "DISORD",  # Disorderly
    "traffic": "MVAUNK",  # MVA Unk (most 交通 alarms are accidents)
    "fire": "FUNK",  # Fire Unknown
    "disaster": "HAZ",  # Wires Down, Other Natural Hazards
    "dispute": "CDX",  # Civil Dispute
    "assistance": "CITASST",  # Public Assistance, Citizen Standby
    "tip": "INFO",  # Information
    "other": "NCRNONE",
}
NO_TYPE = "NCRNONE"

#: Our states → STA-021 §3.3 "EIDO-IncidentStatus-Common".
STATUSES: Mapping[State, tuple[str, ...]] = {
    State.RECEIVED: ("Active",),
    State.ACCEPTED: ("Active",),
    State.INVALID: ("Closed",),
    State.MERGED: ("Closed",),
    State.DISPATCHED: ("Active", "ResourcesAssigned"),
    State.ACKNOWLEDGED: ("Active", "ResourcesAssigned"),
    State.ON_SCENE: ("Active", "ResourcesOnscene"),
    State.HANDLED: ("Active", "ResourcesOnscene"),
    State.CLOSED: ("Closed",),
    State.CANCELLED: ("Cancelled",),
}

#: Ends of an incident → STA-021 §3.5 "EIDO-CommonDispositionCode" (APCO ANS 1.111.2-2018).
DISPOSITIONS: Mapping[State, str] = {
    State.HANDLED: "18",  # Assignment Completed/Settled By Contact
    State.CLOSED: "18",
    State.INVALID: "02",  # No Report Taken
    State.MERGED: "22",  # Cancelled - Duplicate Call
    State.CANCELLED: "10",  # Event Cancelled
}

#: The assigned unit's response as an emergency resource: STA-021 §3.9 Primary and §3.10
#: Secondary Unit Status-Common, by incident state.
UNIT_STATUS: Mapping[State, tuple[str, str]] = {
    State.DISPATCHED: ("NotAvailable", "Dispatched"),
    State.ACKNOWLEDGED: ("NotAvailable", "AcknowledgedTransmission"),
    State.ON_SCENE: ("NotAvailable", "OnScene"),
    State.HANDLED: ("Available", "Cleared"),
    State.CLOSED: ("Available", "Cleared"),
    State.CANCELLED: ("Available", "AssignmentCancelled"),
}

# Priority 1 (红, highest) … 4 (蓝) → STA-021 Table 2-7 incidentCommonPriorityNumber, 0 (lowest)
# to 10 (highest).
COMMON_PRIORITY = {1: 10, 2: 7, 3: 4, 4: 1}
PRIORITY_COLOURS = {1: "红", 2: "橙", 3: "黄", 4: "蓝"}

# STA-021 §2.5 names these two values of STA-010's "Agent Roles" registry.
CALL_TAKING, DISPATCHING = "Call Taking", "Dispatching"
# Whose actions show in an EIDO as an agent's: people, not the gateway's own timers and intake.
NOT_AGENTS = frozenset({"system"})

#: The order of the milestones in the timeline note.
MILESTONE_ORDER = (
    "received", "accepted", "invalid", "merged", "dispatched", "acknowledged", "on_scene",
    "handled", "closed", "cancelled",
)  # fmt: skip
