"""The systems section is checked at start, each error naming its key (and never echoing a
secret); the sample city's disabled section stays valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config
from tests.channels.systems.city import SETTINGS, city, city_text

SOURCE = """
[channels.systems.sources.bad]
name = "测试系统"
secret = "a-secret-long-enough-0001"
"""


def problems(tmp: Path, settings: str) -> str:
    path = tmp / "city.toml"
    path.write_text(city_text(settings), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    return str(e.value)


def test_the_sample_city_and_the_test_city_load(tmp_path: Path) -> None:
    assert load_config(None).channels["systems"] == {"enabled": False}
    assert set(city(tmp_path).channels["systems"]["sources"]) == {"fire119", "drillsys"}


CASES = [
    # (what is added to a source, the key named, a word of the problem)
    ('[channels.systems.sources.bad.map]\ntext = "msg"\n', "sources.bad.map.text",
     "starts with /"),
    ('[channels.systems.sources.bad.map]\ntext = "/a~2"\n', "sources.bad.map.text",
     "~ must be ~0 or ~1"),
    ('[channels.systems.sources.bad.map]\ncolour = "/c"\n', "sources.bad.map.colour",
     "unknown key"),
    ('[channels.systems.sources.bad.map]\ntext = "/t"\nlocation.lat = "/lat"\n',
     "sources.bad.map", "come together"),
    ('[channels.systems.sources.bad.map]\nlocation.lat = "/lat"\nlocation.lon = "/lon"\n',
     "sources.bad.required", "text is required but not in map"),
    ('[channels.systems.sources.bad.map]\ntext = "/t"\n"location.lat" = "/a"\n'
     'location.lat = "/b"\nlocation.lon = "/c"\n',
     "sources.bad.map.location.lat", "given twice"),
    ('priority = 5\n[channels.systems.sources.bad.map]\ntext = "/t"\n',
     "sources.bad.priority", "5"),
    ('[channels.systems.sources.bad.map]\ntext = "/t"\n'
     '[channels.systems.sources.bad.category_codes]\n"1" = "fire"\n',
     "sources.bad.category_codes", "map.category"),
]  # fmt: skip


@pytest.mark.parametrize(("more", "key", "problem"), CASES)
def test_a_wrong_source_is_named(tmp_path: Path, more: str, key: str, problem: str) -> None:
    text = problems(tmp_path, SOURCE + more)
    line = next((x for x in text.splitlines() if f"channels.systems.{key}:" in x), None)
    assert line is not None, text
    assert problem in line, line


def test_no_map_is_named(tmp_path: Path) -> None:
    assert "channels.systems.sources.bad: 'map' is a required property" in problems(
        tmp_path, SOURCE
    )


@pytest.mark.parametrize(
    ("secret", "key"),
    [('"short-secret"', "secret"), ('["a-secret-long-enough-0001", "short-secret"]', "secret[1]")],
)
def test_a_short_secret_is_named_and_not_echoed(tmp_path: Path, secret: str, key: str) -> None:
    more = SOURCE.replace('"a-secret-long-enough-0001"', secret) + (
        '[channels.systems.sources.bad.map]\ntext = "/t"\n'
    )
    text = problems(tmp_path, more)
    assert f"channels.systems.sources.bad.{key}: shorter than 16 bytes" in text
    assert "short-secret" not in text


def test_a_system_code_must_fit_a_url(tmp_path: Path) -> None:
    more = SETTINGS + SOURCE.replace("sources.bad", 'sources."Bad System"')
    assert "channels.systems.sources: 'Bad System' does not match" in problems(tmp_path, more)


def test_an_unknown_category_stops_the_start(tmp_path: Path) -> None:
    """The city's categories are not the section's to see: the service checks them when
    the gateway builds it (`gateway.app.build` stops with this one line)."""
    from types import SimpleNamespace

    from gateway.app import StartupError
    from gateway.channels.systems.service import SystemsChannel
    from gateway.channels.systems.settings import SystemsSettings

    for wrong in ('category = "arson"', '"01" = "arson"'):
        right = 'category = "fire"' if wrong.startswith("category") else '"01" = "fire"'
        config = city(tmp_path, SETTINGS.replace(right, wrong))
        ctx = SimpleNamespace(
            config=config,
            settings=SystemsSettings.from_config(config.channels["systems"]),
            metrics=None,
        )
        with pytest.raises(StartupError, match=r"^channels\.systems\.sources\.fire119\.cat.*"
                           r"unknown category 'arson' \(criminal, "):  # fmt: skip
            SystemsChannel(ctx)  # type: ignore[arg-type]
