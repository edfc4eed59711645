"""The EIDO export (`gateway.eido.export`) against NENA's own schema.

NENA publishes the EIDO's schema as OpenAPI 3.0 components (NENA911/EIDO-JSON,
``Schema/openapi.yaml``, which refers into NIEM components), bundled as published under
tests/fixtures/eido/ (README there: where from, which commit, licence). EIDOs are validated
with openapi-schema-validator's OAS 3.0 dialect, the ``$ref``s between the files resolved by
`referencing` from the bundle and never from the network. NENA's own sample goes first, to
show that the validator passes what NENA calls valid and fails what is not.

NENA's schema allows any member anywhere (no ``additionalProperties: false``), so a
misspelt member would pass it: every EIDO here is also walked against the schema's declared
members, and its references are checked to point at components of the same EIDO.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT4
from sqlalchemy import select

from gateway.config import Config, load_config
from gateway.eido.export import eido
from gateway.errors import DomainError
from gateway.report import AlarmRef, Attachment, Location, Sender
from gateway.store.tables import incidents
from gateway.workflow.table import TRANSITIONS, Action, Role, State, allowed_actions
from tests.channels.web.test_reports import post_report
from tests.inline import CITY, STATION, Store, staff
from tests.peers.gateway import GatewayProcess

FIXTURES = Path(__file__).parent / "fixtures" / "eido"
SCHEMA = FIXTURES / "Schema"
SAMPLE = FIXTURES / "Samples" / "Sample call transfer EIDO.json"
ROOT = SCHEMA.resolve().as_uri() + "/openapi.yaml#/components/schemas/"
OTHER_STATION = "530103510000"  # 螺峰派出所, under 青山分局
NANBA = Location(lat=24.98, lon=102.65, accuracy_m=15, address="南坝路8号")


# -- NENA's schema -------------------------------------------------------------------------


def _correct(node: Any) -> Any:
    """The one defect of the published openapi.yaml that stops validation: AgentType's
    ``minItems: 1,`` is YAML for the string "1,", and jsonschema then compares a length
    with a string (TypeError). Read as the 1 NENA meant; `test_the_known_defect` keeps
    this from hiding anything else."""
    if isinstance(node, dict):
        return {k: 1 if k == "minItems" and v == "1," else _correct(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_correct(v) for v in node]
    return node


@functools.cache
def _registry(correct: bool = True) -> Registry:
    """NENA's files, parsed once (nc.yaml is 380 kB of YAML); a reference to a file not in
    the bundle fails loudly instead of being fetched."""

    def retrieve(uri: str) -> Resource:
        raise NoSuchResource(ref=uri)

    resources = []
    for path in sorted(SCHEMA.rglob("*.yaml")):
        contents = yaml.safe_load(path.read_text(encoding="utf-8"))
        resource = Resource.from_contents(
            _correct(contents) if correct else contents, default_specification=DRAFT4
        )
        resources.append((path.resolve().as_uri(), resource))
        if path.parent.name == "NIEMComponents":
            # openapi.yaml spells one reference 'NIEMComponents//j.yaml': the same file.
            resources.append((path.parent.resolve().as_uri() + "//" + path.name, resource))
    registry: Registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    return registry.with_resources(resources)


def _validator(component: str = "EmergencyIncidentDataObjectType", **kw: Any) -> Any:
    return OAS30Validator(
        {"$ref": ROOT + component},
        registry=_registry(**kw),
        format_checker=oas30_format_checker,
    )


VALIDATOR = _validator()


def errors(document: Any) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in VALIDATOR.iter_errors(document)]


def _declared(schema: dict[str, Any], resolver: Any) -> tuple[dict[str, Any], Any]:
    """The members `schema` declares (through $ref and allOf), each with its resolver."""
    if "$ref" in schema:
        found = resolver.lookup(schema["$ref"])
        return _declared(found.contents, found.resolver)
    members = {k: (v, resolver) for k, v in schema.get("properties", {}).items()}
    for part in schema.get("allOf", ()):
        members.update(_declared(part, resolver)[0])
    return members, resolver


def undeclared(document: Any) -> list[str]:
    """Members of `document` that NENA's schema does not declare where they are."""
    problems: list[str] = []
    resolver = _registry().resolver()

    def walk(value: Any, schema: dict[str, Any], where: str, res: Any) -> None:
        if "$ref" in schema:
            found = res.lookup(schema["$ref"])
            walk(value, found.contents, where, found.resolver)
            return
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                walk(item, schema["items"], f"{where}[{i}]", res)
        elif isinstance(value, dict) and ("properties" in schema or "allOf" in schema):
            members, _ = _declared(schema, res)
            for key, item in value.items():
                if key not in members:
                    problems.append(f"{where}.{key}")
                else:
                    walk(item, members[key][0], f"{where}.{key}", members[key][1])

    walk(document, {"$ref": ROOT + "EmergencyIncidentDataObjectType"}, "$", resolver)
    return problems


def dangling(document: dict[str, Any]) -> list[str]:
    """STA-021 §2.3: every reference names the $id of a data component in the EIDO; §2.1:
    no two components share one."""
    ids: list[str] = []
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$id"), str):
                ids.append(node["$id"])
            if set(node) == {"$ref"}:
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document)
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    return [f"duplicate $id {i}" for i in duplicated] + [
        f"no component {r}" for r in refs if r not in ids
    ]


def assert_valid(document: dict[str, Any]) -> None:
    assert errors(document) == []
    assert undeclared(document) == []
    assert dangling(document) == []


def test_nenas_sample_validates() -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    assert errors(sample) == []
    assert undeclared(sample) == []


def test_the_validator_fails_what_is_not_an_eido() -> None:
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    cases = {
        "eidoVersion": lambda d: d.update(eidoVersion="2.0"),
        "agencyComponent": lambda d: d.pop("agencyComponent"),
        "lastUpdateTimeStamp": lambda d: d.update(lastUpdateTimeStamp="2021-04-31T14:43:49Z"),
        "$ref": lambda d: d["updatedByAgencyReference"].pop("$ref"),
        "direction": lambda d: d["callComponent"][0].update(direction="sideways"),
        "agentRoleRegistryText": lambda d: d["agentComponent"][0].update(agentRoleRegistryText=[]),
    }
    for what, change in cases.items():
        broken = copy.deepcopy(sample)
        change(broken)
        assert any(what in e for e in errors(broken)), what
    typo = copy.deepcopy(sample)
    typo["callComponent"][0]["callStartTimeStamp"] = typo["callComponent"][0]["answerDate"]
    assert undeclared(typo) == ["$.callComponent[0].callStartTimeStamp"]
    typo["callComponent"][0]["callBackReference"] = {"$ref": "nowhere"}
    assert "no component nowhere" in dangling(typo)


def test_the_known_defect() -> None:
    """The correction in `_correct` is needed (without it the sample cannot be validated)
    and touches exactly one keyword in the files as published."""
    text = (SCHEMA / "openapi.yaml").read_text(encoding="utf-8")
    assert text.count("minItems: 1,") == 1
    sample = json.loads(SAMPLE.read_text(encoding="utf-8"))
    with pytest.raises(TypeError):
        _validator(correct=False).validate(sample)
    published = yaml.safe_load(text)
    assert _correct(published) != published
    agent = published["components"]["schemas"]["AgentType"]["allOf"][1]
    agent["properties"]["agentRoleRegistryText"]["minItems"] = 1
    assert _correct(published) == published


# -- incidents in given states ----------------------------------------------------------------


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(None)


@pytest.fixture
def store(tmp_path: Path, config: Config) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'eido.db'}", config)
    yield s
    s.close()


def export(store: Store, number: str) -> dict[str, Any]:
    doc = store.document(number)
    merged_in = store.read(
        lambda c: list(
            c.execute(
                select(incidents.c.number)
                .where(incidents.c.master == number)
                .order_by(incidents.c.id)
            ).scalars()
        )
    )
    out = eido(doc, store.config, merged_in)
    assert_valid(out)
    return out


def by_id(out: dict[str, Any], component: str, cid: str) -> dict[str, Any]:
    (found,) = [c for c in out[component] if c["$id"] == cid]
    return found


def test_received_without_a_location(store: Store) -> None:
    number = store.submit(store.report(sender=Sender("phone", "13812345678"))).incident
    out = export(store, number)
    assert out["$id"] == f"urn:emergency:uid:incidentid:{number.replace('-', '')}:alarmgw.invalid"
    assert out["eidoVersion"] == "1.0"
    assert out["lastUpdateTimeStamp"] == "2026-11-24T09:00:00.000+08:00"  # T0 in Shanghai
    incident = out["incidentComponent"]
    assert incident["internalIncidentId"] == number
    assert incident["incidentTypeCommonRegistryText"] == "NCRNONE"  # not classified yet
    assert incident["incidentStatusCommonRegistryText"] == ["Active"]
    assert incident["incidentStatusInternalText"] == ["received", "接警"]
    assert "locationComponent" not in out and "locationReference" not in incident
    (agency,) = out["agencyComponent"]
    assert agency["$id"] == f"{CITY}.alarmgw.invalid"
    assert agency["agencyRoleDescriptionRegistryText"] == ["CallReceiving"]
    assert agency["incidentOwningAgencyIndicator"] is True
    assert json.loads(agency["agencyJcard"])[1][2] == ["fn", {}, "text", "示例市公安局指挥中心"]
    (call,) = out["callComponent"]
    assert call["localCallType"] == "web" and call["direction"] == "incoming"
    (callback,) = out["callbackComponent"]
    assert callback["callBackInformationUri"] == ["tel:13812345678;phone-context=+86"]
    (person,) = out["personComponent"]
    assert person["personIncidentRoleRegistryText"] == ["Caller"]
    assert person["callBackReference"] == call["callBackReference"] == {"$ref": callback["$id"]}
    assert "agentComponent" not in out  # only the gateway has acted


def test_dispatched_with_a_unit_and_a_location(store: Store) -> None:
    number = store.submit(store.report(location=NANBA)).incident
    store.clock.advance(60)
    store.act(number, "accept", staff("calltaker", user="ct1"), category="criminal", priority=2)
    store.clock.advance(60)
    store.act(number, "dispatch", staff("dispatcher", user="dp1"), unit=STATION)
    out = export(store, number)
    incident = out["incidentComponent"]
    assert incident["incidentTypeCommonRegistryText"] == "INVEST"
    assert (incident["incidentTypeInternalCode"], incident["incidentTypeInternalText"]) == (
        "criminal",
        "刑事",
    )
    assert incident["incidentStatusCommonRegistryText"] == ["Active", "ResourcesAssigned"]
    assert incident["incidentCommonPriorityNumber"] == 7
    assert incident["incidentPriorityInternalText"] == "2 橙"
    assert out["lastUpdateTimeStamp"] == "2026-11-24T09:02:00.000+08:00"
    agencies = {a["$id"]: a for a in out["agencyComponent"]}
    assert sorted(agencies[f"{CITY}.alarmgw.invalid"]["agencyRoleDescriptionRegistryText"]) == [
        "CallReceiving",
        "Dispatching",
    ]
    assert agencies[f"{STATION}.alarmgw.invalid"]["agencyRoleDescriptionRegistryText"] == [
        "Dispatched"
    ]
    (dispatch,) = out["dispatchComponent"]
    assert dispatch["agencyReference"] == {"$ref": f"{STATION}.alarmgw.invalid"}
    (resource,) = out["emergencyResourceComponent"]
    assert dispatch["emergencyResourceReference"] == [{"$ref": resource["$id"]}]
    assert resource["emergencyResourceName"] == "南坝派出所"
    assert resource["emergencyResourceTypeCommonRegistryText"] == "PatrolUnit"
    assert resource["primaryUnitStatusRegistryText"] == "NotAvailable"
    assert resource["secondaryUnitStatusRegistryText"] == ["Dispatched"]
    assert dispatch["lastUpdateTimeStamp"] == "2026-11-24T09:02:00.000+08:00"
    agents = {a["$id"]: a["agentRoleRegistryText"] for a in out["agentComponent"]}
    assert agents == {
        f"ct1@{CITY}.alarmgw.invalid": ["Call Taking"],
        f"dp1@{CITY}.alarmgw.invalid": ["Dispatching"],
    }
    assert out["updatedByAgentReference"] == {"$ref": f"dp1@{CITY}.alarmgw.invalid"}
    current = [
        loc
        for loc in out["locationComponent"]
        if loc["locationTypeDescriptionRegistryText"] == "CurrentIncident"
    ]
    (location,) = current
    assert {"$ref": location["$id"]} in incident["locationReference"]
    assert location["locationDescriptionText"] == "南坝路8号"
    pidf = ElementTree.fromstring(location["locationByValue"])
    gml = "{http://www.opengis.net/gml}"
    ca = "{urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr}"
    circle = pidf.find(".//{http://www.opengis.net/pidflo/1.0}Circle")
    assert circle is not None and circle.get("srsName") == "urn:ogc:def:crs:EPSG::4326"
    assert circle.findtext(f"{gml}pos") == "24.98 102.65"  # latitude first (EPSG:4326)
    assert circle.findtext("{http://www.opengis.net/pidflo/1.0}radius") == "15.0"
    assert pidf.findtext(f".//{ca}LOC") == "南坝路8号" and pidf.findtext(f".//{ca}country") == "CN"


def test_the_whole_life_to_closed(store: Store) -> None:
    number = store.dispatched()
    officer = staff("unit_officer", STATION, "po1")
    for action, params in (
        ("acknowledge", {}),
        ("arrive", {}),
        ("feedback", {"result": "嫌疑人已被抓获 <b>已处理</b>"}),
        ("close", {}),
    ):
        store.clock.advance(300)
        who = staff("supervisor", user="sv1") if action == "close" else officer
        store.act(number, action, who, **params)
        out = export(store, number)
    incident = out["incidentComponent"]
    assert incident["incidentStatusCommonRegistryText"] == ["Closed"]
    (disposition,) = incident["dispositionComponent"]
    assert disposition["dispositionCommonRegistryCode"] == "18"
    assert disposition["dispositionDescriptionText"] == "嫌疑人已被抓获 <b>已处理</b>"
    (resource,) = out["emergencyResourceComponent"]
    assert resource["primaryUnitStatusRegistryText"] == "Available"
    assert resource["secondaryUnitStatusRegistryText"] == ["Cleared"]
    assert resource["agentReference"] == [{"$ref": f"po1@{STATION}.alarmgw.invalid"}]
    notes = {n["$id"]: n["notesActionComments"] for n in out["notesComponent"]}
    # HTML5 notes (STA-021 Table 2-17): the unit's text is text, not markup.
    assert "处警反馈：嫌疑人已被抓获 &lt;b&gt;已处理&lt;/b&gt;" in notes.values()
    (timeline,) = [t for t in notes.values() if t.startswith("时间线")]
    assert "受理 accepted 2026-11-24T09:00:00.000+08:00" in timeline
    assert "到场 on_scene 2026-11-24T09:10:00.000+08:00" in timeline
    assert "结案 closed 2026-11-24T09:20:00.000+08:00" in timeline
    assert {"$ref": f"po1@{STATION}.alarmgw.invalid"} in incident["agentReference"]
    agencies = {a["$id"]: a for a in out["agencyComponent"]}
    assert agencies[f"{STATION}.alarmgw.invalid"]["incidentOwningAgencyIndicator"] is False


@pytest.mark.parametrize(
    ("action", "params", "status", "code"),
    [
        ("mark_invalid", {"reason": "误拨"}, ["Closed"], "02"),
        ("cancel", {"reason": "报警人撤回"}, ["Cancelled"], "10"),
    ],
)
def test_ended_without_a_response(
    store: Store, action: str, params: dict[str, str], status: list[str], code: str
) -> None:
    number = store.submit().incident
    store.act(number, action, staff("calltaker"), **params)
    incident = export(store, number)["incidentComponent"]
    assert incident["incidentStatusCommonRegistryText"] == status
    (disposition,) = incident["dispositionComponent"]
    assert disposition["dispositionCommonRegistryCode"] == code
    assert disposition["dispositionDescriptionText"] == params["reason"]


def test_merged_names_its_master_and_the_master_its_duplicates(store: Store) -> None:
    master = store.submit(store.report(sender=Sender("phone", "13800000001"))).incident
    duplicate = store.submit(
        store.report(channel="sms", sender=Sender("phone", "+8613900000002"), text="又一个")
    ).incident
    assert duplicate != master
    store.act(duplicate, "merge", staff("calltaker"), master=master)
    merged = export(store, duplicate)
    (merge,) = merged["mergeComponent"]
    assert merge["incidentTrackingIdentifier"] == export(store, master)["$id"]
    assert merge["incidentMergeDirectionCode"] == "REPLACING"
    assert merged["incidentComponent"]["incidentStatusCommonRegistryText"] == ["Closed"]
    assert merged["incidentComponent"]["dispositionComponent"][0][
        "dispositionCommonRegistryCode"
    ] == "22"  # fmt: skip
    assert "callComponent" not in merged  # its reports moved to the master
    out = export(store, master)
    (merge,) = out["mergeComponent"]
    assert merge["incidentTrackingIdentifier"] == merged["$id"]
    assert merge["incidentMergeDirectionCode"] == "REPLACED"
    # The master holds both reports, from two channels, each a call with its caller.
    assert [c["localCallType"] for c in out["callComponent"]] == ["web", "sms"]
    uris = [c["callBackInformationUri"] for c in out["callbackComponent"]]
    assert uris == [["tel:13800000001;phone-context=+86"], ["tel:+8613900000002"]]
    assert len(out["personComponent"]) == 2


def test_a_components_id_stays_when_an_older_report_joins(store: Store) -> None:
    """STA-021 §2.1: a component's $id is the same in every EIDO of the incident. Merging
    an older incident puts its report first; the components already sent keep their ids
    and say the same."""
    older = store.submit(store.report(sender=Sender("phone", "13800000003"))).incident
    store.clock.advance(60)
    number = store.submit(store.report(sender=Sender("phone", "13800000004"))).incident
    before = export(store, number)
    store.act(older, "merge", staff("calltaker"), master=number)
    after = export(store, number)
    assert [c["callBackInformationUri"] for c in after["callbackComponent"]] == [
        ["tel:13800000003;phone-context=+86"],
        ["tel:13800000004;phone-context=+86"],
    ]
    for component in ("callComponent", "personComponent", "callbackComponent"):
        (sent,) = before[component]
        assert by_id(after, component, sent["$id"]) == sent, component


def test_several_channels_names_and_attachments(store: Store) -> None:
    number = store.submit(
        store.report(
            channel="email",
            sender=Sender("email", "li.si@example.com", "李四"),
            text="楼下有人<script>打架</script>\n快来",
            location=Location(address="翠湖南路1号"),
            attachments=(
                Attachment("现场.jpg", "image/jpeg", 3, "a" * 64, ref="blobs/aaaa 1.jpg"),
            ),
        )
    ).incident
    for channel, sender in (
        ("phone", Sender("phone", "0871-6000 0001", "王五")),
        ("telegram", Sender("account", "tg:42", "Zhao")),
        ("dc09", Sender("terminal", "panel-7")),
    ):
        store.clock.advance(30)
        other = store.submit(
            store.report(
                channel=channel,
                sender=sender,
                text="" if channel == "dc09" else "同一件事",
                alarm=AlarmRef("A1B2", "3") if channel == "dc09" else None,
            )
        ).incident
        store.act(other, "merge", staff("calltaker"), master=number)
    out = export(store, number)
    assert [c["localCallType"] for c in out["callComponent"]] == [
        "email",
        "phone",
        "telegram",
        "dc09",
    ]
    callbacks = [c["callBackInformationUri"] for c in out["callbackComponent"]]
    assert callbacks == [["mailto:li.si@example.com"], ["tel:087160000001;phone-context=+86"]]
    names = [
        p["ncPersonComponent"]["name"][0]["personFullName"][0]["value"]
        for p in out["personComponent"]
        if "ncPersonComponent" in p
    ]
    assert names == ["李四", "王五", "Zhao"]
    assert len(out["personComponent"]) == 3  # an alarm panel is no person
    notes = [n["notesActionComments"] for n in out["notesComponent"]]
    assert "楼下有人&lt;script&gt;打架&lt;/script&gt;<br>快来" in notes
    assert "报警主机 A1B2，防区 3" in notes
    (media,) = out["mediaComponent"]
    assert media["uri"] == "blobs/aaaa%201.jpg" and media["contentType"] == "image/jpeg"
    assert out["callComponent"][0]["mediaReferences"] == [{"$ref": media["$id"]}]
    (address,) = [
        loc
        for loc in out["locationComponent"]
        if loc["locationTypeDescriptionRegistryText"] == "InitialIncident"
    ]
    pidf = ElementTree.fromstring(address["locationByValue"])
    assert pidf.find(".//{http://www.opengis.net/gml}pos") is None  # no point was given
    assert address["locationDescriptionText"] == "翠湖南路1号"


def test_a_drill_says_so(store: Store) -> None:
    number = store.submit(store.report(location=NANBA, drill=True)).incident
    store.dispatched(number)
    out = export(store, number)
    incident = out["incidentComponent"]
    assert incident["incidentStatusInternalText"] == ["dispatched", "派警", "drill", "演练"]
    (resource,) = out["emergencyResourceComponent"]
    assert resource["secondaryUnitStatusRegistryText"] == ["Dispatched", "Training"]
    assert any("演练" in n["notesActionComments"] for n in out["notesComponent"])
    store.clock.advance(1)
    real = store.dispatched()
    assert "drill" not in export(store, real)["incidentComponent"]["incidentStatusInternalText"]


def test_public_base_url_names_the_element(tmp_path: Path, config: Config) -> None:
    http = dataclasses.replace(config.http, public_base_url="https://110.km.example")
    named = dataclasses.replace(config, http=http)
    s = Store(f"sqlite:///{tmp_path / 'named.db'}", named)
    try:
        number = s.submit().incident
        out = eido(s.document(number), named)
    finally:
        s.close()
    assert out["issuingElementIdentification"] == "110.km.example"
    assert out["agencyComponent"][0]["$id"] == f"{CITY}.110.km.example"
    assert_valid(out)


# -- any incident, any life -----------------------------------------------------------------

PARAMS: dict[str, dict[str, Any]] = {
    "accept": {"category": "traffic"},
    "feedback": {"result": "已处置 & 完毕"},
    "reopen": {"reason": "复核"},
    "mark_invalid": {"reason": "骚扰"},
    "cancel": {"reason": "撤回"},
    "transfer": {"unit": OTHER_STATION},
    "merge": {"master": "previous"},
}
FORWARD_ACTION = {
    State.RECEIVED: Action.ACCEPT,
    State.ACCEPTED: Action.DISPATCH,
    State.DISPATCHED: Action.ACKNOWLEDGE,
    State.ACKNOWLEDGED: Action.ARRIVE,
    State.ON_SCENE: Action.FEEDBACK,
    State.HANDLED: Action.CLOSE,
}
TEXT = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
SENDERS = st.one_of(
    st.builds(Sender, st.just("phone"), st.from_regex(r"\+?[0-9]{5,13}", fullmatch=True),
              st.none() | TEXT.filter(bool)),
    st.builds(Sender, st.just("email"), st.emails(), st.none()),
    st.builds(Sender, st.sampled_from(["account", "terminal", "web", "system"]),
              st.from_regex(r"[a-z0-9:_-]{1,20}", fullmatch=True)),
)  # fmt: skip
LOCATIONS = st.none() | st.builds(
    Location,
    lat=st.floats(24.9, 25.1),
    lon=st.floats(102.6, 102.8),
    accuracy_m=st.none() | st.floats(0, 5000),
    address=st.none() | TEXT.filter(bool),
)


def test_every_eido_validates(tmp_path: Path, config: Config) -> None:
    """Any report, then a walk through the workflow (each step one of the actions the
    incident's state allows, by one of the roles that may take it; the store may still
    refuse one, e.g. a merge into a master that cannot take it): after each step the
    incident's EIDO is valid. The walks, together, reach every state."""
    store = Store(f"sqlite:///{tmp_path / 'walks.db'}", config)
    seen: set[State] = set()

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        channel=st.sampled_from(["web", "sms", "phone", "email", "telegram"]),
        sender=SENDERS,
        text=TEXT,
        location=LOCATIONS,
        drill=st.booleans(),
        data=st.data(),
    )
    def walk(
        channel: str,
        sender: Sender,
        text: str,
        location: Location | None,
        drill: bool,
        data: st.DataObject,
    ) -> None:
        # A day apart, so that correlation (same caller, same place, within a window)
        # never joins this example's reports to an earlier example's incidents.
        store.clock.advance(86400)
        previous = store.submit(store.report(sender=Sender("phone", "13000000000"))).incident
        store.clock.advance(7)
        report = store.report(
            channel=channel, sender=sender, text=text, location=location, drill=drill
        )
        number = store.submit(report).incident
        export(store, number)
        for _ in range(data.draw(st.integers(0, 10), label="steps")):
            state = State(store.document(number)["state"])
            # Mostly the next step of the main line, so that walks get to its end.
            onward = [FORWARD_ACTION[state]] * 6 if state in FORWARD_ACTION else []
            action = data.draw(st.sampled_from(allowed_actions(state) + onward), label="action")
            role = data.draw(
                st.sampled_from(sorted(TRANSITIONS[action].roles - {Role.SYSTEM})), label="role"
            )
            params = {
                k: previous if v == "previous" else v for k, v in PARAMS.get(action, {}).items()
            }
            store.clock.advance(11)
            unit = STATION if role is Role.UNIT_OFFICER else CITY
            try:
                store.act(number, action, staff(role, unit, f"u-{role}"), **params)
            except DomainError:
                continue
            out = export(store, number)
            assert out["incidentComponent"]["internalIncidentId"] == number
            seen.add(State(store.document(number)["state"]))

    try:
        walk()
    finally:
        store.close()
    assert seen >= set(State) - {State.RECEIVED}


# -- through a real gateway -----------------------------------------------------------------


def test_over_http(gateway: GatewayProcess) -> None:
    status, body = post_report(gateway, category="criminal")
    assert status == 201, body
    number = body["incident"]["number"]
    path = f"/api/v1/incidents/{number}/eido"
    assert gateway.request("GET", path)[0] == 401
    station = gateway.token("eido-po", "unit_officer", STATION)
    other = gateway.token("eido-po2", "unit_officer", OTHER_STATION)
    status, err = gateway.request("GET", path, token=other)
    assert (status, err["error"]) == (403, "forbidden")
    status, err = gateway.request(
        "GET", "/api/v1/incidents/530100-20991231-000001/eido", token=station
    )
    assert (status, err["error"]) == (404, "not_found")
    dispatcher = gateway.token("eido-dp", "dispatcher")
    for action, params in (("accept", {"category": "criminal"}), ("dispatch", {})):
        status, doc = gateway.request(
            "POST", f"/api/v1/incidents/{number}/actions", {"action": action, **params},
            token=dispatcher,
        )  # fmt: skip
        assert status == 200, doc
    status, out = gateway.request("GET", path, token=station)
    assert status == 200, out
    assert_valid(out)
    assert out["incidentComponent"]["internalIncidentId"] == number
    # As much about the reporter as GET /api/v1/incidents/{number} gives the same token.
    assert "张三" in json.dumps(out, ensure_ascii=False)
    assert out["callbackComponent"][0]["callBackInformationUri"] == [
        "tel:13812345678;phone-context=+86"
    ]
    request = urllib.request.Request(
        gateway.base + path, headers={"Authorization": f"Bearer {station}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
        assert json.loads(answer.read()) == out
    received = datetime.fromisoformat(out["callComponent"][0]["callStartTimestamp"])
    assert received.utcoffset() == timedelta(hours=8)
    assert abs(received - datetime.now(UTC)) < timedelta(minutes=5)
