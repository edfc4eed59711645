"""The formats of other standards that an EIDO carries inside its members: a location as
PIDF-LO (STA-021 §2.17 locationByValue), an agency's card as jCard (§2.6 agencyJcard), a
callback as a URI (§2.11), a note as HTML5 (§2.15)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lxml import etree

PIDF_NS: dict[str | None, str] = {
    None: "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "dm": "urn:ietf:params:xml:ns:pidf:data-model",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
    "ca": "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr",
}


def html5(text: str) -> str:
    # STA-021 Table 2-17: notesActionComments is HTML5; a reporter's "<" is text, not markup.
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def callback_uri(sender: Mapping[str, Any]) -> str | None:
    """How to reach the reporter again (STA-021 §2.11), where the channel gives a way."""
    ident = str(sender["id"])
    if sender["kind"] == "phone":
        digits = re.sub(r"[^0-9+]", "", ident)
        if re.fullmatch(r"\+[0-9]{3,15}", digits):
            return f"tel:{digits}"
        if re.fullmatch(r"[0-9]{3,15}", digits):
            return f"tel:{digits};phone-context=+86"  # RFC 3966 §5.1.5: a local number
        return None
    if sender["kind"] == "email" and "@" in ident:
        return "mailto:" + quote(ident, safe="@+.")
    return None


def pidf_lo(where: Mapping[str, Any], entity: str, timestamp: str) -> str:
    """A location as PIDF-LO (RFC 4119 with RFC 5491's shapes), the form STA-021 §2.17's
    locationByValue carries: a WGS84 point (a circle when its accuracy is known; our
    coordinates are WGS84, EPSG:4326, latitude first) and the address as given (RFC 5139
    civic address, the free text in LOC)."""

    def q(prefix: str | None, name: str) -> str:
        return f"{{{PIDF_NS[prefix]}}}{name}"

    presence = etree.Element(q(None, "presence"), {"entity": entity}, nsmap=PIDF_NS)
    device = etree.SubElement(presence, q("dm", "device"), {"id": "location"})
    geopriv = etree.SubElement(device, q("gp", "geopriv"))
    info = etree.SubElement(geopriv, q("gp", "location-info"))
    if where.get("lat") is not None and where.get("lon") is not None:
        crs = {"srsName": "urn:ogc:def:crs:EPSG::4326"}
        pos = f"{where['lat']} {where['lon']}"
        if where.get("accuracy_m") is not None:
            shape = etree.SubElement(info, q("gs", "Circle"), crs)
            etree.SubElement(shape, q("gml", "pos")).text = pos
            radius = etree.SubElement(
                shape, q("gs", "radius"), {"uom": "urn:ogc:def:uom:EPSG::9001"}
            )
            radius.text = f"{where['accuracy_m']}"
        else:
            shape = etree.SubElement(info, q("gml", "Point"), crs)
            etree.SubElement(shape, q("gml", "pos")).text = pos
    if where.get("address"):
        civic = etree.SubElement(
            info, q("ca", "civicAddress"), {"{http://www.w3.org/XML/1998/namespace}lang": "zh"}
        )
        etree.SubElement(civic, q("ca", "country")).text = "CN"
        etree.SubElement(civic, q("ca", "LOC")).text = where["address"]
    etree.SubElement(geopriv, q("gp", "usage-rules"))
    etree.SubElement(device, q("dm", "timestamp")).text = timestamp
    return str(etree.tostring(presence, encoding="unicode"))


def jcard(name: str, org: str, code: str) -> str:
    """STA-021 Table 2-6 agencyJcard: the agency's contact card as jCard (RFC 7095), a
    JSON text; the unit's name and code, under the city's name."""
    card = [
        "vcard",
        [
            ["version", {}, "text", "4.0"],
            ["kind", {}, "text", "org"],
            ["fn", {}, "text", name],
            ["org", {}, "text", org],
            ["note", {}, "text", f"单位代码 {code}"],
        ],
    ]
    return json.dumps(card, ensure_ascii=False)
