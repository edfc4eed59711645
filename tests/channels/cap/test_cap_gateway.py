"""CAP 1.2 end to end: HTTP with integration tokens → a real gateway process → its store, and
the feed back out.

In: the OASIS examples are taken (the earthquake Update after its original); a repeat gets
the same receipts and stores nothing; what is not CAP 1.2 gets 4xx naming the element and
nothing is stored; Exercise files a drill; Test stores nothing; an Update joins the alert's
incident (a new one once that is closed); a Cancel cancels it before dispatch and only
attaches after; another sender's or an unknown reference is refused; a store failure (a
real SQLite lock) → 503 → the retry is one report; kill -9 after a 201 loses nothing;
arbitrary octets never get a 5xx.
Out: each consumer sees its unit's scope only, no personal data, every entry XSD-valid.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway.channels.cap import message
from tests.channels.cap.test_mapping import RULES_TOML
from tests.channels.cap.test_message import example
from tests.peers.gateway import GatewayProcess, channel_gateway, db

ROOT = "530100000000"
NANBA = "530102510000"  # 南坝派出所 (明湖分局)
LUOFENG = "530103510000"  # 螺峰派出所 (青山分局)
IN_NANBA = (24.98, 102.65)
IN_LUOFENG = (24.98, 102.71)
CAP_XML = {"Content-Type": "application/cap+xml"}


def spot(k: int) -> tuple[float, float]:
    """The k-th place in 南坝's area, each over 300 m from the others: correlation by place
    (200 m) joins only what a test means to join."""
    return (round(24.962 + 0.003 * (k % 15), 6), round(102.625 + 0.003 * (k // 15), 6))


ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"


def start(tmp: Path, busy_timeout_ms: int = 300) -> GatewayProcess:
    gw = channel_gateway(tmp, "cap", RULES_TOML, busy_timeout_ms=busy_timeout_ms, listen=False)
    gw.start()
    return gw


class Peers:
    def __init__(self, gw: GatewayProcess) -> None:
        self.gw = gw
        self.sender = gw.token("city-weather-bureau", "integration", ROOT)
        self.city_feed = gw.token("city-emergency-office", "integration", ROOT)
        self.nanba_feed = gw.token("nanba-street-office", "integration", NANBA)
        self.luofeng_feed = gw.token("luofeng-street-office", "integration", LUOFENG)
        self.supervisor = gw.token("zhang", "supervisor", ROOT)
        self.calltaker = gw.token("li", "calltaker", ROOT)

    def post(self, body: bytes, token: str | None = None, **headers: str) -> tuple[int, Any]:
        return self.gw.request(
            "POST", "/api/v1/cap", raw=body, token=token or self.sender,
            headers=headers or CAP_XML,
        )  # fmt: skip

    def incident(self, number: str) -> dict[str, Any]:
        status, doc = self.gw.request("GET", f"/api/v1/incidents/{number}", token=self.supervisor)
        assert status == 200, doc
        return doc  # type: ignore[no-any-return]

    def act(self, number: str, **body: Any) -> dict[str, Any]:
        status, doc = self.gw.request(
            "POST", f"/api/v1/incidents/{number}/actions", body, token=self.supervisor
        )
        assert status == 200, doc
        return doc  # type: ignore[no-any-return]

    def feed(self, token: str, query: str = "") -> tuple[int, Any]:
        return self.gw.request("GET", f"/api/v1/cap/feed{query}", token=token)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    gw = start(tmp_path_factory.mktemp("cap"))
    yield Peers(gw)
    code = gw.stop()
    assert code == 0, f"gateway exit code {code}:\n{gw.log()}"


def alert(
    identifier: str,
    *,
    sender: str = "weather@example.gov.cn",
    status: str = "Actual",
    msg_type: str = "Alert",
    references: str | None = None,
    point: tuple[float, float] = IN_NANBA,
    event: str = "暴雨内涝",
    category: str = "Met",
    severity: str = "Severe",
    info: bool = True,
) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{sender}</sender>
  <sent>2026-11-26T09:00:00+08:00</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
"""
    if info:
        body += f"""  <info>
    <language>zh-CN</language>
    <category>{category}</category>
    <event>{event}</event>
    <urgency>Immediate</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <senderName>示例市气象台</senderName>
    <headline>南坝路低洼处积水</headline>
    <description>南坝路下穿通道积水深约一米，一辆车被困。</description>
    <instruction>请派员封闭道路。</instruction>
    <area>
      <areaDesc>南坝路下穿通道</areaDesc>
      <circle>{point[0]},{point[1]} 0.2</circle>
    </area>
  </info>
"""
    return (body + "</alert>\n").encode()


def ref(identifier: str, sender: str = "weather@example.gov.cn") -> str:
    return f"{sender},{identifier},2026-11-26T09:00:00+08:00"


def cap_reports(gw: GatewayProcess, prefix: str) -> list[sqlite3.Row]:
    with db(gw) as conn:
        return list(
            conn.execute(
                "SELECT * FROM reports WHERE channel = 'cap' AND external_id LIKE ?",
                (prefix + "%",),
            )
        )


# -- in ------------------------------------------------------------------------------------------


def test_the_oasis_examples_are_taken(peers: Peers) -> None:
    expected = {"a1": ("public_order", 2, 1), "a2": ("disaster", 2, 1), "a4": ("criminal", 1, 2)}
    for name, (category, priority, infos) in expected.items():
        status, body = peers.post(example(name))
        assert status == 201, body
        assert body["stored"] and len(body["receipts"]) == infos
        (number,) = {r["incident"]["number"] for r in body["receipts"]}  # one incident
        doc = peers.incident(number)
        assert (doc["category"], doc["priority"], doc["state"]) == (category, priority, "received")
        assert [r["channel"] for r in doc["reports"]] == ["cap"] * infos


def test_the_earthquake_update_joins_its_original(peers: Peers) -> None:
    update = example("a3")
    status, body = peers.post(update)
    assert (status, body["error"], body["field"]) == (409, "unknown_reference", "alert/references")
    assert not cap_reports(peers.gw, "trinet@caltech.edu,TRI13970876.2")
    # The original (A.3 says it was TRI13970876.1, sent 20:30): the same message as an Alert.
    original = (
        update.replace(b"TRI13970876.2", b"TRI13970876.1")
        .replace(b"<msgType>Update</msgType>", b"<msgType>Alert</msgType>")
        .replace(b"2003-06-11T20:56:00-07:00", b"2003-06-11T20:30:00-07:00")
    )
    original = original.replace(original[original.index(b"<references>") :].split(b"\n")[0], b"")
    status, first = peers.post(original)
    assert status == 201, first
    status, body = peers.post(update)
    assert status == 201, body
    number = first["receipts"][0]["incident"]["number"]
    assert body["receipts"][0]["incident"]["number"] == number
    doc = peers.incident(number)
    assert [r["external_id"] for r in doc["reports"]] == [
        "trinet@caltech.edu,TRI13970876.1,0",
        "trinet@caltech.edu,TRI13970876.2,0",
    ]
    assert doc["reports"][1]["text"].startswith("【CAP 更新】EQ 3.4 Imperial County CA")


def test_a_repeat_gets_the_same_receipts_and_stores_nothing(peers: Peers) -> None:
    status, first = peers.post(alert("REPEAT-1", point=spot(1)))
    assert status == 201
    for _ in range(2):
        status, again = peers.post(alert("REPEAT-1", point=spot(1)))
        assert status == 200 and again["receipts"] == first["receipts"]
    assert len(cap_reports(peers.gw, "weather@example.gov.cn,REPEAT-1,")) == 1


def test_a_new_alert_is_an_incident_at_its_place(peers: Peers) -> None:
    status, body = peers.post(alert("PLACE-1", point=IN_LUOFENG))
    assert status == 201
    doc = peers.incident(body["receipts"][0]["incident"]["number"])
    assert doc["unit"] == LUOFENG and doc["category"] == "disaster" and doc["priority"] == 2
    assert doc["location"]["lat"] == IN_LUOFENG[0] and doc["location"]["accuracy_m"] == 200
    (report,) = doc["reports"]
    assert report["sender"] == {"kind": "system", "id": "weather@example.gov.cn",
                                "name": "示例市气象台"}  # fmt: skip
    assert report["location"]["address"] == "南坝路下穿通道"


@pytest.mark.parametrize(
    ("body", "headers", "token", "status", "error", "field"),
    [
        (b"<alert/>", {"Content-Type": "application/json"}, None, 415,
         "unsupported_media_type", None),
        (b"no xml here", CAP_XML, None, 400, "bad_xml", None),
        (alert("BAD-1").replace(b"<status>Actual", b"<status>Real"), CAP_XML, None, 422,
         "invalid_cap", "alert/status"),
        (alert("BAD-2").replace(b"<identifier>BAD-2</identifier>", b""), CAP_XML, None, 422,
         "invalid_cap", "alert/sender"),
        (alert("BAD-3").replace(b"cap:1.2", b"cap:1.1"), CAP_XML, None, 422, "invalid_cap",
         "alert"),
        (alert("BAD-4").replace(b"+08:00", b"Z", 1), {"Content-Type": "text/xml"}, None, 422,
         "invalid_cap", "alert/sent"),
        (alert("BAD-5", info=False), CAP_XML, None, 422, "invalid_cap", "alert/info"),
        (alert("BAD-6", msg_type="Update"), CAP_XML, None, 422, "invalid_cap",
         "alert/references"),
        (b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', CAP_XML, None,
         400, "bad_xml", None),
        (b"<a>" + b"x" * 1_100_000 + b"</a>", CAP_XML, None, 413, "too_large", None),
        (alert("BAD-7"), CAP_XML, "calltaker", 403, "forbidden", None),
        (alert("BAD-8"), CAP_XML, "none", 401, "unauthorized", None),
    ],
)  # fmt: skip
def test_what_is_not_a_cap_alert_is_refused_and_nothing_stored(
    peers: Peers,
    body: bytes,
    headers: dict[str, str],
    token: str | None,
    status: int,
    error: str,
    field: str | None,
) -> None:
    with db(peers.gw) as conn:
        before = conn.execute("SELECT count(*) FROM reports").fetchone()[0]
    if token == "none":
        got = peers.gw.request("POST", "/api/v1/cap", raw=body, headers=headers)
    else:
        got = peers.post(body, peers.calltaker if token else None, **headers)
    assert got[0] == status, got
    assert (got[1]["error"], got[1]["field"]) == (error, field), got[1]
    with db(peers.gw) as conn:
        assert conn.execute("SELECT count(*) FROM reports").fetchone()[0] == before


def test_exercise_is_a_drill(peers: Peers) -> None:
    status, body = peers.post(alert("DRILL-1", point=spot(7), status="Exercise"))
    assert status == 201
    doc = peers.incident(body["receipts"][0]["incident"]["number"])
    assert doc["drill"] is True and doc["reports"][0]["drill"] is True


@pytest.mark.parametrize(
    ("status", "msg_type"),
    [("Test", "Alert"), ("Draft", "Alert"), ("System", "Alert"), ("Actual", "Ack")],
)
def test_what_is_not_for_action_is_answered_and_not_stored(
    peers: Peers, status: str, msg_type: str
) -> None:
    identifier = f"NOACT-{status}-{msg_type}"
    got = peers.post(alert(identifier, status=status, msg_type=msg_type))
    assert got[0] == 200 and got[1]["stored"] is False and got[1]["receipts"] == [], got
    assert "nothing stored" in got[1]["note"]
    assert not cap_reports(peers.gw, f"weather@example.gov.cn,{identifier},")


def test_an_update_joins_and_after_closing_opens_anew(peers: Peers) -> None:
    _, first = peers.post(alert("UPD-1", point=spot(2)))
    number = first["receipts"][0]["incident"]["number"]
    status, body = peers.post(
        alert("UPD-2", point=spot(2), msg_type="Update", references=ref("UPD-1"))
    )
    assert status == 201 and body["receipts"][0]["incident"]["number"] == number
    # A chain: the next update references the update.
    status, body = peers.post(
        alert("UPD-3", point=spot(2), msg_type="Update", references=ref("UPD-2"))
    )
    assert status == 201 and body["receipts"][0]["incident"]["number"] == number
    assert peers.incident(number)["report_count"] == 3
    peers.act(number, action="mark_invalid", reason="重复预警")
    status, body = peers.post(
        alert("UPD-4", point=spot(2), msg_type="Update", references=ref("UPD-1"))
    )
    assert status == 201
    assert body["receipts"][0]["incident"]["number"] != number


def test_an_update_follows_its_alert_to_the_incident_it_joined(peers: Peers) -> None:
    """Alert B joined alert A's incident by place; B's Update (sent from elsewhere, where
    place correlation would not join it) still lands there: it takes that incident's key."""
    _, a = peers.post(alert("CORR-A", point=spot(11)))
    number = a["receipts"][0]["incident"]["number"]
    _, b = peers.post(alert("CORR-B", point=spot(11)))
    assert b["receipts"][0]["incident"]["number"] == number
    status, body = peers.post(
        alert("CORR-B2", point=spot(12), msg_type="Update", references=ref("CORR-B"))
    )
    assert status == 201 and body["receipts"][0]["incident"]["number"] == number
    # An alert joined to a citizen's call (an incident with no alarm key): its Update finds
    # the call's incident again by place.
    status, call = peers.gw.request(
        "POST",
        "/api/v1/reports",
        {"sender": {"kind": "phone", "id": "13900001111"}, "text": "下穿通道积水",
         "category": "disaster", "location": dict(zip(("lat", "lon"), spot(13), strict=True))},
    )  # fmt: skip
    assert status == 201, call
    by_phone = call["incident"]["number"]
    _, c = peers.post(alert("CORR-C", point=spot(13)))
    assert c["receipts"][0]["incident"]["number"] == by_phone
    status, body = peers.post(
        alert("CORR-C2", point=spot(13), msg_type="Update", references=ref("CORR-C"))
    )
    assert status == 201 and body["receipts"][0]["incident"]["number"] == by_phone


def test_a_cancel_cancels_before_dispatch(peers: Peers) -> None:
    _, first = peers.post(alert("CXL-1", point=spot(3)))
    number = first["receipts"][0]["incident"]["number"]
    cancel = alert("CXL-2", msg_type="Cancel", references=ref("CXL-1"), info=False)
    status, body = peers.post(cancel)
    assert status == 201, body
    assert body["cancelled"] is True and body["incident"] == {"number": number,
                                                              "state": "cancelled"}  # fmt: skip
    doc = peers.incident(number)
    assert doc["state"] == "cancelled" and doc["report_count"] == 2
    (event,) = [e for e in doc["events"] if e["action"] == "cancel"]
    assert event["actor"]["user"] == "cap:weather@example.gov.cn"
    status, again = peers.post(cancel)
    assert status == 200 and again["receipts"] == body["receipts"]
    assert [e["action"] for e in peers.incident(number)["events"]].count("cancel") == 1
    # Cancelling what is already cancelled: answered, nothing stored.
    status, late = peers.post(alert("CXL-3", msg_type="Cancel", references=ref("CXL-1")))
    assert status == 200 and late["stored"] is False and late["incident"]["state"] == "cancelled"


def test_a_cancel_after_dispatch_is_left_to_the_calltaker(peers: Peers) -> None:
    _, first = peers.post(alert("CXL-10", point=spot(4)))
    number = first["receipts"][0]["incident"]["number"]
    peers.act(number, action="accept", category="disaster", priority=2)
    peers.act(number, action="dispatch", unit=NANBA)
    status, body = peers.post(
        alert("CXL-11", point=spot(4), msg_type="Cancel", references=ref("CXL-10"))
    )
    assert status == 201, body
    assert body["cancelled"] is False and body["incident"]["state"] == "dispatched"
    assert "call-taker" in body["note"]
    doc = peers.incident(number)
    assert doc["state"] == "dispatched"
    assert doc["reports"][-1]["text"].startswith(
        "【CAP 撤销】南坝路低洼处积水\n发送方已撤销此前的预警。"
    )


def test_only_the_sender_may_update_or_cancel_its_alert(peers: Peers) -> None:
    peers.post(alert("OWN-1", point=spot(5)))
    other = alert("OWN-2", sender="someone@example.org", msg_type="Cancel",
                  references=ref("OWN-1"))  # fmt: skip
    status, body = peers.post(other)
    assert (status, body["error"], body["field"]) == (403, "forbidden", "alert/references")
    status, body = peers.post(alert("OWN-3", msg_type="Cancel", references=ref("NO-SUCH")))
    assert (status, body["error"]) == (409, "unknown_reference")
    assert not cap_reports(peers.gw, "someone@example.org,")
    assert not cap_reports(peers.gw, "weather@example.gov.cn,OWN-3,")


def test_a_store_failure_is_503_and_the_retry_is_one_report(peers: Peers) -> None:
    """A real store fault: another process holds SQLite's write lock past the gateway's
    300 ms busy timeout: 503 (temporary), nothing stored; the retry after it is one report,
    and another retry gets the same receipt."""
    body = alert("LOCK-1", point=spot(6))
    lock = sqlite3.connect(peers.gw.data_dir / "alarmgw.db", timeout=10)
    lock.isolation_level = None
    lock.execute("BEGIN IMMEDIATE")
    try:
        status, answer = peers.post(body)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert (status, answer["error"]) == (503, "unavailable"), answer
    assert not cap_reports(peers.gw, "weather@example.gov.cn,LOCK-1,")
    status, first = peers.post(body)
    assert status == 201
    status, again = peers.post(body)
    assert status == 200 and again["receipts"] == first["receipts"]
    assert len(cap_reports(peers.gw, "weather@example.gov.cn,LOCK-1,")) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.binary(max_size=300)
    | st.builds(
        lambda at, junk: alert("FUZZ")[:at] + junk + alert("FUZZ")[at:],
        st.integers(0, 900),
        st.binary(min_size=1, max_size=8),
    )
)
def test_arbitrary_octets_never_get_a_5xx(peers: Peers, data: bytes) -> None:
    status, body = peers.post(data)
    assert status in (200, 201, 400, 409, 422), (status, body)


def test_kill_9_after_a_201_loses_nothing(tmp_path: Path) -> None:
    gw = start(tmp_path, busy_timeout_ms=5000)
    token = gw.token("city-weather-bureau", "integration", ROOT)
    acked: list[str] = []
    stop = threading.Event()

    def sender(n: int) -> None:
        for i in range(200):
            if stop.is_set():
                return
            identifier = f"K9-{n}-{i}"
            try:
                status, _ = gw.request("POST", "/api/v1/cap", raw=alert(identifier),
                                       token=token, headers=CAP_XML, timeout=10)  # fmt: skip
            except OSError:
                return
            if status == 201:
                acked.append(identifier)

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = 60.0
        import time

        t0 = time.monotonic()
        while len(acked) < 20 and time.monotonic() - t0 < deadline:
            time.sleep(0.05)
        assert len(acked) >= 20, gw.log()
        gw.kill()
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    gw.start()
    try:
        stored = {r["external_id"].split(",")[1] for r in cap_reports(gw, "weather@")}
        lost = [a for a in acked if a not in stored]
        assert not lost, f"201 but not stored: {lost[:10]} of {len(acked)}"
    finally:
        assert gw.stop() == 0


# -- out -----------------------------------------------------------------------------------------


def _entries(peers: Peers, token: str, query: str = "") -> dict[str, Any]:
    """The feed's entries by incident number; each one's CAP message XSD-valid."""
    status, text = peers.feed(token, query)
    assert status == 200, text
    root = etree.fromstring(text.encode())
    assert root.tag == f"{ATOM}feed" and root.findtext(f"{ATOM}title")
    found = {}
    for entry in root.findall(f"{ATOM}entry"):
        (cap,) = entry.find(f"{ATOM}content")  # type: ignore[misc]
        assert message.schema().validate(etree.ElementTree(cap)), message.schema().error_log
        found[cap.findtext(f"{CAP}incidents")] = cap
    return found


def test_the_feed_follows_the_consumers_scope_and_tells_no_personal_data(peers: Peers) -> None:
    phone, name, words = "13987654321", "王小明", "我家楼下有人持刀伤人，我是王小明"
    status, receipt = peers.gw.request(
        "POST",
        "/api/v1/reports",
        {
            "sender": {"kind": "phone", "id": phone, "name": name},
            "text": words,
            "location": {"lat": IN_NANBA[0], "lon": IN_NANBA[1], "address": "南坝路8号王家"},
        },
    )
    assert status == 201, receipt
    in_nanba = receipt["incident"]["number"]
    peers.act(in_nanba, action="accept", category="criminal", priority=1)
    _, posted = peers.post(alert("FEED-LUOFENG", point=(24.985, 102.715)))
    in_luofeng = posted["receipts"][0]["incident"]["number"]

    nanba = _entries(peers, peers.nanba_feed, "?limit=500")
    assert in_nanba in nanba and in_luofeng not in nanba
    assert all(cap.findtext(f"{CAP}info/{CAP}parameter[{CAP}valueName='unit']/{CAP}value")
               == NANBA for cap in nanba.values())  # fmt: skip
    luofeng = _entries(peers, peers.luofeng_feed, "?limit=500")
    assert in_luofeng in luofeng and in_nanba not in luofeng
    city = _entries(peers, peers.city_feed, "?limit=500")
    assert {in_nanba, in_luofeng} <= set(city)

    cap = nanba[in_nanba]
    assert cap.findtext(f"{CAP}msgType") == "Update"  # received, then accepted
    assert cap.findtext(f"{CAP}info/{CAP}event") == "刑事警情"
    _, text = peers.feed(peers.city_feed, "?limit=500")
    for secret in (phone, phone[-8:], name, words, "持刀", "王家", "weather@example.gov.cn",
                   "KSTO@NWS.NOAA.GOV", "南坝路下穿通道", "被困"):  # fmt: skip
        assert secret not in text, secret


def test_the_feed_marks_drills_and_cancels(peers: Peers) -> None:
    _, drill = peers.post(alert("FEED-DRILL", point=spot(8), status="Exercise"))
    _, gone = peers.post(alert("FEED-GONE", point=spot(9)))
    peers.post(alert("FEED-GONE-X", point=spot(9), msg_type="Cancel", references=ref("FEED-GONE")))
    city = _entries(peers, peers.city_feed, "?limit=500")
    d = city[drill["receipts"][0]["incident"]["number"]]
    assert d.findtext(f"{CAP}status") == "Exercise" and d.findtext(f"{CAP}msgType") == "Alert"
    g = city[gone["receipts"][0]["incident"]["number"]]
    assert g.findtext(f"{CAP}msgType") == "Cancel" and g.findtext(f"{CAP}status") == "Actual"
    assert len((g.findtext(f"{CAP}references") or "").split()) == 1


def test_the_feed_pages(peers: Peers) -> None:
    assert len(_entries(peers, peers.city_feed, "?limit=2")) == 2
    assert _entries(peers, peers.city_feed, "?since=2999-01-01T00:00:00Z") == {}
    for query, field in (("?limit=0", "limit"), ("?since=yesterday", "since"),
                         ("?colour=red", "colour")):  # fmt: skip
        status, body = peers.feed(peers.city_feed, query)
        assert (status, body["field"]) == (400, field)
    status, body = peers.feed(peers.calltaker)
    assert (status, body["error"]) == (403, "forbidden")
    status, body = peers.gw.request("GET", "/api/v1/cap/feed")
    assert status == 401


def test_the_feed_is_served_as_atom(peers: Peers) -> None:
    import urllib.request

    req = urllib.request.Request(
        peers.gw.base + "/api/v1/cap/feed",
        headers={"Authorization": f"Bearer {peers.city_feed}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
        assert resp.read().startswith(b"<?xml version='1.0' encoding='UTF-8'?>\n<feed")


def test_a_rule_with_an_unknown_category_stops_the_start(tmp_path: Path) -> None:
    rules = '[[channels.cap.rules]]\ncap_category = "Met"\ncategory = "flood"\n'
    gw = channel_gateway(tmp_path, "cap", rules, listen=False)
    with pytest.raises(RuntimeError, match="exited with 1") as caught:
        gw.start()
    assert "alarmgw: channels.cap.rules[0].category: unknown category 'flood'" in str(caught.value)
