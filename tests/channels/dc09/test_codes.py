"""What each panel event means by default (gateway/channels/dc09/codes.py): the mappings the
110 center relies on, the tables' own consistency, and a cross-check of the Contact ID table
against pysiaalarm's Contact-ID-to-SIA mapping."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gateway.channels.dc09.codes import (
    CID_CODES,
    CID_RESTORES,
    LINK_TEST,
    SIA_CODES,
    Meaning,
    meaning,
)
from gateway.channels.dc09.frame import Event, parse_data

SAMPLE_CITY = Path(__file__).resolve().parents[3] / "gateway" / "sample_city.toml"
CATEGORIES = set(tomllib.loads(SAMPLE_CITY.read_text(encoding="utf-8"))["categories"])
KINDS = {"alarm", "restoral", "trouble", "test", "openclose", "supervision", "other"}


def sia(code: str) -> Meaning:
    return meaning(Event("SIA", code))


def cid(qualifier: str, code: str) -> Meaning:
    return meaning(Event("CID", code, qualifier))


# -- what the 110 center relies on ---------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "category", "name"),
    [
        ("BA", "criminal", "盗警"),
        ("HA", "criminal", "劫警（挟持）"),
        ("PA", "criminal", "紧急求助"),
        ("FA", "fire", "火警"),
        ("MA", "assistance", "医疗求助"),
        ("GA", "disaster", "燃气泄漏报警"),
    ],
)
def test_sia_alarms(code: str, category: str, name: str) -> None:
    assert sia(code) == Meaning("alarm", category, 1, name)


@pytest.mark.parametrize(
    ("code", "category"),
    [("130", "criminal"), ("131", "criminal"), ("132", "criminal"), ("133", "criminal")]
    + [("134", "criminal"), ("136", "criminal"), ("146", "criminal")]
    + [("120", "criminal"), ("121", "criminal"), ("122", "criminal"), ("123", "criminal")]
    + [(str(c), "fire") for c in range(110, 118)]
    + [("100", "assistance"), ("101", "assistance"), ("151", "disaster"), ("162", "disaster")],
)
def test_contact_id_alarms(code: str, category: str) -> None:
    m = cid("E", code)
    assert (m.kind, m.category, m.priority) == ("alarm", category, 1)


def test_names_the_operator_reads() -> None:
    assert sia("BR").name_zh == "盗警恢复"
    assert sia("RP").name_zh == "定时测试"
    assert sia("OP").name_zh == "撤防"
    assert sia("CL").name_zh == "布防"
    assert sia("YC").name_zh == "通讯故障"
    assert cid("E", "121").name_zh == "劫警（挟持）"
    assert cid("E", "130").name_zh == "盗警"
    assert cid("R", "130").name_zh == "盗警恢复"


def test_medical_is_assistance_of_priority_1_or_2() -> None:
    for m in (sia("MA"), sia("QA"), cid("E", "100"), cid("E", "101"), cid("E", "102")):
        assert m.kind == "alarm" and m.category == "assistance" and m.priority in (1, 2)


@pytest.mark.parametrize(
    ("restoral", "alarm"),
    [("BR", "BA"), ("BH", "BA"), ("FR", "FA"), ("FH", "FA"), ("HR", "HA"), ("HH", "HA")]
    + [("PR", "PA"), ("PH", "PA"), ("MR", "MA"), ("MH", "MA"), ("GR", "GA"), ("KR", "KA")]
    + [("WR", "WA"), ("QR", "QA"), ("SR", "SA"), ("ZR", "ZA")],
)
def test_sia_restorals_keep_their_alarms_category(restoral: str, alarm: str) -> None:
    r, a = sia(restoral), sia(alarm)
    assert (r.kind, r.category, r.priority) == ("restoral", a.category, None)


def test_sia_trouble_restorals() -> None:
    for code in ("AR", "YR", "YK", "LR", "NR", "XR", "TR", "BJ", "FJ", "ER"):
        m = sia(code)
        assert (m.kind, m.priority) == ("restoral", None), code


@pytest.mark.parametrize("code", sorted(c for c, m in CID_CODES.items() if m.kind == "alarm"))
def test_contact_id_qualifier_3_on_an_alarm_is_its_restoral(code: str) -> None:
    a, r = cid("E", code), cid("R", code)
    assert (r.kind, r.category, r.priority) == ("restoral", a.category, None)
    assert r.name_zh == a.name_zh + "恢复"


def test_contact_id_qualifier_3_on_a_trouble_is_its_restoral() -> None:
    for code in ("301", "302", "350", "383", "137", "144"):
        r = cid("R", code)
        assert r.kind == "restoral" and r.priority is None, code


@pytest.mark.parametrize("code", ["RP", "RX", "TX", "RY", "TS", "TE", "BX", "FX"])
def test_sia_tests(code: str) -> None:
    assert sia(code).kind == "test"
    assert (sia(code).category, sia(code).priority) == (None, None)


@pytest.mark.parametrize("qualifier", ["E", "R"])
@pytest.mark.parametrize("code", ["601", "602", "603", "608"])
def test_contact_id_tests(code: str, qualifier: str) -> None:
    assert cid(qualifier, code).kind == "test"


@pytest.mark.parametrize("code", ["OP", "CL", "OA", "CA", "OR", "CF", "OQ", "CQ", "NL", "CG"])
def test_sia_open_close(code: str) -> None:
    assert sia(code).kind == "openclose"


@pytest.mark.parametrize(
    ("code", "opening", "closing"),
    [
        ("400", "撤防", "布防"),
        ("401", "用户撤防", "用户布防"),
        ("403", "自动撤防", "自动布防"),
        ("407", "远程撤防", "远程布防"),
        ("409", "钥匙开关撤防", "钥匙开关布防"),
        ("441", "留守撤防", "留守布防"),
    ],
)
def test_contact_id_open_close(code: str, opening: str, closing: str) -> None:
    """DC-05: qualifier 1 is an opening (撤防), 3 a closing (布防)."""
    assert cid("E", code) == Meaning("openclose", None, None, opening)
    assert cid("R", code) == Meaning("openclose", None, None, closing)


def test_contact_id_open_close_from_the_wire() -> None:
    """pysiaalarm's case_adm_cid2 "3401 01 057": user 57 closed (布防) group 1."""
    (event,) = parse_data("ADM-CID", "#4F39|3401 01 057")[1]
    assert (event.user, event.zone, event.partition) == ("57", None, "1")
    assert meaning(event).name_zh == "用户布防"


@pytest.mark.parametrize(
    "m",
    [sia(c) for c in ("AT", "YT", "YC", "TA", "XT", "LT", "NT", "ET", "YP", "FT", "BT")]
    + [cid("E", c) for c in ("301", "302", "311", "350", "351", "354", "137", "144", "383")]
    + [cid("E", c) for c in ("384", "373", "300", "305", "333")],
    ids=lambda m: m.name_zh,
)
def test_troubles(m: Meaning) -> None:
    assert m.kind == "trouble" and m.category == "other" and m.priority in (3, 4)


def test_unknown_codes() -> None:
    assert sia("QQ") == Meaning("other", "other", 3, "未知事件 QQ")
    assert cid("E", "999") == Meaning("other", "other", 3, "未知事件 E999")
    assert cid("R", "999").name_zh == "未知事件 R999"


def test_contact_id_still_present_keeps_the_meaning() -> None:
    """Qualifier 6 (a status report: the condition is still there) is not dropped: if the
    alarm itself was missed, this is how the center learns of it."""
    p = cid("P", "130")
    assert (p.kind, p.category, p.priority) == ("alarm", "criminal", 1)
    assert p.name_zh.startswith("盗警") and p.name_zh != "盗警"


def test_link_test() -> None:
    assert LINK_TEST.kind == "supervision" and LINK_TEST.priority is None


def test_the_codes_the_issue_names_are_all_there() -> None:
    named = (
        "BA BB BC BH BJ BR BT BU HA HR HH PA PR PH FA FR FH FT MA MR MH GA WA KA TA AT AR YT "
        "YR YC YK RP RX RR TX OP CL OA CA OR CF NL"
    ).split()
    assert not [c for c in named if c not in SIA_CODES]
    for first, last in ((100, 163), (300, 393), (400, 409), (601, 608)):
        present = [c for c in CID_CODES if first <= int(c) <= last]
        assert len(present) >= (last - first) // 3, (first, last)


# -- the tables hold together ----------------------------------------------------------------


ALL = [("SIA " + c, m) for c, m in SIA_CODES.items()]
ALL += [("CID " + c, m) for c, m in CID_CODES.items()]
ALL += [("CID 3" + c, m) for c, m in CID_RESTORES.items()]


@pytest.mark.parametrize(("code", "m"), ALL, ids=[c for c, _ in ALL])
def test_every_meaning_is_well_formed(code: str, m: Meaning) -> None:
    assert m.kind in KINDS
    assert m.category is None or m.category in CATEGORIES
    assert m.priority is None or 1 <= m.priority <= 4
    assert re.search(r"[\u4e00-\u9fff]", m.name_zh)  # Chinese, for the operator
    if m.kind == "alarm":
        assert m.category is not None and m.priority is not None
    if m.kind == "restoral":
        assert m.priority is None
    if m.kind == "trouble":
        assert m.category == "other" and m.priority in (3, 4)
    if m.kind in ("test", "openclose"):
        assert (m.category, m.priority) == (None, None)


def test_keys() -> None:
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in SIA_CODES)
    assert all(re.fullmatch(r"\d{3}", c) for c in CID_CODES)
    assert set(CID_RESTORES) <= set(CID_CODES)
    with pytest.raises(TypeError):
        SIA_CODES["BA"] = SIA_CODES["FA"]  # type: ignore[index]


# pysiaalarm's Contact ID → SIA mapping, where our tables deliberately differ from it.
DIFFERENT_FROM_PYSIAALARM = {
    "306": "programming changed: pysiaalarm says YX (service required)",
    "320": "sounder/relay trouble: pysiaalarm says RC/RO (relay energized/de-energized)",
    "323": "alarm relay trouble: pysiaalarm says RC/RO",
    "324": "trouble relay trouble: pysiaalarm says RC/RO",
    "325": "reversing relay trouble: pysiaalarm says RC/RO",
    "414": "shutdown command received: pysiaalarm says YT (battery)",
    "423": "forced access: its restore is a restoral (pysiaalarm: DF both ways)",
    "461": "wrong code entry: a trouble (pysiaalarm: DD access denied)",
    "463": "re-arm after alarm: a closing (pysiaalarm: YY status report)",
}


def test_contact_id_agrees_with_pysiaalarms_mapping_through_our_sia_table() -> None:
    """For each Contact ID code pysiaalarm maps to a SIA code, our meaning of the Contact ID
    event has the same kind as our meaning of that SIA code: the two tables agree."""
    pytest.importorskip("pysiaalarm")
    from pysiaalarm.data.adm_mapping import ADM_MAPPING

    disagree = []
    for code, by_qualifier in ADM_MAPPING.items():
        for q, sia_code in by_qualifier.items():
            ours = cid({"1": "E", "3": "R"}[q], code)
            if ours.kind != sia(sia_code).kind and code not in DIFFERENT_FROM_PYSIAALARM:
                disagree.append(f"{q}{code}: {ours} vs {sia_code} {sia(sia_code)}")
    assert not disagree
