"""Drill scenario files (gateway.drills): the examples in drills/, every rule with a broken
file that names its line and key, surges, the JSON form, and text that is not a scenario.

Broken files are table-driven: each case is a small file with ``# HERE`` on the line the
problem must be reported at, the key path and a piece of the message. Add a case for every
confusing message reported.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.config import Config
from gateway.drills.locate import key_lines, line_of
from gateway.drills.rules import KEYS, MAX_SURGE, format_offset, parse_offset
from gateway.drills.scenario import (
    Fax,
    Mail,
    PanelAlarm,
    PhoneCall,
    Scenario,
    ScenarioError,
    Sms,
    load_scenario,
    main,
    scenario_from_text,
)

ROOT = Path(__file__).resolve().parents[2]
DRILLS = ROOT / "drills"
HEAD = 'name = "测试演练"\nunits = ["530102000000"]  # 明湖分局\n'
SMS = """
[[inject]]
at = "{at}"
channel = "sms"
from = "{sender}"
text = "湖滨街有人抢包"
expect = {{ incident = "{label}", category = "criminal", unit = "530102520000" }}
"""


def sms(at: str = "+0:00", sender: str = "13800000001", label: str = "a") -> str:
    return SMS.format(at=at, sender=sender, label=label)


def write(tmp_path: Path, text: str, name: str = "drill.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, config: Config) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ScenarioError) as e:
        load_scenario(write(tmp_path, text), config)
    return [(p.line, p.key, p.message) for p in e.value.problems]


# -- the examples ------------------------------------------------------------------------------


def test_examples_load_against_the_sample_city(config: Config) -> None:
    files = sorted(DRILLS.glob("*.toml"))
    assert [f.name for f in files] == ["every-channel.toml", "mixed.toml", "surge.toml", "web.toml"]
    for f in files:
        scenario = load_scenario(f, config)
        assert scenario.injects and scenario.name
        assert all(config.org.covers(scenario.units[0], i.unit) for i in scenario.incidents)


def test_mixed_example_has_four_channels_and_one_shared_incident(config: Config) -> None:
    s = load_scenario(DRILLS / "mixed.toml", config)
    assert [i.channel for i in s.injects] == ["phone", "sms", "web", "email"]
    assert [i.expect.incident for i in s.injects] == ["robbery", "robbery", "noise", "gambling"]
    call, text, web, mail = s.injects
    assert isinstance(call.content, PhoneCall) and "湖滨街" in call.content.script
    assert isinstance(text.content, Sms) and text.content.sender == "13800000202"
    # The SMS gave only the label: the call's expectation is the incident's.
    assert text.expect == call.expect
    assert (text.expect.category, text.expect.priority) == ("criminal", 1)
    assert web.expect.priority == 3  # 纠纷's default
    assert isinstance(mail.content, Mail)
    assert mail.content.attachments == (str((DRILLS / "files" / "photo.png").resolve()),)
    assert [(i.label, len(i.injects)) for i in s.incidents] == [
        ("robbery", 2),
        ("noise", 1),
        ("gambling", 1),
    ]
    assert s.duration == 300.0
    header = (DRILLS / "mixed.toml").read_text(encoding="utf-8").split("\n").index("[[inject]]")
    assert call.source.line == header + 1


def test_surge_example_expands(config: Config) -> None:
    s = load_scenario(DRILLS / "surge.toml", config)
    assert len(s.injects) == 1 + 60 + 200
    by_label = {i.label: i for i in s.incidents}
    assert len(by_label["fire"].injects) == 61  # the label has no {n}: one incident
    assert len(s.incidents) == 1 + 200  # flood-{n}: each its own
    calls = [i for i in s.injects if i.id.startswith("fire-calls.")]
    assert [c.content for c in calls[:2]] == [
        PhoneCall(
            "13900000001", "金河大街那边仓库着火了，烟很大，你们知道了吗？我是第1个打电话的。"
        ),
        PhoneCall(
            "13900000002", "金河大街那边仓库着火了，烟很大，你们知道了吗？我是第2个打电话的。"
        ),
    ]
    assert all(30 <= c.at < 330 for c in calls)


def test_every_channel_example(config: Config) -> None:
    s = load_scenario(DRILLS / "every-channel.toml", config)
    assert {i.channel for i in s.injects} == {
        "phone", "sms", "web", "email", "fax", "dc09", "jt808", "telegram", "cap",
    }  # fmt: skip
    panel = [i for i in s.injects if i.channel == "dc09"]
    assert [p.content for p in panel] == [
        PanelAlarm("0101", "BA", "2"),
        PanelAlarm("0101", "BR", "2"),
    ]
    assert panel[0].expect == panel[1].expect
    fax = next(i for i in s.injects if i.channel == "fax")
    assert isinstance(fax.content, Fax) and fax.content.page is None


def test_json_form_round_trips(config: Config) -> None:
    for f in sorted(DRILLS.glob("*.toml")):
        scenario = load_scenario(f, config)
        doc = json.loads(json.dumps(scenario.to_json()))
        assert doc["sha256"] == hashlib.sha256(f.read_bytes()).hexdigest()
        assert Scenario.from_json(doc) == scenario


def test_try_a_file_from_the_command_line(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(DRILLS / "mixed.toml")]) == 0
    assert capsys.readouterr().out == "OK: 明湖分局混合渠道接警演练, 4 injects over 5:00\n"
    bad = write(tmp_path, HEAD + sms(sender="abc"))
    assert main([str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}:7: inject[0].from: 'abc' is not a phone number")


# -- broken files ------------------------------------------------------------------------------
# Each case: a file with "# HERE" on the line the problem must name (no marker: line 1), the
# key path, and a piece of the message. Most are one edit of GOOD.

GOOD = """\
name = "测试演练"
units = ["530102000000"]  # 明湖分局

[[inject]]
at = "+0:00"
channel = "sms"
from = "13800000001"
text = "湖滨街有人抢包"
expect = { incident = "a", category = "criminal", unit = "530102520000" }
"""
SECOND = """
[[inject]]
at = "+1:00"
channel = "sms"
from = "13800000002"
text = "抢包的往翠柳巷跑了"
expect = { incident = "a" }
"""
EXPECT = 'expect = { incident = "a", category = "criminal", unit = "530102520000" }\n'
CAP_ACTUAL = (
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>X1</identifier>'
    "<sender>s@example.cn</sender><sent>2026-11-24T09:00:00+08:00</sent><status>Actual</status>"
    "<msgType>Alert</msgType><scope>Public</scope><info><category>Met</category>"
    "<event>内涝</event><urgency>Immediate</urgency><severity>Severe</severity>"
    "<certainty>Observed</certainty></info></alert>"
)


def edited(*edits: tuple[str, str], then: str = "") -> str:
    text = GOOD
    for old, new in edits:
        assert old in text, f"test case out of date: {old!r}"
        text = text.replace(old, new, 1)
    return text + then


def inject(channel: str, body: str, expect: str = EXPECT) -> str:
    """GOOD's head with one inject of `channel` at 0."""
    head = GOOD.split("[[inject]]")[0]
    return f'{head}[[inject]]\nat = 0\nchannel = "{channel}"\n{body}{expect}'


def case(name: str, text: str, key: str, fragment: str) -> Any:
    return pytest.param(text, key, fragment, id=name)


HERE = "  # HERE"
PLACE = 'location = { address = "明湖路", lat = 25.04, lon = 102.65 }\n'
SURGE = "count = 10\nover = 60\n"
EACH_OWN = ('incident = "a"', 'incident = "s-{n}"')  # a surge whose alarms are each an incident

BROKEN = [
    case("syntax", edited(('"+0:00"', "+0:30" + HERE)), "", "Expected newline"),
    case(
        "unknown top key",
        edited(("units", 'colour = "red"' + HERE + "\nunits")),
        "colour",
        "unknown key (allowed: name, description, units, inject)",
    ),
    case(
        "unknown inject key",
        edited(then='txet = "typo"' + HERE),
        "inject[0].txet",
        "allowed for channel sms: id, at, channel, location, expect, note, count",
    ),
    case(
        "unknown key in inline expect",
        edited(('"a",', '"a", categroy = "x",'), ("0000" + '" }', '0000" }' + HERE)),
        "inject[0].expect.categroy",
        "unknown key (allowed for expect",
    ),
    case(
        "unknown key in an expect sub-table",
        edited(("expect =", "# expect ="), then='[inject.expect]\nincident = "a"\nprio = 2' + HERE),
        "inject[0].expect.prio",
        "unknown key",
    ),
    case(
        "unknown channel",
        edited(('"sms"', '"mail"' + HERE)),
        "inject[0].channel",
        "unknown channel 'mail' (one of phone, sms, web, email, fax",
    ),
    case(
        "no channel",
        edited(('channel = "sms"\n', ""), ("[[inject]]", "[[inject]]" + HERE)),
        "inject[0].channel",
        "required",
    ),
    case(
        "no time",
        edited(('at = "+0:00"\n', ""), ("[[inject]]", "[[inject]]" + HERE)),
        "inject[0].at",
        "required",
    ),
    case(
        "bad time", edited(('"+0:00"', '"+1:75"' + HERE)), "inject[0].at", "'+1:75' is not a time"
    ),
    case("negative time", edited(('"+0:00"', "-5" + HERE)), "inject[0].at", "-5 is not a time"),
    case(
        "out of order",
        edited(('"+0:00"', '"+2:00"'), then=SECOND.replace('"+1:00"', '"+1:00"' + HERE)),
        "inject[1].at",
        "+1:00 is before inject[0] at +2:00: list the injects in time order",
    ),
    case(
        "longer than four hours",
        edited(('"+0:00"', '"+4:00:01"' + HERE)),
        "inject[0].at",
        "at most 4 hours",
    ),
    case(
        "not a phone",
        edited(('"13800000001"', '"110-CALL-ME"' + HERE)),
        "inject[0].from",
        "'110-CALL-ME' is not a phone number",
    ),
    case(
        "no text",
        edited(('text = "湖滨街有人抢包"\n', ""), ("[[inject]]", "[[inject]]" + HERE)),
        "inject[0].text",
        "required for channel sms",
    ),
    case(
        "control character",
        edited(('有人抢包"', '有人\\u0007抢包"' + HERE)),
        "inject[0].text",
        "control characters",
    ),
    case(
        "bad mail address",
        inject("email", f'from = "a at example.cn"{HERE}\nsubject = "s"\ntext = "t"\n'),
        "inject[0].from",
        "not a mail address",
    ),
    case(
        "latitude out of range",
        edited(then="location = { lat = 95.0, lon = 102.65 }" + HERE),
        "inject[0].location",
        "not a WGS84 point",
    ),
    case(
        "swapped",
        edited(then="location = { lat = 102.65, lon = 25.04 }" + HERE),
        "inject[0].location",
        "lat and lon swapped?",
    ),
    case(
        "outside the city",
        edited(then="location = { lat = 39.9, lon = 116.4 }" + HERE),
        "inject[0].location",
        "outside 示例市",
    ),
    case(
        "lat without lon",
        edited(then="location = { lat = 25.04 }" + HERE),
        "inject[0].location",
        "lat and lon",
    ),
    case(
        "coordinate not a number",
        edited(then='location = { lat = "25", lon = 102.6 }' + HERE),
        "inject[0].location.lat",
        "'25': a number",
    ),
    case(
        "unknown category",
        edited(('"criminal"', '"crime"'), ('" }', '" }' + HERE)),
        "inject[0].expect.category",
        "'crime' is not a category (known: assistance, criminal",
    ),
    case(
        "priority out of range",
        edited(("unit =", "priority = 5, unit ="), ('" }', '" }' + HERE)),
        "inject[0].expect.priority",
        "5: 1 (红), 2 (橙), 3 (黄) or 4 (蓝)",
    ),
    case(
        "priority true",
        edited(("unit =", "priority = true, unit ="), ('" }', '" }' + HERE)),
        "inject[0].expect.priority",
        "True: 1 (红)",
    ),
    case(
        "unknown unit",
        edited(('"530102520000" }', '"530102519999" }' + HERE)),
        "inject[0].expect.unit",
        "530102519999 is not a unit of 示例市 (nearest: 530102510000 南坝派出所",
    ),
    case(
        "unit not taking part",
        edited(('"530102520000" }', '"530103520000" }' + HERE)),
        "inject[0].expect.unit",
        "530103520000 青山派出所 does not take part: not in units or under one (530102000000",
    ),
    case(
        "unit above the participants",
        edited(('"530102520000" }', '"530100000000" }' + HERE)),
        "inject[0].expect.unit",
        "does not take part",
    ),
    case(
        "unknown participating unit",
        edited(('["530102000000"]', '[\n  "530102000000",\n  "530102999999",' + HERE + "\n]")),
        "units[1]",
        "530102999999 is not a unit",
    ),
    case(
        "no participating units", edited(('["530102000000"]', "[]" + HERE)), "units", "at least one"
    ),
    case("no name", edited(('name = "测试演练"\n', "")), "name", "required"),
    case("no injects", GOOD.split("[[inject]]")[0], "inject", "at least one [[inject]]"),
    case(
        "one label, two categories",
        edited(then=SECOND.replace('"a" }', '"a", category = "dispute" }' + HERE)),
        "inject[1].expect.category",
        "dispute differs from inject[0]'s criminal for incident 'a': one incident has one category",
    ),
    case(
        "label without a unit",
        edited((', unit = "530102520000" }', " }" + HERE)),
        "inject[0].expect",
        "incident 'a' needs a unit",
    ),
    case(
        "same sender, two incidents",
        edited(
            then=SECOND.replace('"13800000002"', '"+86 138-0000-0001"' + HERE).replace(
                '"a" }', '"b", category = "tip", unit = "530102520000" }'
            )
        ),
        "inject[1].from",
        "the same from as i0 (1:00 earlier, incident 'a'): the gateway joins them within "
        "600 s ([correlation] sender_window)",
    ),
    case(
        "duplicate id",
        edited(
            ("[[inject]]", '[[inject]]\nid = "x"'),
            then=SECOND.replace("[[inject]]", '[[inject]]\nid = "x"' + HERE),
        ),
        "inject[1].id",
        "'x' is also inject[0]",
    ),
    case(
        "bad id",
        edited(("[[inject]]", '[[inject]]\nid = "a.b"' + HERE)),
        "inject[0].id",
        "'a.b': 1 to 40 letters, digits, _ or -",
    ),
    case(
        "missing attachment",
        inject(
            "email",
            f'from = "a@example.cn"\nsubject = "s"\ntext = "t"\n'
            f'attachments = [\n  "files/no.jpg",{HERE}\n]\n',
        ),
        "inject[0].attachments[0]",
        "files/no.jpg: no such file",
    ),
    case(
        "fax page not a fax",
        inject("fax", f'from = "0871-60000777"\npage = "page.png"{HERE}\n'),
        "inject[0].page",
        "a fax page is a TIFF or PDF file",
    ),
    case(
        "fax with text and page",
        inject("fax", f'from = "0871-60000777"\ntext = "t"{HERE}\npage = "page.pdf"\n'),
        "inject[0].text",
        "either text (drawn as a page) or page",
    ),
    case(
        "CAP file not an exercise",
        inject("cap", f'file = "actual.xml"{HERE}\n'),
        "inject[0].file",
        "actual.xml: status Actual: a drill's alert is Exercise",
    ),
    case(
        "CAP file not XML",
        inject("cap", f'file = "page.png"{HERE}\n'),
        "inject[0].file",
        "page.png: not a CAP 1.2 alert the gateway takes: not well-formed XML",
    ),
    case(
        "CAP file and keys",
        inject("cap", f'file = "cap.xml"\nevent = "内涝"{HERE}\n'),
        "inject[0].event",
        "either a file or made from keys",
    ),
    case(
        "CAP without urgency",
        inject(
            "cap",
            f'event = "内涝"\nseverity = "Severe"\n{PLACE}',
        ).replace("[[inject]]", "[[inject]]" + HERE),
        "inject[0].urgency",
        "required for a CAP alert made from keys",
    ),
    case(
        "CAP urgency misspelt",
        inject(
            "cap",
            f'event = "内涝"\nurgency = "immediate"{HERE}\nseverity = "Severe"\n{PLACE}',
        ),
        "inject[0].urgency",
        "'immediate' is not one of Immediate, Expected, Future, Past, Unknown",
    ),
    case(
        "CAP without a place",
        inject(
            "cap",
            f'event = "内涝"\nurgency = "Immediate"\nseverity = "Severe"\n'
            f'location = {{ address = "明湖路" }}{HERE}\n',
        ),
        "inject[0].location",
        "a CAP alert's area: address, lat and lon",
    ),
    case(
        "unknown panel event",
        inject("dc09", f'account = "0101"\nevent = "ZQ"{HERE}\n'),
        "inject[0].event",
        "ZQ is not a known SIA or Contact ID event code",
    ),
    case(
        "panel test signal",
        inject("dc09", f'account = "0101"\nevent = "E602"{HERE}\n'),
        "inject[0].event",
        "E602 (定时测试) is a test signal: it opens no incident (incident kinds: alarm)",
    ),
    case(
        "panel account as a number",
        inject("dc09", f'account = 101{HERE}\nevent = "BA"\n'),
        "inject[0].account",
        '101: 3 to 16 hex digits, as a string ("0101")',
    ),
    case(
        "restoral without its alarm",
        inject("dc09", 'account = "0101"\nevent = "R130"\n', EXPECT.replace("\n", HERE + "\n")),
        "inject[0].expect.incident",
        "R130 is a restoral: it joins an alarm of account 0101 played before it",
    ),
    case(
        "terminal without a position",
        inject("jt808", 'terminal = "013800138001"\n').replace("[[inject]]", "[[inject]]" + HERE),
        "inject[0].location",
        "a terminal's alarm carries its position",
    ),
    case(
        "terminal alarm not configured",
        inject(
            "jt808",
            f'terminal = "013800138001"\nalarm = 5{HERE}\n{PLACE}',
        ),
        "inject[0].alarm",
        "5: an alarm that opens an incident (sos)",
    ),
    case(
        "terminal as a number",
        inject(
            "jt808", f"terminal = 13800138001{HERE}\nlocation = {{ lat = 25.04, lon = 102.65 }}\n"
        ),
        "inject[0].terminal",
        "up to 20 digits, a string",
    ),
    case(
        "Telegram with nothing to send",
        inject("telegram", "chat = -100123\n").replace("[[inject]]", "[[inject]]" + HERE),
        "inject[0].text",
        "a text, a location, or both",
    ),
    case(
        "Telegram chat as a string",
        inject("telegram", f'chat = "-100123"{HERE}\ntext = "t"\n'),
        "inject[0].chat",
        "'-100123': a Telegram chat id (an integer)",
    ),
    case(
        "surge too large",
        edited(then=f"count = {MAX_SURGE + 1}{HERE}\nover = 60\n"),
        "inject[0].count",
        "10001: a surge's number of alarms, 1 to 10000",
    ),
    case(
        "surge without a duration",
        edited(("[[inject]]", "[[inject]]" + HERE), then="count = 10\n"),
        "inject[0].over",
        "required: a surge's duration",
    ),
    case(
        "surge past four hours",
        edited(('"+0:00"', '"+3:50:00"'), then=f'count = 10\nover = "20:00"{HERE}\n'),
        "inject[0].over",
        "the surge ends at +4:10:00",
    ),
    case(
        "surge unknown field",
        edited(('"13800000001"', '"1380000{m}"' + HERE), then=SURGE),
        "inject[0].from",
        "unknown field {m}",
    ),
    case(
        "surge format too wide",
        edited(('"13800000001"', '"{n:0999999999}"' + HERE), EACH_OWN, then=SURGE),
        "inject[0].from",
        "format {n:0999999999} (e.g. {n:04d})",
    ),
    case(
        "surge field of n",
        edited(('"13800000001"', '"{n[0]}"' + HERE), then=SURGE),
        "inject[0].from",
        "unknown field {n[0]}",
    ),
    case(
        "surge seed without random",
        edited(then=SURGE + "seed = 3" + HERE),
        "inject[0].seed",
        'a seed only applies to spread = "random"',
    ),
    case(
        "surge spread misspelt",
        edited(then=SURGE + 'spread = "uniform"' + HERE),
        "inject[0].spread",
        '\'uniform\': "even" or "random"',
    ),
    case(
        "surge from one number, each its own incident",
        edited(('13800000001"', '13800000001"' + HERE), EACH_OWN, then=SURGE),
        "inject[0].from",
        "the same from as i0.1",
    ),
    # Every alarm of a surge is checked: here the 1000th has a 21-digit number.
    case(
        "surge number too long at its end",
        edited(
            ('"13800000001"', '"13800000000000000{n}"' + HERE),
            EACH_OWN,
            then="count = 1000\nover = 60\n",
        ),
        "inject[0].from",
        "'138000000000000001000' is not a phone number",
    ),
]


def _expected_line(text: str) -> int:
    lines = text.split("\n")
    return next((i + 1 for i, line in enumerate(lines) if "# HERE" in line), 1)


@pytest.mark.parametrize(("text", "key", "fragment"), BROKEN)
def test_broken_file_names_line_and_key(
    config: Config, tmp_path: Path, text: str, key: str, fragment: str
) -> None:
    (tmp_path / "page.png").write_bytes((DRILLS / "files" / "photo.png").read_bytes())
    (tmp_path / "page.pdf").write_bytes(b"%PDF-1.4\n")
    (tmp_path / "actual.xml").write_text(CAP_ACTUAL, encoding="utf-8")
    (tmp_path / "cap.xml").write_text(CAP_ACTUAL.replace("Actual", "Exercise"), encoding="utf-8")
    found = problems(tmp_path, text, config)
    assert len(found) == 1, found
    line, got_key, message = found[0]
    assert (line, got_key) == (_expected_line(text), key), found
    assert fragment in message, message


def test_syntax_error_names_line_and_column(config: Config, tmp_path: Path) -> None:
    path = write(tmp_path, HEAD + "[[inject]]\nat = +0:30\n")
    with pytest.raises(ScenarioError) as e:
        load_scenario(path, config)
    assert str(e.value) == f"{path}:4:8: Expected newline or end of document after a statement"
    with pytest.raises(ScenarioError) as e:
        scenario_from_text(HEAD + 'description = """never closed', config, file="x.toml")
    assert str(e.value).startswith("x.toml:3:") and "(at the end of the file)" in str(e.value)


def test_every_problem_is_reported_at_once_in_line_order(config: Config, tmp_path: Path) -> None:
    text = (
        'name = "x"\nunits = ["530102000000", "5301"]\n'  # 2
        + sms(sender="abc")  # from: line 7
        + sms(at="+1:00", sender="13800000002").replace('"criminal"', '"crime"')  # expect: 16
        + 'speed = "fast"\n'  # 17: an unknown key of inject[1]
        + sms(at="+0:30", sender="13800000003")  # at: line 20 (out of order)
    )
    found = problems(tmp_path, text, config)
    assert [(line, key) for line, key, _ in found] == [
        (2, "units[1]"),
        (7, "inject[0].from"),
        (16, "inject[1].expect.category"),
        (17, "inject[1].speed"),
        (20, "inject[2].at"),
    ]


def test_unreadable_files(config: Config, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nothing\.toml: cannot read"):
        load_scenario(tmp_path / "nothing.toml", config)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "x"\n# caf\xe9\n')
    with pytest.raises(ScenarioError, match=r"latin\.toml:2: not UTF-8"):
        load_scenario(latin, config)
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(ScenarioError, match="at most 1048576"):
        load_scenario(big, config)


def test_gaps_beyond_the_correlation_window_may_be_different_incidents(config: Config) -> None:
    window = config.correlation.sender_window
    at = format_offset(window + 1)
    s = scenario_from_text(HEAD + sms() + sms(at=at, label="b"), config)
    assert [i.expect.incident for i in s.injects] == ["a", "b"]


def test_files_are_relative_to_the_scenario(config: Config, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.tif").write_bytes(b"II*\0")
    text = (
        HEAD + '[[inject]]\nat = 0\nchannel = "fax"\nfrom = "0871-60000777"\n'
        'page = "sub/page.tif"\n' + EXPECT
    )
    s = load_scenario(write(tmp_path, text), config)
    page = str((tmp_path / "sub" / "page.tif").resolve())
    assert s.injects[0].content == Fax("0871-60000777", None, page)


# -- surges --------------------------------------------------------------------------------------


def test_even_surge_fills_its_window_in_order(config: Config) -> None:
    text = (
        HEAD
        + sms(at="+1:00", sender="1390000{n:04d}", label="s-{n}")
        + 'count = 40\nover = "2:00"\nid = "surge"\n'
        + sms(at="+2:00", sender="13800000009", label="other")
    )
    s = scenario_from_text(text, config)
    surge = [i for i in s.injects if i.id.startswith("surge.")]
    assert [i.id for i in surge] == [f"surge.{n}" for n in range(1, 41)]
    assert [i.at for i in surge] == [60 + 3 * k for k in range(40)]
    assert [i.content for i in surge[:2]] == [
        Sms("13900000001", "湖滨街有人抢包"),
        Sms("13900000002", "湖滨街有人抢包"),
    ]
    assert all(i.source.n == n for n, i in enumerate(surge, start=1))
    # The single inject at +2:00 is played among the surge's alarms, in time order.
    assert [i.at for i in s.injects] == sorted(i.at for i in s.injects)
    assert [i.id for i in s.injects].index("i1") == 21
    assert len(s.incidents) == 41


def test_random_surge_is_seeded_and_within_its_window(config: Config) -> None:
    def times(seed: int) -> list[float]:
        text = HEAD + sms(at="+0:10", sender="1390000{n:04d}", label="s-{n}")
        text += f'count = 500\nover = "10:00"\nspread = "random"\nseed = {seed}\n'
        return [i.at for i in scenario_from_text(text, config).injects]

    first = times(7)
    assert len(first) == 500 and first == sorted(first)
    assert all(10 <= t < 610 for t in first)
    assert first == times(7)
    assert first != times(8)


def test_surge_label_without_n_is_one_incident(config: Config) -> None:
    text = HEAD + sms(sender="1390000{n:04d}", label="fire") + "count = 25\nover = 60\n"
    s = scenario_from_text(text, config)
    assert len(s.injects) == 25
    assert [(i.label, len(i.injects)) for i in s.incidents] == [("fire", 25)]


def test_largest_surge_loads_quickly(config: Config) -> None:
    text = (
        HEAD + sms(sender="1390{n:07d}", label="s-{n}") + f'count = {MAX_SURGE}\nover = "1:00:00"\n'
    )
    started = time.perf_counter()
    s = scenario_from_text(text, config)
    elapsed = time.perf_counter() - started
    assert len(s.injects) == MAX_SURGE and s.injects[-1].at < 3600
    assert elapsed < 10, elapsed  # ~1 s here; a bound, not a benchmark


# -- times and positions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("+0:30", 30), ("0:30", 30), ("+14:05", 845), ("+1:05:00", 3900), (90, 90), (1.5, 1.5)],
)
def test_offsets(value: object, seconds: float) -> None:
    assert parse_offset(value) == seconds


@pytest.mark.parametrize(
    "value", ["+1:60", "+1:60:00", "30", "+-1:00", -1, True, float("nan"), None]
)
def test_offsets_refused(value: object) -> None:
    assert parse_offset(value) is None


def test_format_offset() -> None:
    assert [format_offset(s) for s in (0, 30, 845, 3900, 14400)] == [
        "+0:00", "+0:30", "+14:05", "+1:05:00", "+4:00:00",
    ]  # fmt: skip


def test_locator_knows_toml_forms() -> None:
    text = (
        'name = "x"  # a comment with [[inject]]\n'  # 1
        "units = [\n"  # 2
        '  "a", "b",\n'  # 3
        '  "c",\n'  # 4
        "]\n"  # 5
        "[[inject]]\n"  # 6
        'script = """\n'  # 7
        "[[inject]]\n"  # 8: inside the string, not a header
        'x = 1"""\n'  # 9
        'expect = { incident = "a", "quoted key" = 2, nested = { deep = 3 } }\n'  # 10
        "[inject.location]\n"  # 11
        "lat = 25.0\n"  # 12
        "[[inject]]\n"  # 13
        "expect.unit = 'x'\n"  # 14
        "[[inject.files]]\n"  # 15
        "path = 'a'\n"  # 16
    )
    lines = key_lines(text)
    assert lines[("units", 2)] == 4
    assert lines[("inject", 0)] == 6
    assert lines[("inject", 0, "expect", "quoted key")] == 10
    assert lines[("inject", 0, "expect", "nested", "deep")] == 10
    assert lines[("inject", 0, "location", "lat")] == 12
    assert lines[("inject", 1)] == 13
    assert lines[("inject", 1, "expect", "unit")] == 14
    assert lines[("inject", 1, "files", 0, "path")] == 16
    # A key not written falls back to its table's line.
    assert line_of(lines, ("inject", 1, "expect", "category")) == 14
    assert line_of(lines, ("inject", 0, "channel")) == 6
    assert line_of(lines, ("nowhere",)) == 1


# -- whatever the text --------------------------------------------------------------------------

FRAGMENTS = [
    "[[inject]]",
    "[inject.expect]",
    "[inject.location]",
    'name = "演练"',
    'units = ["530102000000"]',
    'units = ["530102000000", 5]',
    'at = "+0:30"',
    "at = 1e9",
    "at = -0.0",
    'channel = "sms"',
    'channel = "dc09"',
    'channel = "cap"',
    'from = "13800000001"',
    'from = "1390000{n:04d}"',
    'text = "有人{n}"',
    'text = "{"',
    'account = "0101"',
    'event = "BA"',
    "count = 3",
    "count = 10001",
    'over = "0:10"',
    'spread = "random"',
    "seed = 1",
    'expect = { incident = "a", category = "criminal", unit = "530102520000" }',
    'expect = { incident = "a{n}", priority = 9 }',
    "expect = 3",
    "location = { lat = 25.04, lon = 102.65 }",
    'location = { lat = nan, lon = inf, address = "" }',
    "file = '../../etc/passwd'",
    'attachments = ["files/photo.png", 3]',
    "inject = 5",
    "x = [[[[1]]]]",
    'a."b".c = { d = [ { e = 1 }, """\n]\n""" ] }',
]


@settings(
    max_examples=150,
    deadline=2000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(FRAGMENTS),
            st.text(alphabet=st.sampled_from("[]{}=\"'#.,+:\n ab{n}0123"), max_size=20),
            st.text(max_size=12),
        ),
        max_size=25,
    )
)
def test_any_text_is_a_scenario_or_a_scenario_error(config: Config, parts: list[str]) -> None:
    text = "\n".join(parts)
    try:
        scenario = scenario_from_text(text, config, base=DRILLS)
    except ScenarioError as e:
        assert e.problems and all(p.line is None or p.line >= 1 for p in e.problems)
        assert all(str(p).startswith("<scenario>") for p in e.problems)
    else:
        assert scenario.injects


# Valid TOML of every shape: keys a scenario knows (and one it does not) with values of every
# type, so that the rules meet what a file can hold, not only what tomllib refuses.
KNOWN_KEYS = sorted(
    {"name", "units", "description", "id", "at", "channel", "location", "expect", "note"}
    | {"count", "over", "spread", "seed", "incident", "category", "priority", "unit"}
    | {"address", "lat", "lon", "accuracy_m", "zzz"}
    | {k for keys in KEYS.values() for k in keys}
)
SCALARS = st.one_of(
    st.sampled_from(
        ["sms", "phone", "cap", "dc09", "jt808", "telegram", "fax", "web", "email", "BA", "R130"]
        + ["+0:30", "1:00:00", "13800000001", "1390{n:07d}", "a{n}", "{", "0101", "criminal"]
        + ["530102000000", "530102520000", "files/photo.png", "files/flood-alert.xml", "random"]
        + ["a@example.cn", "Immediate", "sos", ""]
    ),
    st.integers(-3, 30),
    st.sampled_from([MAX_SURGE + 1, 15_000]),  # refused before any alarm is made
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KNOWN_KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)


GOOD_INJECT: dict[str, object] = {
    "at": 0,
    "channel": "sms",
    "from": "13800000001",
    "text": "有人抢包",
    "expect": {"incident": "a", "category": "criminal", "unit": "530102520000"},
}


def toml_value(value: object) -> str:
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
        )
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    # A JSON scalar is a TOML scalar, once DEL (which JSON leaves as it is) is escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


@settings(
    max_examples=150,
    deadline=5000,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=4),
    st.lists(st.dictionaries(st.sampled_from(KNOWN_KEYS), VALUES, max_size=8), max_size=4),
    st.booleans(),
)
def test_any_valid_toml_is_a_scenario_or_a_scenario_error(
    config: Config, top: dict[str, object], injects: list[dict[str, object]], edit: bool
) -> None:
    if edit:  # a good scenario with some values replaced: the rules past the first ones
        top = {"name": "x", "units": ["530102000000"], **top}
        injects = [{**GOOD_INJECT, **inject} for inject in injects]
    top.pop("inject", None)
    text = "".join(f"{json.dumps(k)} = {toml_value(v)}\n" for k, v in top.items())
    for inject in injects:
        text += "[[inject]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in inject.items())
    try:
        scenario_from_text(text, config, base=DRILLS)
    except ScenarioError as e:
        assert e.problems
        assert all(p.column is None for p in e.problems), (text, e)  # tomllib took it


@settings(max_examples=300, deadline=1000)
@given(st.text(max_size=200))
def test_locator_never_fails(text: str) -> None:
    lines = key_lines(text)
    assert all(1 <= line <= text.count("\n") + 1 for line in lines.values())
