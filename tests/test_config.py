"""Loading and validating the TOML configuration.

Bad configurations are table-driven: each case edits the bundled sample text and names the key
path and the problem the error must mention. Add a case for every confusing error reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.config import Config, ConfigError, check_config, key_path, load_config, sample_text
from gateway.schemas import load_schema, schema_path

SAMPLE = sample_text()
BAINSHA_RING = (
    "[[[102.74, 25.04], [102.8, 25.04], [102.8, 25.12], [102.74, 25.12], [102.74, 25.04]]]"
)
BOWTIE_RING = (
    "[[[102.74, 25.04], [102.8, 25.12], [102.8, 25.04], [102.74, 25.12], [102.74, 25.04]]]"
)


def write(tmp_path: Path, text: str, name: str = "alarmgw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(old: str, new: str) -> str:
    assert SAMPLE.count(old) >= 1, f"test case out of date: {old!r} not in the sample"
    return SAMPLE.replace(old, new, 1)


# -- the sample --------------------------------------------------------------------------------


def test_sample_loads_and_is_marked_as_sample() -> None:
    config = load_config(None)
    assert isinstance(config, Config)
    assert config.path is None
    assert config.city.sample is True
    assert config.city.code == "530100000000" and config.city.timezone == "Asia/Shanghai"
    assert "SAMPLE DATA" in SAMPLE and "纯属虚构" in SAMPLE
    assert config.http.host == "127.0.0.1" and config.http.port == 8110
    assert config.http.max_body == 1048576 and config.http.public_base_url is None
    assert config.storage_url is None
    assert config.channels == {
        "web": {"enabled": True},
        "ami": {"enabled": False},
        "smpp": {"enabled": False},
        "smtp": {"enabled": False},
        "dc09": {"enabled": False},
        "jt808": {"enabled": False},
        "telegram": {"enabled": False},
        "cap": {"enabled": False},
        "systems": {"enabled": False},
    }
    assert config.webhook.max_attempts == 8 and config.webhook.backoff_max == 300
    assert config.correlation.place_radius_m == 200 and config.correlation.place_window == 900


def test_sample_categories() -> None:
    categories = load_config(None).categories
    assert set(categories) == {
        "criminal", "public_order", "traffic", "fire", "disaster",
        "dispute", "assistance", "tip", "other",
    }  # fmt: skip
    assert categories["traffic"].route_to == "530100170000"
    fire = categories["fire"]
    assert fire.name == "火灾" and fire.priority == 1
    assert [t.address for t in fire.also_notify] == ["http://127.0.0.1:9/119"]
    assert fire.also_notify[0].name == "119指挥中心"
    assert all(1 <= c.priority <= 4 for c in categories.values())


def test_sla_seconds() -> None:
    sla = load_config(None).sla
    assert [sla.seconds("acknowledge", p) for p in (1, 2, 3, 4)] == [60, 180, 300, 600]
    for step in ("accept", "dispatch", "acknowledge", "arrive", "feedback"):
        assert sla.seconds(step, 1) is not None
    assert sla.seconds("lunch", 1) is None
    assert sla.seconds("accept", 5) is None


def test_load_from_file_equals_sample(tmp_path: Path) -> None:
    path = write(tmp_path, SAMPLE)
    config = load_config(path)
    assert config.path == path
    assert check_config(str(path)).categories == load_config(None).categories
    assert {u.code for u in config.org.units()} == {u.code for u in load_config(None).org.units()}


def test_optional_keys(tmp_path: Path) -> None:
    text = edited("[storage]\n", '[storage]\nurl = "postgresql://db/alarmgw"\n')
    text = text.replace(
        "[channels.smpp]\nenabled = false\n", '[channels.smpp]\nenabled = false\nhost = "smsc"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.storage_url == "postgresql://db/alarmgw"
    assert config.channels["smpp"] == {"enabled": False, "host": "smsc"}
    assert [c.code for c in config.enabled_channels] == ["web"]


def test_unknown_channel_is_refused(tmp_path: Path) -> None:
    """A channel section no installed channel declares is a typo or a missing plug-in."""
    text = edited("[channels.web]", "[channels.wechat]\nenabled = false\n\n[channels.web]")
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, text))
    assert (
        "channels.wechat: unknown channel "
        "(installed: ami, cap, dc09, jt808, smpp, smtp, systems, telegram, web)" in str(e.value)
    )


def test_jurisdiction_from_geojson_file(tmp_path: Path) -> None:
    feature = {"type": "Feature", "properties": {}, "geometry": json.loads(
        '{"type": "Polygon", "coordinates": ' + BAINSHA_RING + "}"
    )}  # fmt: skip
    (tmp_path / "baisha.geojson").write_text(json.dumps(feature), encoding="utf-8")
    text = edited(f'{{ type = "Polygon", coordinates = {BAINSHA_RING} }}', '"baisha.geojson"')
    config = load_config(write(tmp_path, text))
    unit = config.org.unit_at(25.1, 102.77)
    assert unit is not None and unit.code == "530124520000"


# -- bad configurations ---------------------------------------------------------------------------

NANBA_WEBHOOK = '{ kind = "webhook", address = "http://127.0.0.1:9/units/530102510000" },'
FIRE_119 = '{ kind = "webhook", address = "http://127.0.0.1:9/119", name = "119指挥中心" },'

# (id, old text, new text, key path, problem)
BAD_CASES = [
    (
        "negative-sla",
        "[sla.acknowledge]  # dispatched → acknowledged\np1 = 60",
        "[sla.acknowledge]\np1 = -5",
        "sla.acknowledge.p1",
        "-5 is less than the minimum of 1",
    ),
    (
        "sla-missing-priority",
        "p3 = 300\np4 = 600\n\n[sla.acknowledge]",
        "p3 = 300\n\n[sla.acknowledge]",
        "sla.dispatch",
        "'p4' is a required property",
    ),
    (
        "sla-missing-step",
        "[sla.feedback]",
        "[sla.feedbak]",
        "sla",
        "'feedback' is a required property",
    ),
    ("sla-typo-step", "[sla.feedback]", "[sla.feedbak]", "sla.feedbak", "unknown key"),
    ("unknown-key", "[http]\nhost", '[http]\nhots = "x"\nhost', "http.hots", "unknown key"),
    (
        "unknown-section",
        "[webhook]",
        "[webhooks]\ntimeout = 1\n\n[webhook]",
        "webhooks",
        "unknown key",
    ),
    ("wrong-type", "port = 8110", 'port = "8110"', "http.port", "is not of type 'integer'"),
    (
        "priority-range",
        'name = "刑事"\npriority = 2',
        'name = "刑事"\npriority = 5',
        "categories.criminal.priority",
        "5 is greater than the maximum of 4",
    ),
    (
        "priority-missing",
        'name = "刑事"\npriority = 2',
        'name = "刑事"',
        "categories.criminal",
        "'priority' is a required property",
    ),
    (
        "route-to-unknown",
        'route_to = "530100170000"',
        'route_to = "530100179999"',
        "categories.traffic.route_to",
        "unknown unit 530100179999",
    ),
    (
        "duplicate-code",
        'code = "530102520000"',
        'code = "530102510000"',
        "org.units[4].code",
        "duplicate unit code 530102510000 (also org.units[3])",
    ),
    (
        "code-not-12-digits",
        'code = "530102510000"',
        'code = "5301025100"',
        "org.units[3].code",
        "does not match",
    ),
    (
        "parent-missing",
        'name = "示例市金河县公安局"\ntier = "district"\nparent = "530100000000"',
        'name = "示例市金河县公安局"\ntier = "district"\nparent = "530199000000"',
        "org.units[10].parent",
        "unknown unit 530199000000",
    ),
    (
        "two-roots",
        'name = "示例市金河县公安局"\ntier = "district"\nparent = "530100000000"\n',
        'name = "示例市金河县公安局"\ntier = "district"\n',
        "org.units",
        "expected exactly one root unit (no parent), found org.units[0], org.units[10]",
    ),
    (
        "root-not-city",
        'tier = "city"',
        'tier = "district"',
        "org.units[0].tier",
        'must have tier "city"',
    ),
    (
        "cycle",
        'name = "南坝派出所"\ntier = "station"\nparent = "530102000000"',
        'name = "南坝派出所"\ntier = "station"\nparent = "530102510000"',
        "org.units[3].parent",
        "cycle 530102510000 → 530102510000",
    ),
    (
        "invalid-polygon",
        BAINSHA_RING,
        BOWTIE_RING,
        "org.units[12].jurisdiction",
        "invalid polygon: Self-intersection",
    ),
    (
        "station-without-jurisdiction",
        f'jurisdiction = {{ type = "Polygon", coordinates = {BAINSHA_RING} }}',
        "",
        "org.units[12].jurisdiction",
        "a station needs a jurisdiction",
    ),
    (
        "geometry-type",
        'jurisdiction = { type = "Polygon"',
        'jurisdiction = { type = "Point"',
        "org.units[0].jurisdiction.type",
        "'Point' is not one of ['Polygon', 'MultiPolygon']",
    ),
    (
        "geojson-file-missing",
        f'{{ type = "Polygon", coordinates = {BAINSHA_RING} }}',
        '"nowhere.geojson"',
        "org.units[12].jurisdiction",
        "cannot read nowhere.geojson",
    ),
    (
        "longitude-range",
        "[[[102.62, 24.96]",
        "[[[302.62, 24.96]",
        "org.units[0].jurisdiction.coordinates[0][0][0]",
        "302.62 is greater than the maximum of 180",
    ),
    (
        "notify-kind",
        'kind = "webhook"',
        'kind = "fax"',
        "categories.fire.also_notify[0].kind",
        '"fax" targets cannot be delivered: no installed channel delivers them (webhook can be)',
    ),
    (
        "unit-notify-kind",
        '{ kind = "webhook", address = "http://127.0.0.1:9/units/530100000000"',
        '{ kind = "pager", address = "http://127.0.0.1:9/units/530100000000"',
        "org.units[0].notify[0].kind",
        '"pager" targets cannot be delivered',
    ),
    (
        # A unit would never hear of its incidents: the channel that delivers them is off.
        "phone-target-with-ami-off",
        '    # { kind = "phone"',
        '    { kind = "phone"',
        "org.units[0].notify[1].kind",
        '"phone" targets need [channels.ami] enabled (unit 530100000000, target +8687100000110)',
    ),
    (
        "sms-target-with-smpp-off",
        '    # { kind = "sms"',
        '    { kind = "sms"',
        "org.units[1].notify[1].kind",
        '"sms" targets need [channels.smpp] enabled (unit 530100170000, target +8613800000122)',
    ),
    (
        "jurisdiction-not-geojson-path",
        BAINSHA_RING.join(('{ type = "Polygon", coordinates = ', " }")),
        '"baisha.kml"',
        "org.units[12].jurisdiction",
        "does not match",
    ),
    (
        "city-code-not-root",
        'code = "530100000000"\ntimezone',
        'code = "530102000000"\ntimezone',
        "city.code",
        "is not the root unit's code 530100000000",
    ),
    (
        "channel-without-enabled",
        "[channels.web]\nenabled = true",
        "[channels.web]",
        "channels.web",
        "'enabled' is a required property",
    ),
    (
        "ami_enabled_without_secret",
        "[channels.ami]\nenabled = false",
        "[channels.ami]\nenabled = true",
        "channels.ami",
        "'secret' is a required property",
    ),
    (
        "ami_unknown_key",
        "[channels.ami]\nenabled = false",
        '[channels.ami]\nenabled = false\nsecrit = "x"',
        "channels.ami.secrit",
        "unknown key (allowed here: action_timeout,",
    ),
    (
        "ami_bad_port",
        "[channels.ami]\nenabled = false",
        "[channels.ami]\nenabled = false\nport = 70000",
        "channels.ami.port",
        "70000 is greater than the maximum of 65535",
    ),
    (
        "ami_dial_without_placeholder",
        "[channels.ami]\nenabled = false",
        '[channels.ami]\nenabled = false\nnotify_dial = "PJSIP/110@carrier"',
        "channels.ami.notify_dial",
        "does not match",
    ),
    (
        "smpp_without_password",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = true\nhost = "127.0.0.1"\nport = 2775\nsystem_id = "a"',
        "channels.smpp",
        "password",
    ),
    (
        "smpp_password_too_long",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\npassword = "123456789"',
        "channels.smpp.password",
        "the value is too long",
    ),
    (
        "smpp_ack_pattern_without_group",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\nack_pattern = "^1 (\\\\S+)$"',
        "channels.smpp.ack_pattern",
        "group named incident",
    ),
    (
        "smpp_ack_pattern_broken",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\nack_pattern = "(?P<incident>"',
        "channels.smpp.ack_pattern",
        "not a regular expression",
    ),
    (
        "smpp_template_unknown_field",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\nreply_receipt = "编号{number}"',
        "channels.smpp.reply_receipt",
        "unknown field {number}",
    ),
    (
        "smpp_update_for_unknown_state",
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\nreply_updates = { parked = "x" }',
        "channels.smpp.reply_updates",
        "parked",
    ),
    # A notify target nothing can deliver would be dropped silently.
    (
        "sms_target_without_smpp",
        NANBA_WEBHOOK,
        NANBA_WEBHOOK + '\n    { kind = "sms", address = "13900000001" },',
        "org.units[3].notify[1].kind",
        '"sms" targets need [channels.smpp] enabled (unit 530102510000, target 13900000001)',
    ),
    (
        "phone_target_without_ami",
        FIRE_119,
        FIRE_119 + '\n    { kind = "phone", address = "119" },',
        "categories.fire.also_notify[1].kind",
        '"phone" targets need [channels.ami] enabled (target 119)',
    ),
    (
        "wechat_target",
        NANBA_WEBHOOK,
        NANBA_WEBHOOK + '\n    { kind = "wechat", address = "nanba_duty" },',
        "org.units[3].notify[1].kind",
        '"wechat" targets cannot be delivered: no installed channel delivers them',
    ),
]


@pytest.mark.parametrize(
    "old, new, where, problem",
    [case[1:] for case in BAD_CASES],
    ids=[case[0] for case in BAD_CASES],
)
def test_bad_config(tmp_path: Path, old: str, new: str, where: str, problem: str) -> None:
    path = write(tmp_path, edited(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert any(line.startswith(f"{path}: {where}: ") and problem in line for line in lines), (
        f"no line names {where!r} with {problem!r} in:\n{info.value}"
    )


def test_message_format_matches_the_design(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path,
        edited(
            "[sla.acknowledge]  # dispatched → acknowledged\np1 = 60", "[sla.acknowledge]\np1 = -5"
        ),
    )
    with pytest.raises(
        ConfigError, match=r"^alarmgw.toml: sla.acknowledge.p1: -5 is less than the minimum of 1$"
    ):
        load_config("alarmgw.toml")


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    text = edited("port = 8110", "port = 8110 8111")
    line = text.splitlines().index("port = 8110 8111") + 1
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: line {line}, column ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothere.toml: cannot read"):
        load_config(tmp_path / "nothere.toml")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    text = edited("port = 8110", "port = -1").replace("max_attempts = 8", "max_attempts = 0")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert len(str(info.value).splitlines()) == 2


def test_schema_helpers() -> None:
    assert schema_path("config") == schema_path("config.schema.json")
    assert load_schema("config")["$schema"].endswith("2020-12/schema")
    with pytest.raises(FileNotFoundError):
        schema_path("nonexistent")


def test_key_path() -> None:
    assert key_path(["org", "units", 3, "jurisdiction"]) == "org.units[3].jurisdiction"
    assert key_path([]) == ""


def test_a_bad_password_is_not_echoed(tmp_path: Path) -> None:
    text = edited(
        "[channels.smpp]\nenabled = false",
        '[channels.smpp]\nenabled = false\npassword = "hunter2!!"',
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert "channels.smpp.password" in str(info.value) and "hunter2" not in str(info.value)
