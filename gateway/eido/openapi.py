"""``GET /api/v1/incidents/{number}/eido`` in the OpenAPI document (`gateway.http.openapi`).

The answer is a NENA EIDO 1.0 (NENA-STA-021.1b), whose full schema NENA publishes as
OpenAPI 3.0 components (github.com/NENA911/EIDO-JSON, ``Schema/openapi.yaml``) that pull
in NIEM components by the hundred kilobytes. This document carries only the frame every
EIDO has (its header and the prologue of each data component), enough for a client to find
its way and for schemathesis to check the answer; the tests validate whole EIDOs against
NENA's own files (tests/fixtures/eido/).

NENA's schema spells the members ``$id`` and ``$ref`` as property names (STA-021 §2.1,
§2.3). Here they are `patternProperties`: a ``"$ref"`` or ``"$id"`` key under ``properties``
reads as a reference or an identifier to many tools that walk a document.
"""

from __future__ import annotations

from typing import Any

from gateway.http.openapi import UNAVAILABLE, error_response, link, ref, response

PATH = "/api/v1/incidents/{number}/eido"
NENA_SCHEMA = "https://github.com/NENA911/EIDO-JSON/blob/7f62055d30609b4a931c797a740b4eb7e2c33dbf/Schema/openapi.yaml"

#: The data components of an EIDO that are arrays (STA-021 Table 2-2).
ARRAYS = (
    "mergeComponent", "linkComponent", "callComponent", "callbackComponent",
    "dispatchComponent", "notesComponent", "emergencyResourceComponent",
    "alarmsSensorsComponent", "agencyComponent", "agentComponent", "additionalDataComponent",
    "locationComponent", "personComponent", "vehicleComponent", "cautionComponent",
    "mediaComponent", "sharedCommunicationResourceComponent",
    "externalInformationSourceComponent",
)  # fmt: skip


def _member(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {f"^\\{name}$": schema}


def components() -> dict[str, Any]:
    text = {"type": "string", "minLength": 1}
    return {
        "EidoReference": {
            "description": "STA-021 §2.3 JSON Reference: the `$id` of a data component "
            "elsewhere in the EIDO, under the member `$ref`.",
            "type": "object",
            "required": ["$ref"],
            "patternProperties": _member("$ref", text),
        },
        "EidoComponent": {
            "description": "A data component: STA-021 §2.1's prologue (`$id`, "
            "`lastUpdateTimeStamp`, `updatedByAgencyReference`, "
            "`updatedByAgentReference`) and its own members.",
            "type": "object",
            "required": ["$id", "lastUpdateTimeStamp", "updatedByAgencyReference"],
            "patternProperties": _member("$id", text),
            "properties": {
                "lastUpdateTimeStamp": {"type": "string", "format": "date-time"},
                "updatedByAgencyReference": ref("EidoReference"),
                "updatedByAgentReference": ref("EidoReference"),
            },
        },
        "Eido": {
            "description": "The incident as a NENA Emergency Incident Data Object (EIDO "
            "1.0, NENA-STA-021.1b-2022): its state now, not its history. `$id` is the "
            "incident tracking identifier (`urn:emergency:uid:incidentid:…`), "
            "`incidentComponent.internalIncidentId` the incident number; each report is a "
            "call (`localCallType` its channel) with its caller, callback, notes and "
            "location (PIDF-LO, WGS84); the assigned unit is a dispatch and an emergency "
            "resource; a drill says `drill` in `incidentStatusInternalText` and `Training` "
            "in the resource's secondary status (EIDO 1.0 has no exercise flag). This "
            "document describes the frame; NENA's schema (linked) has every member.",
            "externalDocs": {"description": "NENA's EIDO schema", "url": NENA_SCHEMA},
            "allOf": [ref("EidoComponent")],
            "type": "object",
            "required": ["eidoVersion", "issuingElementIdentification", "agencyComponent"],
            "properties": {
                "eidoVersion": {"const": "1.0"},
                "issuingElementIdentification": text,
                "incidentComponent": ref("EidoComponent"),
                **{name: {"type": "array", "items": ref("EidoComponent")} for name in ARRAYS},
                "@context": {"type": "object"},
            },
        },
    }


def operation() -> dict[str, Any]:
    return {
        "get": {
            "operationId": "getIncidentEido",
            "tags": ["incidents"],
            "summary": "One incident as a NENA EIDO (NENA-STA-021), for other agencies",
            "description": "The incident in the exchange format of NENA's Emergency "
            "Incident Data Object, JSON, as `application/json` (STA-021 defines no media "
            "type of its own). The same scope and the same personal data as "
            "`GET /api/v1/incidents/{number}`.",
            "parameters": [
                {
                    "name": "number",
                    "in": "path",
                    "required": True,
                    "description": "Incident number (警情编号).",
                    "schema": ref("Incident", "/$defs/number"),
                }
            ],
            "responses": {
                "200": {
                    **response(ref("Eido"), "The EIDO."),
                    "links": {
                        "GetIncident": link(
                            "getIncident",
                            "The incident in the gateway's own form.",
                            number="$response.body#/incidentComponent/internalIncidentId",
                        )
                    },
                },
                "401": error_response(
                    "No, or an unknown or revoked, bearer token (`unauthorized`)."
                ),
                "403": error_response("The incident is outside the token's scope (`forbidden`)."),
                "404": error_response("No such incident (`not_found`)."),
                "503": UNAVAILABLE,
            },
        }
    }


def add_to(schemas: dict[str, Any], paths: dict[str, Any]) -> None:
    """Puts the operation and its components into the document's `schemas` and `paths`,
    with a link to it from ``GET /api/v1/incidents/{number}``."""
    schemas.update(components())
    paths[PATH] = operation()
    answer = paths["/api/v1/incidents/{number}"]["get"]["responses"]["200"]
    answer.setdefault("links", {})["GetIncidentEido"] = link(
        "getIncidentEido", "The incident as a NENA EIDO.", number="$response.body#/number"
    )
