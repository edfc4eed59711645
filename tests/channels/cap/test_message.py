"""CAP 1.2 messages in (pure): the specification's four example messages (Appendix A) parse to
what they say; malformed ones are refused naming the element and its line; DOCTYPEs, entity
tricks and deep trees are refused before anything expands; arbitrary octets never raise
anything but `CapError`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.channels.cap import message
from gateway.channels.cap.message import Alert, CapError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cap"
EXAMPLES = {
    "a1": "oasis-a1-homeland-security.xml",
    "a2": "oasis-a2-thunderstorm.xml",
    "a3": "oasis-a3-earthquake-update.xml",
    "a4": "oasis-a4-amber-alert.xml",
}


def example(name: str) -> bytes:
    return (FIXTURES / EXAMPLES[name]).read_bytes()


# -- the OASIS examples --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "identifier", "sender", "msg_type", "infos", "events"),
    [
        ("a1", "43b080713727", "hsas@dhs.gov", "Alert", 1,
         ["Homeland Security Advisory System Update"]),
        ("a2", "KSTO1055887203", "KSTO@NWS.NOAA.GOV", "Alert", 1, ["SEVERE THUNDERSTORM"]),
        ("a3", "TRI13970876.2", "trinet@caltech.edu", "Update", 1, ["Earthquake"]),
        ("a4", "KAR0-0306112239-SW", "KARO@CLETS.DOJ.CA.GOV", "Alert", 2,
         ["Child Abduction", "Abducción de Niño"]),
    ],
)  # fmt: skip
def test_the_oasis_examples_parse(
    name: str, identifier: str, sender: str, msg_type: str, infos: int, events: list[str]
) -> None:
    alert = message.parse(example(name))
    assert (alert.identifier, alert.sender, alert.msg_type) == (identifier, sender, msg_type)
    assert alert.status == "Actual" and alert.scope == "Public"
    assert len(alert.infos) == infos
    assert [i.event for i in alert.infos] == events


def test_the_examples_details() -> None:
    a2 = message.parse(example("a2"))
    (area,) = a2.infos[0].areas
    assert area.polygons[0][0] == (38.47, -120.14) and len(area.polygons[0]) == 5
    assert a2.sent.utcoffset() == -timedelta(hours=7)
    a3 = message.parse(example("a3"))
    (ref,) = a3.references
    assert (ref.sender, ref.identifier, ref.sent) == (
        "trinet@caltech.edu",
        "TRI13970876.1",
        "2003-06-11T20:30:00-07:00",
    )
    assert a3.infos[0].areas[0].circles == ((32.9525, -115.5527, 0.0),)
    a4 = message.parse(example("a4"))
    assert [i.language for i in a4.infos] == ["en-US", "es-US"]
    assert a4.infos[0].contact is not None and "213 485-2389" in a4.infos[0].contact
    a1 = message.parse(example("a1"))
    assert a1.infos[0].language == "en-US"  # the schema's default when absent
    assert a1.infos[0].categories == ("Security",)


# -- malformed messages: refused, naming the element -------------------------------------------

A2 = example("a2").decode()


def _with(old: str, new: str, base: str = A2) -> bytes:
    assert old in base, old
    return base.replace(old, new, 1).encode()


MALFORMED = [
    # (what, body, status, code, element, in the message)
    ("missing identifier", _with("<identifier>KSTO1055887203</identifier>", ""),
     422, "invalid_cap", "alert/sender", "Expected is ( identifier )"),
    ("bad status", _with("<status>Actual</status>", "<status>Real</status>"),
     422, "invalid_cap", "alert/status", "'Real'"),
    ("bad urgency", _with("<urgency>Immediate</urgency>", "<urgency>Now</urgency>"),
     422, "invalid_cap", "alert/info[1]/urgency", "line 13"),
    ("sent with Z", _with("2003-06-17T14:57:00-07:00", "2003-06-17T21:57:00Z"),
     422, "invalid_cap", "alert/sent", "pattern"),
    ("sent with a fraction", _with("2003-06-17T14:57:00-07:00", "2003-06-17T14:57:00.5-07:00"),
     422, "invalid_cap", "alert/sent", "pattern"),
    ("an unknown element",
     _with("<scope>Public</scope>", "<scope>Public</scope><colour>red</colour>"),
     422, "invalid_cap", "alert/colour", "not expected"),
    ("wrong namespace", _with("urn:oasis:names:tc:emergency:cap:1.2", "urn:example:alerts"),
     422, "invalid_cap", "alert", "not a CAP 1.2 alert"),
    ("CAP 1.1",
     _with("urn:oasis:names:tc:emergency:cap:1.2", "urn:oasis:names:tc:emergency:cap:1.1"),
     422, "invalid_cap", "alert", "not CAP 1.2"),
    ("no namespace", _with(' xmlns = "urn:oasis:names:tc:emergency:cap:1.2"', ""),
     422, "invalid_cap", "alert", "not a CAP 1.2 alert"),
    ("identifier with a space", _with("KSTO1055887203", "KSTO 1055887203"),
     422, "invalid_cap", "alert/identifier", "§3.2.1"),
    ("identifier with a comma", _with("KSTO1055887203", "KSTO,1055887203"),
     422, "invalid_cap", "alert/identifier", "commas"),
    ("sender with &", _with("KSTO@NWS.NOAA.GOV", "KSTO&amp;NWS"),
     422, "invalid_cap", "alert/sender", "'&'"),
    ("empty identifier", _with("<identifier>KSTO1055887203</identifier>", "<identifier/>"),
     422, "invalid_cap", "alert/identifier", "empty"),
    ("references not triples", _with("<scope>Public</scope>",
                                     "<scope>Public</scope><references>KSTO1</references>"),
     422, "invalid_cap", "alert/references", "sender,identifier,sent"),
    ("polygon off the globe", _with("38.47,-120.14 38.34", "38.47,-520.14 38.34"),
     422, "invalid_cap", "alert/info[1]/area[1]/polygon[1]", "WGS 84"),
    ("polygon not closed", _with("38.62,-119.89 38.47,-120.14", "38.62,-119.89 38.40,-120.14"),
     422, "invalid_cap", "alert/info[1]/area[1]/polygon[1]", "first and last"),
    ("circle without radius", _with("</polygon>", "</polygon><circle>38.47,-120.14</circle>"),
     422, "invalid_cap", "alert/info[1]/area[1]/circle[1]", "lat,lon radius"),
    ("circle radius nan", _with("</polygon>", "</polygon><circle>38.47,-120.14 nan</circle>"),
     422, "invalid_cap", "alert/info[1]/area[1]/circle[1]", "out of range"),
    ("not XML", b"SEVERE THUNDERSTORM WARNING", 400, "bad_xml", None, "line 1"),
    ("JSON", b'{"identifier": "x"}', 400, "bad_xml", None, "not well-formed"),
    ("empty", b"", 400, "bad_xml", "alert", "empty"),
    ("truncated", example("a2")[:400], 400, "bad_xml", None, "not well-formed"),
    ("another root", b"<html><body>hi</body></html>", 422, "invalid_cap", "alert", "html"),
    ("billion laughs",
     b'<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
     b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>\n'
     b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>',
     400, "bad_xml", None, "DOCTYPE"),
    ("XXE",
     b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
     b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>',
     400, "bad_xml", None, "DOCTYPE"),
    ("XXE in UTF-16",  # the octets hide "<!DOCTYPE" from a byte search: libxml2's docinfo tells
     '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE alert [<!ENTITY xxe SYSTEM '
     '"file:///etc/passwd">]>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
     "<identifier>&xxe;</identifier></alert>".encode("utf-16"),
     400, "bad_xml", None, "DOCTYPE"),
    ("an undeclared entity", _with("KSTO1055887203", "&ent;"), 400, "bad_xml", None, "ent"),
    ("deep", b"<alert>" * 5000 + b"</alert>" * 5000, 400, "bad_xml", None, "depth"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "code", "element", "says"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_malformed_messages_are_refused_naming_the_element(
    body: bytes, status: int, code: str, element: str | None, says: str
) -> None:
    with pytest.raises(CapError) as caught:
        message.parse(body)
    e = caught.value
    assert (e.status, e.code, e.element) == (status, code, element), e.message
    assert says in e.message


def test_a_schema_error_gives_the_line() -> None:
    with pytest.raises(CapError) as caught:
        message.parse(_with("<certainty>Observed</certainty>", "<certainty>Sure</certainty>"))
    assert caught.value.message.startswith("line 15: Element 'certainty'")
    assert caught.value.element == "alert/info[1]/certainty"


def test_the_second_info_is_named_by_its_position() -> None:
    a4 = example("a4").decode()
    tail = a4[a4.index("<language>es-US") :]
    broken = a4.replace(tail, tail.replace("<urgency>Immediate", "<urgency>Soon", 1))
    with pytest.raises(CapError) as caught:
        message.parse(broken.encode())
    assert caught.value.element == "alert/info[2]/urgency"


def test_the_bundled_schema_is_the_official_one() -> None:
    xsd = etree.parse(str(Path(message.__file__).with_name(message.XSD)))
    root = xsd.getroot()
    assert root.get("targetNamespace") == message.NS and root.get("version") == "1.2"
    assert "Copyright OASIS Open 2010" in Path(message.__file__).with_name(message.XSD).read_text()


# -- properties ------------------------------------------------------------------------------------


def _parse_or_refuse(data: bytes) -> Alert | None:
    try:
        return message.parse(data)
    except CapError as e:
        assert e.status in (400, 422) and e.message
        return None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_octets_are_refused_cleanly(data: bytes) -> None:
    _parse_or_refuse(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(EXAMPLES)),
    at=st.floats(0, 1),
    cut=st.integers(0, 40),
    insert=st.binary(max_size=40)
    | st.sampled_from([b"<", b"&", b"]]>", b"<!DOCTYPE x>", b"\x00", b"\xff\xfe", b"</info>"]),
)
def test_mangled_examples_are_refused_cleanly_or_taken(
    name: str, at: float, cut: int, insert: bytes
) -> None:
    """Bytes cut out of and pushed into a real message: CapError, or an alert we can map."""
    data = example(name)
    i = int(at * len(data))
    alert = _parse_or_refuse(data[:i] + insert + data[i + cut :])
    if alert is not None:
        assert alert.identifier and alert.sender
        assert alert.sent.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_identifier_text_is_taken_or_refused_by_name(identifier: str) -> None:
    escaped = identifier.replace("&", "&amp;").replace("<", "&lt;")
    try:
        body = A2.replace("KSTO1055887203", escaped).encode()
    except UnicodeEncodeError:  # lone surrogates cannot be sent at all
        return
    try:
        alert = message.parse(body)
    except CapError as e:
        assert e.element in ("alert/identifier", None) or e.status == 400, e.element
        return
    assert alert.identifier == identifier.strip()
